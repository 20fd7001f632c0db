"""One transaction never halts the chain: EIP-3860 at admission and in the EVM, typed
rejections at block building, drops that are remembered, and a property test that
admits adversarial transactions and checks that blocks keep coming."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth.abc import SignedTransactionAPI
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chain.vm
from chain.chain import Chain
from chain.config import FORKS, ChainConfig
from chain.errors import (
    BlockGasExhausted,
    FeeCapTooLow,
    GasLimitExceeded,
    InitcodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidBlock,
    InvalidTransaction,
    NonceGap,
    NotApplicable,
    StoreWriteFailed,
)
from chain.journal import StoreJournal
from chain.mempool import DroppedTransaction
from chain.producer import BlockProducer
from chain.vm import INITCODE_WORD_GAS, MAX_INITCODE_SIZE

from .conftest import Sender, open_chain, pool_of

GWEI = 10**9
CREATE_GAS = 53_000  # base gas of a contract creation transaction
ZERO_BYTE_GAS = 4  # calldata gas per zero byte
SHANGHAI_ON = FORKS[FORKS.index("shanghai") :]
PRAGUE_ON = FORKS[FORKS.index("prague") :]
TX_BASE_GAS = 21_000
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623: gas per calldata token (a zero byte is one token)
BEFORE_SHANGHAI = FORKS[: FORKS.index("shanghai")]
# initcode: REVERT(0, 0)
REVERTING_INITCODE = bytes.fromhex("60006000fd")
# initcode: JUMPDEST; PUSH1 0; JUMP -- loops until out of gas
LOOPING_INITCODE = bytes.fromhex("5b600056")


def creation_gas(size: int, fork: str) -> int:
    """The least gas a creation with ``size`` zero bytes of initcode needs on ``fork``: its
    intrinsic gas, and from Prague on at least EIP-7623's calldata floor (21,000 + 10 gas
    per zero byte), which a large all-zero initcode reaches."""
    words = -(-size // 32)
    intrinsic = CREATE_GAS + ZERO_BYTE_GAS * size + (INITCODE_WORD_GAS * words if fork in SHANGHAI_ON else 0)
    floor = TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * size if fork in PRAGUE_ON else 0
    return max(intrinsic, floor)


@pytest.fixture
def on_fork(make_chain: Callable[..., Chain], fork: str) -> Chain:
    return make_chain("memory", fork=fork, genesis_timestamp=1_700_000_000)


# --- EIP-3860 on every fork -------------------------------------------------------------


def test_initcode_over_the_limit_is_refused_at_admission_from_shanghai_on(on_fork: Chain) -> None:
    sender = Sender(on_fork)
    fork = on_fork.config.fork
    raw = sender.raw(data=bytes(MAX_INITCODE_SIZE + 1), gas=creation_gas(MAX_INITCODE_SIZE + 1, fork))
    if fork in SHANGHAI_ON:
        with pytest.raises(InitcodeTooLarge, match="^max initcode size exceeded") as refused:
            pool_of(on_fork).add(raw)
        assert (refused.value.size, refused.value.limit) == (MAX_INITCODE_SIZE + 1, MAX_INITCODE_SIZE)
        assert len(pool_of(on_fork)) == 0
    else:
        pool_of(on_fork).add(raw)  # no initcode limit before Shanghai
        [built] = BlockProducer(on_fork, pool=pool_of(on_fork), mode="manual").mine()
        assert len(built.block.transactions) == 1 and built.rejected == []


def test_initcode_at_the_limit_is_mined_on_every_fork(on_fork: Chain) -> None:
    sender = Sender(on_fork)
    fork = on_fork.config.fork
    gas = creation_gas(MAX_INITCODE_SIZE, fork)
    pool_of(on_fork).add(sender.raw(data=bytes(MAX_INITCODE_SIZE), gas=gas))
    [built] = BlockProducer(on_fork, pool=pool_of(on_fork), mode="manual").mine()
    [receipt] = on_fork.receipts(built.block.header)
    # the initcode is all STOPs: it costs exactly its intrinsic gas, words included (on
    # Prague the calldata floor, which 48 KiB of zeros is above)
    assert receipt.status == 1 and receipt.gas_used == gas


def test_creation_that_cannot_pay_its_initcode_words_is_invalid_from_shanghai_on(on_fork: Chain) -> None:
    sender = Sender(on_fork)
    fork = on_fork.config.fork
    size = 1024
    short = creation_gas(size, "petersburg")  # covers everything but the initcode words
    raw = sender.raw(data=bytes(size), gas=short)
    if fork in SHANGHAI_ON:
        with pytest.raises(IntrinsicGasTooLow, match=f"at least {creation_gas(size, fork)} gas"):
            pool_of(on_fork).add(raw)
        # and a block builder handed it directly leaves it out, typed, instead of mining a failure
        built = on_fork.build_block([on_fork.decode_transaction(raw)])
        assert len(built.block.transactions) == 0
        assert [type(e) for _tx, e in built.rejected] == [IntrinsicGasTooLow]
    else:
        pool_of(on_fork).add(raw)
        [built] = BlockProducer(on_fork, pool=pool_of(on_fork), mode="manual").mine()
        assert on_fork.receipts(built.block.header)[0].status == 1


@pytest.mark.parametrize("fork", SHANGHAI_ON)
def test_a_block_holding_oversized_initcode_is_refused_at_import(
    make_chain: Callable[..., Chain], fork: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealed where the rule was off (a chain built before this fix), imported where it is on."""
    source = make_chain("memory", fork=fork, genesis_timestamp=1_700_000_000)
    target = make_chain("memory", fork=fork, genesis_timestamp=1_700_000_000)
    raw = Sender(source).raw(data=bytes(MAX_INITCODE_SIZE + 1), gas=5_000_000)
    with monkeypatch.context() as patch:
        _without_initcode_rules(patch, source)
        patch.setattr(
            "eth.vm.forks.shanghai.computation.ShanghaiComputation.validate_create_message",
            classmethod(lambda cls, message: None),
        )
        built = source.build_block([source.decode_transaction(raw)])
    assert len(built.block.transactions) == 1
    with pytest.raises(InvalidBlock, match="max initcode size exceeded"):
        target.import_block(built.block)
    assert target.head.block_number == 0


