"""The ``txpool_`` namespace: what waits in the pool, as geth shows it."""

from __future__ import annotations

from typing import Any

from node.rpc import format as fmt
from node.rpc import params as p
from node.rpc.registry import Context, rpc


def _group(ctx: Context, only: bytes | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    content = ctx.backend.pool.content()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for state in ("pending", "queued"):
        out[state] = {}
        for sender, by_nonce in content.get(state, {}).items():
            if only is not None and bytes(sender) != only:
                continue
            out[state][fmt.addr(sender)] = {
                str(nonce): dict(fmt.transaction_json(entry.tx)) for nonce, entry in by_nonce.items()
            }
    return out


@rpc("txpool_status")
def txpool_status(ctx: Context) -> dict[str, str]:
    status = ctx.backend.pool.status()
    return {"pending": fmt.qty(status["pending"]), "queued": fmt.qty(status["queued"])}


@rpc("txpool_content")
def txpool_content(ctx: Context) -> dict[str, Any]:
    return _group(ctx)


@rpc("txpool_contentFrom", p.Param("address", p.address))
def txpool_contentFrom(ctx: Context, account: bytes) -> dict[str, Any]:
    grouped = _group(ctx, only=account)
    return {state: grouped[state].get(fmt.addr(account), {}) for state in grouped}


@rpc("txpool_inspect")
def txpool_inspect(ctx: Context) -> dict[str, Any]:
    """geth's one-line summaries: ``to: value wei + gas gas × price wei``."""
    content = ctx.backend.pool.content()
    out: dict[str, dict[str, dict[str, str]]] = {}
    for state in ("pending", "queued"):
        out[state] = {}
        for sender, by_nonce in content.get(state, {}).items():
            out[state][fmt.addr(sender)] = {
                str(nonce): (
                    f"{fmt.addr(entry.tx.to) if entry.tx.to else 'contract creation'}: "
                    f"{entry.value} wei + {entry.gas} gas × {entry.max_fee} wei"
                )
                for nonce, entry in by_nonce.items()
            }
    return out


def _dropped_json(record: Any) -> dict[str, Any]:
    return {
        "hash": fmt.hexb(record.hash),
        "from": None if record.sender is None else fmt.addr(record.sender),
        "nonce": None if record.nonce is None else fmt.qty(record.nonce),
        "error": record.kind,
        "reason": record.reason,
        "blockNumber": None if record.block_number is None else fmt.qty(record.block_number),
    }


@rpc("txpool_dropped", p.optional("hash", p.hash32))
def txpool_dropped(ctx: Context, tx_hash: bytes | None) -> Any:
    """Why the pool let transactions go unmined (sumchain's own; geth has no such method).

    With a hash: that transaction's record, or null. Without: every remembered record.
    """
    pool = ctx.backend.pool
    if tx_hash is not None:
        record = pool.dropped(tx_hash)
        return None if record is None else _dropped_json(record)
    return [_dropped_json(record) for record in pool.dropped_transactions()]
