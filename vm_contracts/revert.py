"""Revert data: what a failed call or transaction says, decoded once for the whole house.

Solidity reverts with ``Error(string)`` (``require``/``revert("...")``), with
``Panic(uint256)`` (assertion, overflow, division by zero, ...) or with a custom error
named in the contract's ABI. The node (``node/``) shows the first two in its JSON-RPC
error message; the SDK turns all three into a :class:`~vm_contracts.errors.ContractRevert`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from vm_contracts.errors import ContractRevert

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
REVERT_PREFIX = "execution reverted"  # how nodes start the message of a reverted call

_BYTES_LITERAL = re.compile(r"(b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\")\s*$", re.S)


def abi_type(item: Mapping[str, Any]) -> str:
    """The canonical type of one ABI input (tuples spelled out), as selectors hash it."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(component) for component in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def error_selector(entry: Mapping[str, Any]) -> bytes:
    """The 4-byte selector of an ABI ``error`` entry."""
    types = ",".join(abi_type(item) for item in entry.get("inputs", []))
    return keccak(text=f"{entry['name']}({types})")[:4]


def revert_reason(data: bytes) -> str | None:
    """The message of ``Error(string)`` or the code of ``Panic(uint256)``, if ``data`` is one."""
    try:
        if data[:4] == ERROR_SELECTOR:
            return str(abi_decode(["string"], data[4:])[0])
        if data[:4] == PANIC_SELECTOR:
            return f"panic code {hex(abi_decode(['uint256'], data[4:])[0])}"
    except Exception:  # noqa: BLE001 - malformed revert data is just shown as data
        return None
    return None


class ErrorDecoder:
    """Maps revert data to the custom error it encodes, over a set of ABIs."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {
            ERROR_SELECTOR: ("Error", ["string"], ["message"]),
            PANIC_SELECTOR: ("Panic", ["uint256"], ["code"]),
        }
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [abi_type(item) for item in entry.get("inputs", [])]
                names = [item.get("name") or f"arg{i}" for i, item in enumerate(entry["inputs"])]
                self._errors[error_selector(entry)] = (entry["name"], types, names)

    def decode(self, data: bytes) -> ContractRevert:
        """The :class:`ContractRevert` for ``data`` (``UnknownError`` if no ABI knows it)."""
        known = self._errors.get(data[:4]) if len(data) >= 4 else None
        if known is None:
            return ContractRevert("UnknownError", {"data": data} if data else {}, data)
        name, types, names = known
        try:
            values = abi_decode(types, data[4:])
        except Exception:  # malformed payload: keep the raw data
            return ContractRevert(name, {"data": data[4:]}, data)
        return ContractRevert(name, dict(zip(names, values, strict=True)), data)

    def from_exception(self, exc: BaseException) -> ContractRevert | None:
        """The revert an exception from web3 (any provider) carries, or None if it is
        not a revert (e.g. a connection error)."""
        data = revert_data(exc)
        if data is not None:
            return self.decode(data)
        reason = exception_reason(exc)
        if reason is not None:
            return ContractRevert("Error", {"message": reason})
        return None


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data an exception from web3 carries (any provider), or None.

    JSON-RPC nodes put it in ``error.data`` (web3 keeps it as ``exc.data``, hex);
    eth-tester writes the raw bytes into the message as a Python literal."""
    data = getattr(exc, "data", None)
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str) and re.fullmatch(r"0x(?:[0-9a-fA-F]{2})*", data):
        return bytes.fromhex(data[2:])
    message = str(exc.args[0]) if exc.args else ""
    match = _BYTES_LITERAL.search(message)
    if match is not None and message.lower().startswith(REVERT_PREFIX):
        try:
            value = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return None
        return bytes(value)
    return None


def exception_reason(exc: BaseException) -> str | None:
    """The reason in an ``execution reverted: <reason>`` exception with no revert data
    (what some nodes send for a plain ``revert()``), or None if it is no revert."""
    message = str(exc.args[0]) if exc.args else ""
    if not message.lower().startswith(REVERT_PREFIX):
        return None
    reason = message[len(REVERT_PREFIX) :].lstrip(": ").strip()
    return reason or ""
