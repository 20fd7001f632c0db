"""Each speed-up agrees with the plain path it stands beside.

Two chains get the same transactions with the same timestamps, one with
``fast_paths=True`` (accounts and storage values carried between blocks, cached head
header, trusted finalize of self-built blocks, the builder's state as head state, LMDB
read transactions kept open, the lean interpreter loop) and one with
``fast_paths=False`` (py-evm's own paths, one LMDB transaction per read). Blocks, state
roots, receipts and reads must be equal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth._utils.address import generate_contract_address
from eth_utils import to_checksum_address

from chain import consensus
from chain.chain import Chain
from chain.config import FORKS, ChainConfig
from chain.errors import InvalidBlock
from chain.store import TABLE_AUX, LmdbBackend
from chain.vm import fast_path_caches

from .conftest import LOGGER_RUNTIME, REVERTER_RUNTIME, Sender, init_code, open_chain, pool_of

GENESIS_TIME = 1_700_000_000  # unix seconds; both chains of a pair share it


@pytest.fixture
def pair(tmp_path: Path, store_kind: str) -> Iterator[Callable[..., tuple[Chain, Chain]]]:
    """Make (fast, plain) chains with one genesis; both closed at the end."""
    opened: list[Chain] = []

    def make(**config_fields: object) -> tuple[Chain, Chain]:
        chains = []
        for fast in (True, False):
            data_dir = tmp_path / f"data{len(opened)}" if store_kind == "lmdb" else None
            config = ChainConfig(genesis_timestamp=GENESIS_TIME, **config_fields)  # type: ignore[arg-type]
            chain = open_chain(config, data_dir=data_dir, sync=False, fast_paths=fast)
            opened.append(chain)
            chains.append(chain)
        return chains[0], chains[1]

    yield make
    for chain in opened:
        chain.close()


def _build_both(fast: Chain, plain: Chain, raws: list[bytes], timestamp: int) -> None:
    """Pool the same bytes on both chains and seal one block each at ``timestamp``."""
    for chain in (fast, plain):
        for raw in raws:
            pool_of(chain).add(raw)
        pending = [p.tx for p in pool_of(chain).pending()]
        chain.build_block(pending, timestamp=timestamp)


def _assert_same_chains(fast: Chain, plain: Chain) -> None:
    assert fast.head.block_number == plain.head.block_number
    for number in range(fast.head.block_number + 1):
        a, b = fast.header(number), plain.header(number)
        assert a.hash == b.hash
        assert a.state_root == b.state_root
        assert [r.receipt for r in fast.receipts(a)] == [r.receipt for r in plain.receipts(b)]


@pytest.mark.parametrize("fork", FORKS)
def test_fast_and_plain_chains_build_identical_blocks(pair, fork: str) -> None:
    fast, plain = pair(fork=fork)
    alice_fast, alice_plain = Sender(fast), Sender(plain)
    bob = fast.config.dev_accounts[2][0]
    logger = to_checksum_address(generate_contract_address(alice_fast.canonical, 0))
    reverter = to_checksum_address(generate_contract_address(alice_fast.canonical, 1))
    plan: list[list[dict]] = [
        [{"data": init_code(LOGGER_RUNTIME)}, {"data": init_code(REVERTER_RUNTIME)}],
        [{"to": logger, "data": (7).to_bytes(32, "big")}, {"to": bob, "value": 10**18}],
        [{"to": reverter}],  # a failing call: status 0, gas still paid
        [],  # an empty block
        [{"to": logger, "data": (9).to_bytes(32, "big")}, {"to": bob, "value": 1}],
    ]
    for offset, txs in enumerate(plan, start=1):
        raws_fast = [alice_fast.raw(**tx) for tx in txs]
        raws_plain = [alice_plain.raw(**tx) for tx in txs]
        assert raws_fast == raws_plain
        _build_both(fast, plain, raws_fast, GENESIS_TIME + offset)
    _assert_same_chains(fast, plain)
    bob_address = bytes.fromhex(bob[2:])
    assert fast.balance(bob_address) == plain.balance(bob_address)
    assert fast.nonce(alice_fast.canonical) == plain.nonce(alice_plain.canonical) == 7
    assert len(pool_of(fast)) == len(pool_of(plain)) == 0


def test_blocks_built_with_fast_paths_pass_full_import_validation(pair) -> None:
    fast, plain = pair()
    alice = Sender(fast)
    for offset in range(1, 4):
        pool_of(fast).add(alice.raw(data=init_code(LOGGER_RUNTIME)))
        built = fast.build_block([p.tx for p in pool_of(fast).pending()], timestamp=GENESIS_TIME + offset)
        plain.import_block(built.block)
    _assert_same_chains(fast, plain)


def test_archive_reads_stay_right_after_accounts_are_carried_forward(pair) -> None:
    fast, plain = pair()
    alice = Sender(fast)  # same keys and chain id: the same bytes suit both chains
    carol = fast.config.dev_accounts[3][0]
    for offset, value in enumerate((1, 2, 3), start=1):
        _build_both(fast, plain, [alice.raw(to=carol, value=value)], GENESIS_TIME + offset)
    carol_address = bytes.fromhex(carol[2:])
    for number in range(4):
        header_fast, header_plain = fast.header(number), plain.header(number)
        for address in (carol_address, alice.canonical):
            assert fast.state_at(header_fast).get_balance(address) == plain.state_at(
                header_plain
            ).get_balance(address)
            assert fast.state_at(header_fast).get_nonce(address) == plain.state_at(header_plain).get_nonce(
                address
            )


def test_rewind_then_a_different_block_agrees_with_the_plain_chain(pair) -> None:
    fast, plain = pair()
    alice = Sender(fast)
    bob, carol = fast.config.dev_accounts[2][0], fast.config.dev_accounts[3][0]
    _build_both(fast, plain, [alice.raw(to=bob, value=5)], GENESIS_TIME + 1)
    _build_both(fast, plain, [alice.raw(to=bob, value=6)], GENESIS_TIME + 2)
    for chain in (fast, plain):
        chain.set_head(1)
        assert chain.head.block_number == 1  # the cached head follows a rewind
    alice.nonce = 1
    _build_both(fast, plain, [alice.raw(to=carol, value=7)], GENESIS_TIME + 3)
    _assert_same_chains(fast, plain)
    assert fast.balance(bytes.fromhex(bob[2:])) == plain.balance(bytes.fromhex(bob[2:]))


def test_a_refused_block_leaves_the_fast_chain_like_the_plain_one(pair) -> None:
    fast, plain = pair()
    alice = Sender(fast)
    bob = fast.config.dev_accounts[2][0]
    _build_both(fast, plain, [alice.raw(to=bob, value=5)], GENESIS_TIME + 1)
    raw = alice.raw(to=bob, value=6)
    for chain in (fast, plain):
        pool_of(chain).add(raw)
        with pytest.raises(InvalidBlock):  # same timestamp as its parent
            chain.build_block([p.tx for p in pool_of(chain).pending()], timestamp=GENESIS_TIME + 1)
    _build_both(fast, plain, [], GENESIS_TIME + 2)
    _assert_same_chains(fast, plain)
    assert len(pool_of(fast)) == len(pool_of(plain)) == 0


def test_sealing_records_the_signer_recovery_would_find(pair) -> None:
    fast, _plain = pair()
    built = fast.build_block([], timestamp=GENESIS_TIME + 1)
    header = built.block.header
    assert consensus.recover_signer(header) == fast.signer
    signature = consensus.keys.Signature(signature_bytes=header.extra_data[-consensus.EXTRA_SEAL :])
    recovered = signature.recover_public_key_from_msg_hash(consensus.seal_hash(header))
    assert recovered.to_canonical_address() == fast.signer
    # the seal is byte for byte what eth-keys' own signing gives
    plain_key = consensus.keys.PrivateKey(fast._signer_key.to_bytes())
    expected = plain_key.sign_msg_hash(consensus.seal_hash(header)).to_bytes()
    assert header.extra_data[-consensus.EXTRA_SEAL :] == expected


def test_lmdb_reads_see_every_write_from_any_thread(tmp_path: Path) -> None:
    backend = LmdbBackend(tmp_path, sync=False)
    try:
        assert backend.get(TABLE_AUX, b"k") is None
        backend.write({TABLE_AUX: {b"k": b"one"}})
        assert backend.get(TABLE_AUX, b"k") == b"one"
        seen: list[bytes | None] = []
        reader = threading.Thread(target=lambda: seen.append(backend.get(TABLE_AUX, b"k")))
        reader.start()
        reader.join()
        backend.write({TABLE_AUX: {b"k": b"two"}})
        assert backend.get(TABLE_AUX, b"k") == b"two"
        other = threading.Thread(target=lambda: seen.append(backend.get(TABLE_AUX, b"k")))
        other.start()
        other.join()
        backend.write({TABLE_AUX: {b"k": None}})
        assert backend.get(TABLE_AUX, b"k") is None
        assert seen == [b"one", b"two"]
    finally:
        backend.close()


def test_gas_estimates_agree_with_the_full_binary_search(pair) -> None:
    fast, plain = pair()
    alice = Sender(fast)
    _build_both(fast, plain, [alice.raw(data=init_code(LOGGER_RUNTIME))], GENESIS_TIME + 1)
    logger = generate_contract_address(alice.canonical, 0)
    bob = bytes.fromhex(fast.config.dev_accounts[2][0][2:])
    requests = [
        {"from": alice.canonical, "to": logger, "data": (5).to_bytes(32, "big")},  # fresh slot
        {"from": alice.canonical, "to": logger, "data": bytes(32)},  # slot cleared: a refund
        {"from": alice.canonical, "to": bob, "value": 1},
        {"from": alice.canonical, "data": init_code(LOGGER_RUNTIME)},
    ]
    for request in requests:
        assert fast.estimate_gas(request) == plain.estimate_gas(request)


# A contract whose call reads slot 0 (SLOAD) and returns it, then stores its call data there:
# mstore(0, sload(0)); sstore(0, calldataload(0)); return(0, 32)
SWAPPER_RUNTIME = bytes.fromhex("600054600052" + "600035600055" + "60206000f3")


def test_storage_cache_moves_to_the_new_root_with_the_writes(pair) -> None:
    fast, plain = pair()
    alice_fast, alice_plain = Sender(fast), Sender(plain)
    swapper = generate_contract_address(alice_fast.canonical, 0)
    to = to_checksum_address(swapper)
    plan = [
        [{"data": init_code(SWAPPER_RUNTIME)}],
        [{"to": to, "data": (5).to_bytes(32, "big")}],
        [{"to": to, "data": (6).to_bytes(32, "big")}, {"to": to, "data": (7).to_bytes(32, "big")}],
        [{"to": to, "data": bytes(32)}],  # cleared: the slot is deleted from the trie
        [{"to": to, "data": (8).to_bytes(32, "big")}],
    ]
    for offset, txs in enumerate(plan, start=1):
        raws = [alice_fast.raw(**tx) for tx in txs]
        assert raws == [alice_plain.raw(**tx) for tx in txs]
        _build_both(fast, plain, raws, GENESIS_TIME + offset)
    _assert_same_chains(fast, plain)
    # before anything reads it, the head's storage root already holds the last write
    root = fast.state_at(fast.head)._account_db._get_storage_root(swapper)
    assert fast_path_caches(fast.vm_class)[1].roots[root][b"\x00"] == b"\x08"  # slot 0, RLP of 8
    assert fast_path_caches(plain.vm_class)[1] is None
    for number in range(1, len(plan) + 1):  # every block's storage, read back at that block
        got = fast.state_at(fast.header(number)).get_storage(swapper, 0)
        assert got == plain.state_at(plain.header(number)).get_storage(swapper, 0)


def test_storage_cache_stays_right_across_a_rewind_and_a_reverted_call(pair) -> None:
    fast, plain = pair()
    alice = Sender(fast)
    swapper = generate_contract_address(alice.canonical, 0)
    reverter = to_checksum_address(generate_contract_address(alice.canonical, 1))
    to = to_checksum_address(swapper)
    _build_both(
        fast,
        plain,
        [alice.raw(data=init_code(SWAPPER_RUNTIME)), alice.raw(data=init_code(REVERTER_RUNTIME))],
        GENESIS_TIME + 1,
    )
    _build_both(fast, plain, [alice.raw(to=to, data=(5).to_bytes(32, "big"))], GENESIS_TIME + 2)
    _build_both(
        fast,
        plain,
        [alice.raw(to=to, data=(6).to_bytes(32, "big")), alice.raw(to=reverter)],
        GENESIS_TIME + 3,
    )
    for chain in (fast, plain):
        chain.set_head(2)
    alice.nonce = 3
    _build_both(fast, plain, [alice.raw(to=to, data=(9).to_bytes(32, "big"))], GENESIS_TIME + 4)
    _assert_same_chains(fast, plain)
    for chain in (fast, plain):
        assert chain.state_at(chain.head).get_storage(swapper, 0) == 9
        assert chain.state_at(chain.header(2)).get_storage(swapper, 0) == 5
    request = {"from": alice.canonical, "to": swapper, "data": (1).to_bytes(32, "big")}
    assert fast.call(request) == plain.call(request)


def test_fast_and_plain_chains_agree_on_set_code_delegation(pair) -> None:
    """Prague: an EIP-7702 delegation, then calls through the delegated account (its code
    is the target's, run in the lean loop on one chain and py-evm's on the other)."""
    from eth_account import Account

    fast, plain = pair(fork="prague")
    alice_fast, alice_plain = Sender(fast), Sender(plain)
    carol_address, carol_key = fast.config.dev_accounts[3]
    logger = to_checksum_address(generate_contract_address(alice_fast.canonical, 0))
    auth = Account.sign_authorization(
        {"chainId": fast.config.chain_id, "address": logger, "nonce": 0}, carol_key
    )
    set_code = {
        "type": 4,
        "chainId": fast.config.chain_id,
        "to": carol_address,
        "value": 0,
        "data": (5).to_bytes(32, "big"),
        "gas": 200_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "authorizationList": [auth],
    }
    for alice, chain in ((alice_fast, fast), (alice_plain, plain)):
        raws = [alice.raw(data=init_code(LOGGER_RUNTIME))]
        _build_both_one(chain, raws, GENESIS_TIME + 1)
        signed = Account.sign_transaction({**set_code, "nonce": alice.nonce}, alice.key)
        alice.nonce += 1
        raws = [bytes(signed.raw_transaction), alice.raw(to=carol_address, data=(8).to_bytes(32, "big"))]
        _build_both_one(chain, raws, GENESIS_TIME + 2)
    _assert_same_chains(fast, plain)
    carol = bytes.fromhex(carol_address[2:])
    assert fast.state_at().get_storage(carol, 0) == plain.state_at().get_storage(carol, 0) == 8
    assert all(r.status == 1 for r in fast.receipts(fast.head))


def _build_both_one(chain: Chain, raws: list[bytes], timestamp: int) -> None:
    for raw in raws:
        pool_of(chain).add(raw)
    chain.build_block([p.tx for p in pool_of(chain).pending()], timestamp=timestamp)
