"""Journals: durable records of the pool's transactions, so that they survive a restart.

:class:`Journal` is the interface the pool (``chain.mempool.TxPool``) writes to;
:class:`StoreJournal` is the one a node uses, a table of the chain's store (so a
block's removals commit with the block); :class:`MemoryJournal` serves pools that
need not survive a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from eth_utils import keccak

from chain.errors import DataDirError
from chain.store import TABLE_JOURNAL, Store

logger = logging.getLogger(__name__)

SEQUENCE_BYTES = 8  # big-endian arrival number heading each StoreJournal key


class Journal(Protocol):
    """A durable record of the pool's transactions, so that they survive a restart.

    The pool calls ``add`` for every accepted transaction and ``remove`` for every
    one it lets go (mined, replaced, evicted, dropped); on start it re-adds
    ``load()`` in order, then calls ``rewrite`` with what it kept.
    """

    def add(self, tx_hash: bytes, raw: bytes) -> None:
        """Record that the transaction ``raw`` (hash ``tx_hash``) entered the pool."""
        ...

    def remove(self, hashes: Iterable[bytes]) -> None:
        """Record that the transactions ``hashes`` left the pool; unknown ones are ignored."""
        ...

    def load(self) -> list[bytes]:
        """Return the raw transactions still recorded, in the order they were added."""
        ...

    def rewrite(self, raws: Iterable[bytes]) -> None:
        """Replace the whole record with ``raws`` (in this order)."""
        ...


class MemoryJournal:
    """A journal kept in memory: for tests, and for pools that need not survive a restart."""

    def __init__(self) -> None:
        self._entries: dict[bytes, bytes] = {}

    def add(self, tx_hash: bytes, raw: bytes) -> None:
        self._entries[tx_hash] = raw

    def remove(self, hashes: Iterable[bytes]) -> None:
        for tx_hash in hashes:
            self._entries.pop(tx_hash, None)

    def load(self) -> list[bytes]:
        return list(self._entries.values())

    def rewrite(self, raws: Iterable[bytes]) -> None:
        self._entries = {keccak(raw): raw for raw in raws}


class StoreJournal:
    """The pool's journal as a table of the store (the one a node uses).

    Entries are keyed by an 8-byte arrival sequence then the transaction hash, so they
    load in arrival order. Removals made while a block is being written commit with
    that block's write; otherwise every change is committed at once, so a transaction
    the node has acknowledged is on disk. An entry whose bytes do not hash to the hash
    in its key (a damaged record) is left out of :meth:`load`, counted in
    ``discarded``, and removed by the pool's next :meth:`rewrite`.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._keys: dict[bytes, bytes] = {}  # tx hash -> table key
        self._next = 0
        self.discarded = 0  # damaged entries left out by the last load()
        for key, _raw in store.items(TABLE_JOURNAL):
            self._keys[key[SEQUENCE_BYTES:]] = key
            self._next = int.from_bytes(key[:SEQUENCE_BYTES], "big") + 1

    def add(self, tx_hash: bytes, raw: bytes) -> None:
        if tx_hash in self._keys:
            return  # already recorded: it keeps its place in arrival order
        key = self._next.to_bytes(SEQUENCE_BYTES, "big") + tx_hash
        self._next += 1
        self._keys[tx_hash] = key
        self._store.put(TABLE_JOURNAL, key, raw)
        try:
            self._flush()
        except DataDirError:
            self._keys.pop(tx_hash, None)  # not on disk: nothing to remove later
            raise

    def remove(self, hashes: Iterable[bytes]) -> None:
        for tx_hash in hashes:
            key = self._keys.pop(tx_hash, None)
            if key is not None:
                self._store.put(TABLE_JOURNAL, key, None)
        self._flush()

    def load(self) -> list[bytes]:
        raws: list[bytes] = []
        self.discarded = 0
        for key, raw in self._store.items(TABLE_JOURNAL):
            if keccak(raw) != key[SEQUENCE_BYTES:]:
                self.discarded += 1
                logger.warning("txpool journal: entry 0x%s is damaged; left out", key.hex())
                continue
            raws.append(raw)
        return raws

    def rewrite(self, raws: Iterable[bytes]) -> None:
        stored = {key for key, _raw in self._store.items(TABLE_JOURNAL)}  # damaged ones too
        for key in stored | set(self._keys.values()):
            self._store.put(TABLE_JOURNAL, key, None)
        self._keys = {}
        self._next = 0
        for raw in raws:
            self.add(keccak(raw), raw)
        self._flush()

    def _flush(self) -> None:
        if not self._store.block_open:
            self._store.commit()
