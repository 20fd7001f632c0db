"""JSON-RPC error objects as an exception tree.

Every failure a client can see is an :class:`RpcError` carrying a JSON-RPC 2.0
``code``, a ``message`` and optional ``data``. Chain errors are mapped here, in one
place, so every namespace reports them the same way (the ``-32000`` family with the
chain's own message, as geth does; ``3`` with revert data for reverted calls).
"""

from __future__ import annotations

from typing import Any

from chain import errors as chain_errors

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth's code for a transaction or state the chain refused
RESOURCE_NOT_FOUND = -32001
TRANSACTION_REJECTED = -32003
METHOD_NOT_SUPPORTED = -32004
RESPONSE_TOO_LARGE = -32003  # geth's code for a batch whose answers passed the size limit
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3  # geth, anvil and hardhat use 3 with the revert data in `data`


class RpcError(Exception):
    """Raised when a request fails; the root of this tree. Becomes the response's ``error``."""

    code: int = INTERNAL_ERROR

    def __init__(self, message: str, data: Any = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ParseError(RpcError):
    """Raised when the request body is not valid JSON."""

    code = PARSE_ERROR


class InvalidRequest(RpcError):
    """Raised when the JSON is not a JSON-RPC 2.0 request (wrong shape, empty batch, too big)."""

    code = INVALID_REQUEST


class MethodNotFound(RpcError):
    """Raised when the method name is not one this node serves."""

    code = METHOD_NOT_FOUND


class InvalidParams(RpcError):
    """Raised when a parameter is missing, extra, of the wrong type or badly encoded."""

    code = INVALID_PARAMS


class InternalError(RpcError):
    """Raised when the node itself failed; the details go to the node's log, not the client."""

    code = INTERNAL_ERROR


class ServerError(RpcError):
    """Raised when the chain refuses the request (bad transaction, unknown block, ...)."""

    code = SERVER_ERROR


class ResourceNotFound(RpcError):
    """Raised when a filter or subscription id, snapshot id or block is unknown."""

    code = RESOURCE_NOT_FOUND


class MethodNotSupported(RpcError):
    """Raised when a method exists but cannot be served here (e.g. subscriptions over HTTP)."""

    code = METHOD_NOT_SUPPORTED


class LimitExceeded(RpcError):
    """Raised when a request asks for more than the node's limits allow (block range, logs)."""

    code = LIMIT_EXCEEDED


class ExecutionTimeout(ServerError):
    """Raised when a call, estimate or trace ran past the node's call timeout and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"execution aborted (timeout = {seconds:g}s)")
        self.seconds = seconds


class ResponseTooLarge(RpcError):
    """Raised (as each later answer of a batch) when a batch's answers pass the size limit."""

    code = RESPONSE_TOO_LARGE


class ExecutionReverted(RpcError):
    """Raised when a call or gas estimate reverts; ``data`` is the revert data as hex."""

    code = EXECUTION_REVERTED

    def __init__(self, revert_data: bytes, reason: str | None = None) -> None:
        message = "execution reverted" + (f": {reason}" if reason else "")
        super().__init__(message, data="0x" + revert_data.hex())


def from_chain_error(exc: chain_errors.ChainError) -> RpcError:
    """The RPC error a client sees for a chain error: its message, in the -32000 family."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, chain_errors.UnknownBlock):
        return ResourceNotFound(message)
    if isinstance(exc, chain_errors.InvalidTransaction):
        return ServerError(message)
    return ServerError(message)
