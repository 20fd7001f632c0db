"""Logs queries (eth_getLogs) and polling filters (eth_newFilter & co), geth semantics.

:class:`LogQueries` reads logs out of a chain's committed blocks within the node's
range and count limits; :class:`Filters` keeps what each installed filter has seen
since its last poll, fed by the assembly's block and pending-transaction notifications.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockAPI

from chain.chain import Chain, LogInfo
from node.headers import resolve_header
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import BlockId, LogFilter

MAX_LOG_RANGE = 100_000  # blocks one eth_getLogs may scan (a long simulation automines many)
MAX_LOGS = 20_000  # logs one eth_getLogs may return
FILTER_TIMEOUT = 300.0  # seconds a filter lives without being polled, as geth
MAX_FILTERS = 10_000  # filters installed at once, over all clients
MAX_FILTERS_PER_CLIENT = 100  # filters one connection may hold, so it cannot lock others out
MAX_FILTER_BUFFER = 10_000  # block or transaction hashes a filter keeps between polls


def new_id() -> str:
    """A fresh filter or subscription id: 128 random bits, as 0x + 32 hex digits."""
    return hex(secrets.randbits(128) | 1 << 127)


def matches(info: LogInfo, criteria: LogFilter) -> bool:
    """Whether a log passes a filter's addresses and topics (positional, None = any)."""
    if criteria.addresses and info.address not in criteria.addresses:
        return False
    if len(criteria.topics) > len(info.topics):
        return False
    for position, accepted in enumerate(criteria.topics):
        if accepted is not None and info.topics[position] not in accepted:
            return False
    return True


class LogQueries:
    """Logs of ``chain``'s committed blocks, as JSON-RPC log objects."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def range_start(self, criteria: LogFilter) -> int:
        """The first block a new logs filter reports."""
        if criteria.from_block is None:
            return self.chain.head.block_number + 1 if criteria.to_block is None else 0
        if criteria.from_block.tag in ("latest", "pending", "safe", "finalized"):
            return self.chain.head.block_number + 1  # as geth: only blocks after installation
        if criteria.from_block.number is not None:
            return criteria.from_block.number  # a future block is fine: nothing until it comes
        return resolve_header(self.chain, criteria.from_block).block_number

    def resolve_number(self, block: BlockId | None, default: int) -> int:
        if block is None:
            return default
        if block.number is not None:
            return block.number  # may be beyond the head: the range is clipped below
        return resolve_header(self.chain, block).block_number

    def logs_between(self, start: int, end: int, criteria: LogFilter) -> list[dict[str, Any]]:
        if end - start + 1 > MAX_LOG_RANGE:
            raise errors.LimitExceeded(
                f"block range of {end - start + 1} blocks is too large (at most {MAX_LOG_RANGE})"
            )
        timestamps: dict[int, int] = {}
        out: list[dict[str, Any]] = []
        for info in self.chain.logs(start, end, criteria.addresses, criteria.topics):
            if info.block_number not in timestamps:
                timestamps[info.block_number] = self.chain.header(info.block_number).timestamp
            out.append(dict(fmt.log_json(info, timestamps[info.block_number])))
            if len(out) > MAX_LOGS:
                raise errors.LimitExceeded(f"query returned more than {MAX_LOGS} logs")
        return out

    def get_logs(self, criteria: LogFilter) -> list[dict[str, Any]]:
        """eth_getLogs: by block hash, or over a range clipped to the head."""
        if criteria.block_hash is not None:
            header = resolve_header(self.chain, BlockId(hash=criteria.block_hash))
            return [
                dict(fmt.log_json(entry, header.timestamp))
                for info in self.chain.receipts(header)
                for entry in info.logs
                if matches(entry, criteria)
            ]
        head = self.chain.head.block_number
        start = self.resolve_number(criteria.from_block, head)
        end = self.resolve_number(criteria.to_block, head)
        if start > end:
            raise errors.InvalidParams(f"filter: fromBlock {start} is after toBlock {end}")
        if start > head:
            return []
        return self.logs_between(start, min(end, head), criteria)


@dataclass
class _Filter:
    kind: str
    """"logs", "blocks" or "pending"."""
    criteria: LogFilter | None = None
    next_block: int = 0
    """Logs filters: the first block number not yet reported."""
    floor: int = 0
    """Logs filters: the filter's own fromBlock number (may be in the future)."""
    hashes: list[str] = field(default_factory=list)
    """Block or transaction hashes seen since the last poll."""
    last_poll: float = field(default_factory=time.monotonic)
    owner: Hashable | None = None
    """The client that installed it (``Context.client``), for the per-client limit."""


