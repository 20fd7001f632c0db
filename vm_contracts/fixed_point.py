"""Fixed-point numbers as the contracts hold them: a real r is the integer trunc(r * 10^9).

This module and ``contracts/lib/FixedPoint.sol`` are the two places that define the
convention; every function here reproduces its Solidity twin bit for bit (integer
division truncates toward zero, as the EVM's SDIV does, never toward minus infinity
as Python's ``//``).
"""

from __future__ import annotations

import math

from vm_contracts.errors import VmContractsError

SCALE = 10**9  # fixed-point units per 1.0
LOG2_FRACTION_BITS = 24  # binary digits FixedPoint.log2 computes after the point
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # data elements are int64
INT80_MIN, INT80_MAX = -(2**79), 2**79 - 1  # weights and centroids are int80


class FixedPointError(VmContractsError, ValueError):
    """Raised when a value cannot be represented in fixed point (NaN, infinite, out of
    range) or an operation is undefined (log of zero, division by zero)."""


def to_fixed(value: float) -> int:
    """``value`` in fixed point, rounded to the nearest unit (what a sender encodes)."""
    if not math.isfinite(value):
        raise FixedPointError(f"cannot encode {value!r} in fixed point")
    return int(round(value * SCALE))


def from_fixed(value: int) -> float:
    """The float a fixed-point integer stands for."""
    return value / SCALE


def div_trunc(a: int, b: int) -> int:
    """a / b truncated toward zero, as Solidity's signed and unsigned division."""
    if b == 0:
        raise FixedPointError("division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def mul(a: int, b: int) -> int:
    """FixedPoint.mul: a * b / SCALE, truncated toward zero."""
    return div_trunc(a * b, SCALE)


def log2(x: int) -> int:
    """FixedPoint.log2: log2 of a positive fixed-point x, in fixed point, exactly as on chain."""
    if x <= 0:
        raise FixedPointError(f"log2 needs a positive argument, got {x}")
    result = 0
    while x >= 2 * SCALE:
        x >>= 1
        result += SCALE
    while x < SCALE:
        x <<= 1
        result -= SCALE
    delta = SCALE
    for _ in range(LOG2_FRACTION_BITS):
        x = x * x // SCALE
        delta >>= 1
        if x >= 2 * SCALE:
            x >>= 1
            result += delta
    return result


def check_int80(value: int, what: str = "value") -> int:
    """``value`` if it fits the contracts' int80 parameters, else FixedPointError."""
    if not INT80_MIN <= value <= INT80_MAX:
        raise FixedPointError(f"{what} {value} does not fit int80")
    return value


def check_int64(value: int, what: str = "value") -> int:
    """``value`` if it fits an int64 data element, else FixedPointError."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise FixedPointError(f"{what} {value} does not fit int64")
    return value
