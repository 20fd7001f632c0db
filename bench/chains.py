"""The chain an on-chain simulation sends its transactions to.

A simulation (``bench.simulate``) needs few things from a node: funded accounts, a web3
to deploy and read the framework with the SDK, blocks built from given signed
transactions at a given timestamp, the receipts, and balances. Two implementations:

* :class:`RpcChain` — any node over its JSON-RPC interface (``sumchain devnet``, anvil,
  Hardhat): agents are funded by transfers from the node's first unlocked account,
  automine is switched off (``evm_setAutomine``), and each turn is
  ``eth_sendRawTransaction`` per transaction, ``evm_setNextBlockTimestamp`` then
  ``evm_mine``, and the receipts by ``eth_getTransactionReceipt``. It also takes any
  web3 provider, so the in-process provider goes through the same calls.
* :class:`InProcessChain` — the fast path: a sumchain chain in this process, agents
  funded at genesis, each turn handed to the node's pool and producer on its worker
  with no JSON encoding between. ``tests/bench/test_simulate_rpc.py`` checks it gives
  the same trajectory as :class:`RpcChain` against ``sumchain devnet`` and anvil.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import to_checksum_address
from web3 import Web3
from web3.types import RPCEndpoint, Wei

from bench.errors import SimulationError

# A simulation allocates millions of short-lived objects (py-evm's computations, stacks,
# RLP objects) beside a large, long-lived data set: the collector's default thresholds
# run a young collection every 700 allocations and full ones over the whole data set.
# An in-process chain freezes what exists when it starts (the data, the deployed
# framework's objects: never collected) and collects young objects less often; close()
# puts the collector back as it was. Only the collector's timing changes, no result.
GC_THRESHOLDS = (50_000, 20, 100)  # young allocations, then young / middle collections per next
GENESIS_TIME = 1_700_000_000  # unix seconds of the in-process chain's genesis
IN_PROCESS_CHAIN_ID = 1337
RECEIPT_TIMEOUT_S = 120.0  # seconds a funding transfer may take to be mined


@dataclass(frozen=True)
class Included:
    """One transaction of a mined turn.

    Fields:
        gas_used: gas this transaction used (not the block's cumulative figure).
        gas_price: wei paid per gas (base fee plus the priority fee paid).
        success: whether it executed without reverting.
    """

    gas_used: int
    gas_price: int
    success: bool


class SimulationChain(Protocol):
    """What a simulation needs from a node (see the module docstring).

    Attributes:
        w3: a web3 connected to the node, for the SDK (deploy, read the model, points).
        chain_id: the chain id transactions are signed for.
    """

    w3: Web3
    chain_id: int

    def manual_mining(self) -> None:
        """From now on, build a block only when :meth:`mine` asks."""

    def head(self) -> tuple[int, int]:
        """(number, timestamp) of the newest block."""

    def nonce(self, address: bytes) -> int:
        """The next nonce of ``address`` at the newest block."""

    def balance(self, address: bytes) -> int:
        """Wei held by ``address`` at the newest block."""

    def mine(self, raws: Sequence[bytes], timestamp: int) -> tuple[int, list[Included]]:
        """One block at ``timestamp`` holding exactly ``raws`` (in order): its number and
        each transaction's outcome. A transaction left out raises :class:`SimulationError`."""

    def close(self) -> None:
        """Release what this object started (an in-process node); a remote node stays up."""


class RpcChain:
    """Any node through a web3 provider (HTTP to a URL, or an in-process provider)."""

    def __init__(self, w3: Web3, alloc: Mapping[str, int]) -> None:
        self.w3 = w3
        try:
            self.chain_id = int(w3.eth.chain_id)
        except OSError as exc:  # requests' connection errors are OSErrors
            raise SimulationError(f"cannot reach the node: {type(exc).__name__}") from None
        self._fund(alloc)

    @classmethod
    def connect(cls, url: str, alloc: Mapping[str, int]) -> RpcChain:
        """A node at ``url``, with each address of ``alloc`` topped up to hold its wei."""
        from web3 import HTTPProvider

        from node.provider import poa_web3

        return cls(poa_web3(HTTPProvider(url, request_kwargs={"timeout": RECEIPT_TIMEOUT_S})), alloc)

    def _fund(self, alloc: Mapping[str, int]) -> None:
        """Transfers from the node's first unlocked account so that each address holds
        exactly its wei more than it did (the simulation reads balances relative to this)."""
        accounts = self.w3.eth.accounts
        if not accounts:
            raise SimulationError(
                "the node has no unlocked account to fund the agents from (use a dev node: "
                "sumchain devnet, anvil, Hardhat)"
            )
        for address, wei in alloc.items():
            tx_hash = self.w3.eth.send_transaction(
                {"from": accounts[0], "to": to_checksum_address(address), "value": Wei(wei)}
            )
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
            if receipt["status"] != 1:
                raise SimulationError(f"funding {address} failed on the node")

    def _call(self, method: str, params: Sequence[Any]) -> Any:
        answer = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in answer:
            raise SimulationError(f"the node refused {method}: {answer['error']}")
        return answer.get("result")

    def manual_mining(self) -> None:
        self._call("evm_setAutomine", [False])

    def head(self) -> tuple[int, int]:
        block = self.w3.eth.get_block("latest")
        return int(block["number"]), int(block["timestamp"])

    def nonce(self, address: bytes) -> int:
        return int(self.w3.eth.get_transaction_count(to_checksum_address(address), "latest"))

    def balance(self, address: bytes) -> int:
        return int(self.w3.eth.get_balance(to_checksum_address(address), "latest"))

    def mine(self, raws: Sequence[bytes], timestamp: int) -> tuple[int, list[Included]]:
        hashes = [self.w3.eth.send_raw_transaction(raw) for raw in raws]
        self._call("evm_setNextBlockTimestamp", [timestamp])
        self._call("evm_mine", [])
        number = int(self.w3.eth.block_number)
        included = []
        for tx_hash in hashes:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            if receipt is None or int(receipt["blockNumber"]) != number:
                raise SimulationError(
                    f"block {number}: {len(raws)} transactions sent, {tx_hash.hex()} not included"
                )
            included.append(
                Included(int(receipt["gasUsed"]), int(receipt["effectiveGasPrice"]), receipt["status"] == 1)
            )
        return number, included

    def close(self) -> None:
        pass


class InProcessChain:
    """The fast path: a fresh sumchain in this process, agents funded at genesis."""

    def __init__(self, alloc: Mapping[str, int]) -> None:
        from chain.config import ChainConfig
        from node.provider import InProcessNode

        config = ChainConfig(chain_id=IN_PROCESS_CHAIN_ID, genesis_timestamp=GENESIS_TIME, alloc=dict(alloc))
        self.node = InProcessNode.create(config=config)
        self.w3 = self.node.w3
        self.chain_id = IN_PROCESS_CHAIN_ID
        self._gc_thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def manual_mining(self) -> None:
        self.node.dispatcher.run_sync(self.node.backend.producer.set_mode, "manual")

    def head(self) -> tuple[int, int]:
        chain = self.node.backend.chain

        def head() -> tuple[int, int]:
            return int(chain.head.block_number), int(chain.head.timestamp)

        return self.node.dispatcher.run_sync(head)

    def nonce(self, address: bytes) -> int:
        return int(self.node.dispatcher.run_sync(self.node.backend.chain.nonce, address))

    def balance(self, address: bytes) -> int:
        return int(self.node.dispatcher.run_sync(self.node.backend.chain.balance, address))

    def mine(self, raws: Sequence[bytes], timestamp: int) -> tuple[int, list[Included]]:
        pool = self.node.backend.pool
        producer = self.node.backend.producer

        def work() -> tuple[Any, Any]:
            for raw in raws:
                pool.add(raw)
            built = producer.mine(timestamp=timestamp)[0]
            return built.block, built.receipts

        block, receipts = self.node.dispatcher.run_sync(work)
        number = int(block.header.block_number)
        if len(receipts) != len(raws):
            raise SimulationError(f"block {number}: {len(raws)} transactions sent, {len(receipts)} included")
        base_fee = int(getattr(block.header, "base_fee_per_gas", 0) or 0)
        included, previous = [], 0
        for tx, receipt in zip(block.transactions, receipts, strict=True):
            price = min(int(tx.max_fee_per_gas), base_fee + int(tx.max_priority_fee_per_gas))
            included.append(Included(receipt.gas_used - previous, price, receipt.state_root == b"\x01"))
            previous = receipt.gas_used
        return number, included

    def close(self) -> None:
        self.node.close()
        gc.set_threshold(*self._gc_thresholds)
        gc.unfreeze()