class Filters:
    """Polling filters (eth_newFilter & co), geth semantics: changes since the last poll."""

    def __init__(self, logs: LogQueries) -> None:
        self.logs = logs
        self.installed: dict[str, _Filter] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for filter_id in [k for k, f in self.installed.items() if now - f.last_poll > FILTER_TIMEOUT]:
            del self.installed[filter_id]

    def _install(self, entry: _Filter) -> str:
        self._expire()
        if len(self.installed) >= MAX_FILTERS:
            raise errors.LimitExceeded(f"too many filters installed (at most {MAX_FILTERS})")
        if entry.owner is not None:
            mine = sum(1 for f in self.installed.values() if f.owner == entry.owner)
            if mine >= MAX_FILTERS_PER_CLIENT:
                raise errors.LimitExceeded(
                    f"too many filters installed by this connection (at most "
                    f"{MAX_FILTERS_PER_CLIENT}); uninstall some with eth_uninstallFilter"
                )
        filter_id = new_id()
        self.installed[filter_id] = entry
        return filter_id

    def new_log_filter(self, criteria: LogFilter, owner: Hashable | None = None) -> str:
        if criteria.block_hash is not None:
            raise errors.InvalidParams("filter: eth_newFilter takes no blockHash (use eth_getLogs)")
        start = self.logs.range_start(criteria)
        floor = criteria.from_block.number if criteria.from_block is not None else None
        return self._install(_Filter("logs", criteria, next_block=start, floor=floor or 0, owner=owner))

    def new_block_filter(self, owner: Hashable | None = None) -> str:
        return self._install(_Filter("blocks", owner=owner))

    def new_pending_filter(self, owner: Hashable | None = None) -> str:
        return self._install(_Filter("pending", owner=owner))

    def _get(self, filter_id: str) -> _Filter:
        self._expire()
        entry = self.installed.get(filter_id)
        if entry is None:
            raise errors.ResourceNotFound("filter not found")
        entry.last_poll = time.monotonic()
        return entry

    def changes(self, filter_id: str) -> list[Any]:
        entry = self._get(filter_id)
        if entry.kind != "logs":
            out, entry.hashes = entry.hashes, []
            return out
        assert entry.criteria is not None
        head = int(self.logs.chain.head.block_number)
        end = head
        if entry.criteria.to_block is not None:
            end = min(end, self.logs.resolve_number(entry.criteria.to_block, head))
        # after a rewind, continue from the new head, but never before the filter's fromBlock
        start = max(entry.floor, min(entry.next_block, head + 1))
        if start > end:
            entry.next_block = start
            return []
        found = self.logs.logs_between(start, end, entry.criteria)
        entry.next_block = end + 1
        return found

    def all_logs(self, filter_id: str) -> list[dict[str, Any]]:
        entry = self._get(filter_id)
        if entry.kind != "logs" or entry.criteria is None:
            raise errors.InvalidParams("filter is not a logs filter")
        return self.logs.get_logs(entry.criteria)

    def uninstall(self, filter_id: str) -> bool:
        return self.installed.pop(filter_id, None) is not None

    def on_block(self, block: BlockAPI) -> None:
        for entry in self.installed.values():
            if entry.kind == "blocks" and len(entry.hashes) < MAX_FILTER_BUFFER:
                entry.hashes.append(fmt.hexb(block.header.hash))

    def on_pending(self, tx_hash: bytes) -> None:
        for entry in self.installed.values():
            if entry.kind == "pending" and len(entry.hashes) < MAX_FILTER_BUFFER:
                entry.hashes.append(fmt.hexb(tx_hash))
