"""JSON-RPC 2.0 over HTTP (POST) and WebSocket, on one port, with aiohttp.

* ``POST /`` — one request or a batch; the answer is the JSON-RPC response (HTTP 200
  even for JSON-RPC errors, as every Ethereum node does), or 204 when every request
  was a notification.
* ``GET /`` with ``Upgrade: websocket`` — one request or batch per text message;
  subscription notifications (``eth_subscription``) are pushed on the same socket.

Bodies and messages are limited to ``MAX_BODY`` bytes and batches to ``MAX_BATCH``
requests. The server binds 127.0.0.1 unless told otherwise. Interval mining ticks from
here, but the block is built on the chain worker thread, so the server keeps answering
meanwhile.

What a browser page may do (the dev accounts are unlocked), as geth does:

* a POST must say ``Content-Type: application/json`` (415 otherwise): a page can send
  ``text/plain`` without a CORS preflight, but not JSON;
* the ``Host`` header must be an IP address or one of ``vhosts`` (403 otherwise), which
  stops DNS rebinding;
* a request carrying an ``Origin`` must come from an allowed origin: ``cors_origins`` for
  HTTP (CORS headers are sent only to them; none by default), ``ws_origins`` or a
  loopback origin for WebSockets (403 otherwise). Clients that send no Origin (every
  non-browser client) are not affected.

Connections: at most ``max_connections`` at once (a further one gets 503, and the
oldest idle ones are closed first); a connection that has not sent a whole request
within ``header_timeout`` seconds, or idles for ``idle_timeout`` between requests, is
closed (slow-loris); a body must arrive within ``body_timeout``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from node.rpc.dispatcher import MAX_BODY, Dispatcher, dumps
from node.rpc.errors import InvalidRequest, ParseError

log = logging.getLogger("sumchain.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
WS_QUEUE_LIMIT = 10_000  # notifications buffered for one slow WebSocket before it is dropped
WS_HEARTBEAT = 30.0  # seconds between WebSocket pings
INTERVAL_POLL = 0.05  # seconds between checks of the interval-mining clock
JSON_HEADERS = {"Content-Type": "application/json"}
JSON_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")  # geth's
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SWEEP_INTERVAL = 1.0  # seconds between checks of the connections' timeouts


@dataclass(frozen=True)
class ServerOptions:
    """The server's limits and browser rules (see the module doc); geth's defaults."""

    vhosts: tuple[str, ...] = ("localhost",)
    """Host names accepted in ``Host`` (IP addresses always are); ``*`` accepts any."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to use the node from a browser over HTTP; ``*`` allows any."""
    ws_origins: tuple[str, ...] = ()
    """Origins allowed to open a WebSocket besides loopback ones; ``*`` allows any."""
    max_connections: int = 1000
    header_timeout: float = 30.0  # seconds
    body_timeout: float = 30.0  # seconds
    idle_timeout: float = 120.0  # seconds


def _dumps(value: Any) -> str:
    return dumps(value)


def _host_name(host_header: str) -> str:
    """``Host`` without its port, brackets of an IPv6 address removed, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _client_key(request: web.BaseRequest) -> Any:
    """Who a request is from, for the per-client limits: the remote IP address for a
    client off this machine (however many connections it opens), the connection
    (address, port) on loopback, where every client has the same address."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if not peer:
        return request.protocol
    try:
        loopback = ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        loopback = False
    return tuple(peer) if loopback else str(peer[0])


def _is_loopback_origin(origin: str) -> bool:
    return (urlsplit(origin).hostname or "") in LOOPBACK_NAMES


