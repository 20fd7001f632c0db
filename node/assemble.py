"""The one place a sumchain node is built (as anvil's ``spawn``).

:func:`assemble` wires the named parts — store, chain (a ledger only), pool, producer,
signer, filters, subscriptions, the backend that answers in RPC terms, and when asked
the dispatcher and the server — and returns them as one :class:`Node`. ``sumchain
devnet``, :class:`node.provider.InProcessNode`, the node commands, the tests and the
benchmarks all get their node here.

The ledger knows no pool. The assembly gives it one and hooks it to the chain's typed
events: :meth:`Chain.on_commit` (the pool drops the mined transactions inside the
block's one store write transaction, so its journal's removals commit with the block),
:meth:`Chain.on_commit_failed` (a failed commit gives the pool back what it let go),
:meth:`Chain.on_head_change` (a rewind or revert takes the dropped blocks' transactions
back) and :meth:`Chain.on_block` / ``TxPool.subscribe`` (filters and subscriptions hear
of new blocks and pending transactions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth.abc import BlockAPI, ReceiptAPI

from chain.chain import Chain
from chain.config import ChainConfig
from chain.journal import StoreJournal
from chain.mempool import PooledTransaction, TxPool
from chain.producer import BlockProducer
from chain.store import Store
from node.backend import Backend
from node.filters import Filters, LogQueries
from node.limits import Limits
from node.rpc.dispatcher import Dispatcher
from node.signing import Signer
from node.subscriptions import Subscriptions

if TYPE_CHECKING:
    from aiohttp import web

    from node.server import RpcServer, ServerOptions

log = logging.getLogger("sumchain.backend")


@dataclass
class Node:
    """A node's parts, as :func:`assemble` wired them. Close it with :meth:`close`."""

    chain: Chain
    """The ledger: blocks, state, consensus; it owns the store."""
    pool: TxPool
    """Pending and queued transactions, journalled in the chain's store."""
    producer: BlockProducer
    """Seals blocks from the pool: automine, interval or manual."""
    signer: Signer
    """The dev accounts' keys (eth_sendTransaction, eth_sign...)."""
    filters: Filters
    """Polling filters, fed by the chain's and the pool's notifications."""
    subscriptions: Subscriptions
    """WebSocket subscriptions, fed likewise."""
    backend: Backend
    """The parts above (and fees, calls, tracing, dev controls) in RPC terms."""
    dispatcher: Dispatcher | None = None
    """The JSON-RPC dispatcher and its chain worker thread, when asked for (``limits``)."""
    server: RpcServer | None = None
    """The HTTP and WebSocket server (not yet listening), when asked for (``server``)."""

    @property
    def store(self) -> Store:
        return self.chain.store

    def close(self) -> None:
        """Close the store (on the worker thread, if there is one) and stop the worker."""
        if self.dispatcher is None:
            self.backend.close()
            return
        try:
            self.dispatcher.run_sync(self.backend.close)
        finally:
            self.dispatcher.close()


def assemble(
    config: ChainConfig | None = None,
    data_dir: str | Path | None = None,
    *,
    chain: Chain | None = None,
    signer_key: bytes | None = None,
    block_time: float | None = None,
    mode: str | None = None,
    sync: bool = True,
    fast_paths: bool = True,
    limits: Limits | None = None,
    server: ServerOptions | None = None,
    cors: str | None = None,
    subapps: Mapping[str, web.Application] | None = None,
) -> Node:
    """A node on the chain in ``data_dir`` (created from ``config`` if new; in memory
    when both name no directory), or on the already open ``chain``.

    ``mode`` is the producer's (``automine``, ``interval``, ``manual``); without it,
    ``block_time`` > 0 mines a block every that many seconds, 0 automines, and None
    follows the chain's ``block_period``. ``limits`` asks for a dispatcher (with those
    limits), ``server`` for an :class:`~node.server.RpcServer` on it (``cors``: the
    allowed browser origin; ``subapps``: applications served beside JSON-RPC).
    """
    if chain is None:
        chain = Chain.open(config, data_dir=data_dir, signer_key=signer_key, sync=sync, fast_paths=fast_paths)
    try:
        return _wire(chain, block_time, mode, limits, server, cors, subapps)
    except BaseException:
        chain.close()
        raise


def _wire(
    chain: Chain,
    block_time: float | None,
    mode: str | None,
    limits: Limits | None,
    server_options: ServerOptions | None,
    cors: str | None,
    subapps: Mapping[str, web.Application] | None,
) -> Node:
    pool = TxPool(  # type: ignore[arg-type]  # Chain is a PoolState
        chain,
        journal=StoreJournal(chain.store),
        transaction_types=chain.transaction_rules().transaction_types,  # set-code ones from Prague on
    )
    _hook_pool(chain, pool)
    if block_time is None:
        block_time = float(chain.config.block_period)
    if mode is None:
        mode = "interval" if block_time > 0 else "automine"
    producer = BlockProducer(chain, mode=mode, interval=block_time, pool=pool)
    signer = Signer(chain.config)
    filters = Filters(LogQueries(chain))
    subscriptions = Subscriptions()
    _hook_notifications(chain, pool, filters, subscriptions)
    backend = Backend(chain, pool, producer, signer, filters, subscriptions, limits)
    node = Node(chain, pool, producer, signer, filters, subscriptions, backend)
    if limits is not None or server_options is not None:
        node.dispatcher = Dispatcher(backend, limits)
    if server_options is not None:
        from node.server import RpcServer

        assert node.dispatcher is not None
        node.server = RpcServer(node.dispatcher, cors, server_options, subapps)
    return node


def _hook_pool(chain: Chain, pool: TxPool) -> None:
    """The pool follows the chain's head: mined transactions leave it in the block's own
    write transaction, a failed commit gives them back, a rewind may return the dropped ones."""

    def committed(_block: BlockAPI) -> None:
        pool.reset()

    def head_changed(dropped: Sequence[BlockAPI], reinject: bool) -> None:
        pool.reset()
        if reinject:
            pool.reinject(tx.encode() for block in reversed(dropped) for tx in block.transactions)

    def commit_failed() -> None:
        pool.resync()

    chain.on_commit(committed)
    chain.on_commit_failed(commit_failed)
    chain.on_head_change(head_changed)


def _hook_notifications(chain: Chain, pool: TxPool, filters: Filters, subscriptions: Subscriptions) -> None:
    """Filters and subscriptions hear of every new block and pending transaction, on the
    worker thread; a failure to notify is logged and never undoes or hides a block."""

    def on_block(block: BlockAPI, _receipts: tuple[ReceiptAPI, ...]) -> None:
        try:
            filters.on_block(block)
            if subscriptions.active:
                logs = [entry for info in chain.receipts(block.header) for entry in info.logs]
                subscriptions.on_block(block, logs)
        except Exception:  # a notification failure must not undo or hide a sealed block
            log.exception("notifying block %d failed", block.header.block_number)

    def on_pending(pooled: PooledTransaction) -> None:
        try:
            filters.on_pending(pooled.hash)
            subscriptions.on_pending(pooled)
        except Exception:
            log.exception("notifying a pending transaction failed")

    chain.on_block(on_block)
    pool.subscribe(on_pending)
