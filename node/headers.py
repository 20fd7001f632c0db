"""The block a JSON-RPC block parameter names, shared by every part of the backend:
stored blocks by tag, number or hash, and the ``pending`` block, which is built from
the pool as geth builds it (the pool's pending transactions executed on the head, at
the time the next block will have: a timestamp pinned with ``evm_setNextBlockTimestamp``
included)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eth.abc import BlockAPI, BlockHeaderAPI

from chain.chain import Chain
from chain.errors import UnknownBlock
from chain.mempool import TxPool
from node.rpc import errors
from node.rpc.params import BlockId

PENDING = "pending"


def resolve_header(chain: Chain, block: BlockId) -> BlockHeaderAPI:
    """The stored header ``block`` names (``pending`` is the head); -32000 "header not
    found" when there is none."""
    try:
        header = chain.resolve(block.key)
    except UnknownBlock as exc:
        raise errors.ServerError(f"header not found: {exc}") from None
    if block.require_canonical and not chain.is_canonical(header):
        raise errors.ServerError(f"block 0x{header.hash.hex()} is not canonical")
    return header


@dataclass(frozen=True)
class Located:
    """A block and the chain its state, body and receipts are read from: the node's own
    chain for a stored block, a throwaway view holding it for the pending block."""

    chain: Chain
    header: BlockHeaderAPI


class BlockNames:
    """Resolves block parameters on ``chain``; ``pending`` from ``pool`` at the time
    ``next_timestamp(parent)`` gives (the producer's clock)."""

    def __init__(
        self,
        chain: Chain,
        pool: TxPool | None = None,
        next_timestamp: Callable[[BlockHeaderAPI], int] | None = None,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.next_timestamp = next_timestamp
        self._cached: tuple[tuple[bytes, tuple[bytes, ...], int], Located] | None = None
        """The last pending block built, under (head hash, pending hashes, timestamp)."""

    def header(self, block: BlockId) -> BlockHeaderAPI:
        return self.locate(block).header

    def locate(self, block: BlockId, built: bool = False) -> Located:
        """Where ``block`` is read. The pending block is only a header on the head's state
        while the pool has nothing pending, unless ``built`` asks for a block whose body
        and receipts can be read too."""
        if block.tag != PENDING or self.next_timestamp is None:
            return Located(self.chain, resolve_header(self.chain, block))
        return self.pending(built, block.with_pool)

    def pending(self, built: bool = False, with_pool: bool = True) -> Located:
        head = self.chain.head
        timestamp = self.next_timestamp(head) if self.next_timestamp is not None else head.timestamp + 1
        transactions = []
        if self.pool is not None and with_pool:
            transactions = [entry.tx for entry in self.pool.pending()]
        if not transactions and not built:
            return Located(self.chain, self.chain.pending_header(timestamp))
        key = (bytes(head.hash), tuple(bytes(tx.hash) for tx in transactions), timestamp)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        view, block = self.chain.preview_block(transactions, timestamp)
        located = Located(view, block.block.header)
        self._cached = (key, located)
        return located

    def block_or_none(self, block: BlockId) -> tuple[Chain, BlockAPI] | None:
        """The block ``block`` names and the chain it is read from, or None if none."""
        try:
            located = self.locate(block, built=True)
        except errors.ServerError:
            return None
        return located.chain, located.chain.block(located.header)
