"""The chain: building, importing, archive reads, lookups, calls and heads."""

from __future__ import annotations

import pytest
from eth._utils.address import generate_contract_address
from eth_utils import to_checksum_address

from chain import consensus
from chain.chain import Chain
from chain.config import ChainConfig
from chain.errors import DataDirError, InvalidBlock, UnauthorizedSigner, UnknownBlock

from .conftest import LOGGER_RUNTIME, REVERTER_RUNTIME, TOPIC, Sender, init_code


def test_every_fork_builds_seals_and_imports_a_block(make_chain, fork: str) -> None:
    producer = make_chain(fork=fork, genesis_timestamp=1_700_000_000)
    follower = make_chain(fork=fork, genesis_timestamp=1_700_000_000)
    assert follower.genesis.hash == producer.genesis.hash
    alice = Sender(producer)
    built = producer.build_block(
        [alice.tx(to=producer.config.dev_accounts[2][0], value=5), alice.tx(data=init_code(LOGGER_RUNTIME))]
    )
    assert built.rejected == []
    header = built.block.header
    assert consensus.recover_signer(header) == producer.signer
    assert header.difficulty == consensus.DIFF_IN_TURN
    follower.import_block(built.block)
    assert follower.head.hash == header.hash
    assert follower.state_at().get_code(generate_contract_address(alice.canonical, 1)) == LOGGER_RUNTIME


def test_state_of_every_block_stays_readable(chain: Chain, sender: Sender) -> None:
    target = bytes.fromhex(chain.config.dev_accounts[3][0][2:])
    before = chain.balance(target)
    for value in (1, 2, 3, 4):
        chain.build_block([sender.tx(to=chain.config.dev_accounts[3][0], value=value)])
    for number, expected in enumerate((0, 1, 3, 6, 10)):
        assert chain.state_at(chain.header(number)).get_balance(target) == before + expected


def test_receipts_logs_and_transaction_lookups(chain: Chain, sender: Sender) -> None:
    deploy = sender.tx(data=init_code(LOGGER_RUNTIME))
    chain.build_block([deploy])
    contract = generate_contract_address(sender.canonical, 0)
    address = to_checksum_address(contract)
    call = sender.tx(to=address, data=(7).to_bytes(32, "big"))
    chain.build_block([call])
    receipt = chain.receipt(call.hash)
    assert receipt is not None and receipt.status == 1
    assert receipt.header.block_number == 2 and receipt.index == 0
    assert receipt.logs[0].topics == (TOPIC,) and receipt.logs[0].address == contract
    assert chain.receipt(deploy.hash).contract_address == contract
    assert chain.state_at().get_storage(contract, 0) == 7
    tx, header, index = chain.transaction(call.hash)
    assert (tx.hash, header.block_number, index) == (call.hash, 2, 0)
    assert [log.block_number for log in chain.logs(0, 10, [contract], [TOPIC])] == [2]
    assert chain.logs(0, 10, [contract], [bytes(32)]) == []
    assert chain.receipt(b"\x01" * 32) is None


def test_call_returns_revert_data_and_estimate_matches_execution(chain: Chain, sender: Sender) -> None:
    chain.build_block(
        [sender.tx(data=init_code(REVERTER_RUNTIME)), sender.tx(data=init_code(LOGGER_RUNTIME))]
    )
    reverter = generate_contract_address(sender.canonical, 0)
    logger = generate_contract_address(sender.canonical, 1)
    result = chain.call({"from": sender.canonical, "to": reverter, "data": b""})
    assert result.reverted and result.revert_data == bytes.fromhex("dead")
    request = {"from": sender.canonical, "to": logger, "data": (9).to_bytes(32, "big")}
    estimate = chain.estimate_gas(request)
    tx = sender.tx(to=to_checksum_address(logger), data=(9).to_bytes(32, "big"), gas=estimate)
    chain.build_block([tx])
    assert chain.receipt(tx.hash).status == 1
    # one gas less than the estimate fails
    assert chain.call({**request, "gas": estimate - 1}, chain.header(1)).reverted


def test_call_with_state_overrides_sees_the_override(chain: Chain) -> None:
    code_address = b"\x42" * 20
    runtime = bytes.fromhex("60005460005260206000f3")  # return SLOAD(0)
    overrides = {code_address: {"code": runtime, "stateDiff": {bytes(32): (5).to_bytes(32, "big")}}}
    result = chain.call({"to": code_address}, None, overrides)
    assert int.from_bytes(result.output, "big") == 5
    assert chain.state_at().get_code(code_address) == b""


def test_unknown_blocks_are_refused_by_number_hash_and_tag(chain: Chain) -> None:
    with pytest.raises(UnknownBlock, match="no block with number 99"):
        chain.header(99)
    with pytest.raises(UnknownBlock):
        chain.header(b"\x01" * 32)
    with pytest.raises(UnknownBlock):
        chain.resolve("soon")
    assert chain.resolve("earliest").block_number == 0
    assert chain.resolve("finalized").hash == chain.head.hash


