"""Tests for chain.mempool: validation, ordering, replacement, limits, journal, reset.

The pool validates against a real py-evm Cancun chain (``MiningChainState`` below
implements ``PoolState`` over ``eth.chains.base.MiningChain``); transactions are real,
signed with eth-account, and "mining" applies the pool's pending transactions with
py-evm and seals a block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.abc import SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.exceptions import UnrecognizedTransactionType
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_account import Account
from eth_keys import keys
from eth_utils import ValidationError, keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from chain.chain import Chain
from chain.config import ChainConfig
from chain.errors import (
    AlreadyKnown,
    FeeCapTooLow,
    GasLimitExceeded,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidSignature,
    InvalidTransaction,
    MalformedTransaction,
    NonceGap,
    NonceTooLow,
    OversizedTransaction,
    PoolFull,
    ReplacementUnderpriced,
    TipAboveFeeCap,
    UnsupportedTransactionType,
    WrongChainId,
)
from chain.journal import MemoryJournal, StoreJournal
from chain.mempool import PooledTransaction, PoolLimits, TxPool
from chain.store import TABLE_JOURNAL, Store
from chain.validation import SECP256K1_N
from chain.vm import floor_data_gas, intrinsic_gas, max_initcode_size

CHAIN_ID = 1337
GWEI = 10**9  # wei
ETHER = 10**18  # wei
FUNDS = 100 * ETHER  # wei given to each funded test account
TRANSFER_GAS = 21_000  # gas of a plain value transfer
ACCESS_LIST_TRANSFER_GAS = 23_400  # gas of a transfer listing one address
GENESIS_GAS_LIMIT = 30_000_000  # gas
VETERAN_NONCE = 5  # account nonce of VETERAN at genesis
POOR_FUNDS = 21_000 * GWEI  # wei: one 1-gwei transfer, nothing more

KEYS = [keys.PrivateKey(bytes([i + 1]) * 32) for i in range(6)]
ALICE, BOB, CAROL, DAVE, POOR, VETERAN = KEYS
FUNDED = [ALICE, BOB, CAROL, DAVE]
RECIPIENT = to_checksum_address("0x" + "ee" * 20)


def address(key: keys.PrivateKey) -> bytes:
    return key.public_key.to_canonical_address()


# --- a real PoolState over a py-evm chain ---------------------------------------------


class MiningChainState:
    """``PoolState`` over a py-evm ``MiningChain``: head state, next header, fork decoder."""

    def __init__(self, chain: MiningChain) -> None:
        self.chain = chain
        self.chain_id = chain.chain_id
        self._cached: tuple[bytes, Any] | None = None  # (head hash, state at head)

    def _head_state(self) -> Any:
        head = self.chain.get_canonical_head()
        if self._cached is None or self._cached[0] != head.hash:
            self._cached = (head.hash, self.chain.get_vm(head).state)
        return self._cached[1]

    def nonce(self, address: bytes) -> int:
        return self._head_state().get_nonce(address)

    def balance(self, address: bytes) -> int:
        return self._head_state().get_balance(address)

    def next_base_fee(self) -> int | None:
        return self.chain.header.base_fee_per_gas

    def block_gas_limit(self) -> int:
        return self.chain.header.gas_limit

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        try:
            return self.chain.get_vm().get_transaction_builder().decode(raw)
        except UnrecognizedTransactionType as error:
            raise UnsupportedTransactionType(
                f"transaction type {raw[0]} is not known to this chain's fork"
            ) from error
        except (rlp.exceptions.RLPException, ValidationError) as error:
            raise MalformedTransaction(f"transaction bytes do not decode: {error}") from error

    def intrinsic_gas(self, tx: SignedTransactionAPI) -> int:
        return intrinsic_gas("cancun", tx)

    def max_initcode_size(self) -> int | None:
        return max_initcode_size("cancun")

    def floor_data_gas(self, tx: SignedTransactionAPI) -> int:
        return floor_data_gas("cancun", tx)

    def code(self, address: bytes) -> bytes:
        return bytes(self._head_state().get_code(address))

    def mine(self, pool: TxPool) -> list[PooledTransaction]:
        """Apply every pending transaction the chain accepts, seal a block, reset the pool."""
        included = []
        for pooled in pool.pending():
            try:
                self.chain.apply_transaction(pooled.tx)
            except ValidationError:
                continue
            included.append(pooled)
        self.chain.mine_block()
        pool.reset()
        return included


def make_cancun_chain() -> MiningChain:
    chain_class = MiningChain.configure(vm_configuration=((0, CancunVM),), chain_id=CHAIN_ID)
    genesis_params = {
        "difficulty": 0,
        "gas_limit": GENESIS_GAS_LIMIT,
        "timestamp": 1,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "coinbase": b"\0" * 20,
    }

    def account(balance: int, nonce: int = 0) -> dict[str, Any]:
        return {"balance": balance, "nonce": nonce, "code": b"", "storage": {}}

    genesis_state = {address(key): account(FUNDS) for key in FUNDED}
    genesis_state[address(POOR)] = account(POOR_FUNDS)
    genesis_state[address(VETERAN)] = account(FUNDS, nonce=VETERAN_NONCE)
    return chain_class.from_genesis(AtomicDB(), genesis_params, genesis_state)


@pytest.fixture
def state() -> MiningChainState:
    return MiningChainState(make_cancun_chain())


@pytest.fixture
def pool(state: MiningChainState) -> TxPool:
    return TxPool(state)


# --- signing ------------------------------------------------------------------------------


def sign(
    key: keys.PrivateKey,
    nonce: int,
    *,
    kind: str = "dynamic",
    fee: int = 2 * GWEI,
    tip: int = GWEI,
    gas: int | None = None,
    value: int = 0,
    data: bytes = b"",
    chain_id: int | None = CHAIN_ID,
) -> bytes:
    """Sign a transfer with eth-account; ``fee`` is the gas price for legacy/access-list."""
    if gas is None:
        gas = ACCESS_LIST_TRANSFER_GAS if kind == "access_list" else TRANSFER_GAS
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "to": RECIPIENT, "value": value}
    if data:
        tx["data"] = data
    if chain_id is not None:
        tx["chainId"] = chain_id
    if kind == "legacy":
        tx["gasPrice"] = fee
    elif kind == "access_list":
        tx.update(type=1, gasPrice=fee, accessList=[{"address": RECIPIENT, "storageKeys": []}])
    else:
        tx.update(type=2, maxFeePerGas=fee, maxPriorityFeePerGas=tip)
    return bytes(Account.sign_transaction(tx, key.to_bytes()).raw_transaction)


def snapshot(pool: TxPool) -> tuple[Any, ...]:
    """Everything observable about the pool's contents."""
    content = pool.content()
    return (
        {s: {n: t.hash for n, t in txs.items()} for s, txs in content["pending"].items()},
        {s: {n: t.hash for n, t in txs.items()} for s, txs in content["queued"].items()},
        [t.hash for t in pool.pending()],
        pool.status(),
        len(pool),
    )


