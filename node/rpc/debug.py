"""The ``debug_`` namespace: raw RLP of blocks, headers, transactions and receipts, and
moving the head back."""

from __future__ import annotations

from node.rpc import format as fmt
from node.rpc import params as p
from node.rpc.errors import ResourceNotFound
from node.rpc.registry import Context, rpc

LATEST = "latest"


@rpc("debug_getRawBlock", p.Param("block", p.block_id), lane="read")
def debug_getRawBlock(ctx: Context, block: p.BlockId) -> str:
    return fmt.hexb(ctx.backend.raw_block(block))


@rpc("debug_getRawHeader", p.Param("block", p.block_id), lane="read")
def debug_getRawHeader(ctx: Context, block: p.BlockId) -> str:
    return fmt.hexb(ctx.backend.raw_header(block))


@rpc("debug_getRawTransaction", p.Param("hash", p.hash32), lane="read")
def debug_getRawTransaction(ctx: Context, tx_hash: bytes) -> str:
    raw = ctx.backend.raw_transaction(tx_hash)
    if raw is None:
        raise ResourceNotFound(f"transaction {fmt.hexb(tx_hash)} not found")
    return fmt.hexb(raw)


@rpc("debug_getRawReceipts", p.Param("block", p.block_id), lane="read")
def debug_getRawReceipts(ctx: Context, block: p.BlockId) -> list[str]:
    return [fmt.hexb(raw) for raw in ctx.backend.raw_receipts(block)]


@rpc("debug_setHead", p.Param("number", p.block_number))
def debug_setHead(ctx: Context, number: int) -> None:
    ctx.backend.dev.set_head(number)
    return None


@rpc(
    "debug_traceTransaction",
    p.Param("hash", p.hash32),
    p.optional("options", p.trace_options),
    lane="exec",
)
def debug_traceTransaction(ctx: Context, tx_hash: bytes, options: p.TraceOptions | None) -> dict:
    """Re-execute a mined transaction with a tracer: geth's struct logger (default) or
    ``callTracer``. The chain is not changed."""
    return ctx.backend.tracer.trace_transaction(tx_hash, options or p.TraceOptions())


@rpc(
    "debug_traceCall",
    p.Param("transaction", p.tx_request),
    p.optional("block", p.block_id, LATEST),
    p.optional("options", p.trace_options),
    lane="exec",
)
def debug_traceCall(
    ctx: Context, request: p.TxRequest, block: p.BlockId, options: p.TraceOptions | None
) -> dict:
    """Trace a message call on the state after ``block`` without mining it."""
    return ctx.backend.tracer.trace_call(request, block, options or p.TraceOptions())
