"""One exception tree for the framework on chain (datasets, encodings, SDK).

Every error that `vm_contracts` raises on bad input or on a refused transaction
derives from :class:`VmContractsError`, so the CLI and the benchmarks can turn any of
them into one clear line. Each class says when it is raised; messages are written
for a user, not for a debugger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class VmContractsError(Exception):
    """Raised when the framework refuses an operation; the root of this tree."""


# --- data ----------------------------------------------------------------------------


class DatasetError(VmContractsError):
    """Raised when a dataset path is missing, unreadable, or not in a form we know.

    The message names the path (and the line or archive member when there is one)
    and what was expected there.
    """


class EncodingError(VmContractsError):
    """Raised when a sample cannot be encoded: empty vocabulary, wrong vector length,
    a value outside what the fixed-point format can hold, or an unknown encoder name."""


# --- the SDK ---------------------------------------------------------------------------


class ClientError(VmContractsError):
    """Raised when the SDK is used wrongly: an unknown model or incentive mechanism,
    parameters that do not fit the model, or an artifact that cannot be loaded."""


class DeploymentError(ClientError):
    """Raised when deploying or initialising the framework fails part-way, e.g. one
    chunk of a model's parameters does not fit in a block's gas limit."""


class TransactionFailed(VmContractsError):
    """Raised when a transaction is mined but failed (status 0) without revert data
    that names a contract error, e.g. it ran out of gas."""

    def __init__(self, message: str, receipt: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.receipt = receipt


class ContractRevert(VmContractsError):
    """Raised when a contract call or transaction reverts.

    ``name`` is the contract's custom error (``"DepositTooLow"``), ``args`` its decoded
    arguments by name, and ``str(exc)`` reads ``DepositTooLow(required=..., sent=...)``.
    A revert with a plain reason string has ``name == "Error"``; one whose data
    matches no known error has ``name == "UnknownError"`` and the raw ``data``.
    """

    def __init__(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        data: bytes = b"",
        receipt: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.args_by_name: dict[str, Any] = dict(args or {})
        self.data = data
        self.receipt = receipt
        rendered = ", ".join(f"{key}={_render(value)}" for key, value in self.args_by_name.items())
        super().__init__(f"{name}({rendered})")


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return repr(value)
    return str(value)