def test_set_head_rewinds_and_the_chain_continues_from_there(chain: Chain, sender: Sender) -> None:
    txs = [sender.tx(to=chain.config.dev_accounts[2][0], value=1) for _ in range(3)]
    for tx in txs:
        chain.build_block([tx])
    old_three = chain.head
    dropped = chain.set_head(1)
    assert [b.number for b in dropped] == [3, 2]
    assert chain.head.block_number == 1
    assert chain.transaction(txs[2].hash) is None and chain.transaction(txs[0].hash) is not None
    assert chain.nonce(sender.canonical) == 1
    chain.build_block([txs[1]])
    assert chain.head.block_number == 2
    # the dropped block stays in the archive and can become the head again
    chain.set_head(old_three.hash)
    assert chain.head.hash == old_three.hash
    assert chain.transaction(txs[2].hash)[1].block_number == 3


def test_a_node_without_an_authorised_key_cannot_seal(make_chain) -> None:
    other = ChainConfig().dev_accounts[5]
    chain = Chain.open(ChainConfig(authorities=(ChainConfig().dev_accounts[4][0],)), signer_key=other[1])
    with pytest.raises(UnauthorizedSigner):
        chain.build_block([])


def test_several_authorities_take_turns_and_refuse_sealing_too_often() -> None:
    accounts = ChainConfig().dev_accounts[:3]
    config = ChainConfig(authorities=tuple(a for a, _ in accounts), genesis_timestamp=1_700_000_000)
    nodes = {address: Chain.open(config, signer_key=key) for address, key in accounts}
    first = next(iter(nodes.values()))
    signers = ["0x" + s.hex() for s in first.snapshots.snapshot(first.head).signers]
    for number in range(1, 7):
        in_turn = signers[number % 3]
        producer_chain = {a.lower(): c for a, c in nodes.items()}[in_turn.lower()]
        built = producer_chain.build_block([])
        assert built.block.header.difficulty == consensus.DIFF_IN_TURN
        for chain in nodes.values():
            if chain is not producer_chain:
                chain.import_block(built.block)
    # the signer of the head may not seal the next block (floor(3/2) = 1 recent block)
    last = {a.lower(): c for a, c in nodes.items()}[signers[6 % 3].lower()]
    with pytest.raises(InvalidBlock, match="sealed one of the last"):
        last.build_block([])


def test_reopening_a_data_directory_continues_the_same_chain(tmp_path) -> None:
    data = tmp_path / "node"
    chain = Chain.open(ChainConfig(), data_dir=data, sync=False)
    sender = Sender(chain)
    chain.build_block([sender.tx(to=chain.config.dev_accounts[2][0], value=1)])
    head = chain.head
    chain.close()
    again = Chain.open(ChainConfig(), data_dir=data, sync=False)
    assert again.head == head
    assert again.nonce(sender.canonical) == 1
    again.build_block([])
    assert again.head.block_number == 2
    again.close()


def test_a_data_directory_in_use_is_refused(tmp_path) -> None:
    chain = Chain.open(ChainConfig(), data_dir=tmp_path / "d", sync=False)
    with pytest.raises(DataDirError, match="in use by another sumchain process"):
        Chain.open(ChainConfig(), data_dir=tmp_path / "d", sync=False)
    chain.close()


def test_a_foreign_non_empty_directory_is_never_written(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match="not empty and holds no sumchain store"):
        Chain.open(ChainConfig(), data_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_damaged_store_gives_one_clear_error(tmp_path) -> None:
    data = tmp_path / "d"
    Chain.open(ChainConfig(), data_dir=data, sync=False).close()
    (data / "chain.lmdb" / "data.mdb").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataDirError):
        Chain.open(ChainConfig(), data_dir=data)


def test_a_changed_chain_id_is_refused_for_an_existing_directory(tmp_path) -> None:
    Chain.open(ChainConfig(), data_dir=tmp_path / "d", sync=False).close()
    with pytest.raises(DataDirError, match="created with chain_id = 31337"):
        Chain.open(ChainConfig(chain_id=5), data_dir=tmp_path / "d")


def test_a_store_from_another_format_version_is_refused_and_left_alone(tmp_path) -> None:
    import json

    from chain.store import TABLE_META, Store

    data = tmp_path / "d"
    Chain.open(ChainConfig(), data_dir=data, sync=False).close()
    store = Store.open(data, sync=False)
    meta = json.loads(store.backend.get(TABLE_META, b"meta"))
    store.backend.write({TABLE_META: {b"meta": json.dumps({**meta, "format": 99}).encode()}})
    store.close()
    before = (data / "chain.lmdb" / "data.mdb").read_bytes()
    with pytest.raises(DataDirError, match="format version 99"):
        Chain.open(ChainConfig(), data_dir=data)
    assert (data / "chain.lmdb" / "data.mdb").read_bytes() == before


def test_a_call_with_less_than_intrinsic_gas_is_refused_clearly(chain: Chain) -> None:
    from chain.errors import IntrinsicGasTooLow

    with pytest.raises(IntrinsicGasTooLow, match="needs at least 21000 gas, it was given 100"):
        chain.call({"to": b"\x01" * 20, "gas": 100})