class WsConnection:
    """One WebSocket client; ``notify`` may be called from any thread."""

    def __init__(self, ws: web.WebSocketResponse, loop: asyncio.AbstractEventLoop) -> None:
        self.ws = ws
        self.loop = loop
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed or self.ws.closed

    def notify(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        text = _dumps(message)
        try:
            self.loop.call_soon_threadsafe(self._enqueue, text)
        except RuntimeError:  # loop already closed: the server is stopping
            self._closed = True

    def send_soon(self, text: str) -> None:
        self._enqueue(text)

    def _enqueue(self, text: str | None) -> None:
        if self._closed:
            return
        if self.queue.qsize() >= WS_QUEUE_LIMIT:
            log.warning("dropping a WebSocket client that does not read its notifications")
            self._closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(text)

    async def writer(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                break
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                break
        self._closed = True
        await self.ws.close()

    def close(self) -> None:
        self._closed = True
        self.queue.put_nowait(None)


class RpcServer:
    """The aiohttp application around a dispatcher."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        cors_origin: str | None = None,
        options: ServerOptions | None = None,
        subapps: Mapping[str, web.Application] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        options = options or ServerOptions()
        if cors_origin:
            origins = tuple(o.strip() for o in cors_origin.split(",") if o.strip())
            options = replace(options, cors_origins=origins)
        self.options = options
        self.connections: set[WsConnection] = set()
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[self._subapp_rules])
        self.app.router.add_route("*", "/", self.handle)
        for prefix, subapp in (subapps or {}).items():  # e.g. the dashboard under /ui/
            self.app.add_subapp(prefix, subapp)
        self.runner: web.AppRunner | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._busy: dict[Any, int] = {}  # connection (aiohttp protocol) -> requests in progress
        self._last_seen: dict[Any, float] = {}  # connection -> when it opened or last finished
        self._served: set[Any] = set()  # connections that completed a request
        self.port: int | None = None

    async def serve_until(
        self, host: str, port: int, stop: asyncio.Event, on_ready: Callable[[int], None] | None = None
    ) -> None:
        """Listen on ``host:port`` until ``stop`` is set, then shut the sockets down;
        ``on_ready(port)`` is told the bound port first."""
        bound = await self.start(host, port)
        if on_ready is not None:
            on_ready(bound)
        try:
            await stop.wait()
        finally:
            await self.stop()

    # --- browser rules ------------------------------------------------------------------

    def _host_allowed(self, request: web.BaseRequest) -> bool:
        vhosts = self.options.vhosts
        if "*" in vhosts:
            return True
        name = _host_name(request.headers.get("Host", ""))
        return _is_ip(name) or name in vhosts

    def _cors_allowed(self, origin: str) -> bool:
        allowed = self.options.cors_origins
        return "*" in allowed or origin in allowed

    def _ws_origin_allowed(self, origin: str) -> bool:
        allowed = self.options.ws_origins
        return (
            "*" in allowed
            or origin in allowed
            or origin in self.options.cors_origins
            or _is_loopback_origin(origin)
        )

    def _cors(self, response: web.StreamResponse, origin: str | None = None) -> web.StreamResponse:
        if origin and self._cors_allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = (
                "*" if "*" in self.options.cors_origins else origin
            )
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Vary"] = "Origin"
        return response

    def _json(self, value: Any, status: int = 200, origin: str | None = None) -> web.Response:
        response = web.Response(text=_dumps(value), status=status, headers=JSON_HEADERS)
        return self._cors(response, origin)  # type: ignore[return-value]

    @staticmethod
    def _refusal(message: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": None, "error": InvalidRequest(message).to_json()}

    # --- HTTP ---------------------------------------------------------------------------

    @web.middleware
    async def _subapp_rules(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """A request to a sub-application (the dashboard) counts as busy for the connection
        sweep, as JSON-RPC requests do, and meets the same Host rule."""
        if request.path == "/":
            return await handler(request)  # JSON-RPC: ``handle`` applies every rule itself
        if not self._host_allowed(request):
            return web.json_response({"error": "invalid host specified (see --http-vhosts)"}, status=403)
        with self._serving(request.protocol):
            return await handler(request)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self._serving(request.protocol):
            return await self._handle(request)

    @contextmanager
    def _serving(self, connection: Any) -> Iterator[None]:
        """Count ``connection`` busy while a request runs on it (the idle sweep spares it),
        then record that it was served and when it was last seen."""
        self._busy[connection] = self._busy.get(connection, 0) + 1
        try:
            yield
        finally:
            left = self._busy.get(connection, 1) - 1
            if left:
                self._busy[connection] = left
            else:
                self._busy.pop(connection, None)
            self._served.add(connection)
            self._last_seen[connection] = time.monotonic()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            origin = request.headers.get("Origin")
            held = self._open_connections()
            if len(held) > self.options.max_connections:
                log.warning("refusing a connection: %d open", len(held))
                response = self._json(
                    self._refusal(f"too many connections (at most {self.options.max_connections})"),
                    status=503,
                )
                response.force_close()
                return response
            if not self._host_allowed(request):
                return self._json(self._refusal("invalid host specified (see --http-vhosts)"), status=403)
            if request.method == "OPTIONS":
                refused = not self.options.cors_origins or (
                    origin is not None and not self._cors_allowed(origin)
                )
                return self._cors(web.Response(status=405 if refused else 204), origin)
            if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
                if origin is not None and not self._ws_origin_allowed(origin):
                    return self._json(
                        self._refusal(f"origin {origin} not allowed (see --ws-origins)"),
                        status=403,
                    )
                return await self.websocket(request)
            if request.method != "POST":
                return self._json(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": InvalidRequest(
                            "send JSON-RPC as HTTP POST, or upgrade to a WebSocket"
                        ).to_json(),
                    },
                    status=405,
                )
            if request.content_type not in JSON_TYPES:
                return self._json(
                    self._refusal("invalid content type, only application/json is supported"),
                    status=415,
                )
            if origin is not None and not self._cors_allowed(origin):
                return self._json(self._refusal(f"origin {origin} not allowed (see --cors)"), status=403)
            return await self.http(request, origin)
        except Exception:  # never a traceback to the client, never a dead server
            log.exception("unexpected failure serving %s %s", request.method, request.path)
            return web.Response(status=500, text="internal error")

    async def http(self, request: web.Request, origin: str | None = None) -> web.StreamResponse:
        too_big = self._refusal(f"request larger than {MAX_BODY} bytes")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._json(too_big, status=413, origin=origin)
        try:
            body = await asyncio.wait_for(request.read(), self.options.body_timeout)
        except web.HTTPRequestEntityTooLarge:
            return self._json(too_big, status=413, origin=origin)
        except TimeoutError:
            response = self._json(self._refusal("request body too slow"), status=408)
            response.force_close()
            return response
        if len(body) > MAX_BODY:
            return self._json(too_big, status=413, origin=origin)
        client = _client_key(request)
        try:
            payload = self.dispatcher.parse_body(body)
        except (ParseError, InvalidRequest) as exc:
            return self._json({"jsonrpc": "2.0", "id": None, "error": exc.to_json()}, origin=origin)
        if self.dispatcher.is_batch(payload):
            return await self._stream_batch(request, payload, client, origin)
        answer = await self.dispatcher.handle_payload(payload, client=client)
        if answer is None:
            return self._cors(web.Response(status=204), origin)
        return self._json(answer, origin=origin)

    async def _stream_batch(
        self, request: web.Request, payload: list[Any], client: Any, origin: str | None
    ) -> web.StreamResponse:
        """A batch's answers written as each is ready: the node holds one answer's text at
        a time, not the whole array (up to the 25 MB limit) twice."""
        response: web.StreamResponse | None = None
        try:
            async for _answer, text in self.dispatcher.batch(payload, client=client):
                if response is None:
                    response = self._cors(web.StreamResponse(headers=JSON_HEADERS), origin)
                    await response.prepare(request)
                    await response.write(b"[")
                else:
                    await response.write(b",")
                await response.write(text.encode())
            if response is None:  # only notifications
                return self._cors(web.Response(status=204), origin)
            await response.write(b"]")
            await response.write_eof()
        except ConnectionError:  # the client went away mid-answer: nothing to tell it
            log.info("a client closed its connection during a batch answer")
        assert response is not None
        return response

    # --- WebSocket -------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY, heartbeat=WS_HEARTBEAT)
        await ws.prepare(request)
        connection = WsConnection(ws, asyncio.get_running_loop())
        key = _client_key(request)
        remote = key if isinstance(key, str) else None  # one client per remote address
        self.connections.add(connection)
        writer = asyncio.create_task(connection.writer())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    body: str | bytes = message.data
                elif message.type == WSMsgType.BINARY:
                    body = message.data
                elif message.type == WSMsgType.ERROR:
                    # e.g. a message over the size limit: aiohttp closes with 1009 next
                    log.info("WebSocket error: %s", ws.exception())
                    break
                else:
                    continue
                answer = await self.dispatcher.handle_body(body, connection, remote or connection)
                if answer is not None:
                    connection.send_soon(_dumps(answer))
        finally:
            connection.close()
            self.connections.discard(connection)
            await self.dispatcher.run_async(self.dispatcher.backend.drop_connection, connection)
            await writer
        return ws

    # --- life cycle ---------------------------------------------------------------------

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
        """Bind and start serving; returns the port (useful with port 0)."""
        self.runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.options.idle_timeout,
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        self._tick_task = asyncio.create_task(self._interval_mining())
        self._sweep_task = asyncio.create_task(self._sweep_connections())
        return self.port

    async def stop(self) -> None:
        self.dispatcher.abort_calls()
        for task in (self._tick_task, self._sweep_task):
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for connection in list(self.connections):
            connection.close()
            await connection.ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    def _open_connections(self) -> list[Any]:
        """aiohttp's protocol object of every open HTTP or WebSocket connection."""
        server = self.runner.server if self.runner is not None else None
        return server.connections if server is not None else []

    async def _sweep_connections(self) -> None:
        """Close connections that sent no whole request in time, idled too long, or are
        the oldest idle ones while there are too many (slow-loris, fd exhaustion)."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = time.monotonic()
            open_now = self._open_connections()
            alive = set(open_now)
            for gone in [c for c in self._last_seen if c not in alive]:
                self._last_seen.pop(gone, None)
                self._served.discard(gone)
            idle: list[tuple[float, Any]] = []
            for connection in open_now:
                if connection in self._busy:
                    continue
                since = self._last_seen.setdefault(connection, now)
                limit = (
                    self.options.idle_timeout if connection in self._served else self.options.header_timeout
                )
                if now - since > limit:
                    connection.force_close()
                else:
                    idle.append((since, connection))
            excess = len(open_now) - self.options.max_connections
            for _since, connection in sorted(idle, key=lambda item: item[0])[: max(0, excess)]:
                connection.force_close()

    async def _interval_mining(self) -> None:
        """Mine a block whenever the backend's interval clock says one is due."""
        backend = self.dispatcher.backend
        while True:
            await asyncio.sleep(INTERVAL_POLL)
            if backend.dev.interval_due(time.monotonic()):
                try:
                    await self.dispatcher.run_async(backend.dev.mine_interval_block)
                except Exception:
                    log.exception("interval mining failed")


async def serve_until_stopped(
    dispatcher: Dispatcher,
    host: str,
    port: int,
    cors_origin: str | None,
    stop: asyncio.Event,
    on_ready: Callable[[int], None] | None = None,
    options: ServerOptions | None = None,
    subapps: Mapping[str, web.Application] | None = None,
) -> None:
    """Serve until ``stop`` is set, then shut down in order: sockets, then the worker.
    ``subapps`` are served beside JSON-RPC under their prefixes (``devnet --ui``)."""
    await RpcServer(dispatcher, cors_origin, options, subapps).serve_until(host, port, stop, on_ready)


__all__ = ["RpcServer", "ServerOptions", "WsConnection", "serve_until_stopped", "ParseError"]
