"""A web3.py provider that answers in-process, through the same dispatcher as the server.

``Web3(SumchainProvider(node))`` talks to a sumchain node without HTTP: requests
go through the JSON-RPC dispatcher (same decoding, same errors, same results) and
run on the node's chain worker thread. :class:`InProcessNode` is the one-line way
to get a fresh chain for tests and the SDK::

    node = InProcessNode.create(config=ChainConfig(chain_id=1337))
    w3 = node.w3
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from chain.chain import Chain
from chain.config import ChainConfig
from node.assemble import Node, assemble
from node.backend import Backend
from node.limits import Limits
from node.rpc.dispatcher import Dispatcher
from vm_contracts.deploy import poa_web3

INTERVAL_POLL = 0.05  # seconds between interval-mining checks in the background thread
# The caller of an in-process node is the process itself (a benchmark, a simulation): its
# long estimates are not an attack, so they get no deadline; the rest is as over HTTP.
IN_PROCESS_LIMITS = Limits(call_timeout=None)


class SumchainProvider(JSONBaseProvider):
    """A provider whose requests run in this process on a :class:`Dispatcher`.

    Accepts a :class:`Dispatcher`, an :class:`InProcessNode`, a :class:`Backend` or an
    open :class:`chain.chain.Chain` (assembled into a node and served from then on by one
    worker thread; do not call the chain directly from other threads while the provider
    is in use).
    """

    def __init__(self, node: Dispatcher | InProcessNode | Backend | Chain) -> None:
        super().__init__()
        if isinstance(node, InProcessNode):
            dispatcher = node.dispatcher
        elif isinstance(node, Chain):
            dispatcher = Dispatcher(assemble(chain=node).backend, IN_PROCESS_LIMITS)
        elif isinstance(node, Backend):
            served = node.dispatcher
            dispatcher = served if isinstance(served, Dispatcher) else Dispatcher(node, IN_PROCESS_LIMITS)
        else:
            dispatcher = node
        self.dispatcher: Dispatcher = dispatcher
        self._ids = itertools.count()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        request = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": list(params) if isinstance(params, tuple) else params,
        }
        return self.dispatcher.handle_request_sync(request)  # type: ignore[return-value]

    def make_batch_request(self, requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse]:
        """``with w3.batch_requests() as batch:`` works as over HTTP: answers in order."""
        return [self.make_request(method, params) for method, params in requests]

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


class InProcessNode:
    """A node (:func:`node.assemble.assemble`), its dispatcher and a connected ``w3``,
    all in this process."""

    def __init__(self, node: Node) -> None:
        assert node.dispatcher is not None, "assemble the node with limits"
        self.node = node
        self.backend = node.backend
        self.dispatcher = node.dispatcher
        self.provider = SumchainProvider(self.dispatcher)
        self.w3 = poa_web3(self.provider)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._interval_mining, daemon=True, name="sumchain-interval")
        self._ticker.start()

    @classmethod
    def create(
        cls,
        config: ChainConfig | None = None,
        data_dir: str | Path | None = None,
        signer_key: bytes | None = None,
        block_time: float | None = None,
    ) -> InProcessNode:
        """A node on a new in-memory chain (or the chain in ``data_dir``)."""
        return cls(
            assemble(config, data_dir, signer_key=signer_key, block_time=block_time, limits=IN_PROCESS_LIMITS)
        )

    def _interval_mining(self) -> None:
        while not self._stop.wait(INTERVAL_POLL):
            try:
                if self.backend.dev.interval_due(0.0):
                    self.dispatcher.run_sync(self.backend.dev.mine_interval_block)
            except RuntimeError:  # worker shut down
                return

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()
        self.node.close()

    def __enter__(self) -> InProcessNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
