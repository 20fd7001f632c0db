"""Logs queries through the log index and the bloom skip give what reading every block's
whole receipts gives: with two contracts logging, after a rewind and a new branch, and
for blocks committed before the index (no entry: their receipts are read)."""

from __future__ import annotations

from eth.abc import BlockHeaderAPI
from eth_utils import to_checksum_address

from chain.chain import Chain, LogInfo
from chain.log_index import LOG_INDEX_PREFIX
from chain.log_scan import bloom_may_match
from chain.store import TABLE_AUX
from chain.vm import contract_address
from tests.chain.conftest import LOGGER_RUNTIME, TOPIC, Sender, init_code


def plain_logs(chain: Chain, start: int, end: int, addresses: set[bytes]) -> list[LogInfo]:
    """Every block's whole receipts (senders and all), filtered: the reference."""
    out = []
    for number in range(start, end + 1):
        for info in chain.receipts(chain.header(number)):
            out.extend(log for log in info.logs if not addresses or log.address in addresses)
    return out


def deploy_loggers(chain: Chain, sender: Sender) -> tuple[bytes, bytes]:
    chain.build_block([sender.tx(data=init_code(LOGGER_RUNTIME)), sender.tx(data=init_code(LOGGER_RUNTIME))])
    first, second = (contract_address(sender.canonical, n) for n in (0, 1))
    return first, second


def log_blocks(chain: Chain, sender: Sender, contracts: list[bytes], blocks: int) -> None:
    for number in range(blocks):
        txs = [sender.tx(to=to_checksum_address(c), data=number.to_bytes(32, "big")) for c in contracts]
        chain.build_block(txs)
        chain.build_block([])  # a block without logs between


def test_indexed_logs_equal_the_receipts_of_every_block(chain: Chain, sender: Sender) -> None:
    first, second = deploy_loggers(chain, sender)
    log_blocks(chain, sender, [first, second], 3)
    log_blocks(chain, sender, [second], 2)
    head = chain.head.block_number
    for addresses in (set(), {first}, {second}, {first, second}):
        assert chain.logs(0, head, addresses) == plain_logs(chain, 0, head, addresses)
    assert len(chain.logs(0, head, {first})) == 3 and len(chain.logs(0, head, {second})) == 5
    assert chain.logs(0, head, {second}, [TOPIC]) == chain.logs(0, head, {second})
    assert chain.logs(0, head, {second}, [bytes(32)]) == []


def test_after_a_rewind_the_new_branch_answers_not_the_dropped_blocks(chain: Chain, sender: Sender) -> None:
    first, second = deploy_loggers(chain, sender)
    log_blocks(chain, sender, [first, second], 2)
    fork_point = chain.head.block_number
    log_blocks(chain, sender, [first], 2)
    chain.set_head(fork_point)
    sender.nonce = chain.nonce(sender.canonical)
    log_blocks(chain, sender, [second], 1)
    head = chain.head.block_number
    assert chain.logs(0, head, set()) == plain_logs(chain, 0, head, set())
    assert len(chain.logs(0, head, {first})) == 2  # the dropped branch's two are gone


def test_blocks_committed_before_the_index_are_read_from_their_receipts(chain: Chain, sender: Sender) -> None:
    first, second = deploy_loggers(chain, sender)
    log_blocks(chain, sender, [first, second], 2)
    head = chain.head.block_number
    headers: list[BlockHeaderAPI] = [chain.header(n) for n in range(head + 1)]
    chain.store.backend.write({TABLE_AUX: {LOG_INDEX_PREFIX + h.hash: None for h in headers}})
    assert chain.logs(0, head, set()) == plain_logs(chain, 0, head, set())


def test_the_bloom_skips_only_blocks_that_cannot_match(chain: Chain, sender: Sender) -> None:
    first, second = deploy_loggers(chain, sender)
    log_blocks(chain, sender, [first], 1)
    header = chain.header(chain.head.block_number - 1)  # the block with first's log
    assert bloom_may_match(header.bloom, [first], [TOPIC])
    assert not bloom_may_match(header.bloom, [second], [])
    assert not bloom_may_match(0, [], [])
