"""The key-value store behind py-evm's database interface.

Two backends implement :class:`KeyValueStore`: :class:`LmdbBackend`, the embedded default
(one LMDB environment per data directory), and :class:`MemoryBackend` for tests.

py-evm writes into a :class:`Store` during block production or import: headers,
block bodies, transaction and receipt tries, state trie nodes, canonical indices and
the head pointer. None of it reaches the backend until :meth:`Store.commit`, which
writes everything (plus the pool journal changes of the same block) in **one backend
write transaction**. A crash therefore leaves the last committed head whole: either
all of a block is on disk or none of it is.

Nothing is pruned: every block's state trie stays readable (an archive store), which
is what reading a model at any earlier block rests on.

A data directory is checked before anything maps or writes it (:func:`inspect_data_dir`):
a missing, empty, truncated or foreign ``data.mdb``, a damaged ``lock.mdb``, a
``sumchain.json`` that is missing, unreadable or disagrees with the store, a directory
that cannot be written -- each is refused with one ``DataDirError`` naming the file,
and nothing in the directory is changed. A new chain is made only in a directory that
is absent or empty. The files are created readable by their owner only (mode 0600):
the metadata holds the dev-account mnemonic.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import stat
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import lmdb
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.schema import SchemaV1
from eth_typing import BlockNumber

from chain.errors import DataDirError, StoreWriteFailed

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the on-disk layout changes; older directories are refused
LMDB_MAP_SIZE = 1 << 40  # bytes of address space LMDB may map (sparse; not allocated)
LMDB_DIRNAME = "chain.lmdb"
LOCK_FILENAME = "LOCK"
META_FILENAME = "sumchain.json"  # human-readable copy of the metadata, written once
LMDB_DATA_FILENAME = "data.mdb"  # inside LMDB_DIRNAME: the pages
LMDB_LOCK_FILENAME = "lock.mdb"  # inside LMDB_DIRNAME: LMDB's reader table (no chain data)
FILE_MODE = 0o600  # owner read/write: the metadata holds the dev-account mnemonic
DIR_MODE = 0o700

# LMDB's on-disk meta pages (lmdb's mdb.c, 64-bit build): pages 0 and 1 each hold a
# 16-byte page header, then MDB_meta: magic, version, address, map size, the free and
# main MDB_db records (the free one's first field is the page size), last page, txn id.
LMDB_MAGIC = 0xBEEFC0DE
LMDB_DATA_VERSION = 1
LMDB_PAGE_HEADER = 16  # bytes
LMDB_META = struct.Struct("=IIQQ" + "IHHQQQQQ" * 2 + "QQ")
LMDB_META_PAGES = 2
LMDB_MIN_PAGE = 512  # bytes: the smallest page size LMDB builds with
LMDB_MAX_PAGE = 65536  # bytes
DISK_FULL_BELOW = 1 << 20  # bytes: free space under which a failed write counts as a full disk
WRITE_FAILURE_LOG_EVERY = 60.0  # seconds between two log lines about failing store writes

TABLE_CHAIN = b"chain"  # py-evm's keys: headers, bodies, tries, indices, head
TABLE_META = b"meta"  # format version, chain config, genesis hash
TABLE_JOURNAL = b"txjournal"  # pending transactions: tx hash -> raw bytes
TABLE_AUX = b"aux"  # sumchain's own indices and consensus snapshots
_HEAD_KEY = SchemaV1.make_canonical_head_hash_lookup_key()  # py-evm's key of the head hash
_GENESIS_KEY = SchemaV1.make_block_number_to_hash_lookup_key(BlockNumber(0))  # py-evm's key of block 0's hash


class KeyValueStore(Protocol):
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

    def size_bytes(self) -> int:
        """Bytes the stored data occupies (what a benchmark reports as store size)."""

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

    def size_bytes(self) -> int:
        """Bytes of every key and value held (no per-entry overhead counted)."""
        return sum(len(key) + len(value) for table in self._tables.values() for key, value in table.items())

    def close(self) -> None:
        self._tables = {}


class LmdbBackend:
    """One LMDB environment in ``<data_dir>/chain.lmdb`` with a named database per table.

    ``sync=False`` skips the fsync at each commit: a killed process still loses
    nothing (the OS has the pages), only a power cut may drop the last blocks.
    """

    def __init__(
        self, data_dir: Path, sync: bool = True, readonly: bool = False, fast_reads: bool = True
    ) -> None:
        self._lock_file = _lock_data_dir(data_dir) if not readonly else None
        # with fast_reads, each thread's reads share one read transaction until a write
        self._readers: threading.local | None = threading.local() if fast_reads else None
        self._generation = 0  # bumped by every write; older read transactions are stale
        self._data_dir = data_dir
        self._failures = 0  # failed writes since the last one that succeeded
        self._failing_since: float | None = None  # monotonic time of the first of them
        self._last_failure_log = -WRITE_FAILURE_LOG_EVERY  # monotonic time of the last log line
        path = data_dir / LMDB_DIRNAME
        try:
            self._env = lmdb.open(
                str(path),
                map_size=LMDB_MAP_SIZE,
                max_dbs=8,
                sync=sync,
                readonly=readonly,
                create=not readonly,
                lock=not readonly,
                mode=FILE_MODE,
            )
            self._dbs = (
                {t: self._env.open_db(t) for t in (TABLE_CHAIN, TABLE_META, TABLE_JOURNAL, TABLE_AUX)}
                if not readonly
                else {
                    t: self._env.open_db(t, create=False)
                    for t in (TABLE_CHAIN, TABLE_META, TABLE_JOURNAL, TABLE_AUX)
                }
            )
        except lmdb.Error as exc:
            self._release_lock()
            raise DataDirError(f"data directory {data_dir}: the store cannot be opened ({exc})") from None

    def get(self, table: bytes, key: bytes) -> bytes | None:
        if self._readers is None:
            with self._env.begin(db=self._dbs[table], buffers=False) as single:
                return single.get(key)
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
            raise self._write_failed(exc) from None
        if self._failing_since is not None:
            logger.warning("store writes succeed again in %s after %d failed", self._data_dir, self._failures)
            self._failing_since, self._failures = None, 0

    def _write_failed(self, exc: lmdb.Error) -> StoreWriteFailed:
        """The typed error for a failed write, logged at most once a minute.

        LMDB reports a full disk as an I/O error (a short write), so the free space of
        the file system says whether that was the cause."""
        try:
            info = os.statvfs(self._data_dir)
            free = info.f_bavail * info.f_frsize
        except OSError:
            free = -1
        disk_full = 0 <= free < DISK_FULL_BELOW
        cause = f"the disk is full ({free} bytes free)" if disk_full else str(exc)
        error = StoreWriteFailed(
            f"store write failed, nothing of it was committed: {cause}", disk_full=disk_full, free_bytes=free
        )
        now = time.monotonic()
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_failure_log >= WRITE_FAILURE_LOG_EVERY:
            logger.error(
                "%s in %s (%d failed writes so far; the store keeps its last commit, "
                "and the node keeps serving)",
                error,
                self._data_dir,
                self._failures,
            )
            self._last_failure_log = now
        return error

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
    try:
        fd = os.open(data_dir / LOCK_FILENAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
        handle = os.fdopen(fd, "a+")
    except OSError as exc:
        raise DataDirError(
            f"data directory {data_dir}: cannot open its {LOCK_FILENAME} file ({exc.strerror})"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise DataDirError(f"data directory {data_dir} is in use by another sumchain process") from None
        raise DataDirError(f"data directory {data_dir}: cannot lock it ({exc.strerror})") from None
    return handle


# --- checking a data directory before it is opened -----------------------------------------


def inspect_data_dir(data_dir: str | Path) -> dict | None:
    """Check ``data_dir`` without changing anything in it; return its metadata, or None
    when it holds no chain yet (absent, or an empty directory).

    Raises ``DataDirError`` (one line, naming the file) for every kind of damage: see
    the module docstring. The checks read files only; LMDB is opened read-only and
    without its lock file, so a refused directory is left byte for byte as it was.
    """
    path = Path(data_dir)
    if not path.exists():
        if path.is_symlink():
            raise DataDirError(f"data directory {path} is a dangling symbolic link")
        return None
    if not path.is_dir():
        raise DataDirError(f"data directory {path} is a file, not a directory")
    try:
        entries = {entry.name for entry in path.iterdir()}
    except OSError as exc:
        raise DataDirError(f"data directory {path}: cannot list it ({exc.strerror})") from None
    if not entries:
        _require_writable(path, path)
        return None
    lmdb_dir = path / LMDB_DIRNAME
    meta_file = path / META_FILENAME
    if LMDB_DIRNAME not in entries:
        if META_FILENAME in entries:
            raise DataDirError(
                f"data directory {path}: {META_FILENAME} is there but the store {LMDB_DIRNAME}/ is "
                "missing; refusing to start a new chain in it"
            )
        raise DataDirError(
            f"data directory {path} is not empty and holds no sumchain store; refusing to write into it"
        )
    if not lmdb_dir.is_dir():
        raise DataDirError(f"data directory {path}: {LMDB_DIRNAME} is not a directory")
    data_file = lmdb_dir / LMDB_DATA_FILENAME
    if not data_file.exists():
        raise DataDirError(
            f"data directory {path}: the store file {LMDB_DIRNAME}/{LMDB_DATA_FILENAME} "
            "is missing; refusing to start a new chain in it"
        )
    _check_data_file(path, data_file)
    _check_lock_file(path, lmdb_dir / LMDB_LOCK_FILENAME)
    for required in (path, lmdb_dir, data_file, meta_file):
        if required.exists():
            _require_writable(path, required)
    lock_existed = (path / LOCK_FILENAME).exists()
    handle = _lock_data_dir(path)  # no other process may write while the store is read
    try:
        meta = _read_meta_read_only(path, lmdb_dir)
    finally:
        handle.close()
        if not lock_existed:
            (path / LOCK_FILENAME).unlink(missing_ok=True)  # leave the directory as it was
    if meta_file.exists() and not meta_file.is_file():
        raise DataDirError(f"data directory {path}: {META_FILENAME} is not a regular file")
    if not meta_file.is_file():
        raise DataDirError(f"data directory {path}: {META_FILENAME} is missing (the store is there)")
    try:
        copy = json.loads(meta_file.read_text())
    except OSError as exc:
        raise DataDirError(f"data directory {path}: cannot read {META_FILENAME} ({exc.strerror})") from None
    except ValueError as exc:
        raise DataDirError(f"data directory {path}: {META_FILENAME} is damaged (not JSON: {exc})") from None
    if copy != meta:
        if isinstance(copy, dict):
            differing = sorted(k for k in set(copy) | set(meta) if copy.get(k) != meta.get(k))
        else:
            differing = ["its whole content"]
        raise DataDirError(
            f"data directory {path}: {META_FILENAME} does not match the store's own metadata "
            f"(it differs in: {', '.join(differing)}); it was edited or comes from another store"
        )
    return meta


def _require_writable(data_dir: Path, target: Path) -> None:
    if not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
        where = "the directory" if target == data_dir else str(target.relative_to(data_dir))
        raise DataDirError(f"data directory {data_dir}: {where} is not writable; nothing was changed")


def _check_data_file(data_dir: Path, data_file: Path) -> None:
    """Refuse a ``data.mdb`` that is not a whole LMDB file: before it is mapped, since a
    mapped page past the end of the file kills the process with SIGBUS."""
    name = f"{LMDB_DIRNAME}/{LMDB_DATA_FILENAME}"
    try:
        info = data_file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DataDirError(f"data directory {data_dir}: {name} is not a regular file")
        with open(data_file, "rb") as handle:
            head = handle.read(LMDB_PAGE_HEADER + LMDB_META.size)
            if info.st_size == 0:
                raise DataDirError(
                    f"data directory {data_dir}: {name} is empty (0 bytes); "
                    "refusing to start a new chain in it"
                )
            if len(head) < LMDB_PAGE_HEADER + LMDB_META.size:
                raise DataDirError(f"data directory {data_dir}: {name} is truncated ({info.st_size} bytes)")
            first = LMDB_META.unpack_from(head, LMDB_PAGE_HEADER)
            if first[0] != LMDB_MAGIC:
                raise DataDirError(f"data directory {data_dir}: {name} is not an LMDB file")
            if first[1] != LMDB_DATA_VERSION:
                raise DataDirError(
                    f"data directory {data_dir}: {name} has LMDB format version "
                    f"{first[1]}, this sumchain reads version {LMDB_DATA_VERSION}"
                )
            page = first[4]
            if not LMDB_MIN_PAGE <= page <= LMDB_MAX_PAGE or page & (page - 1):
                raise DataDirError(f"data directory {data_dir}: {name} is damaged (page size {page})")
            handle.seek(page)
            second_head = handle.read(LMDB_PAGE_HEADER + LMDB_META.size)
    except OSError as exc:
        raise DataDirError(f"data directory {data_dir}: cannot read {name} ({exc.strerror})") from None
    if len(second_head) < LMDB_PAGE_HEADER + LMDB_META.size:
        raise DataDirError(
            f"data directory {data_dir}: {name} is truncated ({info.st_size} bytes, "
            f"less than its {LMDB_META_PAGES} meta pages)"
        )
    second = LMDB_META.unpack_from(second_head, LMDB_PAGE_HEADER)
    if second[0] != LMDB_MAGIC:
        raise DataDirError(f"data directory {data_dir}: {name} is damaged (its second meta page)")
    last_page = max(first[-2], second[-2])
    needed = (last_page + 1) * page
    if info.st_size < needed:
        raise DataDirError(
            f"data directory {data_dir}: {name} is truncated ({info.st_size} bytes; "
            f"its pages reach {needed} bytes)"
        )


def _check_lock_file(data_dir: Path, lock_file: Path) -> None:
    """Refuse a damaged ``lock.mdb`` rather than let LMDB rebuild it behind our back; a
    missing one is normal (LMDB makes it). It holds no chain data."""
    if not lock_file.exists() and not lock_file.is_symlink():
        return
    name = f"{LMDB_DIRNAME}/{LMDB_LOCK_FILENAME}"
    advice = "it holds no chain data: delete it and start again"
    try:
        if not stat.S_ISREG(lock_file.stat().st_mode):
            raise DataDirError(f"data directory {data_dir}: {name} is not a regular file ({advice})")
        with open(lock_file, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise DataDirError(f"data directory {data_dir}: cannot read {name} ({exc.strerror})") from None
    if len(head) < 4 or struct.unpack("=I", head)[0] != LMDB_MAGIC:
        raise DataDirError(f"data directory {data_dir}: {name} is damaged ({advice})")


def _read_meta_read_only(data_dir: Path, lmdb_dir: Path) -> dict:
    """The store's metadata, read with LMDB opened read-only and lock-free (nothing written)."""
    name = f"{LMDB_DIRNAME}/{LMDB_DATA_FILENAME}"
    try:
        env = lmdb.open(str(lmdb_dir), readonly=True, lock=False, max_dbs=8, create=False)
    except lmdb.Error as exc:
        raise DataDirError(f"data directory {data_dir}: {name} cannot be opened ({exc})") from None
    try:
        with env.begin() as txn:
            if txn.get(TABLE_META) is None or txn.get(TABLE_CHAIN) is None:
                raise DataDirError(
                    f"data directory {data_dir}: {name} is an LMDB file but not a sumchain store"
                )
        try:
            meta_db = env.open_db(TABLE_META, create=False)
            chain_db = env.open_db(TABLE_CHAIN, create=False)
        except lmdb.Error as exc:
            raise DataDirError(f"data directory {data_dir}: {name} is not a sumchain store ({exc})") from None
        with env.begin() as txn:
            raw = txn.get(b"meta", db=meta_db)
            head = txn.get(_HEAD_KEY, db=chain_db)
            genesis = txn.get(_GENESIS_KEY, db=chain_db)
    except lmdb.Error as exc:
        raise DataDirError(f"data directory {data_dir}: {name} cannot be read ({exc})") from None
    finally:
        env.close()
    if raw is None:
        raise DataDirError(
            f"data directory {data_dir}: the store has no metadata (it was never finished, or is damaged)"
        )
    meta = _parse_meta(raw)
    if head is None or genesis is None:
        raise DataDirError(f"data directory {data_dir}: the store has metadata but no chain; it is damaged")
    if "genesis_hash" in meta and _decode_hash(genesis) != meta["genesis_hash"]:
        raise DataDirError(
            f"data directory {data_dir}: the store's genesis block does not match its metadata; it is damaged"
        )
    return meta