# --- the block builder leaves out what cannot apply -------------------------------------


def _without_initcode_rules(patch: pytest.MonkeyPatch, ledger: Chain) -> None:
    """Turn off sumchain's own EIP-3860 checks, leaving py-evm's alone (as before the fix)."""
    patch.setattr(ledger, "max_initcode_size", lambda: None)
    patch.setattr(ledger, "intrinsic_gas", lambda tx: tx.intrinsic_gas)
    patch.setattr(
        chain.vm._InitcodeRulesMixin,
        "validate_transaction",
        lambda self, tx: super(chain.vm._InitcodeRulesMixin, self).validate_transaction(tx),
    )


def test_a_transaction_failing_inside_the_evm_is_dropped_and_the_block_is_still_built(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With sumchain's initcode checks off, py-evm raises OutOfGas from outside the
    computation, halfway through the transaction (the original chain halt)."""
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    poisoner, honest = Sender(chain, 1), Sender(chain, 2)
    _without_initcode_rules(monkeypatch, chain)
    poison = pool_of(chain).add(poisoner.raw(data=bytes(MAX_INITCODE_SIZE + 1), gas=5_000_000))
    later = pool_of(chain).add(poisoner.raw(to=honest.address, value=1, gas=21_000))
    good = pool_of(chain).add(honest.raw(to=poisoner.address, value=1, gas=21_000))
    [built] = producer.mine()
    assert [tx.hash for tx in built.block.transactions] == [good.hash]
    [(_tx, error)] = built.rejected
    assert isinstance(error, NotApplicable) and error.cause == "OutOfGas"
    record = pool_of(chain).dropped(poison.hash)
    assert record is not None and record.kind == "NotApplicable" and record.block_number == 1
    assert chain.receipt(poison.hash) is None
    # the sender's later transaction waits for the missing nonce; production goes on
    assert [tx.hash for tx in pool_of(chain).queued()] == [later.hash]
    producer.mine(3)
    assert chain.head.block_number == 4


def test_a_sender_left_out_of_a_full_block_keeps_its_later_transactions(
    make_chain: Callable[..., Chain],
) -> None:
    ledger = make_chain("memory", gas_limit=100_000, genesis_timestamp=1_700_000_000)
    producer = BlockProducer(ledger, pool=pool_of(ledger), mode="manual")
    big, small = Sender(ledger, 1), Sender(ledger, 2)
    pool_of(ledger).add(
        small.raw(
            to=big.address,
            value=1,
            data=b"\x01" * 3700,
            gas=90_000,
            maxFeePerGas=100 * GWEI,
            maxPriorityFeePerGas=50 * GWEI,
        )
    )
    first = pool_of(ledger).add(big.raw(to=small.address, value=1, gas=30_000))
    second = pool_of(ledger).add(big.raw(to=small.address, value=1, gas=21_000))
    [built] = producer.mine()
    assert [type(e) for _tx, e in built.rejected] == [BlockGasExhausted]
    assert len(built.block.transactions) == 1 and len(pool_of(ledger)) == 2  # nothing dropped
    producer.mine()
    assert ledger.receipt(first.hash) is not None and ledger.receipt(second.hash) is not None


def test_a_transaction_another_one_made_unaffordable_is_dropped_with_its_reason(
    make_chain: Callable[..., Chain],
) -> None:
    poor_key = keccak(b"poor sender")
    poor_address = Account.from_key(poor_key).address
    ledger = make_chain("memory", alloc={poor_address: 10**18}, genesis_timestamp=1_700_000_000)
    producer = BlockProducer(ledger, pool=pool_of(ledger), mode="manual")
    fee = 10 * GWEI * 21_000

    def send(nonce: int, value: int) -> bytes:
        return bytes(
            Account.sign_transaction(
                {
                    "nonce": nonce,
                    "gas": 21_000,
                    "to": ledger.config.dev_accounts[0][0],
                    "value": value,
                    "chainId": ledger.config.chain_id,
                    "maxFeePerGas": 10 * GWEI,
                    "maxPriorityFeePerGas": GWEI,
                },
                poor_key,
            ).raw_transaction
        )

    spends = pool_of(ledger).add(send(0, 10**18 - fee))
    starved = pool_of(ledger).add(send(1, 10**17))  # affordable alone, not after the first
    [built] = producer.mine()
    assert [tx.hash for tx in built.block.transactions] == [spends.hash]
    record = pool_of(ledger).dropped(starved.hash)
    assert isinstance(record, DroppedTransaction) and isinstance(record.error, InsufficientFunds)
    assert len(pool_of(ledger)) == 0 and ledger.receipt(starved.hash) is None


def test_a_fee_cap_below_a_risen_base_fee_waits_in_the_pool(make_chain: Callable[..., Chain]) -> None:
    ledger = make_chain("memory", gas_limit=100_000, genesis_timestamp=1_700_000_000)
    producer = BlockProducer(ledger, pool=pool_of(ledger), mode="manual")
    filler, waiter = Sender(ledger, 1), Sender(ledger, 2)
    base_fee = ledger.next_base_fee()
    assert base_fee is not None
    waiting = pool_of(ledger).add(
        waiter.raw(to=filler.address, value=1, gas=21_000, maxFeePerGas=base_fee, maxPriorityFeePerGas=0)
    )
    # a block more than half full (the target) raises the next base fee
    built = ledger.build_block([filler.tx(to=waiter.address, data=b"\x01" * 3700, gas=90_000)])
    risen = ledger.next_base_fee()
    assert risen is not None and risen > base_fee and len(built.block.transactions) == 1
    [built] = producer.mine()
    assert [type(e) for _tx, e in built.rejected] == [FeeCapTooLow] and waiting.hash in pool_of(ledger)
    for _ in range(10):  # empty blocks bring the base fee back down
        producer.mine()
    assert ledger.receipt(waiting.hash) is not None


# --- restarts and rewinds ------------------------------------------------------------------


def test_a_poison_transaction_in_the_journal_is_dropped_at_restart(
    make_chain: Callable[..., Chain], tmp_path: Path
) -> None:
    """A pool journal written before the fix holds the oversized creation."""
    ledger = make_chain("lmdb", genesis_timestamp=1_700_000_000)
    data_dir = ledger.data_dir
    raw = Sender(ledger).raw(data=bytes(MAX_INITCODE_SIZE + 1), gas=5_000_000)
    StoreJournal(ledger.store).add(keccak(raw), raw)
    ledger.close()
    reopened = open_chain(data_dir=data_dir, sync=False)
    try:
        record = pool_of(reopened).dropped(keccak(raw))
        assert record is not None and isinstance(record.error, InitcodeTooLarge)
        assert len(pool_of(reopened)) == 0
        BlockProducer(reopened, pool=pool_of(reopened), mode="manual").mine(2)
        assert reopened.head.block_number == 2
    finally:
        reopened.close()
    again = open_chain(data_dir=data_dir, sync=False)
    try:
        assert StoreJournal(again.store).load() == []  # not resurrected a second time
    finally:
        again.close()


def test_production_goes_on_after_revert_and_rewind_with_a_poison_transaction(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poison is let in as an older sumchain did; every way back in time still mines."""
    producer = BlockProducer(chain, pool=pool_of(chain), mode="manual")
    poisoner, honest = Sender(chain, 1), Sender(chain, 2)
    snapshot = producer.snapshot()
    _without_initcode_rules(monkeypatch, chain)
    poison_raw = poisoner.raw(data=bytes(MAX_INITCODE_SIZE + 1), gas=5_000_000)
    poison = pool_of(chain).add(poison_raw)
    mined = pool_of(chain).add(honest.raw(to=poisoner.address, value=1, gas=21_000))
    producer.mine()
    assert chain.receipt(mined.hash) is not None and poison.hash not in pool_of(chain)
    pool_of(chain).add(poison_raw)  # back again, as from an old journal
    producer.revert(snapshot)  # evm_revert
    assert chain.head.block_number == 0
    producer.mine(2)
    assert chain.head.block_number == 2 and poison.hash not in pool_of(chain)
    pool_of(chain).add(poison_raw)
    chain.set_head(0, reinject=True)  # debug_setHead / rewind, the dropped blocks' txs back
    producer.mine(2)
    assert chain.head.block_number == 2 and poison.hash not in pool_of(chain)
    assert pool_of(chain).dropped(poison.hash) is not None


# --- the property: blocks keep coming -----------------------------------------------------

POOR_KEY = keccak(b"property poor sender")
POOR_ADDRESS = Account.from_key(POOR_KEY).address
POOR_FUNDS = 10**16  # wei
PROPERTY_GAS_LIMIT = 2_000_000  # small, so blocks fill and the base fee rises
KINDS = (
    "transfer",
    "huge_calldata",
    "reverting_create",
    "looping_create",
    "oversized_initcode",
    "initcode_words_unpaid",
    "gas_above_block_limit",
    "spend_all",
    "nonce_gap",
    "low_fee_cap",
    "foreign_poison",
    "mine",
)
#: Kinds whose admitted transactions must all be mined in the end.
MUST_BE_MINED = {"transfer", "huge_calldata", "reverting_create", "looping_create", "low_fee_cap"}


class Adversary:
    """Sends the property test's transactions; remembers what each admitted one was."""

    def __init__(self, ledger: Chain) -> None:
        self.ledger = ledger
        self.accounts = {
            name: ledger.config.dev_accounts[i]
            for i, name in enumerate(("honest", "creator", "gapper", "lowfee", "poisoner"), start=1)
        }
        self.accounts["poor"] = (POOR_ADDRESS, POOR_KEY)
        self.admitted: dict[bytes, str] = {}  # tx hash -> kind
        self.refused: list[tuple[str, InvalidTransaction]] = []
        self.gaps = 0  # gapped transactions sent so far

    def sign(self, who: str, nonce_offset: int = 0, fee_cap: int | None = None, **tx: object) -> bytes:
        address, key = self.accounts[who]
        ledger = self.ledger
        nonce = pool_of(ledger).pending_nonce(bytes.fromhex(address[2:])) + nonce_offset
        fields: dict[str, object] = {
            "nonce": nonce,
            "value": 0,
            "data": b"",
            "chainId": ledger.config.chain_id,
            **tx,
        }
        if ledger.config.fork_at_least("london"):
            fields.update(maxFeePerGas=fee_cap or 1000 * GWEI, maxPriorityFeePerGas=0 if fee_cap else GWEI)
        else:
            fields["gasPrice"] = fee_cap or 10 * GWEI
        return bytes(Account.sign_transaction(fields, key).raw_transaction)

    def raw_for(self, kind: str) -> list[bytes]:
        to = self.ledger.config.dev_accounts[0][0]
        if kind == "transfer":
            return [self.sign("honest", to=to, value=1, gas=21_000)]
        if kind == "huge_calldata":
            return [self.sign("creator", to=to, data=bytes(100_000), gas=21_000 + 4 * 100_000)]
        if kind == "reverting_create":
            return [self.sign("creator", data=REVERTING_INITCODE, gas=100_000)]
        if kind == "looping_create":
            return [self.sign("creator", data=LOOPING_INITCODE, gas=100_000)]
        if kind == "oversized_initcode":
            return [self.sign("poisoner", data=bytes(MAX_INITCODE_SIZE + 1), gas=1_500_000)]
        if kind == "initcode_words_unpaid":
            return [self.sign("poisoner", data=bytes(4096), gas=creation_gas(4096, "petersburg"))]
        if kind == "gas_above_block_limit":
            return [self.sign("honest", to=to, gas=PROPERTY_GAS_LIMIT + 1)]
        if kind == "spend_all":
            balance = self.ledger.balance(bytes.fromhex(POOR_ADDRESS[2:]))
            fee = 21_000 * (1000 * GWEI if self.ledger.config.fork_at_least("london") else 10 * GWEI)
            if balance <= 2 * fee:
                return []
            return [
                self.sign("poor", to=to, value=balance - fee, gas=21_000),
                self.sign("poor", nonce_offset=1, to=to, value=1, gas=21_000),
            ]
        if kind == "nonce_gap":
            self.gaps += 1
            return [self.sign("gapper", nonce_offset=2 + self.gaps, to=to, value=1, gas=21_000)]
        if kind == "low_fee_cap":
            return [self.sign("lowfee", fee_cap=self.ledger.next_base_fee() or GWEI, to=to, gas=21_000)]
        raise AssertionError(kind)

    def send(self, kind: str) -> None:
        for raw in self.raw_for(kind):
            try:
                pooled = pool_of(self.ledger).add(raw)
            except InvalidTransaction as error:
                self.refused.append((kind, error))
            else:
                self.admitted[pooled.hash] = kind

    def foreign_poisons(self) -> list[SignedTransactionAPI]:
        """Transactions no admission would take, handed straight to the block builder."""
        ledger = self.ledger
        to = ledger.config.dev_accounts[0][0]
        raws = [
            self.sign("poisoner", to=to, gas=PROPERTY_GAS_LIMIT + 1),
            self.sign("poisoner", nonce_offset=1000, to=to, gas=21_000),
            self.sign("poisoner", chainId=ledger.config.chain_id + 1, to=to, gas=21_000),
        ]
        if ledger.config.fork_at_least("shanghai"):
            raws.append(self.sign("poisoner", data=bytes(MAX_INITCODE_SIZE + 1), gas=1_500_000))
        return [ledger.decode_transaction(raw) for raw in raws]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fork=st.sampled_from(FORKS), actions=st.lists(st.sampled_from(KINDS), min_size=1, max_size=20))
