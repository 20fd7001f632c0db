"""Prague on sumchain: sealed and re-imported blocks, EIP-7702 set-code transactions (pool
rules as geth's, delegation in the EVM), EIP-7623's calldata floor, EIP-2935's block-hash
history and the BLS12-381 precompiles (EIP-2537), each on a real chain.

The same transactions on anvil and EDR are in ``tests/chain/test_prague_references.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_keys import keys
from py_ecc.optimized_bls12_381 import G1, G2, add, multiply, neg, normalize

from chain.chain import Chain
from chain.config import FORKS, ChainConfig
from chain.errors import (
    AuthorityReserved,
    DelegatedAccountLimit,
    FloorDataGasTooLow,
    IntrinsicGasTooLow,
    InvalidSetCode,
    UnsupportedTransactionType,
)
from chain.history import export_blocks, replay
from chain.producer import BlockProducer
from chain.vm import EVM_VERSIONS, delegation_target, floor_data_gas, system_contracts

from .conftest import Sender, init_code, pool_of

CHAIN_ID = 31337
GWEI = 10**9
FEES = {"maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI}
TX_BASE_GAS = 21_000
HISTORY = "0x0000F90827F1C53a10cb7A02335B175320002935"  # EIP-2935's history contract
EMPTY_SHA256 = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
# runtime: MSTORE(0, 42); RETURN(0, 32) -- what a delegated account runs
ANSWER_RUNTIME = bytes.fromhex("602a60005260206000f3")
# runtime: SSTORE(0, CALLER); STOP -- writes the delegated account's own storage
RECORD_CALLER_RUNTIME = bytes.fromhex("3360005500")
BLS_G1ADD = "0x000000000000000000000000000000000000000b"


@pytest.fixture
def prague(make_chain: Callable[..., Chain]) -> Chain:
    return make_chain("memory", fork="prague", genesis_timestamp=1_700_000_000)


def _mine(chain: Chain, *raws: bytes) -> Any:
    pool = pool_of(chain)
    for raw in raws:
        pool.add(raw)
    [built] = BlockProducer(chain, pool=pool, mode="manual").mine()
    return built


def _deploy(chain: Chain, runtime: bytes) -> str:
    built = _mine(chain, Sender(chain, 0).raw(data=init_code(runtime), **FEES))
    [receipt] = chain.receipts(built.block.header)
    assert receipt.status == 1 and receipt.contract_address
    return "0x" + receipt.contract_address.hex()


def _authorize(key: bytes, target: str, nonce: int, chain_id: int = CHAIN_ID) -> Any:
    return Account.sign_authorization({"chainId": chain_id, "address": target, "nonce": nonce}, key)


def _set_code_raw(sender: Sender, to: str, authorizations: list[Any], gas: int = 200_000) -> bytes:
    tx = {
        "type": 4,
        "chainId": CHAIN_ID,
        "nonce": sender.nonce,
        "gas": gas,
        "to": to,
        "value": 0,
        "data": b"",
        "authorizationList": authorizations,
        **FEES,
    }
    sender.nonce += 1
    return bytes(Account.sign_transaction(tx, sender.key).raw_transaction)


def _py_evm_set_code_raw(chain: Chain, sender: Sender, to: bytes, authorizations: list[Any]) -> bytes:
    """A set-code transaction eth-account would refuse to sign (no authorization, no ``to``)."""
    builder: Any = chain.vm_class.get_transaction_builder()
    unsigned = builder.new_unsigned_set_code_transaction(
        chain_id=CHAIN_ID,
        nonce=sender.nonce,
        max_priority_fee_per_gas=GWEI,
        max_fee_per_gas=10 * GWEI,
        gas=200_000,
        to=to,
        value=0,
        data=b"",
        access_list=[],
        authorization_list=authorizations,
    )
    return bytes(unsigned.as_signed_transaction(keys.PrivateKey(sender.key)).encode())


# --- the fork -------------------------------------------------------------------------------


def test_prague_is_the_newest_fork_of_the_list() -> None:
    assert FORKS[-1] == "prague"
    assert ChainConfig(fork="prague").fork_at_least("cancun")


def test_prague_blocks_are_sealed_carry_the_requests_hash_and_replay(prague: Chain, tmp_path: Any) -> None:
    sender = Sender(prague)
    _mine(prague, sender.raw(to=prague.config.dev_accounts[2][0], value=1))
    _mine(prague)
    head = prague.head
    assert type(head).__name__ == "PragueBlockHeader"
    assert head.requests_hash == EMPTY_SHA256  # no deposit, withdrawal or consolidation requests
    assert prague.block(head).header.extra_data[-65:] != bytes(65)  # Clique's seal
    # export -> replay re-executes every block, checking seals and roots
    path = tmp_path / "prague.rlp"
    export_blocks(prague, path)
    replayed, _result = replay(path)
    try:
        assert replayed.head.hash == head.hash
    finally:
        replayed.close()


def test_history_contract_is_at_genesis_from_prague_on_only(make_chain: Callable[..., Chain]) -> None:
    for fork in ("cancun", "prague"):
        chain = make_chain("memory", fork=fork)
        code = chain.state_at().get_code(bytes.fromhex(HISTORY[2:]))
        assert code == system_contracts(fork).get(bytes.fromhex(HISTORY[2:]), b"")
    assert system_contracts("prague") and not system_contracts("cancun")


def test_prague_runs_the_cancun_artifacts() -> None:
    assert EVM_VERSIONS["prague"] == "cancun"


@pytest.mark.slow
def test_solc_emits_the_same_code_for_prague_as_for_cancun() -> None:
    from vm_contracts import build

    fresh = build.compile_sets([("prague", True)])[("prague", True)]
    for name, artifact in fresh.items():
        committed = build.load_artifact(name, "cancun", optimized=True)
        assert artifact["bytecode"] == committed["bytecode"], name
        assert artifact["deployedBytecode"] == committed["deployedBytecode"], name


# --- EIP-7702: set-code transactions --------------------------------------------------------


def test_set_code_transaction_delegates_the_authority_to_the_target(prague: Chain) -> None:
    target = _deploy(prague, ANSWER_RUNTIME)
    sponsor, authority = Sender(prague, 0), Sender(prague, 1)
    auth = _authorize(authority.key, target, nonce=authority.nonce)
    built = _mine(prague, _set_code_raw(sponsor, authority.address, [auth]))
    [receipt] = prague.receipts(built.block.header)
    assert receipt.status == 1 and built.block.transactions[0].type_id == 4
    code = prague.state_at().get_code(authority.canonical)
    assert delegation_target(code) == bytes.fromhex(target[2:])
    assert prague.nonce(authority.canonical) == 1  # the authorization bumped its nonce
    answer = prague.call({"to": authority.canonical, "data": b""})
    assert int.from_bytes(answer.output, "big") == 42  # calling the account runs the target


def test_self_sponsored_authorization_uses_the_nonce_after_the_transactions_own(prague: Chain) -> None:
    target = _deploy(prague, RECORD_CALLER_RUNTIME)
    me = Sender(prague, 3)
    auth = _authorize(me.key, target, nonce=me.nonce + 1)  # the sender's nonce is bumped first
    built = _mine(prague, _set_code_raw(me, me.address, [auth]))
    assert prague.receipts(built.block.header)[0].status == 1
    assert delegation_target(prague.state_at().get_code(me.canonical)) is not None
    # the call ran the delegated code in the account's own storage
    assert prague.state_at().get_storage(me.canonical, 0) == int(me.address, 16)


def test_authorizations_for_another_chain_or_a_stale_nonce_are_skipped_not_refused(prague: Chain) -> None:
    target = _deploy(prague, ANSWER_RUNTIME)
    sponsor, other_chain, stale = Sender(prague, 0), Sender(prague, 1), Sender(prague, 2)
    auths = [_authorize(other_chain.key, target, 0, chain_id=1), _authorize(stale.key, target, 5)]
    built = _mine(prague, _set_code_raw(sponsor, sponsor.address, auths))
    assert prague.receipts(built.block.header)[0].status == 1  # mined: bad tuples are skipped
    for skipped in (other_chain, stale):
        assert prague.state_at().get_code(skipped.canonical) == b""
        assert prague.nonce(skipped.canonical) == 0


def test_chain_id_zero_authorization_is_valid_on_any_chain(prague: Chain) -> None:
    target = _deploy(prague, ANSWER_RUNTIME)
    sponsor, authority = Sender(prague, 0), Sender(prague, 4)
    _mine(prague, _set_code_raw(sponsor, sponsor.address, [_authorize(authority.key, target, 0, chain_id=0)]))
    assert delegation_target(prague.state_at().get_code(authority.canonical)) == bytes.fromhex(target[2:])


def test_set_code_transactions_need_prague(make_chain: Callable[..., Chain]) -> None:
    cancun = make_chain("memory", fork="cancun")
    sender = Sender(cancun, 0)
    raw = _set_code_raw(sender, sender.address, [_authorize(Sender(cancun, 1).key, sender.address, 0)])
    with pytest.raises(UnsupportedTransactionType, match="type 4 is not supported on cancun"):
        pool_of(cancun).add(raw)


def test_set_code_transaction_without_authorizations_is_refused(prague: Chain) -> None:
    sender = Sender(prague, 0)
    raw = _py_evm_set_code_raw(prague, sender, bytes.fromhex(sender.address[2:]), [])
    with pytest.raises(InvalidSetCode, match="^EIP-7702 transaction with empty auth list$") as refused:
        pool_of(prague).add(raw)
    assert refused.value.rule == "empty_authorizations" and len(pool_of(prague)) == 0


def test_set_code_transaction_may_not_create_a_contract(prague: Chain) -> None:
    sender = Sender(prague, 0)
    signed = _authorize(Sender(prague, 1).key, sender.address, 0)
    auth = {
        "chain_id": signed.chain_id,
        "address": bytes(signed.address),
        "nonce": signed.nonce,
        "y_parity": signed.y_parity,
        "r": signed.r,
        "s": signed.s,
    }
    raw = _py_evm_set_code_raw(prague, sender, b"", [auth])
    with pytest.raises(InvalidSetCode, match="cannot be used to create contract") as refused:
        pool_of(prague).add(raw)
    assert refused.value.rule == "creation"


def test_delegated_account_may_have_one_transaction_in_flight(prague: Chain) -> None:
    target = _deploy(prague, ANSWER_RUNTIME)
    sponsor, delegated = Sender(prague, 0), Sender(prague, 5)
    _mine(prague, _set_code_raw(sponsor, sponsor.address, [_authorize(delegated.key, target, 0)]))
    delegated.nonce = prague.nonce(delegated.canonical)
    pool = pool_of(prague)
    with pytest.raises(DelegatedAccountLimit, match="^gapped-nonce tx from delegated accounts") as gapped:
        pool.add(delegated.raw(to=sponsor.address, nonce=delegated.nonce + 1, **FEES))
    assert gapped.value.rule == "gapped_nonce"
    first = pool.add(delegated.raw(to=sponsor.address, **FEES))
    with pytest.raises(DelegatedAccountLimit, match="^in-flight transaction limit reached") as second:
        pool.add(delegated.raw(to=sponsor.address, **FEES))
    assert second.value.rule == "in_flight" and second.value.sender == delegated.canonical
    # a replacement of the one in flight is still accepted (with the price bump)
    bumped = {"maxFeePerGas": 20 * GWEI, "maxPriorityFeePerGas": 2 * GWEI}
    replacement = pool.add(delegated.raw(to=sponsor.address, nonce=first.nonce, **bumped))
    assert pool.get(replacement.hash) is not None and pool.get(first.hash) is None


def test_pooled_authorization_limits_its_authority_too(prague: Chain) -> None:
    target = _deploy(prague, ANSWER_RUNTIME)
    sponsor, authority = Sender(prague, 0), Sender(prague, 6)
    pool = pool_of(prague)
    pool.add(_set_code_raw(sponsor, sponsor.address, [_authorize(authority.key, target, 1)]))
    pool.add(authority.raw(to=sponsor.address, **FEES))  # its one transaction in flight
    with pytest.raises(DelegatedAccountLimit, match="in-flight"):
        pool.add(authority.raw(to=sponsor.address, **FEES))


def test_authority_with_two_pooled_transactions_cannot_be_authorized(prague: Chain) -> None:
    target = _deploy(prague, ANSWER_RUNTIME)
    sponsor, busy = Sender(prague, 0), Sender(prague, 7)
    pool = pool_of(prague)
    pool.add(busy.raw(to=sponsor.address, **FEES))
    pool.add(busy.raw(to=sponsor.address, **FEES))
    with pytest.raises(AuthorityReserved, match="^authority already reserved") as refused:
        pool.add(_set_code_raw(sponsor, sponsor.address, [_authorize(busy.key, target, 2)]))
    assert refused.value.authority == busy.canonical
    assert len(pool) == 2


# --- EIP-7623: the calldata floor -----------------------------------------------------------


def test_calldata_heavy_transaction_pays_the_floor_from_prague_on(make_chain: Callable[..., Chain]) -> None:
    data = bytes(range(1, 201)) * 5  # 1,000 non-zero bytes: 4,000 tokens
    used = {}
    for fork in ("cancun", "prague"):
        chain = make_chain("memory", fork=fork)
        sender = Sender(chain, 0)
        built = _mine(chain, sender.raw(to=chain.config.dev_accounts[1][0], data=data, gas=100_000, **FEES))
        used[fork] = chain.receipts(built.block.header)[0].gas_used
    assert used["cancun"] == TX_BASE_GAS + 16 * 1_000  # EIP-2028's calldata price
    assert used["prague"] == TX_BASE_GAS + 10 * 4_000  # the floor: 10 gas per token
    unsigned = {"to": HISTORY, "data": data, "gas": 70_000, "nonce": 0, "chainId": 1, **FEES}
    raw = Account.sign_transaction(unsigned, b"\1" * 32).raw_transaction
    decoded = make_chain("memory", fork="prague").decode_transaction(raw)
    assert floor_data_gas("prague", decoded) == 61_000 and floor_data_gas("cancun", decoded) == 0


def test_gas_limit_below_the_floor_is_refused_by_pool_builder_and_calls(prague: Chain) -> None:
    data = b"\xff" * 1_000
    sender = Sender(prague, 0)
    raw = sender.raw(to=prague.config.dev_accounts[1][0], data=data, gas=60_000, **FEES)  # floor 61,000
    with pytest.raises(
        FloorDataGasTooLow,
        match="^insufficient gas for floor data gas cost: gas 60000, minimum needed 61000$",
    ) as refused:
        pool_of(prague).add(raw)
    assert isinstance(refused.value, IntrinsicGasTooLow) and refused.value.floor == 61_000
    built = prague.build_block([prague.decode_transaction(raw)])
    assert len(built.block.transactions) == 0
    assert [type(e) for _tx, e in built.rejected] == [FloorDataGasTooLow]
    request = {
        "from": sender.canonical,
        "to": bytes.fromhex(prague.config.dev_accounts[1][0][2:]),
        "data": data,
    }
    with pytest.raises(FloorDataGasTooLow):
        prague.call({**request, "gas": 60_000})
    assert prague.estimate_gas(request) == 61_000  # the estimate covers the floor


# --- EIP-2935: block hashes in state ----------------------------------------------------------


def test_history_contract_serves_the_parent_hashes(prague: Chain) -> None:
    for _ in range(4):
        _mine(prague)
    history = bytes.fromhex(HISTORY[2:])
    for number in range(4):
        result = prague.call({"to": history, "data": number.to_bytes(32, "big")})
        assert not result.reverted and result.output == prague.header(number).hash
    for beyond in (6, 2**64):  # the future is not served
        assert prague.call({"to": history, "data": beyond.to_bytes(32, "big")}).reverted
    assert prague.call({"to": history, "data": b"\1"}).reverted  # the input is one 32-byte number


# --- EIP-2537: BLS12-381 precompiles ----------------------------------------------------------


def _g1_bytes(point: Any) -> bytes:
    x, y = normalize(point)
    return int(x).to_bytes(64, "big") + int(y).to_bytes(64, "big")


def test_bls12_g1_add_gives_py_ecc_sum_from_prague_on(make_chain: Callable[..., Chain]) -> None:
    two_g, three_g = multiply(G1, 2), multiply(G1, 3)
    request = {"to": bytes.fromhex(BLS_G1ADD[2:]), "data": _g1_bytes(G1) + _g1_bytes(two_g)}
    prague = make_chain("memory", fork="prague")
    result = prague.call(request)
    assert not result.reverted and result.output == _g1_bytes(three_g) == _g1_bytes(add(G1, two_g))
    cancun = make_chain("memory", fork="cancun")
    assert cancun.call(request).output == b""  # no precompile there: an empty account


def test_bls12_pairing_check_accepts_a_product_equal_to_one(prague: Chain) -> None:
    def g2_bytes(point: Any) -> bytes:
        x, y = normalize(point)
        return b"".join(int(c).to_bytes(64, "big") for c in (*x.coeffs, *y.coeffs))

    pairing = bytes.fromhex("0f".rjust(40, "0"))
    data = _g1_bytes(G1) + g2_bytes(G2) + _g1_bytes(neg(G1)) + g2_bytes(G2)  # e(G1, G2) * e(-G1, G2)
    result = prague.call({"to": pairing, "data": data})
    assert not result.reverted and result.output == (1).to_bytes(32, "big")