@pytest.fixture
def busy_pool(pool: TxPool) -> TxPool:
    """A pool already holding a pending and a queued transaction."""
    pool.add(sign(ALICE, 0))
    pool.add(sign(BOB, 2))
    return pool


def assert_refused(pool: TxPool, raw: bytes, error: type[Exception], match: str) -> None:
    before = snapshot(pool)
    with pytest.raises(error, match=match):
        pool.add(raw)
    assert snapshot(pool) == before


# --- each refusal: its own exception, and the pool unchanged ------------------------------


def test_oversized_transaction_is_refused(busy_pool: TxPool) -> None:
    raw = sign(CAROL, 0, gas=3_000_000, data=b"\x01" * (130 * 1024))
    assert_refused(busy_pool, raw, OversizedTransaction, r"\d+ bytes; the pool accepts at most")


@pytest.mark.parametrize("raw", [b"", b"\xc0", b"\x02\xc3\x01\x02\x03", b"\xf8\xff" + b"\x00" * 10], ids=repr)
def test_undecodable_bytes_are_refused_as_malformed(busy_pool: TxPool, raw: bytes) -> None:
    assert_refused(busy_pool, raw, MalformedTransaction, "do not decode")


def test_non_canonical_encoding_is_refused_as_malformed(busy_pool: TxPool) -> None:
    raw = sign(CAROL, 0, kind="legacy")
    assert raw[0] == 0xF8  # a list with a one-byte long-form length
    padded_length = b"\xf9\x00" + raw[1:]  # the same length with a leading zero byte
    assert_refused(busy_pool, padded_length, MalformedTransaction, "decode|canonical")
    assert_refused(busy_pool, raw + b"\x00", MalformedTransaction, "decode|canonical")  # trailing bytes


def test_unknown_transaction_type_is_refused(busy_pool: TxPool) -> None:
    assert_refused(busy_pool, b"\x05\xc0", UnsupportedTransactionType, "type 5")


