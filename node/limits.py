"""What one JSON-RPC request may cost: the node's limits, geth's defaults where geth has one.

Its own module because the dispatcher (which enforces them) and the backend's parts
(which cap gas and trace steps with them) both read it, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one request may cost; the defaults are geth's where geth has one."""

    gas_cap: int = 50_000_000
    """Gas at most for eth_call, eth_estimateGas, eth_createAccessList and debug_traceCall
    (geth's ``--rpc.gascap``); a request asking for more runs with this much. Never less
    than the chain's block gas limit, so any transaction a block can hold can be estimated."""
    call_timeout: float | None = 5.0
    """Seconds an ``exec``-lane request may run before it is stopped (geth's
    ``--rpc.evmtimeout``); None for no deadline (the in-process provider, whose caller
    is the process itself)."""
    batch_response_bytes: int = 25_000_000
    """Bytes of answers one batch may produce; later requests get an error (geth's)."""
    trace_steps: int = 100_000
    """Struct-logger steps one debug_trace* may record without an explicit ``limit``."""
    concurrent_calls: int = 2
    """``exec``-lane requests running at once over all clients (the GIL runs one at a time
    anyway; two let a short call pass a long one)."""
    calls_per_client: int = 1
    """``exec``-lane requests running at once for one connection."""
