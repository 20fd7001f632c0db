"""Block production: modes, the movable clock, snapshots and rewinds with the pool."""

from __future__ import annotations

import pytest

from chain.chain import Chain
from chain.errors import ChainError, InvalidTimestamp, UnknownSnapshot
from chain.producer import BlockProducer

from .conftest import Sender, pool_of


def test_automine_seals_a_block_per_accepted_transaction(chain: Chain, sender: Sender) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="automine")
    for _ in range(3):
        pool_of(chain).add(sender.raw(to=chain.config.dev_accounts[2][0], value=1))
        producer.transaction_added()
    assert chain.head.block_number == 3
    assert [len(chain.block(n).transactions) for n in (1, 2, 3)] == [1, 1, 1]
    assert len(pool_of(chain)) == 0


def test_manual_mode_waits_and_then_takes_the_whole_pool(chain: Chain, sender: Sender) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    for _ in range(4):
        pool_of(chain).add(sender.raw(to=chain.config.dev_accounts[2][0], value=1))
        assert producer.transaction_added() == []
    assert chain.head.block_number == 0 and pool_of(chain).status()["pending"] == 4
    [built] = producer.mine()
    assert len(built.block.transactions) == 4 and len(pool_of(chain)) == 0


def test_interval_mode_mines_only_when_due(chain: Chain) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="interval", interval=3600)
    assert producer.tick() == [] and 3590 < producer.next_due() <= 3600
    producer.interval = 0.000001
    assert len(producer.tick()) == 1
    with pytest.raises(ChainError, match="interval > 0"):
        producer.set_mode("interval", 0)


def test_increase_time_moves_block_timestamps_without_sleeping(chain: Chain) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    producer.mine()
    first = chain.head.timestamp
    producer.increase_time(86_400)
    producer.mine()
    assert chain.head.timestamp >= first + 86_400


def test_next_timestamp_is_used_once_and_never_goes_back(chain: Chain) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    producer.mine()
    target = chain.head.timestamp + 1000
    producer.set_next_timestamp(target)
    producer.mine()
    assert chain.head.timestamp == target
    producer.mine()
    assert chain.head.timestamp > target
    with pytest.raises(InvalidTimestamp, match="not after the head"):
        producer.set_next_timestamp(chain.head.timestamp)


def test_a_snapshot_can_be_reverted_to_again_and_again(chain: Chain) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    producer.mine(2)
    snap = producer.snapshot()
    producer.mine(3)
    later = producer.snapshot()
    producer.revert(snap)
    assert chain.head.block_number == 2
    producer.mine(1)
    producer.revert(snap)
    assert chain.head.block_number == 2
    producer.revert(later)  # a snapshot taken on the abandoned branch stays valid too
    assert chain.head.block_number == 5
    with pytest.raises(UnknownSnapshot):
        producer.revert(999)


def test_rewinding_returns_dropped_transactions_to_the_pool(chain: Chain, sender: Sender) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="automine")
    hashes = []
    for _ in range(3):
        hashes.append(pool_of(chain).add(sender.raw(to=chain.config.dev_accounts[2][0], value=1)).hash)
        producer.transaction_added()
    chain.set_head(1, reinject=True)
    assert chain.head.block_number == 1
    assert [pool_of(chain).get(h) is not None for h in hashes] == [False, True, True]
    producer.mine()
    assert chain.head.block_number == 2 and len(chain.block(2).transactions) == 2


def test_mine_refuses_absurd_counts(chain: Chain) -> None:
    with pytest.raises(ChainError, match="block count"):
        BlockProducer(chain, pool=pool_of(chain), mode="manual").mine(0)


def test_increase_time_is_relative_to_the_head_when_blocks_run_ahead_of_the_clock(chain: Chain) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    producer.mine(20)  # twenty blocks in well under a second: each one second after its parent
    head = chain.head.timestamp
    producer.increase_time(100)
    producer.mine()
    assert chain.head.timestamp >= head + 100


def test_the_clock_refuses_times_past_two_to_the_sixty_three(chain: Chain) -> None:
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    with pytest.raises(InvalidTimestamp, match="2\\*\\*63-1"):
        producer.increase_time(2**64)
    with pytest.raises(InvalidTimestamp, match="2\\*\\*63-1"):
        producer.set_next_timestamp(2**63)
    assert producer.clock.offset == 0
