"""The JSON-RPC 2.0 dispatcher shared by HTTP, WebSocket and the in-process provider.

Framing (request shape, batches, notifications, ids, nesting depth) is checked here;
parameters are decoded by :mod:`node.rpc.params`. Each method is registered on one
*lane*, which says where it runs:

* ``local`` — touches no chain (chain id, client version): answered on the caller's thread.
* ``read`` — reads committed blocks, receipts and state: a reader thread, over a view of
  the store that sees only committed data (``Backend.reader``), so it never waits behind
  a block being built or a long call.
* ``exec`` — runs the EVM on committed state (``eth_call``, gas estimates, access lists,
  traces): a thread of its own, gas-capped, stopped at the call timeout
  (:mod:`node.rpc.deadline`). Each client has at most ``calls_per_client`` of them at once
  and they queue first come, first served for ``concurrent_calls`` places, so one busy
  client cannot starve the others.
* ``worker`` — changes the chain or the pool (sending, mining, dev controls, filters):
  the node's single chain worker thread, because the live py-evm objects are not
  thread-safe.

Nothing a client sends can make an exception escape: unexpected failures are logged
with their traceback and answered with ``-32603 internal error``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import queue
import re
import threading
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from chain.errors import ChainError
from node.limits import Limits
from node.logs import METHOD_NAMES
from node.rpc import errors
from node.rpc.deadline import Job
from node.rpc.params import decode_params
from node.rpc.registry import EXEC, LOCAL, METHODS, READ, Context, Method
from node.subscriptions import Connection

if TYPE_CHECKING:
    from node.backend import Backend


log = logging.getLogger("sumchain.rpc")
methods_log = logging.getLogger(METHOD_NAMES)  # each method's name: devnet -v

MAX_BATCH = 1000  # requests in one batch
MAX_BODY = 5 * 1024 * 1024  # bytes in one HTTP body or WebSocket message
MAX_METHOD_NAME = 128  # characters
# Nesting of JSON arrays and objects in one request. json.loads recurses in C, guarded
# only by the recursion limit, which py_ecc raises to 100,000 when it is imported
# (py_ecc/__init__.py; py-evm's eth/__init__.py raises it to 12,288): 66,000 levels then
# overflow the C stack (SIGSEGV) before any RecursionError. So depth is checked first.
MAX_DEPTH = 128
READ_THREADS = 2  # reader threads (the read lane)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nesting_depth(body: bytes | str) -> int:
    """How deeply arrays and objects nest in ``body`` (brackets inside strings do not
    count), in one linear pass that does not recurse; a body with no more than
    ``MAX_DEPTH`` opening brackets in all is answered without the pass."""
    data = body.encode() if isinstance(body, str) else bytes(body)
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return 0
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)).translate(_DEPTH_STEP)
    steps = memoryview(brackets).cast("b")
    return max(accumulate(steps), default=0)


def load_namespaces() -> None:
    """Import every namespace module so its methods are registered."""
    from node.rpc import debug, eth, evm, net, txpool, web3  # noqa: F401


def _error_response(request_id: Any, error: errors.RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


class Dispatcher:
    """Answers JSON-RPC requests against one backend, each method on its lane."""

    def __init__(self, backend: Backend, limits: Limits | None = None) -> None:
        load_namespaces()
        if getattr(backend, "dispatcher", None) is not None:
            raise RuntimeError(
                "this backend already has a dispatcher (and its worker thread); reuse backend.dispatcher"
            )
        self.backend = backend
        self.limits = limits or backend.limits
        backend.limits = self.limits
        backend.dispatcher = self
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sumchain-chain")
        self._worker_thread: threading.Thread | None = None
        self.worker.submit(self._remember_thread).result()
        self.readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="sumchain-read")
        self._thread_reader = threading.local()
        self._spare_readers: queue.SimpleQueue[Backend] = queue.SimpleQueue()
        self._jobs: set[Job] = set()
        self._call_places: asyncio.Semaphore | None = None
        self._client_places: dict[Hashable, tuple[asyncio.Semaphore, list[int]]] = {}

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

    def abort_calls(self) -> None:
        """Stop every running ``exec``-lane request (on shutdown)."""
        for job in list(self._jobs):
            job.abort()

    def close(self) -> None:
        self.abort_calls()
        self.readers.shutdown(wait=True)
        self.worker.shutdown(wait=True)

    # --- framing ----------------------------------------------------------------------

    @staticmethod
    def parse_body(body: bytes | str) -> Any:
        """Decode a body; raises ParseError, or InvalidRequest (too big, too deep)."""
        if len(body) > MAX_BODY:
            raise errors.InvalidRequest(f"request larger than {MAX_BODY} bytes")
        depth = nesting_depth(body)
        if depth > MAX_DEPTH:
            raise errors.InvalidRequest(
                f"invalid request: JSON nested {depth} levels deep, at most {MAX_DEPTH}"
            )
        try:
            return json.loads(body, parse_constant=_refuse_constant)
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
        if isinstance(request_id, float) and not math.isfinite(request_id):
            raise errors.InvalidRequest("invalid request: id is a number too large to answer with")
        if request.get("jsonrpc") != "2.0":
            raise _WithId(request_id, errors.InvalidRequest('invalid request: jsonrpc must be "2.0"'))
        name = request.get("method")
        if not isinstance(name, str):
            raise _WithId(request_id, errors.InvalidRequest("invalid request: method must be a string"))
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

    # --- the read and exec lanes ------------------------------------------------------

    def _execute_read(self, method: Method, raw_params: Any, connection: Connection | None) -> Any:
        """On a reader thread: the method against this thread's committed view."""
        reader = getattr(self._thread_reader, "backend", None)
        if reader is None:
            reader = self._thread_reader.backend = self.backend.reader()
        return self._execute(method, raw_params, Context(reader, connection))

    def _execute_call(self, method: Method, raw_params: Any, connection: Connection | None) -> Any:
        """On a call's own thread: the method against a borrowed committed view."""
        return self._with_reader(
            lambda reader: self._execute(method, raw_params, Context(reader, connection))
        )

    def _with_reader(self, fn: Callable[[Backend], Any]) -> Any:
        try:
            reader = self._spare_readers.get_nowait()
        except queue.Empty:
            reader = self.backend.reader()
        try:
            return fn(reader)
        finally:
            self._spare_readers.put(reader)

    def run_call(self, fn: Callable[[Backend], Any]) -> Any:
        """``fn(reader)`` on a throwaway thread over the committed state, stopped at the
        call timeout (ExecutionTimeout); from any thread, the worker's included."""
        job = Job(self._with_reader, fn)
        self._jobs.add(job)
        try:
            job.start()
            finished = job.wait(self.limits.call_timeout)
        finally:
            self._jobs.discard(job)
        return self._outcome(job, finished)

    def _outcome(self, job: Job, finished: bool) -> Any:
        if not finished:
            raise errors.ExecutionTimeout(self.limits.call_timeout or 0.0)
        if job.error is not None:
            raise job.error
        return job.result

    def _client_place(self, client: Hashable) -> asyncio.Semaphore:
        entry = self._client_places.get(client)
        if entry is None:
            entry = self._client_places[client] = (asyncio.Semaphore(self.limits.calls_per_client), [0])
        entry[1][0] += 1
        return entry[0]

    def _leave_client_place(self, client: Hashable) -> None:
        entry = self._client_places.get(client)
        if entry is not None:
            entry[1][0] -= 1
            if entry[1][0] <= 0:
                del self._client_places[client]

    async def _run_call(
        self, method: Method, raw_params: Any, connection: Connection | None, client: Hashable
    ) -> Any:
        """An ``exec``-lane request: wait for the client's place, then for one of the
        shared places (first come, first served), run with the deadline."""
        if self._call_places is None:
            self._call_places = asyncio.Semaphore(self.limits.concurrent_calls)
        mine = self._client_place(client)
        try:
            async with mine, self._call_places:
                job = Job(self._execute_call, method, raw_params, connection)
                self._jobs.add(job)
                try:
                    job.start()
                    finished = await job.wait_async(self.limits.call_timeout)
                finally:
                    self._jobs.discard(job)
                return self._outcome(job, finished)
        finally:
            self._leave_client_place(client)

    # --- async path (server) ----------------------------------------------------------

    async def handle_body(
        self,
        body: bytes | str,
        connection: Connection | None = None,
        client: Hashable | None = None,
    ) -> Any | None:
        """One HTTP body / WebSocket message in, the JSON value to send back out (or None).
        ``client`` names the connection for the per-client limits (default: ``connection``)."""
        try:
            payload = self.parse_body(body)
        except errors.RpcError as exc:
            return _error_response(None, exc)
        return await self.handle_payload(payload, connection, client)

    async def handle_payload(
        self, payload: Any, connection: Connection | None = None, client: Hashable | None = None
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
            responses = [response async for response, _text in self.batch(payload, connection, client)]
            return responses or None
        return await self.handle_request(payload, connection, client)

    @staticmethod
    def is_batch(payload: Any) -> bool:
        """A batch that :meth:`batch` will serve (not empty, not over ``MAX_BATCH``)."""
        return isinstance(payload, list) and 0 < len(payload) <= MAX_BATCH

    async def batch(
        self, payload: list[Any], connection: Connection | None = None, client: Hashable | None = None
    ) -> AsyncIterator[tuple[dict[str, Any], str]]:
        """Each answer of a batch with its JSON text, in order, as it is ready (so the server
        can stream them); notifications have none. Once the texts pass
        ``batch_response_bytes``, that answer and every later one is geth's "response too
        large" error, and the later requests are not run."""
        size = 0
        too_large = False
        for request in payload:
            if too_large:
                response = _too_large(request)
            else:
                response = await self.handle_request(request, connection, client)
            if response is None:
                continue
            text = dumps(response)
            if not too_large:
                size += len(text)
                if size > self.limits.batch_response_bytes:
                    too_large = True
                    response = _too_large(request)
                    if response is None:
                        continue
                    text = dumps(response)
            yield response, text

    async def handle_request(
        self, request: Any, connection: Connection | None = None, client: Hashable | None = None
    ) -> dict[str, Any] | None:
        try:
            request_id, method, raw_params, is_notification = self._check_request(request)
        except _WithId as wrapped:
            return _error_response(wrapped.request_id, wrapped.error)
        except errors.RpcError as exc:
            return _error_response(None, exc)
        methods_log.info("%s", method.name)
        log.debug("-> %s %s", method.name, raw_params)
        who: Hashable | None = client if client is not None else connection  # type: ignore[assignment]
        try:
            if method.lane == LOCAL:
                result = self._execute(method, raw_params, Context(self.backend, connection))
            elif method.lane == READ:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self.readers, self._execute_read, method, raw_params, connection
                )
            elif method.lane == EXEC:
                key: Hashable = who if who is not None else "anonymous"
                result = await self._run_call(method, raw_params, connection, key)
            else:
                ctx = Context(self.backend, connection, who)
                result = await self.run_async(self._execute, method, raw_params, ctx)
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
        if method.lane == LOCAL:
            return self._execute(method, raw_params, Context(self.backend, None))
        if method.lane == READ:
            return self.readers.submit(self._execute_read, method, raw_params, None).result()
        if method.lane == EXEC:
            return self.run_call(lambda reader: self._execute(method, raw_params, Context(reader, None)))
        return self.run_sync(self._execute, method, raw_params, Context(self.backend, None))

    def handle_request_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        """A whole JSON-RPC response for one request object (used by the web3 provider)."""
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            result = self.call(request.get("method"), request.get("params"))  # type: ignore[arg-type]
        except errors.RpcError as exc:
            return _error_response(request_id, exc)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


def dumps(value: Any) -> str:
    """Compact JSON, never NaN or Infinity (which are not JSON)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_large(request: Any) -> dict[str, Any] | None:
    """geth's answer to each request of a batch past the response limit."""
    if isinstance(request, dict) and "id" not in request:
        return None
    request_id = request.get("id") if isinstance(request, dict) else None
    if isinstance(request_id, float) and not math.isfinite(request_id):
        request_id = None
    return _error_response(request_id, errors.ResponseTooLarge("response too large"))


class _WithId(Exception):
    """Carries an RpcError together with the id of the request that caused it."""

    def __init__(self, request_id: Any, error: errors.RpcError) -> None:
        super().__init__(error.message)
        self.request_id = request_id
        self.error = error
