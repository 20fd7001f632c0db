"""eth_subscribe over WebSocket: newHeads, logs, newPendingTransactions, syncing.

The assembly feeds :class:`Subscriptions` each new block (with its logs) and each new
pending transaction; each matching subscription gets an ``eth_subscription``
notification on its connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eth.abc import BlockAPI

from chain.chain import LogInfo
from chain.mempool import PooledTransaction
from node.filters import matches, new_id
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import LogFilter

MAX_SUBSCRIPTIONS_PER_CONNECTION = 100


class Connection(Protocol):
    """Where subscription notifications go (a WebSocket); thread-safe ``notify``."""

    def notify(self, message: dict[str, Any]) -> None: ...

    @property
    def closed(self) -> bool: ...


@dataclass
class _Subscription:
    connection: Connection
    kind: str
    criteria: LogFilter | None
    full_transactions: bool


class Subscriptions:
    """eth_subscribe over WebSocket: newHeads, logs, newPendingTransactions, syncing."""

    def __init__(self) -> None:
        self.active: dict[str, _Subscription] = {}

    def subscribe(self, connection: Connection, kind: str, criteria: LogFilter | None, full: bool) -> str:
        mine = sum(1 for s in self.active.values() if s.connection is connection)
        if mine >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise errors.LimitExceeded(
                f"too many subscriptions on this connection (at most {MAX_SUBSCRIPTIONS_PER_CONNECTION})"
            )
        sub_id = new_id()
        self.active[sub_id] = _Subscription(connection, kind, criteria, full)
        return sub_id

    def unsubscribe(self, connection: Connection, sub_id: str) -> bool:
        sub = self.active.get(sub_id)
        if sub is None or sub.connection is not connection:
            return False
        del self.active[sub_id]
        return True

    def drop_connection(self, connection: Connection) -> None:
        for sub_id in [k for k, s in self.active.items() if s.connection is connection]:
            del self.active[sub_id]

    def _send(self, sub_id: str, sub: _Subscription, result: Any) -> None:
        sub.connection.notify(
            {
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": sub_id, "result": result},
            }
        )

    def on_block(self, block: BlockAPI, logs: list[LogInfo]) -> None:
        if not self.active:
            return
        head = fmt.header_json(block.header)
        for sub_id, sub in list(self.active.items()):
            if sub.connection.closed:
                del self.active[sub_id]
                continue
            if sub.kind == "newHeads":
                self._send(sub_id, sub, head)
            elif sub.kind == "logs":
                assert sub.criteria is not None
                for info in logs:
                    if matches(info, sub.criteria):
                        self._send(sub_id, sub, fmt.log_json(info, block.header.timestamp))

    def on_pending(self, pooled: PooledTransaction) -> None:
        for sub_id, sub in list(self.active.items()):
            if sub.kind != "newPendingTransactions" or sub.connection.closed:
                continue
            if sub.full_transactions:
                self._send(sub_id, sub, dict(fmt.transaction_json(pooled.tx)))
            else:
                self._send(sub_id, sub, fmt.hexb(pooled.hash))