def test_adversarial_transactions_never_stop_block_production(fork: str, actions: list[str]) -> None:
    ledger = open_chain(
        ChainConfig(
            fork=fork,
            gas_limit=PROPERTY_GAS_LIMIT,
            genesis_timestamp=1_700_000_000,
            alloc={POOR_ADDRESS: POOR_FUNDS},
        )
    )
    try:
        producer = BlockProducer(ledger, pool=pool_of(ledger), mode="manual")
        adversary = Adversary(ledger)
        for kind in actions:
            head = ledger.head.block_number
            if kind == "mine":
                producer.mine()
            elif kind == "foreign_poison":
                pending = [p.tx for p in pool_of(ledger).pending()]
                poisons = adversary.foreign_poisons()
                built = ledger.build_block([*poisons, *pending])
                assert not set(built.block.transactions) & set(poisons)
            else:
                adversary.send(kind)
            assert ledger.head.block_number == head + (kind in ("mine", "foreign_poison"))
        for _ in range(40):  # drain: blocks keep coming until nothing executable is left
            if not pool_of(ledger).pending():
                break
            producer.mine()
        assert not pool_of(ledger).pending()
        for tx_hash, kind in adversary.admitted.items():
            mined = ledger.receipt(tx_hash) is not None
            if kind in MUST_BE_MINED:
                assert mined, (kind, pool_of(ledger).dropped(tx_hash))
            elif not mined:  # left the pool with a reason, or waits for its missing nonce
                queued = {p.hash for p in pool_of(ledger).queued()}
                assert pool_of(ledger).dropped(tx_hash) is not None or tx_hash in queued, kind
        for kind, error in adversary.refused:
            expected = {
                "oversized_initcode": InitcodeTooLarge,
                "gas_above_block_limit": GasLimitExceeded,
                "initcode_words_unpaid": IntrinsicGasTooLow,
                "nonce_gap": NonceGap,
            }.get(kind)
            assert expected is None or isinstance(error, expected), (kind, error)
        if fork in SHANGHAI_ON:
            assert "oversized_initcode" not in adversary.admitted.values()
    finally:
        ledger.close()