def _decode_hash(value: bytes) -> str:
    """A canonical-hash index value (RLP of 32 bytes) as the metadata's hex."""
    import rlp

    try:
        return bytes(rlp.decode(value, sedes=rlp.sedes.binary)).hex()
    except rlp.exceptions.RLPException:
        return ""


def _parse_meta(raw: bytes) -> dict:
    try:
        meta = json.loads(raw)
    except ValueError:
        raise DataDirError("the store's metadata is damaged (not JSON)") from None
    if not isinstance(meta, dict) or "format" not in meta:
        raise DataDirError("the store's metadata is damaged (no format version)")
    if meta["format"] != FORMAT_VERSION:
        raise DataDirError(
            f"the store has format version {meta['format']}, this sumchain reads "
            f"version {FORMAT_VERSION}; use a matching sumchain or a new data directory"
        )
    return meta


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

    def __init__(self, backend: KeyValueStore) -> None:
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
        """Open the data directory's store, creating it when the directory is absent or
        empty; refuse a damaged one (:func:`inspect_data_dir`) before touching it."""
        path = Path(data_dir)
        expected = inspect_data_dir(path) is not None
        try:
            path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"data directory {path}: cannot create it ({exc.strerror})") from None
        store = cls(LmdbBackend(path, sync=sync, fast_reads=fast_reads))
        if expected and store.backend.get(TABLE_META, b"meta") is None:
            store.close()
            raise DataDirError(f"data directory {path}: the store lost its metadata while opening")
        return store

    def overlay(self) -> Store:
        """A new store on the same backend that starts with a copy of this one's
        uncommitted writes (a view of a block still only buffered here, as the pending one)."""
        copy = Store(self.backend)
        copy._pending = {table: dict(writes) for table, writes in self._pending.items()}
        return copy

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

    def size_bytes(self) -> int:
        """Bytes the committed data occupies in the backend (LMDB: its used pages;
        memory: its keys and values). Uncommitted writes are not counted."""
        return self.backend.size_bytes()

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
        return _parse_meta(raw)

    def write_meta(self, meta: dict, data_dir: Path | None = None) -> None:
        """Stage the metadata (committed with the genesis block)."""
        meta = {"format": FORMAT_VERSION, **meta}
        self.put(TABLE_META, b"meta", json.dumps(meta, sort_keys=True).encode())
        if data_dir is not None:
            tmp = data_dir / (META_FILENAME + ".tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                with os.fdopen(fd, "w") as out:
                    out.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
                os.replace(tmp, data_dir / META_FILENAME)
            except OSError as exc:
                raise DataDirError(
                    f"data directory {data_dir}: cannot write {META_FILENAME} ({exc.strerror})"
                ) from None
