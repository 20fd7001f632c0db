"""The fast path of a logs query (``eth_getLogs``) over a range of blocks.

Two things make a scan over thousands of blocks cheap, without an index to keep in step
with rewinds:

* a block is skipped when its header's bloom filter (EIP-2's 2048-bit filter of every
  log's address and topics) cannot hold a log that matches: a query for one contract's
  events reads only the blocks that may have them;
* a block that may match is read from its receipts and its transactions' hashes alone:
  no transaction is decoded and no sender recovered (a log names neither), which is where
  reading whole receipts spent its time.

A bloom filter answers "maybe" or "no", never a false "no", so the result is the same
as reading every block; ``tests/chain/test_log_scan.py`` checks it against that plain scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from eth.abc import BlockHeaderAPI, ChainDatabaseAPI, ReceiptDecoderAPI
from eth_bloom import BloomFilter


def bloom_may_match(
    bloom: int, addresses: Iterable[bytes], topics: Sequence[Sequence[bytes] | bytes | None]
) -> bool:
    """Whether a block with this header bloom may hold a log from one of ``addresses``
    (any, if none) whose topics match ``topics`` (per position: None = any, a value, or
    a list of alternatives)."""
    if bloom == 0:
        return False
    found = BloomFilter(bloom)
    wanted = list(addresses)
    if wanted and not any(address in found for address in wanted):
        return False
    for choice in topics:
        if choice is None:
            continue
        options = [choice] if isinstance(choice, bytes) else list(choice)
        if options and not any(topic in found for topic in options):
            return False
    return True


def block_logs(
    chaindb: ChainDatabaseAPI, header: BlockHeaderAPI, receipt_builder: type[ReceiptDecoderAPI]
) -> Iterator[tuple[int, bytes, int, bytes, tuple[bytes, ...], bytes]]:
    """Every log of a block as (transaction index, transaction hash, log index in the
    block, address, topics, data), read from the receipts and the transactions' hashes
    only (the entries :mod:`chain.log_index` stores)."""
    receipts: tuple[Any, ...] = tuple(chaindb.get_receipts(header, receipt_builder))
    hashes = chaindb.get_block_transaction_hashes(header)
    log_index = 0
    for index, (tx_hash, receipt) in enumerate(zip(hashes, receipts, strict=True)):
        for log in receipt.logs:
            topics = tuple(t.to_bytes(32, "big") for t in log.topics)
            yield index, bytes(tx_hash), log_index, log.address, topics, log.data
            log_index += 1
