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


class NodeUnreachable(ClientError):
    """Raised when no node answers at a JSON-RPC URL (refused, timed out, not JSON-RPC).

    ``url`` is the URL as given."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class ProofOfAuthorityChain(ClientError):
    """Raised when a web3 without the proof-of-authority middleware is asked to read a
    proof-of-authority chain's blocks (their extraData is longer than web3's 32 bytes).

    ``url`` is the node's, ``extra_data_bytes`` the size of its blocks' extraData."""

    def __init__(self, message: str, url: str, extra_data_bytes: int) -> None:
        super().__init__(message)
        self.url = url
        self.extra_data_bytes = extra_data_bytes


class MissingExtra(ClientError):
    """Raised when a function needs an optional dependency that is not installed.

    ``package`` is the distribution to install (the extra of the same name installs it)."""

    def __init__(self, package: str, needed_for: str) -> None:
        super().__init__(f"{needed_for} needs {package}: pip install 'sumchain[{package}]'")
        self.package = package


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


# --- model versions -------------------------------------------------------------------------


class BlockOutOfRange(ClientError):
    """Raised when a block is not a number or tag, is negative, or lies beyond the head.

    ``block`` is what was asked for (as given), ``head`` the node's head then (or None
    when the block was not even a number)."""

    def __init__(self, message: str, block: object, head: int | None = None) -> None:
        super().__init__(message)
        self.block = block
        self.head = head


class NotATrainer(ClientError):
    """Raised when an address is malformed, holds no code, or holds a contract that is not
    a ``CollaborativeTrainer`` with a model and mechanism this SDK knows.

    ``address`` is the address as given."""

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


class TestSetError(DatasetError):
    """Raised when a test set cannot be read: missing file, a line that is not
    ``{"data": [integers], "label": integer}``, or no samples at all.

    ``path`` is the file and ``line`` the 1-based line at fault (None for the file)."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, message: str, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class NoArchive(ClientError):
    """Raised when the node cannot answer for an earlier block's state (it keeps no
    archive, or has pruned that block). ``block`` is the block asked for."""

    def __init__(self, message: str, block: int) -> None:
        super().__init__(message)
        self.block = block
