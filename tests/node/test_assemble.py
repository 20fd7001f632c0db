"""The one assembly: a node's named parts, wired together."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account

from chain.config import ChainConfig
from node.assemble import assemble
from node.limits import Limits
from node.server import RpcServer, ServerOptions

GENESIS_TIME = 1_700_000_000


def _transfer(config: ChainConfig, nonce: int = 0) -> bytes:
    _address, key = config.dev_accounts[1]
    tx = {
        "nonce": nonce,
        "to": config.dev_accounts[2][0],
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "chainId": config.chain_id,
    }
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def test_the_parts_are_wired_to_one_chain_and_one_pool() -> None:
    node = assemble(ChainConfig(genesis_timestamp=GENESIS_TIME), mode="manual")
    try:
        assert node.backend.chain is node.chain and node.backend.pool is node.pool
        assert node.producer.pool is node.pool and node.producer.chain is node.chain
        assert node.store is node.chain.store
        assert node.dispatcher is None and node.server is None  # not asked for
        pooled = node.pool.add(_transfer(node.chain.config))
        assert node.filters.installed == {}
        filter_id = node.filters.new_pending_filter()
        node.pool.add(_transfer(node.chain.config, nonce=1))
        assert len(node.filters.changes(filter_id)) == 1  # the pool notifies the filters
        [built] = node.producer.mine()
        assert len(built.block.transactions) == 2 and len(node.pool) == 0  # on_commit reset it
        assert node.chain.receipt(pooled.hash) is not None
    finally:
        node.close()


def test_the_pool_journal_commits_with_the_block_and_survives_a_restart(tmp_path: Path) -> None:
    config = ChainConfig(genesis_timestamp=GENESIS_TIME)
    node = assemble(config, tmp_path / "data", sync=False, mode="manual")
    waiting = node.pool.add(_transfer(config)).hash
    node.close()
    again = assemble(data_dir=tmp_path / "data", sync=False, mode="manual")
    try:
        assert waiting in again.pool  # restored from the store-backed journal
        again.producer.mine()
        assert len(again.pool) == 0
    finally:
        again.close()
    third = assemble(data_dir=tmp_path / "data", sync=False, mode="manual")
    try:
        assert len(third.pool) == 0  # the mined transaction left the journal with its block
        assert third.chain.receipt(waiting) is not None
    finally:
        third.close()


def test_a_rewind_gives_the_dropped_transactions_back_to_the_pool() -> None:
    node = assemble(ChainConfig(genesis_timestamp=GENESIS_TIME), mode="manual")
    try:
        mined = node.pool.add(_transfer(node.chain.config)).hash
        node.producer.mine()
        node.chain.set_head(0, reinject=True)
        assert mined in node.pool
        node.producer.mine()
        node.chain.set_head(0)  # without reinject the pool only follows the head
        assert mined not in node.pool
    finally:
        node.close()


def test_asked_for_it_the_node_has_a_dispatcher_and_a_server() -> None:
    node = assemble(limits=Limits(gas_cap=30_000_000), server=ServerOptions())
    try:
        assert node.dispatcher is not None and node.dispatcher.backend is node.backend
        assert node.backend.limits.gas_cap == 30_000_000
        assert isinstance(node.server, RpcServer) and node.server.dispatcher is node.dispatcher
        assert node.dispatcher.call("eth_blockNumber", []) == "0x0"
    finally:
        node.close()
