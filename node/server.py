"""JSON-RPC 2.0 over HTTP (POST) and WebSocket, on one port, with aiohttp.

* ``POST /`` — one request or a batch; the answer is the JSON-RPC response (HTTP 200
  even for JSON-RPC errors, as every Ethereum node does), or 204 when every request
  was a notification.
* ``GET /`` with ``Upgrade: websocket`` — one request or batch per text message;
  subscription notifications (``eth_subscription``) are pushed on the same socket.

Bodies and messages are limited to ``MAX_BODY`` bytes and batches to ``MAX_BATCH``
requests. CORS headers are sent only when an origin is configured. The server binds
127.0.0.1 unless told otherwise. Interval mining ticks from here, but the block is
built on the chain worker thread, so the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from node.rpc.dispatcher import MAX_BODY, Dispatcher
from node.rpc.errors import InvalidRequest, ParseError

log = logging.getLogger("sumchain.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
WS_QUEUE_LIMIT = 10_000  # notifications buffered for one slow WebSocket before it is dropped
WS_HEARTBEAT = 30.0  # seconds between WebSocket pings
INTERVAL_POLL = 0.05  # seconds between checks of the interval-mining clock
JSON_HEADERS = {"Content-Type": "application/json"}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


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
        subapps: Mapping[str, web.Application] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.cors_origin = cors_origin
        self.connections: set[WsConnection] = set()
        self.app = web.Application(client_max_size=MAX_BODY)
        self.app.router.add_route("*", "/", self.handle)
        for prefix, subapp in (subapps or {}).items():  # e.g. the dashboard under /ui/
            self.app.add_subapp(prefix, subapp)
        self.runner: web.AppRunner | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self.port: int | None = None

    # --- HTTP ---------------------------------------------------------------------------

    def _cors(self, response: web.StreamResponse) -> web.StreamResponse:
        if self.cors_origin:
            response.headers["Access-Control-Allow-Origin"] = self.cors_origin
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Vary"] = "Origin"
        return response

    def _json(self, value: Any, status: int = 200) -> web.Response:
        return self._cors(web.Response(text=_dumps(value), status=status, headers=JSON_HEADERS))  # type: ignore[return-value]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            if request.method == "OPTIONS":
                return self._cors(web.Response(status=204 if self.cors_origin else 405))
            if (
                request.method == "GET"
                and request.headers.get("Upgrade", "").lower() == "websocket"
            ):
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
            return await self.http(request)
        except Exception:  # never a traceback to the client, never a dead server
            log.exception("unexpected failure serving %s %s", request.method, request.path)
            return web.Response(status=500, text="internal error")

    async def http(self, request: web.Request) -> web.StreamResponse:
        too_big = {
            "jsonrpc": "2.0",
            "id": None,
            "error": InvalidRequest(f"request larger than {MAX_BODY} bytes").to_json(),
        }
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._json(too_big, status=413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._json(too_big, status=413)
        if len(body) > MAX_BODY:
            return self._json(too_big, status=413)
        answer = await self.dispatcher.handle_body(body)
        if answer is None:
            return self._cors(web.Response(status=204))
        return self._json(answer)

    # --- WebSocket -------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY, heartbeat=WS_HEARTBEAT)
        if self.cors_origin:
            self._cors(ws)
        await ws.prepare(request)
        connection = WsConnection(ws, asyncio.get_running_loop())
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
                answer = await self.dispatcher.handle_body(body, connection)
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
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        self._tick_task = asyncio.create_task(self._interval_mining())
        return self.port

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            try:
                await self._tick_task
            except asyncio.CancelledError:
                pass
        for connection in list(self.connections):
            connection.close()
            await connection.ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _interval_mining(self) -> None:
        """Mine a block whenever the backend's interval clock says one is due."""
        backend = self.dispatcher.backend
        while True:
            await asyncio.sleep(INTERVAL_POLL)
            if backend.interval_due(time.monotonic()):
                try:
                    await self.dispatcher.run_async(backend.mine_interval_block)
                except Exception:
                    log.exception("interval mining failed")


async def serve_until_stopped(
    dispatcher: Dispatcher,
    host: str,
    port: int,
    cors_origin: str | None,
    stop: asyncio.Event,
    on_ready: Callable[[int], None] | None = None,
    subapps: Mapping[str, web.Application] | None = None,
) -> None:
    """Serve until ``stop`` is set, then shut down in order: sockets, then the worker.
    ``subapps`` are served beside JSON-RPC under their prefixes (``devnet --ui``)."""
    server = RpcServer(dispatcher, cors_origin, subapps)
    bound = await server.start(host, port)
    if on_ready is not None:
        on_ready(bound)
    try:
        await stop.wait()
    finally:
        await server.stop()


__all__ = ["RpcServer", "WsConnection", "serve_until_stopped", "ParseError"]
