"""The key-value store behind py-evm's database interface.

Two backends implement :class:`Backend`: :class:`LmdbBackend`, the embedded default
(one LMDB environment per data directory), and :class:`MemoryBackend` for tests.

py-evm writes into a :class:`Store` during block production or import: headers,
block bodies, transaction and receipt tries, state trie nodes, canonical indices and
the head pointer. None of it reaches the backend until :meth:`Store.commit`, which
writes everything (plus the pool journal changes of the same block) in **one backend
write transaction**. A crash therefore leaves the last committed head whole: either
all of a block is on disk or none of it is.

Nothing is pruned: every block's state trie stays readable (an archive store), which
is what reading a model at any earlier block rests on.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import lmdb
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

from chain.errors import DataDirError

FORMAT_VERSION = 1  # bump when the on-disk layout changes; older directories are refused
LMDB_MAP_SIZE = 1 << 40  # bytes of address space LMDB may map (sparse; not allocated)
LMDB_DIRNAME = "chain.lmdb"
LOCK_FILENAME = "LOCK"
META_FILENAME = "sumchain.json"  # human-readable copy of the metadata, written once

TABLE_CHAIN = b"chain"  # py-evm's keys: headers, bodies, tries, indices, head
TABLE_META = b"meta"  # format version, chain config, genesis hash
TABLE_JOURNAL = b"txjournal"  # pending transactions: tx hash -> raw bytes
TABLE_AUX = b"aux"  # sumchain's own indices and consensus snapshots


class Backend(Protocol):
    """Durable key-value tables with atomic multi-table writes.

    Tables are named by the ``TABLE_*`` constants. A write applies all of its puts and
    deletes, across tables, atomically or not at all.
    """

    def get(self, table: bytes, key: bytes) -> bytes | None:
        """The value under ``key`` in ``table``, or None."""

    def write(self, ops: dict[bytes, dict[bytes, bytes | None]]) -> None:
        """Apply ``{table: {key: value or None for delete}}`` in one transaction."""

    def items(self, table: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) of ``table`` in key order."""

    def close(self) -> None:
        """Release files and locks; the backend is unusable afterwards."""


