"""Dev controls: mining on demand (evm_mine, anvil_mine), automine and interval mining,
the clock (evm_increaseTime, evm_setNextBlockTimestamp), snapshot and revert, and
debug_setHead. They run on the chain worker, over the node's producer."""

from __future__ import annotations

import logging

from chain.chain import Chain
from chain.errors import ChainError, UnknownSnapshot
from chain.mempool import TxPool
from chain.producer import MAX_TIMESTAMP, BlockProducer
from node.rpc import errors

log = logging.getLogger("sumchain.backend")


class DevControls:
    """What a developer may do to the node's chain beyond sending transactions."""

    def __init__(self, chain: Chain, pool: TxPool, producer: BlockProducer) -> None:
        self.chain = chain
        self.pool = pool
        self.producer = producer
        self._last_tick_error: str | None = None

    def set_head(self, number: int) -> None:
        head = self.chain.head.block_number
        if number > head:
            raise errors.ServerError(f"block {number} is after the head {head}")
        self.chain.set_head(number)

    # --- mining and the clock ---------------------------------------------------------------

    def mine(self, count: int, timestamp: int | None = None, interval: int | None = None) -> None:
        if timestamp is not None:
            self._check_time(timestamp)
        if interval is not None:
            self._check_time(self.chain.head.timestamp + interval * count)
        if interval is None or count == 1:
            self.producer.mine(count, timestamp=timestamp)
            return
        for _ in range(count):  # anvil_mine's interval: seconds between the mined blocks
            ts = self.producer.clock.now()
            floor = self.chain.head.timestamp + max(1, interval)
            self.producer.mine(1, timestamp=max(ts, floor) if interval else None)

    def automine(self) -> bool:
        return self.producer.automine

    def set_automine(self, enabled: bool) -> None:
        if enabled:
            self.producer.set_mode("automine")
            if self.pool.pending():
                self.producer.mine()
        elif self.producer.automine:
            self.producer.set_mode("manual")

    def set_interval(self, seconds: float) -> None:
        if seconds > 0:
            self.producer.set_mode("interval", seconds)
        elif self.producer.mode == "interval":
            self.producer.set_mode("manual")

    def interval_due(self, _now: float) -> bool:
        """Read from the event loop thread: only plain attributes, no chain objects."""
        due = self.producer.next_due()
        return due is not None and due <= 0

    def mine_interval_block(self) -> None:
        """Seal the interval block if due; a failure is logged once per distinct cause
        (the timer keeps firing, and a log line every tick would bury everything)."""
        try:
            self.producer.tick()
        except ChainError as exc:
            if str(exc) != self._last_tick_error:
                log.warning("interval block not sealed: %s", exc)
            self._last_tick_error = str(exc)
        else:
            self._last_tick_error = None

    def _check_time(self, timestamp: int) -> None:
        if timestamp > MAX_TIMESTAMP:
            raise errors.InvalidParams(
                f"timestamp {timestamp} is beyond the largest block timestamp ({MAX_TIMESTAMP}, unix seconds)"
            )

    def increase_time(self, seconds: int) -> int:
        self._check_time(max(self.producer.clock.now(), self.chain.head.timestamp) + seconds)
        return self.producer.increase_time(seconds)

    def set_next_timestamp(self, timestamp: int) -> None:
        self._check_time(timestamp)
        self.producer.set_next_timestamp(timestamp)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> int:
        return self.producer.snapshot()

    def revert(self, snapshot_id: int) -> bool:
        """evm_revert: False for a snapshot that cannot be gone back to (unknown id, or
        its block no longer stored), as anvil answers."""
        try:
            self.producer.revert(snapshot_id)
        except UnknownSnapshot:
            return False
        return True