def test_blob_transaction_is_not_pooled(busy_pool: TxPool) -> None:
    unsigned = CancunTransactionBuilder.new_unsigned_blob_transaction(
        CHAIN_ID,
        0,
        GWEI,
        2 * GWEI,
        TRANSFER_GAS,
        b"\xee" * 20,
        0,
        b"",
        [],
        GWEI,
        [b"\x01" + b"\x00" * 31],
    )
    raw = unsigned.as_signed_transaction(CAROL).encode()
    assert_refused(busy_pool, raw, UnsupportedTransactionType, "type 3 is not accepted")


def test_signature_out_of_range_is_refused(busy_pool: TxPool) -> None:
    tx = CancunVM.get_transaction_builder().decode(sign(CAROL, 0, kind="legacy"))
    assert_refused(busy_pool, tx.copy(s=0).encode(), InvalidSignature, "s is out of range")
    assert_refused(busy_pool, tx.copy(r=0).encode(), InvalidSignature, "r is out of range")
    # The same signature mirrored to high s (and the other parity) is malleable: refused.
    malleated = tx.copy(s=SECP256K1_N - tx.s, v=tx.v ^ 1)
    assert_refused(busy_pool, malleated.encode(), InvalidSignature, "high-s")


def test_signature_that_recovers_no_key_is_refused(busy_pool: TxPool) -> None:
    tx = CancunVM.get_transaction_builder().decode(sign(CAROL, 0, kind="legacy"))
    # r = 5 is not the x coordinate of a point on secp256k1, so no public key recovers.
    assert_refused(busy_pool, tx.copy(r=5).encode(), InvalidSignature, "no sender recovers")


def test_transaction_for_another_chain_is_refused(busy_pool: TxPool) -> None:
    raw = sign(CAROL, 0, chain_id=1)
    assert_refused(busy_pool, raw, WrongChainId, "signed for chain id 1, this chain's id is 1337")


def test_unprotected_legacy_transaction_is_refused(busy_pool: TxPool) -> None:
    raw = sign(CAROL, 0, kind="legacy", chain_id=None)
    assert_refused(busy_pool, raw, WrongChainId, "not replay-protected")


def test_tip_above_fee_cap_is_refused(busy_pool: TxPool) -> None:
    raw = sign(CAROL, 0, fee=2 * GWEI, tip=3 * GWEI)
    assert_refused(busy_pool, raw, TipAboveFeeCap, "3000000000 wei is above max fee")


def test_gas_above_block_gas_limit_is_refused(busy_pool: TxPool, state: MiningChainState) -> None:
    limit = state.block_gas_limit()
    raw = sign(CAROL, 0, gas=limit + 1)
    assert_refused(busy_pool, raw, GasLimitExceeded, f"{limit + 1} exceeds the block gas limit")


def test_gas_below_intrinsic_gas_is_refused(busy_pool: TxPool) -> None:
    raw = sign(CAROL, 0, gas=TRANSFER_GAS - 1)
    assert_refused(busy_pool, raw, IntrinsicGasTooLow, "at least 21000 gas, its gas limit is 20999")


def test_fee_cap_below_next_base_fee_is_refused(busy_pool: TxPool, state: MiningChainState) -> None:
    base_fee = state.next_base_fee()
    assert base_fee is not None
    raw = sign(CAROL, 0, fee=base_fee - 1, tip=0)
    assert_refused(busy_pool, raw, FeeCapTooLow, f"below the next block's base fee {base_fee}")


def test_nonce_below_account_nonce_is_refused(busy_pool: TxPool) -> None:
    raw = sign(VETERAN, 3)
    assert_refused(busy_pool, raw, NonceTooLow, "has nonce 5, transaction has 3")


def test_nonce_too_far_ahead_is_refused(busy_pool: TxPool) -> None:
    gap = busy_pool.limits.max_nonce_gap
    busy_pool.add(sign(CAROL, gap))  # exactly max_nonce_gap nonces missing: accepted
    assert_refused(busy_pool, sign(DAVE, gap + 1), NonceGap, f"at most {gap} nonces")


def test_transaction_the_sender_cannot_pay_is_refused(busy_pool: TxPool) -> None:
    raw = sign(POOR, 0, fee=2 * GWEI)
    assert_refused(busy_pool, raw, InsufficientFunds, f"has {POOR_FUNDS} wei")


def test_same_transaction_twice_is_refused_as_already_known(busy_pool: TxPool) -> None:
    assert_refused(busy_pool, sign(ALICE, 0), AlreadyKnown, "already in the pool")


