"""The ledger's typed hooks: what runs inside a block's write transaction, and when."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth.abc import BlockAPI

from chain.chain import Chain
from chain.store import TABLE_AUX

from .conftest import Sender

MARK = b"hook-mark"  # an aux key a test hook writes


def test_a_commit_hook_writes_in_the_blocks_own_transaction(make_chain, store_kind: str) -> None:
    chain: Chain = make_chain(store_kind, genesis_timestamp=1_700_000_000)
    seen: list[int] = []

    def write_mark(block: BlockAPI) -> None:
        assert chain.store.block_open, "the hook runs inside the block's write transaction"
        seen.append(block.header.block_number)
        chain.store.put(TABLE_AUX, MARK, block.hash)

    chain.on_commit(write_mark)
    built = chain.build_block([Sender(chain).tx(to=chain.config.dev_accounts[2][0], value=1)])
    assert seen == [1]
    assert chain.store.get(TABLE_AUX, MARK) == built.block.hash == chain.head.hash


def test_a_failing_commit_hook_leaves_nothing_of_the_block(make_chain, store_kind: str) -> None:
    chain: Chain = make_chain(store_kind, genesis_timestamp=1_700_000_000)
    genesis = chain.head.hash

    def fail(block: BlockAPI) -> None:
        chain.store.put(TABLE_AUX, MARK, block.hash)
        raise RuntimeError("hook failed")

    chain.on_commit(fail)
    with pytest.raises(RuntimeError, match="hook failed"):
        chain.build_block([])
    assert chain.head.hash == genesis and chain.head.block_number == 0
    assert chain.store.get(TABLE_AUX, MARK) is None
    assert chain.store.backend.get(TABLE_AUX, MARK) is None  # nothing reached the store


def test_imported_blocks_run_the_commit_hooks_too(make_chain) -> None:
    source: Chain = make_chain(genesis_timestamp=1_700_000_000)
    follower: Chain = make_chain(genesis_timestamp=1_700_000_000)
    seen: list[int] = []
    follower.on_commit(lambda block: seen.append(block.header.block_number))
    for _ in range(2):
        follower.import_block(source.build_block([]).block)
    assert seen == [1, 2]


def test_set_head_tells_the_head_hooks_what_it_dropped_inside_its_transaction(make_chain) -> None:
    chain: Chain = make_chain(genesis_timestamp=1_700_000_000)
    sender = Sender(chain)
    for _ in range(3):
        chain.build_block([sender.tx(to=chain.config.dev_accounts[2][0], value=1)])
    calls: list[tuple[list[int], bool, bool]] = []

    def heard(dropped: Sequence[BlockAPI], reinject: bool) -> None:
        calls.append(([b.header.block_number for b in dropped], reinject, chain.store.block_open))

    chain.on_head_change(heard)
    chain.set_head(2)
    chain.set_head(1, reinject=True)
    assert calls == [([3], False, True), ([2], True, True)]


def test_a_bare_ledger_has_no_pool() -> None:
    chain = Chain.open()
    try:
        assert not hasattr(chain, "pool") and not hasattr(chain, "add_transaction")
        assert chain.build_block([]).block.header.block_number == 1  # builds without one
    finally:
        chain.close()
