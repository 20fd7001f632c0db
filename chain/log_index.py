"""Each block's logs, stored once in a compact form beside the block.

A logs query (``eth_getLogs``) over thousands of blocks spent its time walking every
block's receipt and transaction tries (RLP nodes decoded by the tens of thousands). So
when a block is committed, its logs are written once more, in its own store write
transaction (:meth:`chain.chain.Chain._after_block`), as one RLP list under the block's
hash in the ``aux`` table: a query then reads one value per block that may match.

Keyed by block hash, the index needs no care on a rewind or a reorganisation: a query
looks a canonical block up by its hash, and a dropped block's entry is never asked for.
A block committed before this index existed has no entry; the query reads its receipts
instead (:func:`chain.log_scan.block_logs`), so old data directories answer the same.
Blocks without logs (bloom zero) get no entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth.abc import BlockAPI, ReceiptAPI

from chain.store import TABLE_AUX, Store

LOG_INDEX_PREFIX = b"logs:"  # + 32-byte block hash -> RLP list of the block's logs
Entry = tuple[int, bytes, int, bytes, tuple[bytes, ...], bytes]
"""(transaction index, transaction hash, log index in the block, address, topics, data)."""


def index_block(store: Store, block: BlockAPI, receipts: Sequence[ReceiptAPI]) -> None:
    """Stage ``block``'s logs for its commit (nothing for a block without logs)."""
    rows = []
    for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        for log in receipt.logs:
            rows.append([index, tx.hash, log.address, [t.to_bytes(32, "big") for t in log.topics], log.data])
    if rows:
        store.put(TABLE_AUX, LOG_INDEX_PREFIX + block.hash, rlp.encode(rows))


def block_entries(store: Store, block_hash: bytes) -> list[Entry] | None:
    """The logs stored for the block with this hash, or None if it has no entry."""
    raw = store.get(TABLE_AUX, LOG_INDEX_PREFIX + block_hash)
    if raw is None:
        return None
    out: list[Entry] = []
    for log_index, (index, tx_hash, address, topics, data) in enumerate(rlp.decode(raw)):
        out.append((int.from_bytes(index, "big"), tx_hash, log_index, address, tuple(topics), data))
    return out