def test_replacement_without_bump_is_refused(busy_pool: TxPool) -> None:
    raw = sign(ALICE, 0, fee=2 * GWEI + 1, tip=GWEI + 1)
    assert_refused(busy_pool, raw, ReplacementUnderpriced, "must rise by 10%")


def test_transaction_beyond_the_limits_is_refused_when_nothing_is_cheaper(
    state: MiningChainState,
) -> None:
    pool = TxPool(state, PoolLimits(global_slots=2, account_slots=1))
    pool.add(sign(ALICE, 0, fee=5 * GWEI))
    pool.add(sign(ALICE, 1, fee=5 * GWEI))
    # Alice's second pending transaction is beyond her protected slot, but pays more.
    assert_refused(pool, sign(BOB, 0, fee=4 * GWEI), PoolFull, "pool is full")


# --- acceptance -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["legacy", "access_list", "dynamic"])
def test_each_transaction_type_is_accepted(pool: TxPool, kind: str) -> None:
    raw = sign(ALICE, 0, kind=kind, fee=3 * GWEI)
    pooled = pool.add(raw)
    assert pooled.hash == keccak(raw)
    assert pooled.sender == address(ALICE)
    assert pooled.type_id == {"legacy": 0, "access_list": 1, "dynamic": 2}[kind]
    assert pooled.max_fee == 3 * GWEI
    assert pooled.max_priority_fee == (GWEI if kind == "dynamic" else 3 * GWEI)
    assert pooled.size == len(raw)
    assert pool.get(pooled.hash) is pooled
    assert pool.pending() == [pooled]
    assert pool.status() == {"pending": 1, "queued": 0}


def test_pending_transactions_can_be_mined(pool: TxPool, state: MiningChainState) -> None:
    for kind in ["legacy", "access_list", "dynamic"]:
        pool.add(sign(ALICE, len(pool), kind=kind))
    included = state.mine(pool)
    assert len(included) == 3
    assert state.nonce(address(ALICE)) == 3
    assert len(pool) == 0


# --- replacement --------------------------------------------------------------------------


