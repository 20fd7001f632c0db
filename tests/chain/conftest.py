"""Small composable fixtures for the ledger: store -> chain -> funded account -> txs.

Tests that take ``store_kind`` run on both store backends; ``fork`` tests run on
every supported hard fork. The ledger knows no pool: chains are opened through the
node's assembly (:func:`open_chain`), which wires a pool to each; :func:`pool_of` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.chain import Chain
from chain.config import FORKS, ChainConfig
from chain.mempool import TxPool
from node.assemble import assemble

TOPIC = bytes.fromhex("aa" * 32)
# runtime: SSTORE(0, CALLDATALOAD(0)); LOG1(mem[0:0], TOPIC); STOP
LOGGER_RUNTIME = bytes.fromhex("600035600055" + "7f" + "aa" * 32 + "60006000a1" + "00")
# runtime: REVERT with the two bytes 0xdead as revert data
REVERTER_RUNTIME = bytes.fromhex("61dead600052" + "6002601efd")


def init_code(runtime: bytes) -> bytes:
    """Creation code that returns ``runtime`` as the contract's code."""
    size = len(runtime)
    assert size < 256
    return bytes.fromhex(f"60{size:02x}600c60003960{size:02x}6000f3") + runtime


_POOLS: dict[int, TxPool] = {}  # id(chain) -> the pool its assembly wired, for this test


def open_chain(config: ChainConfig | None = None, **options: Any) -> Chain:
    """``Chain.open(config, **options)`` through the node's assembly: the ledger, with a
    pool wired to its hooks (:func:`pool_of`)."""
    node = assemble(config, **options)
    _POOLS[id(node.chain)] = node.pool
    return node.chain


def pool_of(chain: Chain) -> TxPool:
    """The pool the assembly wired to ``chain`` (opened by :func:`open_chain` in this test)."""
    return _POOLS[id(chain)]


@pytest.fixture(autouse=True)
def _forget_pools() -> Iterator[None]:
    yield
    _POOLS.clear()


@pytest.fixture(params=["memory", "lmdb"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_chain(tmp_path: Path) -> Callable[..., Chain]:
    """Open chains; every one is closed when the test ends."""
    opened: list[Chain] = []

    def make(store_kind: str = "memory", **config_fields: object) -> Chain:
        data_dir = tmp_path / f"data{len(opened)}" if store_kind == "lmdb" else None
        config = ChainConfig(**config_fields)  # type: ignore[arg-type]
        chain = open_chain(config, data_dir=data_dir, sync=False)
        opened.append(chain)
        return chain

    yield make
    for chain in opened:
        try:
            chain.close()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


@pytest.fixture
def chain(make_chain: Callable[..., Chain], store_kind: str) -> Chain:
    return make_chain(store_kind, genesis_timestamp=1_700_000_000)


@pytest.fixture(params=FORKS)
def fork(request: pytest.FixtureRequest) -> str:
    return request.param


class Sender:
    """A funded dev account that signs transactions for one chain, tracking its nonce."""

    def __init__(self, chain: Chain, index: int = 1) -> None:
        self.chain = chain
        self.address, self.key = chain.config.dev_accounts[index]
        self.canonical = bytes.fromhex(self.address[2:])
        self.nonce = chain.nonce(self.canonical)

    def raw(
        self,
        to: str | None = None,
        value: int = 0,
        data: bytes = b"",
        gas: int = 200_000,
        nonce: int | None = None,
        **fees: int,
    ) -> bytes:
        tx: dict[str, object] = {
            "nonce": self.nonce if nonce is None else nonce,
            "gas": gas,
            "value": value,
            "data": data,
            "chainId": self.chain.config.chain_id,
        }
        if to is not None:
            tx["to"] = to
        if fees:
            tx.update(fees)
        elif self.chain.config.fork_at_least("london"):
            tx.update(maxFeePerGas=10 * 10**9, maxPriorityFeePerGas=10**9)
        else:
            tx["gasPrice"] = 10**9
        if nonce is None:
            self.nonce += 1
        return bytes(Account.sign_transaction(tx, self.key).raw_transaction)

    def tx(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.chain.decode_transaction(self.raw(*args, **kwargs))  # type: ignore[arg-type]


@pytest.fixture
def sender(chain: Chain) -> Sender:
    return Sender(chain)
