"""The ``net_`` namespace: network id and liveness. A single node has no peers."""

from __future__ import annotations

from node.rpc.registry import Context, rpc


@rpc("net_version", on_worker=False)
def net_version(ctx: Context) -> str:
    # The network id equals the chain id on this chain (a decimal string, by convention).
    return str(ctx.backend.config.chain_id)


@rpc("net_listening", on_worker=False)
def net_listening(ctx: Context) -> bool:
    return True


@rpc("net_peerCount", on_worker=False)
def net_peerCount(ctx: Context) -> str:
    return "0x0"
