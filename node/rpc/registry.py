"""The table of JSON-RPC methods: each namespace module registers its handlers here
with :func:`rpc`, naming the *lane* each runs on (see ``node.rpc.dispatcher``).

Its own module so that the namespace modules and the dispatcher that loads them do not
import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from node.rpc.params import Param
from node.subscriptions import Connection

if TYPE_CHECKING:
    from node.backend import Backend

LOCAL, READ, EXEC, WORKER = "local", "read", "exec", "worker"  # lanes, see node.rpc.dispatcher


@dataclass
class Context:
    """What a method handler may use."""

    backend: Backend
    """The chain adapter; only touch it on the worker thread (handlers always are)."""
    connection: Connection | None = None
    """The WebSocket the request came on, or None for HTTP and in-process calls."""
    client: Hashable | None = None
    """Who asks, for per-client limits: the remote IP address for a client off this
    machine; on loopback the WebSocket or the HTTP peer (address, port); None in process."""


@dataclass(frozen=True)
class Method:
    """A method as registered by a namespace module."""

    name: str
    handler: Callable[..., Any]
    params: tuple[Param, ...]
    lane: str
    """Where it runs: ``local``, ``read``, ``exec`` or ``worker`` (see the module doc)."""


METHODS: dict[str, Method] = {}


def rpc(
    name: str,
    *params: Param,
    aliases: tuple[str, ...] = (),
    on_worker: bool = True,
    lane: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``handler(ctx, *decoded_params)`` under ``name`` (and ``aliases``) on a
    lane (default ``worker``; ``on_worker=False`` means ``local``)."""
    chosen = lane or (WORKER if on_worker else LOCAL)
    if chosen not in (LOCAL, READ, EXEC, WORKER):
        raise ValueError(f"unknown lane {chosen!r}")

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        for wire_name in (name, *aliases):
            if wire_name in METHODS:
                raise RuntimeError(f"RPC method {wire_name} registered twice")
            METHODS[wire_name] = Method(wire_name, handler, tuple(params), chosen)
        return handler

    return register
