"""Importing blocks: every tampered field of a sealed block is rejected by its own check,
and a rejected block leaves the importing chain exactly as it was."""

from __future__ import annotations

import pytest
from eth.abc import BlockAPI

from chain import consensus
from chain.chain import Chain
from chain.config import ChainConfig
from chain.errors import InvalidBlock, UnauthorizedSigner

from .conftest import LOGGER_RUNTIME, Sender, init_code

GENESIS_TIME = 1_700_000_000
AUTHORITY_KEY = ChainConfig().dev_accounts[0][1]
OUTSIDER_KEY = ChainConfig().dev_accounts[7][1]


@pytest.fixture
def pair(make_chain, fork: str) -> tuple[Chain, Chain, BlockAPI]:
    """A producer with one block of transactions, and a follower at genesis."""
    producer = make_chain(fork=fork, genesis_timestamp=GENESIS_TIME)
    follower = make_chain(fork=fork, genesis_timestamp=GENESIS_TIME)
    sender = Sender(producer)
    built = producer.build_block(
        [sender.tx(data=init_code(LOGGER_RUNTIME)), sender.tx(to=producer.config.dev_accounts[2][0], value=3)]
    )
    return producer, follower, built.block


def resealed(block: BlockAPI, key: bytes = AUTHORITY_KEY, **fields: object) -> BlockAPI:
    """The block with header fields changed and a valid seal by ``key`` over them."""
    header = block.header.copy(**fields)
    return block.copy(header=consensus.sign_header(header, key))


TAMPERINGS = {
    "transaction_root": lambda b: resealed(b, transaction_root=b"\x11" * 32),
    "receipt_root": lambda b: resealed(b, receipt_root=b"\x22" * 32),
    "state_root": lambda b: resealed(b, state_root=b"\x33" * 32),
    "gas_used": lambda b: resealed(b, gas_used=b.header.gas_used + 1),
    "timestamp": lambda b: resealed(b, timestamp=GENESIS_TIME),
    "difficulty": lambda b: resealed(b, difficulty=consensus.DIFF_NO_TURN),
    "parent": lambda b: resealed(b, parent_hash=b"\x44" * 32),
    "bloom": lambda b: resealed(b, bloom=1),
}


@pytest.mark.parametrize("field", sorted(TAMPERINGS))
def test_a_block_with_a_tampered_field_is_rejected(pair, field: str) -> None:
    _producer, follower, block = pair
    head_before = follower.head
    with pytest.raises(InvalidBlock) as raised:
        follower.import_block(TAMPERINGS[field](block))
    assert raised.value.check != ""
    assert follower.head == head_before
    follower.import_block(block)  # the genuine block still imports afterwards
    assert follower.head.hash == block.hash


def test_a_block_with_a_damaged_seal_is_rejected(pair) -> None:
    _producer, follower, block = pair
    extra = bytearray(block.header.extra_data)
    extra[-10] ^= 0xFF
    with pytest.raises(InvalidBlock):
        follower.import_block(block.copy(header=block.header.copy(extra_data=bytes(extra))))
    truncated = block.header.copy(extra_data=block.header.extra_data[:40])
    with pytest.raises(InvalidBlock, match="too short"):
        follower.import_block(block.copy(header=truncated))
    assert follower.head.block_number == 0


def test_a_block_sealed_by_an_outsider_is_rejected(pair) -> None:
    _producer, follower, block = pair
    with pytest.raises(UnauthorizedSigner):
        follower.import_block(resealed(block, key=OUTSIDER_KEY))


def test_checks_name_the_rule_that_failed(make_chain) -> None:
    producer = make_chain(fork="cancun", genesis_timestamp=GENESIS_TIME)
    follower = make_chain(fork="cancun", genesis_timestamp=GENESIS_TIME)
    sender = Sender(producer)
    block = producer.build_block([sender.tx(to=producer.config.dev_accounts[2][0], value=3)]).block
    expected = {
        "state_root": "state_root",
        "receipt_root": "receipt_root",
        "transaction_root": "transaction_root",
        "gas_used": "gas_used",
        "difficulty": "wrong_difficulty",
        "timestamp": "timestamp",
    }
    for field, check in expected.items():
        with pytest.raises(InvalidBlock) as raised:
            follower.import_block(TAMPERINGS[field](block))
        assert raised.value.check == check, (field, raised.value)
