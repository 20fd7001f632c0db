"""Small composable fixtures for the ledger: store -> chain -> funded account -> txs.

Tests that take ``store_kind`` run on both store backends; ``fork`` tests run on
every supported hard fork.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account

from chain.chain import Chain
from chain.config import FORKS, ChainConfig

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
        chain = Chain.open(config, data_dir=data_dir, sync=False)
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
