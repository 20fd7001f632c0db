"""The JSON-RPC 2.0 dispatcher shared by HTTP, WebSocket and the in-process provider.

Framing (request shape, batches, notifications, ids) is checked here; parameters
are decoded by :mod:`node.rpc.params`; the method itself runs on the node's single
chain worker thread, because py-evm objects are not thread-safe. Nothing a client
sends can make an exception escape: unexpected failures are logged with their
traceback and answered with ``-32603 internal error``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chain.errors import ChainError
from node.rpc import errors
from node.rpc.params import Param, decode_params

if TYPE_CHECKING:
    from node.backend import Backend

log = logging.getLogger("sumchain.rpc")

MAX_BATCH = 1000  # requests in one batch
MAX_BODY = 5 * 1024 * 1024  # bytes in one HTTP body or WebSocket message
MAX_METHOD_NAME = 128  # characters


class Connection(Protocol):
    """Where subscription notifications go (a WebSocket); thread-safe ``notify``."""

    def notify(self, message: dict[str, Any]) -> None: ...

    @property
    def closed(self) -> bool: ...


@dataclass
class Context:
    """What a method handler may use."""

    backend: Backend
    """The chain adapter; only touch it on the worker thread (handlers always are)."""
    connection: Connection | None = None
    """The WebSocket the request came on, or None for HTTP and in-process calls."""


@dataclass(frozen=True)
class Method:
    """A method as registered by a namespace module."""

    name: str
    handler: Callable[..., Any]
    params: tuple[Param, ...]
    on_worker: bool
    """False for methods that never touch the chain (answered on the caller's thread)."""


METHODS: dict[str, Method] = {}


def rpc(
    name: str, *params: Param, aliases: tuple[str, ...] = (), on_worker: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``handler(ctx, *decoded_params)`` under ``name`` (and ``aliases``)."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        for wire_name in (name, *aliases):
            if wire_name in METHODS:
                raise RuntimeError(f"RPC method {wire_name} registered twice")
            METHODS[wire_name] = Method(wire_name, handler, tuple(params), on_worker)
        return handler

    return register


def load_namespaces() -> None:
    """Import every namespace module so its methods are registered."""
    from node.rpc import debug, eth, evm, net, txpool, web3  # noqa: F401


def _error_response(request_id: Any, error: errors.RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


class Dispatcher:
    """Answers JSON-RPC requests against one backend, on one worker thread."""

    def __init__(self, backend: Backend) -> None:
        load_namespaces()
        if getattr(backend, "dispatcher", None) is not None:
            raise RuntimeError(
                "this backend already has a dispatcher (and its worker thread); "
                "reuse backend.dispatcher"
            )
        self.backend = backend
        backend.dispatcher = self
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sumchain-chain")
        self._worker_thread: threading.Thread | None = None
        self.worker.submit(self._remember_thread).result()

    def _remember_thread(self) -> None:
        self._worker_thread = threading.current_thread()

    def on_worker_thread(self) -> bool:
        return threading.current_thread() is self._worker_thread

    def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the worker thread and wait (from any thread, even the worker)."""
        if self.on_worker_thread():
            return fn(*args)
        return self.worker.submit(fn, *args).result()

    async def run_async(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)

    def close(self) -> None:
        self.worker.shutdown(wait=True)

    # --- framing ----------------------------------------------------------------------

    @staticmethod
    def parse_body(body: bytes | str) -> Any:
        """Decode a body; raises ParseError or InvalidRequest (too big)."""
        if len(body) > MAX_BODY:
            raise errors.InvalidRequest(f"request larger than {MAX_BODY} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise errors.ParseError("parse error: body is not valid JSON") from None

    def _check_request(self, request: Any) -> tuple[Any, Method, Any, bool]:
        """Validate one request object; returns (id, method, args, is_notification)."""
        if not isinstance(request, dict):
            raise errors.InvalidRequest("invalid request: expected a JSON object")
        request_id = request.get("id")
        is_notification = "id" not in request
        if request_id is not None and (
            isinstance(request_id, bool) or not isinstance(request_id, (str, int, float))
        ):
            raise errors.InvalidRequest("invalid request: id must be a string, number or null")
        if request.get("jsonrpc") != "2.0":
            raise _WithId(
                request_id, errors.InvalidRequest('invalid request: jsonrpc must be "2.0"')
            )
        name = request.get("method")
        if not isinstance(name, str):
            raise _WithId(
                request_id, errors.InvalidRequest("invalid request: method must be a string")
            )
        raw_params = request.get("params")
        if raw_params is not None and not isinstance(raw_params, (list, dict)):
            raise _WithId(
                request_id,
                errors.InvalidRequest("invalid request: params must be an array or object"),
            )
        method = METHODS.get(name)
        if method is None:
            shown = name if len(name) <= MAX_METHOD_NAME else name[:MAX_METHOD_NAME] + "..."
            raise _WithId(
                request_id,
                errors.MethodNotFound(f"the method {shown} does not exist/is not available"),
            )
        return request_id, method, raw_params, is_notification

    def _execute(self, method: Method, raw_params: Any, ctx: Context) -> Any:
        """Decode and run; every exception becomes an RpcError."""
        try:
            args = decode_params(method.name, method.params, raw_params)
            return method.handler(ctx, *args)
        except errors.RpcError:
            raise
        except ChainError as exc:
            raise errors.from_chain_error(exc) from exc
        except Exception as exc:  # a bug of ours: log it, never show the client a traceback
            log.exception("internal error in %s", method.name)
            raise errors.InternalError(f"internal error: {type(exc).__name__}") from exc

    # --- async path (server) ----------------------------------------------------------

    async def handle_body(
        self, body: bytes | str, connection: Connection | None = None
    ) -> Any | None:
        """One HTTP body / WebSocket message in, the JSON value to send back out (or None)."""
        try:
            payload = self.parse_body(body)
        except errors.RpcError as exc:
            return _error_response(None, exc)
        return await self.handle_payload(payload, connection)

    async def handle_payload(
        self, payload: Any, connection: Connection | None = None
    ) -> Any | None:
        if isinstance(payload, list):
            if not payload:
                return _error_response(None, errors.InvalidRequest("invalid request: empty batch"))
            if len(payload) > MAX_BATCH:
                return _error_response(
                    None,
                    errors.InvalidRequest(
                        f"invalid request: batch of {len(payload)} requests, at most {MAX_BATCH}"
                    ),
                )
            responses = []
            for request in payload:
                response = await self.handle_request(request, connection)
                if response is not None:
                    responses.append(response)
            return responses or None
        return await self.handle_request(payload, connection)

    async def handle_request(
        self, request: Any, connection: Connection | None = None
    ) -> dict[str, Any] | None:
        try:
            request_id, method, raw_params, is_notification = self._check_request(request)
        except _WithId as wrapped:
            return _error_response(wrapped.request_id, wrapped.error)
        except errors.RpcError as exc:
            return _error_response(None, exc)
        ctx = Context(self.backend, connection)
        log.debug("-> %s %s", method.name, raw_params)
        try:
            if method.on_worker:
                result = await self.run_async(self._execute, method, raw_params, ctx)
            else:
                result = self._execute(method, raw_params, ctx)
        except errors.RpcError as exc:
            return None if is_notification else _error_response(request_id, exc)
        except Exception:  # e.g. the worker was shut down under us
            log.exception("dispatch of %s failed", method.name)
            return (
                None
                if is_notification
                else _error_response(request_id, errors.InternalError("internal error"))
            )
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    # --- sync path (in-process provider) ----------------------------------------------

    def call(self, name: str, params: Any = None) -> Any:
        """Run one method synchronously; returns the result or raises RpcError."""
        request = {"jsonrpc": "2.0", "id": 0, "method": name, "params": params}
        try:
            _, method, raw_params, _ = self._check_request(request)
        except _WithId as wrapped:
            raise wrapped.error from None
        ctx = Context(self.backend, None)
        if method.on_worker:
            return self.run_sync(self._execute, method, raw_params, ctx)
        return self._execute(method, raw_params, ctx)

    def handle_request_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        """A whole JSON-RPC response for one request object (used by the web3 provider)."""
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            result = self.call(request.get("method"), request.get("params"))  # type: ignore[arg-type]
        except errors.RpcError as exc:
            return _error_response(request_id, exc)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


class _WithId(Exception):
    """Carries an RpcError together with the id of the request that caused it."""

    def __init__(self, request_id: Any, error: errors.RpcError) -> None:
        super().__init__(error.message)
        self.request_id = request_id
        self.error = error