# --- a full disk -------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB file system (tmpfs), so the disk really fills; root only."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _fill(directory: Path) -> Path:
    """Write a file until the file system has no space left; return it."""
    filler = directory / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_refuses_writes_logs_once_and_loses_nothing(
    tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tiny_disk / "data"
    ledger = open_chain(ChainConfig(genesis_timestamp=1_700_000_000), data_dir=data_dir, sync=True)
    producer = BlockProducer(ledger, pool=pool_of(ledger), mode="manual")
    sender = Sender(ledger)
    to = ledger.config.dev_accounts[2][0]
    acknowledged: list[bytes] = []
    failures: list[StoreWriteFailed] = []
    filler = _fill(tiny_disk)
    with open(filler, "r+b") as handle:  # room for a few blocks, so the disk fills mid-way
        handle.truncate(filler.stat().st_size - 256 * 1024)
    mine_failures = 0
    caplog.set_level(logging.WARNING, logger="chain.store")
    try:
        for _ in range(300):
            head = ledger.head.block_number
            for _ in range(4):  # a few small journal writes, then one bigger block write
                try:
                    pooled = pool_of(ledger).add(
                        sender.raw(
                            nonce=pool_of(ledger).pending_nonce(sender.canonical), to=to, value=1, gas=21_000
                        )
                    )
                except StoreWriteFailed as exc:
                    failures.append(exc)  # refused, so not acknowledged: the pool did not change
                    assert len(pool_of(ledger)) == len([h for h in acknowledged if ledger.receipt(h) is None])
                else:
                    acknowledged.append(pooled.hash)
            waiting = {p.hash for p in pool_of(ledger).pending()}
            try:
                producer.mine()
            except StoreWriteFailed as exc:
                failures.append(exc)
                mine_failures += 1
                assert ledger.head.block_number == head  # the failed block left nothing behind
                assert {p.hash for p in pool_of(ledger).pending()} == waiting  # its transactions still wait
            if mine_failures >= 3 and len(failures) >= 20:
                break
        print(
            "FAILS",
            len(failures),
            mine_failures,
            "acked",
            len(acknowledged),
            "mined",
            ledger.head.block_number,
        )
        assert mine_failures >= 3 and len(failures) >= 20 and all(f.disk_full for f in failures)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "chain.store"]
        assert len(errors) == 1 and "the disk is full" in errors[0].getMessage()  # once a minute
        assert ledger.balance(sender.canonical) > 0  # reads keep working
        head = ledger.head.block_number
        filler.unlink()  # space again: the next block takes every waiting transaction
        producer.mine()
        assert ledger.head.block_number == head + 1 and len(pool_of(ledger)) == 0
        assert any("succeed again" in r.getMessage() for r in caplog.records)
        assert all(ledger.receipt(h) is not None for h in acknowledged)
    finally:
        ledger.close()
    reopened = open_chain(data_dir=data_dir, sync=False)
    try:
        assert all(reopened.receipt(h) is not None for h in acknowledged)
    finally:
        reopened.close()