def test_replacement_needs_ten_percent_bump_on_both_fees(pool: TxPool) -> None:
    old = pool.add(sign(ALICE, 0, fee=10 * GWEI, tip=2 * GWEI))
    with pytest.raises(ReplacementUnderpriced):  # fee cap +10 %, tip only +5 %
        pool.add(sign(ALICE, 0, fee=11 * GWEI, tip=2 * GWEI + GWEI // 10))
    with pytest.raises(ReplacementUnderpriced):  # tip +10 %, fee cap only +9 %
        pool.add(sign(ALICE, 0, fee=10 * GWEI + 9 * GWEI // 10, tip=22 * GWEI // 10))
    new = pool.add(sign(ALICE, 0, fee=11 * GWEI, tip=22 * GWEI // 10))  # exactly +10 % each
    assert pool.get(old.hash) is None
    assert pool.pending() == [new]
    assert len(pool) == 1


def test_replacement_of_legacy_by_dynamic_fee_is_accepted(pool: TxPool) -> None:
    pool.add(sign(ALICE, 0, kind="legacy", fee=2 * GWEI))
    new = pool.add(sign(ALICE, 0, fee=3 * GWEI, tip=22 * GWEI // 10))
    assert pool.pending() == [new]


# --- pending, queued, promotion, ordering ----------------------------------------------------


def test_queued_transactions_are_promoted_when_the_gap_fills(pool: TxPool) -> None:
    announced: list[PooledTransaction] = []
    pool.subscribe(announced.append)
    third = pool.add(sign(ALICE, 2))
    second = pool.add(sign(ALICE, 1))
    assert pool.pending() == []
    assert pool.queued() == [second, third]
    assert announced == []
    first = pool.add(sign(ALICE, 0))
    assert pool.pending() == [first, second, third]
    assert pool.queued() == []
    assert announced == [first, second, third]
    assert pool.pending_nonce(address(ALICE)) == 3


def test_pending_orders_by_effective_tip_then_arrival_within_nonce_order(pool: TxPool) -> None:
    alice0 = pool.add(sign(ALICE, 0, fee=10 * GWEI, tip=1 * GWEI))
    alice1 = pool.add(sign(ALICE, 1, fee=10 * GWEI, tip=5 * GWEI))
    bob0 = pool.add(sign(BOB, 0, fee=10 * GWEI, tip=3 * GWEI))
    carol0 = pool.add(sign(CAROL, 0, fee=10 * GWEI, tip=3 * GWEI))
    # Bob and Carol tie on tip; Bob came first. Alice's high tip waits behind her nonce 0.
    assert pool.pending() == [bob0, carol0, alice0, alice1]


def test_effective_tip_is_capped_by_fee_cap_minus_base_fee(pool: TxPool, state: MiningChainState) -> None:
    base_fee = state.next_base_fee()
    assert base_fee is not None
    # Alice offers a 1.375 gwei tip but her fee cap leaves only 0.5 gwei above the base fee.
    capped = pool.add(sign(ALICE, 0, fee=base_fee + GWEI // 2, tip=base_fee + GWEI // 2))
    plain = pool.add(sign(BOB, 0, fee=base_fee + 5 * GWEI, tip=GWEI))  # earns 1 gwei
    assert pool.pending() == [plain, capped]


def test_removing_a_pending_transaction_queues_the_later_ones(pool: TxPool) -> None:
    txs = [pool.add(sign(ALICE, n)) for n in range(3)]
    pool.remove([txs[1].hash])
    assert pool.pending() == [txs[0]]
    assert pool.queued() == [txs[2]]


def test_content_groups_by_sender_and_nonce(pool: TxPool) -> None:
    a0 = pool.add(sign(ALICE, 0))
    a2 = pool.add(sign(ALICE, 2))
    content = pool.content()
    assert content == {
        "pending": {address(ALICE): {0: a0}},
        "queued": {address(ALICE): {2: a2}},
    }


# --- head changes ----------------------------------------------------------------------------


def test_reset_after_mining_drops_mined_transactions(pool: TxPool, state: MiningChainState) -> None:
    mined = [pool.add(sign(ALICE, n)) for n in range(2)]
    bob = pool.add(sign(BOB, 0))
    for pooled in mined:
        state.chain.apply_transaction(pooled.tx)
    state.chain.mine_block()
    dropped = pool.reset()
    assert {tx.hash for tx in dropped} == {tx.hash for tx in mined}
    assert pool.pending() == [bob]


def test_reset_drops_a_transaction_replaced_by_a_mined_one(pool: TxPool, state: MiningChainState) -> None:
    pooled = pool.add(sign(ALICE, 0))
    other = CancunVM.get_transaction_builder().decode(sign(ALICE, 0, fee=3 * GWEI))
    state.chain.apply_transaction(other)  # the same nonce, sent around the pool
    state.chain.mine_block()
    assert pool.reset() == [pooled]
    assert len(pool) == 0


def test_reset_drops_transactions_the_sender_can_no_longer_pay(pool: TxPool, state: MiningChainState) -> None:
    keep = pool.add(sign(ALICE, 1, value=ETHER))
    big = pool.add(sign(ALICE, 2, value=FUNDS - 2 * ETHER))
    spend = CancunVM.get_transaction_builder().decode(sign(ALICE, 0, value=10 * ETHER))
    state.chain.apply_transaction(spend)
    state.chain.mine_block()
    assert pool.reset() == [big]
    assert pool.pending() == [keep]


def test_reinject_brings_back_valid_transactions_and_counts_the_rest(
    pool: TxPool, state: MiningChainState
) -> None:
    raws = [sign(ALICE, 0), sign(ALICE, 1), sign(BOB, 5, chain_id=1)]
    assert pool.reinject(raws) == 1
    assert [tx.nonce for tx in pool.pending()] == [0, 1]
    assert pool.reinject_skipped == 1


def test_subscriber_errors_do_not_break_the_pool(pool: TxPool) -> None:
    def broken(tx: PooledTransaction) -> None:
        raise RuntimeError("subscriber bug")

    seen: list[PooledTransaction] = []
    pool.subscribe(broken)
    unsubscribe = pool.subscribe(seen.append)
    first = pool.add(sign(ALICE, 0))
    unsubscribe()
    pool.add(sign(ALICE, 1))
    assert seen == [first]
    assert len(pool) == 2


def test_concurrent_adds_and_reads_keep_the_pool_consistent(pool: TxPool) -> None:
    per_sender = 15
    batches = {key: [sign(key, n) for n in range(per_sender)] for key in FUNDED}
    errors: list[BaseException] = []

    def submit(raws: list[bytes]) -> None:
        try:
            for raw in raws:
                pool.add(raw)
                pool.pending()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=submit, args=(raws,)) for raws in batches.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert pool.status() == {"pending": per_sender * len(FUNDED), "queued": 0}
    for key in FUNDED:
        assert pool.pending_nonce(address(key)) == per_sender


# --- limits and eviction ---------------------------------------------------------------------


def test_per_sender_queue_limit_refuses_more_gapped_transactions(state: MiningChainState) -> None:
    pool = TxPool(state, PoolLimits(account_queue=2))
    pool.add(sign(ALICE, 2))
    pool.add(sign(ALICE, 3))
    assert_refused(pool, sign(ALICE, 4), PoolFull, "already has 2 queued transactions")
    pool.add(sign(BOB, 2))  # other senders are not affected


def test_full_pending_evicts_the_cheapest_transaction_of_another_sender(
    state: MiningChainState,
) -> None:
    pool = TxPool(state, PoolLimits(global_slots=4, account_slots=1))
    alice = [pool.add(sign(ALICE, n, fee=5 * GWEI)) for n in range(2)]
    bob = [pool.add(sign(BOB, n, fee=3 * GWEI)) for n in range(2)]
    carol = pool.add(sign(CAROL, 0, fee=4 * GWEI))
    # Bob's last transaction was the cheapest one beyond a protected slot.
    assert pool.get(bob[1].hash) is None
    assert {tx.hash for tx in pool.pending()} == {t.hash for t in [*alice, bob[0], carol]}
    pool.add(sign(DAVE, 0, fee=6 * GWEI))  # now Alice's second goes: Bob is down to one
    assert pool.get(alice[1].hash) is None
    assert pool.status() == {"pending": 4, "queued": 0}


def test_full_queue_evicts_the_cheapest_queued_transaction_of_another_sender(
    state: MiningChainState,
) -> None:
    pool = TxPool(state, PoolLimits(global_queue=2))
    cheap = pool.add(sign(ALICE, 3, fee=2 * GWEI))
    dear = pool.add(sign(BOB, 3, fee=4 * GWEI))
    assert_refused(pool, sign(CAROL, 3, fee=2 * GWEI), PoolFull, "2 queued transactions")
    newcomer = pool.add(sign(CAROL, 3, fee=3 * GWEI))
    assert {tx.hash for tx in pool.queued()} == {dear.hash, newcomer.hash}
    assert pool.get(cheap.hash) is None


# --- journal -------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A real chain data directory (LMDB), closed; journals open its store."""
    path = tmp_path / "data"
    Chain.open(ChainConfig(), data_dir=path, sync=False).close()
    return path


@pytest.fixture
def open_store(data_dir: Path) -> Iterator[Callable[[], Store]]:
    """Open the data directory's store (one at a time, as a node does); all closed at the end."""
    opened: list[Store] = []

    def open_() -> Store:
        for store in opened:
            store.close()
        opened.clear()
        opened.append(Store.open(data_dir, sync=False))
        return opened[0]

    yield open_
    for store in opened:
        store.close()


def damage_last_entry(store: Store, damage: Callable[[bytes], bytes]) -> None:
    """Rewrite the journal's newest entry (in arrival order) with ``damage(raw)``."""
    key, raw = list(store.items(TABLE_JOURNAL))[-1]
    store.put_now(TABLE_JOURNAL, key, damage(raw))


def test_pending_transactions_survive_a_restart_with_the_store_journal(
    state: MiningChainState, open_store: Callable[[], Store]
) -> None:
    pool = TxPool(state, journal=StoreJournal(open_store()))
    kept = [pool.add(sign(ALICE, n)) for n in range(3)]
    queued = pool.add(sign(BOB, 4))
    replaced = pool.add(sign(CAROL, 0))
    replacement = pool.add(sign(CAROL, 0, fee=3 * GWEI, tip=2 * GWEI))
    pool.remove([kept[2].hash])
    assert pool.get(replaced.hash) is None

    restarted = TxPool(state, journal=StoreJournal(open_store()))
    expected = {tx.hash for tx in [kept[0], kept[1], queued, replacement]}
    assert {tx.hash for tx in [*restarted.pending(), *restarted.queued()]} == expected
    assert restarted.status() == {"pending": 3, "queued": 1}


def test_restart_keeps_a_run_whose_first_nonce_was_replaced(state: MiningChainState) -> None:
    journal = MemoryJournal()
    limits = PoolLimits(account_queue=1)
    pool = TxPool(state, limits, journal=journal)
    run = [pool.add(sign(ALICE, n)) for n in range(3)]
    replacement = pool.add(sign(ALICE, 0, fee=3 * GWEI, tip=2 * GWEI))
    # The journal now lists nonces 1, 2, 0: re-added in that order, 1 and 2 would queue
    # past account_queue. The pool restores in nonce order instead.
    restarted = TxPool(state, limits, journal=journal)
    assert [tx.hash for tx in restarted.pending()] == [
        replacement.hash,
        run[1].hash,
        run[2].hash,
    ]
    assert restarted.restore_dropped == 0


def test_journal_ignores_a_torn_trailing_record(
    state: MiningChainState, open_store: Callable[[], Store]
) -> None:
    store = open_store()
    pool = TxPool(state, journal=StoreJournal(store))
    whole = pool.add(sign(ALICE, 0))
    pool.add(sign(ALICE, 1))
    damage_last_entry(store, lambda raw: raw[:-7])  # the last record cut short

    journal = StoreJournal(open_store())
    restarted = TxPool(state, journal=journal)
    assert journal.discarded > 0
    assert [tx.hash for tx in restarted.pending()] == [whole.hash]
    # Appends after the torn record are readable on the next start.
    appended = restarted.add(sign(BOB, 0))
    again = TxPool(state, journal=StoreJournal(open_store()))
    assert {tx.hash for tx in again.pending()} == {whole.hash, appended.hash}


def test_restart_drops_journaled_transactions_that_became_invalid(
    state: MiningChainState,
) -> None:
    journal = MemoryJournal()
    pool = TxPool(state, journal=journal)
    mined = pool.add(sign(ALICE, 0))
    waiting = pool.add(sign(ALICE, 1))
    state.chain.apply_transaction(mined.tx)
    state.chain.mine_block()  # mined while the node was down: no reset
    restarted = TxPool(state, journal=journal)
    assert restarted.pending() == [restarted.get(waiting.hash)]
    assert restarted.restore_dropped == 1
    assert journal.load() == [waiting.raw]


# --- properties ------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SENDERS = [ALICE, BOB, CAROL, ALICE, BOB, POOR]  # Poor one time in six
KINDS = ["legacy", "access_list", "dynamic"]


def check_pending_order(pool: TxPool, state: MiningChainState) -> None:
    """pending(): per sender contiguous from the account nonce; across, best head first."""
    ordered = pool.pending()
    base_fee = state.next_base_fee()
    runs: dict[bytes, list[PooledTransaction]] = {}
    for tx in ordered:
        runs.setdefault(tx.sender, []).append(tx)
    for sender, run in runs.items():
        nonces = [tx.nonce for tx in run]
        start = state.nonce(sender)
        assert nonces == list(range(start, start + len(run)))
        assert start + len(run) not in {tx.nonce for tx in pool.queued() if tx.sender == sender}
    position = {sender: 0 for sender in runs}
    for tx in ordered:
        heads = [runs[s][i] for s, i in position.items() if i < len(runs[s])]
        assert tx in heads
        best = max(heads, key=lambda h: (h.effective_tip(base_fee), -h.arrival))
        assert tx is best
        position[tx.sender] += 1


class PoolMachine(RuleBasedStateMachine):
    """Random adds, garbage, removals and mined blocks against small limits."""

    LIMITS = PoolLimits(global_slots=6, account_slots=2, global_queue=3, account_queue=2, max_nonce_gap=2)

    @initialize()
    def start(self) -> None:
        self.state = MiningChainState(make_cancun_chain())
        self.pool = TxPool(self.state, self.LIMITS)
        self.announced: set[bytes] = set()
        self.pool.subscribe(lambda tx: self.announced.add(tx.hash))

    def _offer(self, sender: keys.PrivateKey, nonce: int, fee: int, tip: int, kind: str) -> None:
        """Add one transaction and check what the pool did with it."""
        raw = sign(sender, nonce, kind=kind, fee=fee, tip=tip)
        held = {tx.hash: tx for tx in [*self.pool.pending(), *self.pool.queued()]}
        old = next(
            (tx for tx in held.values() if tx.sender == address(sender) and tx.nonce == nonce),
            None,
        )
        before = snapshot(self.pool)
        try:
            pooled = self.pool.add(raw)
        except InvalidTransaction:
            assert snapshot(self.pool) == before
            return
        assert self.pool.get(pooled.hash) is pooled
        gone = [tx for h, tx in held.items() if self.pool.get(h) is None]
        if old is not None:
            bump = 100 + self.LIMITS.price_bump_percent
            assert pooled.max_fee * 100 >= old.max_fee * bump
            assert pooled.max_priority_fee * 100 >= old.max_priority_fee * bump
            assert gone == [old]
            return
        for evicted in gone:  # only other senders' cheaper transactions make room
            assert evicted.sender != pooled.sender
            assert (evicted.max_fee, evicted.max_priority_fee) < (
                pooled.max_fee,
                pooled.max_priority_fee,
            )

    @rule(
        sender=st.sampled_from(SENDERS),
        nonce_ahead=st.integers(min_value=-1, max_value=4),
        fee_quarters=st.integers(min_value=2, max_value=16),
        tip_percent=st.integers(min_value=0, max_value=110),
        kind=st.sampled_from(KINDS),
    )
    def add(
        self,
        sender: keys.PrivateKey,
        nonce_ahead: int,
        fee_quarters: int,
        tip_percent: int,
        kind: str,
    ) -> None:
        nonce = max(0, self.state.nonce(address(sender)) + nonce_ahead)
        fee = GWEI * fee_quarters // 4
        self._offer(sender, nonce, fee, fee * tip_percent // 100, kind)

    @rule(
        sender=st.sampled_from(SENDERS),
        count=st.integers(min_value=1, max_value=4),
        fee_quarters=st.integers(min_value=4, max_value=16),
    )
    def add_run(self, sender: keys.PrivateKey, count: int, fee_quarters: int) -> None:
        first = self.pool.pending_nonce(address(sender))
        fee = GWEI * fee_quarters // 4
        for nonce in range(first, first + count):
            self._offer(sender, nonce, fee, fee // 2, "dynamic")

    @rule(data=st.binary(max_size=40), flip=st.integers(min_value=0, max_value=200))
    def add_garbage(self, data: bytes, flip: int) -> None:
        raw = bytearray(sign(ALICE, self.state.nonce(address(ALICE))))
        raw[flip % len(raw)] ^= 0x5A
        before = snapshot(self.pool)
        for candidate in (bytes(raw), data):
            try:
                self.pool.add(candidate)
            except InvalidTransaction:
                assert snapshot(self.pool) == before
            else:  # a flipped byte can still decode to a valid transaction of someone
                before = snapshot(self.pool)

    @precondition(lambda self: len(self.pool) > 0)
    @rule(pick=st.integers(min_value=0))
    def remove(self, pick: int) -> None:
        everything = [*self.pool.pending(), *self.pool.queued()]
        victim = everything[pick % len(everything)]
        assert victim in self.pool.remove([victim.hash])
        assert self.pool.get(victim.hash) is None

    @precondition(lambda self: len(self.pool) > 0)
    @rule()
    def mine(self) -> None:
        included = self.state.mine(self.pool)
        for tx in included:
            assert self.pool.get(tx.hash) is None

    @invariant()
    def pending_is_ordered_and_contiguous(self) -> None:
        if hasattr(self, "pool"):
            check_pending_order(self.pool, self.state)

    @invariant()
    def pending_and_queued_partition_the_pool(self) -> None:
        if not hasattr(self, "pool"):
            return
        pending, queued = self.pool.pending(), self.pool.queued()
        hashes = [tx.hash for tx in [*pending, *queued]]
        assert len(hashes) == len(set(hashes)) == len(self.pool)
        assert self.pool.status() == {"pending": len(pending), "queued": len(queued)}
        assert {tx.hash for tx in pending} <= self.announced
        for tx in queued:
            assert tx.nonce > self.state.nonce(tx.sender)

    @invariant()
    def limits_hold(self) -> None:
        if not hasattr(self, "pool"):
            return
        status = self.pool.status()
        assert status["pending"] <= self.LIMITS.global_slots
        assert status["queued"] <= self.LIMITS.global_queue
        for txs in self.pool.content()["queued"].values():
            assert len(txs) <= self.LIMITS.account_queue


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = PROPERTY_SETTINGS


@PROPERTY_SETTINGS
@given(
    offers=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=40),  # fee cap, tenths of a gwei above base
            st.integers(min_value=0, max_value=40),  # tip, tenths of a gwei
        ),
        min_size=1,
        max_size=6,
    )
)
def test_replacement_keeps_exactly_one_transaction_per_nonce(
    state: MiningChainState, offers: list[tuple[int, int]]
) -> None:
    pool = TxPool(state)
    base_fee = state.next_base_fee() or 0
    held: PooledTransaction | None = None
    for fee_tenths, tip_tenths in offers:
        fee = base_fee + fee_tenths * GWEI // 10
        tip = min(fee, tip_tenths * GWEI // 10)
        raw = sign(ALICE, 0, fee=fee, tip=tip)
        should_replace = held is None or (
            fee * 100 >= held.max_fee * 110 and tip * 100 >= held.max_priority_fee * 110
        )
        try:
            held_now = pool.add(raw)
        except (ReplacementUnderpriced, AlreadyKnown):
            assert not should_replace or pool.get(keccak(raw)) is not None
            continue
        assert should_replace
        held = held_now
        assert pool.pending() == [held]
    pool.clear()