class MemoryBackend:
    """Tables in dicts; for tests and throwaway chains."""

    def __init__(self) -> None:
        self._tables: dict[bytes, dict[bytes, bytes]] = {}

    def get(self, table: bytes, key: bytes) -> bytes | None:
        return self._tables.get(table, {}).get(key)

    def write(self, ops: dict[bytes, dict[bytes, bytes | None]]) -> None:
        for table, changes in ops.items():
            target = self._tables.setdefault(table, {})
            for key, value in changes.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value

    def items(self, table: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from sorted(self._tables.get(table, {}).items())

    def close(self) -> None:
        self._tables = {}


class LmdbBackend:
    """One LMDB environment in ``<data_dir>/chain.lmdb`` with a named database per table.

    ``sync=False`` skips the fsync at each commit: a killed process still loses
    nothing (the OS has the pages), only a power cut may drop the last blocks.
    """

    def __init__(self, data_dir: Path, sync: bool = True, readonly: bool = False,
                 fast_reads: bool = True) -> None:
        self._lock_file = _lock_data_dir(data_dir) if not readonly else None
        # with fast_reads, each thread's reads share one read transaction until a write
        self._readers: threading.local | None = threading.local() if fast_reads else None
        self._generation = 0  # bumped by every write; older read transactions are stale
        path = data_dir / LMDB_DIRNAME
        try:
            self._env = lmdb.open(
                str(path), map_size=LMDB_MAP_SIZE, max_dbs=8, sync=sync,
                readonly=readonly, create=not readonly, lock=not readonly,
            )
            self._dbs = {t: self._env.open_db(t) for t in
                         (TABLE_CHAIN, TABLE_META, TABLE_JOURNAL, TABLE_AUX)} if not readonly else {
                t: self._env.open_db(t, create=False) for t in
                (TABLE_CHAIN, TABLE_META, TABLE_JOURNAL, TABLE_AUX)}
        except lmdb.Error as exc:
            self._release_lock()
            raise DataDirError(f"data directory {data_dir}: the store cannot be opened ({exc})") from None

    def get(self, table: bytes, key: bytes) -> bytes | None:
        if self._readers is None:
            with self._env.begin(db=self._dbs[table], buffers=False) as txn:
                return txn.get(key)
        # fast path: per thread, one read transaction serves every read until the next
        # write, instead of one transaction per key (py-evm reads key by key)
        mine = self._readers
        txn = getattr(mine, "txn", None)
        if txn is None or mine.generation != self._generation:
            if txn is not None:
                txn.abort()
            txn = mine.txn = self._env.begin(buffers=False)
            mine.generation = self._generation
        return txn.get(key, db=self._dbs[table])

    def _end_reader(self) -> None:
        """Retire the read transactions: they would not see the write about to happen.
        The writing thread's ends now, other threads' at their next read."""
        if self._readers is None:
            return
        self._generation += 1
        txn = getattr(self._readers, "txn", None)
        if txn is not None:
            txn.abort()
            self._readers.txn = None

    def write(self, ops: dict[bytes, dict[bytes, bytes | None]]) -> None:
        self._end_reader()
        try:
            with self._env.begin(write=True) as txn:
                for table, changes in ops.items():
                    db = self._dbs[table]
                    for key, value in changes.items():
                        if value is None:
                            txn.delete(key, db=db)
                        else:
                            txn.put(key, value, db=db)
        except lmdb.Error as exc:
            raise DataDirError(f"store write failed, nothing of it was committed ({exc})") from None

    def items(self, table: bytes) -> Iterator[tuple[bytes, bytes]]:
        with self._env.begin(db=self._dbs[table]) as txn:
            yield from list(txn.cursor().iternext())

    def size_bytes(self) -> int:
        """Bytes the environment's pages occupy (used pages, not the sparse map)."""
        info = self._env.info()
        stat = self._env.stat()
        return (info["last_pgno"] + 1) * stat["psize"]

    def close(self) -> None:
        self._end_reader()
        self._env.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _lock_data_dir(data_dir: Path):  # type: ignore[no-untyped-def]
    """Hold an exclusive lock so two nodes never write one data directory."""
    handle = open(data_dir / LOCK_FILENAME, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise DataDirError(f"data directory {data_dir} is in use by another sumchain process") from None
        raise
    return handle


class _ChainTable(BaseDB):
    """py-evm's view of the store: reads see uncommitted writes first."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, key: bytes) -> bytes:
        value = self._store.get(TABLE_CHAIN, key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._store.put(TABLE_CHAIN, key, value)

    def __delitem__(self, key: bytes) -> None:
        if self._store.get(TABLE_CHAIN, key) is None:
            raise KeyError(key)
        self._store.put(TABLE_CHAIN, key, None)

    def _exists(self, key: bytes) -> bool:
        return self._store.get(TABLE_CHAIN, key) is not None


class Store:
    """A backend plus the write buffer of the block being made.

    ``db`` is what py-evm's ``ChainDB`` is given. Writes stay in the buffer until
    :meth:`commit` (one atomic backend write) or :meth:`discard`.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._pending: dict[bytes, dict[bytes, bytes | None]] = {}
        self.db = AtomicDB(_ChainTable(self))
        self.block_open = False  # True while a block's writes are being buffered

    # --- construction -----------------------------------------------------------------

    @classmethod
    def memory(cls) -> Store:
        return cls(MemoryBackend())

    @classmethod
    def open(cls, data_dir: str | Path, sync: bool = True, fast_reads: bool = True) -> Store:
        """Open (creating if empty) the data directory's store."""
        path = Path(data_dir)
        if path.exists() and not path.is_dir():
            raise DataDirError(f"data directory {path} is a file, not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"data directory {path}: cannot create it ({exc.strerror})") from None
        if any(path.iterdir()) and not (path / LMDB_DIRNAME).is_dir():
            raise DataDirError(
                f"data directory {path} is not empty and holds no sumchain store; "
                "refusing to write into it")
        return cls(LmdbBackend(path, sync=sync, fast_reads=fast_reads))

    # --- reads and writes ---------------------------------------------------------------

    def get(self, table: bytes, key: bytes) -> bytes | None:
        pending = self._pending.get(table)
        if pending is not None and key in pending:
            return pending[key]
        return self.backend.get(table, key)

    def put(self, table: bytes, key: bytes, value: bytes | None) -> None:
        self._pending.setdefault(table, {})[key] = value

    def put_now(self, table: bytes, key: bytes, value: bytes | None) -> None:
        """Write one key straight to the backend (used by the pool journal)."""
        self.backend.write({table: {key: value}})

    def items(self, table: bytes) -> Iterable[tuple[bytes, bytes]]:
        return self.backend.items(table)

    @property
    def has_pending(self) -> bool:
        return any(self._pending.values())

    @contextmanager
    def block_write(self) -> Iterator[None]:
        """Buffer everything written inside; commit it in one transaction on success,
        drop it on any exception."""
        self.block_open = True
        try:
            yield
        except BaseException:
            self.discard()
            raise
        else:
            self.commit()
        finally:
            self.block_open = False

    def commit(self) -> None:
        """Write everything buffered in one backend transaction."""
        if self._pending:
            ops, self._pending = self._pending, {}
            self.backend.write(ops)

    def discard(self) -> None:
        """Forget everything buffered since the last commit."""
        self._pending = {}

    def close(self) -> None:
        self._pending = {}
        self.backend.close()

    # --- metadata -------------------------------------------------------------------------

    def read_meta(self) -> dict | None:
        raw = self.backend.get(TABLE_META, b"meta")
        if raw is None:
            return None
        try:
            meta = json.loads(raw)
        except ValueError:
            raise DataDirError("the store's metadata is damaged (not JSON)") from None
        if not isinstance(meta, dict) or "format" not in meta:
            raise DataDirError("the store's metadata is damaged (no format version)")
        if meta["format"] != FORMAT_VERSION:
            raise DataDirError(
                f"the store has format version {meta['format']}, this sumchain reads "
                f"version {FORMAT_VERSION}; use a matching sumchain or a new data directory")
        return meta

    def write_meta(self, meta: dict, data_dir: Path | None = None) -> None:
        """Stage the metadata (committed with the genesis block)."""
        meta = {"format": FORMAT_VERSION, **meta}
        self.put(TABLE_META, b"meta", json.dumps(meta, sort_keys=True).encode())
        if data_dir is not None:
            tmp = data_dir / (META_FILENAME + ".tmp")
            tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, data_dir / META_FILENAME)


class StoreJournal:
    """The pool's journal (``chain.mempool.Journal``) as a table of the store.

    Entries are keyed by an 8-byte arrival sequence then the transaction hash, so they
    load in arrival order. Removals made while a block is being written commit with
    that block's write; otherwise every change is committed at once, so a transaction
    the node has acknowledged is on disk.
    """

    SEQUENCE_BYTES = 8

    def __init__(self, store: Store) -> None:
        self._store = store
        self._keys: dict[bytes, bytes] = {}  # tx hash -> table key
        self._next = 0
        for key, _raw in store.items(TABLE_JOURNAL):
            self._keys[key[self.SEQUENCE_BYTES:]] = key
            self._next = int.from_bytes(key[: self.SEQUENCE_BYTES], "big") + 1

    def add(self, tx_hash: bytes, raw: bytes) -> None:
        key = self._next.to_bytes(self.SEQUENCE_BYTES, "big") + tx_hash
        self._next += 1
        self._keys[tx_hash] = key
        self._store.put(TABLE_JOURNAL, key, raw)
        self._flush()

    def remove(self, hashes: Iterable[bytes]) -> None:
        for tx_hash in hashes:
            key = self._keys.pop(tx_hash, None)
            if key is not None:
                self._store.put(TABLE_JOURNAL, key, None)
        self._flush()

    def load(self) -> list[bytes]:
        return [raw for _key, raw in self._store.items(TABLE_JOURNAL)]

    def rewrite(self, raws: Iterable[bytes]) -> None:
        from eth_hash.auto import keccak

        for key in list(self._keys.values()):
            self._store.put(TABLE_JOURNAL, key, None)
        self._keys = {}
        self._next = 0
        for raw in raws:
            self.add(keccak(raw), raw)
        self._flush()

    def _flush(self) -> None:
        if not self._store.block_open:
            self._store.commit()
