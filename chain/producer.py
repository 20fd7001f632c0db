"""Block production: when blocks are made and what time they say it is.

:class:`BlockProducer` seals blocks from the pool's pending transactions in one of
three modes:

* ``automine`` — a block as soon as a transaction is accepted (the devnet default);
* ``interval`` — a block every ``interval`` seconds, empty or not (the node calls
  :meth:`tick` when :meth:`next_due` says so);
* ``manual`` — only when asked (:meth:`mine`).

Its :class:`Clock` is what tests and simulations move instead of sleeping: an offset
added to the wall clock (``increase_time``) and a one-shot timestamp for the next
block (``set_next_timestamp``). Time never goes backwards past the head.

Like the chain, a producer must be used from one thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI

from chain.chain import BuiltBlock, Chain
from chain.errors import (
    BlockGasExhausted,
    ChainError,
    FeeCapTooLow,
    InvalidTimestamp,
    InvalidTransaction,
    NonceGap,
    UnknownBlock,
    UnknownSnapshot,
)
from chain.mempool import TxPool

MODES = ("automine", "interval", "manual")
MAX_BLOCKS_PER_CALL = 100_000  # blocks one mine() may make (evm_mine / anvil_mine count)
MAX_TIMESTAMP = 2**63 - 1  # unix seconds: the largest block time clients decode safely
#: Reasons a block leaves a pooled transaction out that a later block may not have: no
#: room left, a base fee that may fall again, an earlier nonce of the sender left out.
MAY_PASS_LATER = (BlockGasExhausted, FeeCapTooLow, NonceGap)


@dataclass
class Clock:
    """The chain's notion of now.

    ``offset`` (seconds) is added to the wall clock; set by ``increase_time``.
    ``next_timestamp`` (unix seconds) overrides the next block's time once.
    """

    offset: int = 0
    next_timestamp: int | None = None
    wall: Callable[[], float] = time.time

    def now(self) -> int:
        return int(self.wall()) + self.offset


@dataclass(frozen=True)
class _Snapshot:
    head_hash: bytes
    offset: int
    next_timestamp: int | None


class BlockProducer:
    """Seals blocks on ``chain`` from ``pool`` according to the mode (empty blocks
    without a pool)."""

    def __init__(
        self, chain: Chain, mode: str = "automine", interval: float = 0.0, pool: TxPool | None = None
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.clock = Clock()
        self._mode = "manual"
        self.interval = 0.0
        self._last_block_at = time.monotonic()
        self._snapshots: dict[int, _Snapshot] = {}
        self._next_snapshot_id = 1
        self.set_mode(mode, interval)

    # --- modes ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str, interval: float = 0.0) -> None:
        if mode not in MODES:
            raise ChainError(f"unknown mining mode {mode!r} (choose one of: {', '.join(MODES)})")
        if mode == "interval" and not interval > 0:
            raise ChainError("interval mining needs an interval > 0 seconds")
        self._mode = mode
        self.interval = float(interval) if mode == "interval" else 0.0
        self._last_block_at = time.monotonic()

    @property
    def automine(self) -> bool:
        return self._mode == "automine"

    def transaction_added(self) -> list[BuiltBlock]:
        """Tell the producer the pool has a new pending transaction."""
        if self.automine:
            return self.mine()
        return []

    def next_due(self) -> float | None:
        """Seconds until the next interval block, or None outside interval mode."""
        if self._mode != "interval":
            return None
        return max(0.0, self._last_block_at + self.interval - time.monotonic())

    def tick(self) -> list[BuiltBlock]:
        """Mine the interval block if it is due."""
        due = self.next_due()
        if due is None or due > 0:
            return []
        return self.mine()

    # --- the clock ---------------------------------------------------------------------

    def increase_time(self, seconds: int) -> int:
        """Move the clock forward; returns the total offset (as evm_increaseTime).

        The next block is at least ``seconds`` after the head, even when automine has
        pushed block times ahead of the wall clock (several blocks in one second)."""
        if seconds < 0:
            raise InvalidTimestamp("time can only be increased (seconds must be >= 0)", seconds)
        if self.clock.now() + int(seconds) > MAX_TIMESTAMP:
            raise InvalidTimestamp(
                f"the clock cannot pass {MAX_TIMESTAMP} (2**63-1 seconds)", self.clock.now() + int(seconds)
            )
        self.clock.offset += int(seconds)
        behind = self.chain.head.timestamp + int(seconds) - self.clock.now()
        if behind > 0:
            self.clock.offset += behind
        return self.clock.offset

    def set_next_timestamp(self, timestamp: int) -> None:
        head = self.chain.head
        if timestamp > MAX_TIMESTAMP:
            raise InvalidTimestamp(
                f"timestamp {timestamp} is past {MAX_TIMESTAMP} (2**63-1 seconds)", timestamp
            )
        if timestamp <= head.timestamp:
            raise InvalidTimestamp(
                f"timestamp {timestamp} is not after the head's timestamp {head.timestamp}", timestamp
            )
        self.clock.next_timestamp = int(timestamp)
        # later blocks continue from the new time, as anvil and hardhat do
        self.clock.offset = max(self.clock.offset, int(timestamp) - int(self.clock.wall()))

    def next_block_timestamp(self, parent: BlockHeaderAPI | None = None) -> int:
        """The timestamp the next block on ``parent`` (default: the head) gets, a pinned
        one (:meth:`set_next_timestamp`) included, without using it up: the time of the
        pending block, and so of calls at ``pending``. Reads plain attributes only, so a
        reader thread may ask it about its own view of the head."""
        parent = parent or self.chain.head
        if self.clock.next_timestamp is not None:
            return self.clock.next_timestamp
        return max(self.clock.now(), parent.timestamp + max(1, self.chain.config.block_period))

    def _timestamp_for_next_block(self) -> int:
        parent = self.chain.head
        step = max(1, self.chain.config.block_period)
        if self.clock.next_timestamp is not None:
            ts, self.clock.next_timestamp = self.clock.next_timestamp, None
            if ts < parent.timestamp + step:
                raise InvalidTimestamp(
                    f"timestamp {ts} is earlier than the head's {parent.timestamp} + period {step}", ts
                )
            return ts
        return max(self.clock.now(), parent.timestamp + step)

    # --- mining --------------------------------------------------------------------------

    def mine(self, count: int = 1, timestamp: int | None = None) -> list[BuiltBlock]:
        """Seal ``count`` blocks now, the first at ``timestamp`` if given."""
        if not 1 <= count <= MAX_BLOCKS_PER_CALL:
            raise ChainError(f"block count must be from 1 to {MAX_BLOCKS_PER_CALL}, got {count}")
        if timestamp is not None:
            self.set_next_timestamp(timestamp)
        built = []
        for _ in range(count):
            txs = [p.tx for p in self.pool.pending()] if self.pool is not None else []
            built.append(self.chain.build_block(txs, timestamp=self._timestamp_for_next_block()))
            number = built[-1].block.header.block_number
            for tx, error in built[-1].rejected:
                self._drop_rejected(tx, error, number)
        self._last_block_at = time.monotonic()
        return built

    def _drop_rejected(self, tx: SignedTransactionAPI, error: InvalidTransaction, number: int) -> None:
        """A pooled transaction that fails in a block would fail again: drop it (the pool
        logs and remembers why), unless the failure may pass in a later block."""
        if self.pool is None or isinstance(error, MAY_PASS_LATER):
            return
        self.pool.drop(tx.hash, error, number)

    # --- snapshots --------------------------------------------------------------------

    def snapshot(self) -> int:
        """Remember the head and the clock; returns an id for :meth:`revert`."""
        snap_id = self._next_snapshot_id
        self._next_snapshot_id += 1
        self._snapshots[snap_id] = _Snapshot(
            self.chain.head.hash, self.clock.offset, self.clock.next_timestamp
        )
        return snap_id

    def revert(self, snap_id: int) -> list[BlockAPI]:
        """Return the chain and the clock to snapshot ``snap_id``. Unlike anvil and
        hardhat, the id stays valid: the same snapshot can be reverted to again, and
        later snapshots stay valid too (their blocks remain in the archive)."""
        snap = self._snapshots.get(snap_id)
        if snap is None:
            raise UnknownSnapshot(snap_id)
        try:
            header = self.chain.header(snap.head_hash)
        except UnknownBlock:
            raise UnknownSnapshot(snap_id, block_missing=True) from None
        dropped = self.chain.set_head(header)
        self.clock.offset = snap.offset
        self.clock.next_timestamp = snap.next_timestamp
        return dropped
