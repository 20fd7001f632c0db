"""Cheats are recorded in the chain's history: export -> replay reproduces them.

A node on a real LMDB data directory takes every kind of cheat (balance, code, storage,
nonce, a loaded state, the next block's base fee, the coinbase, an impersonated
transaction), mixed with ordinary transactions and blocks with no cheat. Its export
replays into a fresh chain with the same head (hash, state root) and the same state
dump, the replay names exactly the edited blocks, and a record that does not match its
block (or is missing) stops the replay at that block.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.errors import ExportFileError, ReplayFailed
from chain.history import edits_path, export_blocks, replay
from node.provider import InProcessNode
from tests.node.conftest import DEV_ADDRESS, REPO

STORE_AND_LOAD = "0x602035600035556000355460005260206000f3"  # SSTORE(cd[0], cd[32]); return SLOAD(cd[0])
ETHER = 10**18
WHALE = "0x00000000000000000000000000000000000000a1"
TARGET = "0x00000000000000000000000000000000000000b2"
LOADED = "0x00000000000000000000000000000000000000c3"
FEE_TAKER = "0x00000000000000000000000000000000000000d4"


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def call(node: InProcessNode, method: str, *params: Any) -> Any:
    answer = node.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def _mine(node: InProcessNode) -> int:
    call(node, "evm_mine")
    return int(call(node, "eth_blockNumber"), 16)


@pytest.fixture
def cheated(tmp_path: Path) -> Iterator[tuple[InProcessNode, dict[str, set[int]]]]:
    """A chain with every kind of cheat; returns the node and which blocks hold what."""
    node = InProcessNode.create(data_dir=tmp_path / "data")
    blocks: dict[str, set[int]] = {"edited": set(), "impersonated": set(), "plain": set()}
    try:
        call(node, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": TARGET, "value": "0x1"})
        blocks["plain"].add(int(call(node, "eth_blockNumber"), 16))
        call(node, "anvil_setBalance", WHALE, hex(5 * ETHER))
        call(node, "anvil_setCode", TARGET, STORE_AND_LOAD)
        call(node, "anvil_setStorageAt", TARGET, "0x4", _word(44))
        call(node, "anvil_setNonce", WHALE, "0x7")
        call(node, "anvil_setNextBlockBaseFeePerGas", hex(3 * 10**9))
        blocks["edited"].add(_mine(node))
        call(node, "anvil_setCoinbase", FEE_TAKER)  # in the header: no record needed
        call(node, "anvil_impersonateAccount", WHALE)
        sent = call(
            node, "eth_sendTransaction", {"from": WHALE, "to": TARGET, "data": _word(9) + _word(99)[2:]}
        )
        receipt = call(node, "eth_getTransactionReceipt", sent)
        assert receipt["status"] == "0x1"
        blocks["impersonated"].add(int(receipt["blockNumber"], 16))
        dump = json.dumps(
            {"block": {}, "accounts": {LOADED: {"balance": "0x99", "nonce": 2, "code": "0x", "storage": {}}}}
        )
        call(node, "anvil_loadState", "0x" + dump.encode().hex())
        call(
            node, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": TARGET, "data": _word(1) + _word(2)[2:]}
        )
        blocks["edited"].add(int(call(node, "eth_blockNumber"), 16))  # the edit rode in with this block
        blocks["plain"].add(_mine(node))
        yield node, blocks
    finally:
        node.close()


def test_replay_reproduces_the_head_and_names_the_edited_blocks(
    cheated: tuple[InProcessNode, dict[str, set[int]]], tmp_path: Path
) -> None:
    node, blocks = cheated
    chain = node.backend.chain
    head = chain.head
    assert int(call(node, "eth_getBlockByNumber", "latest", False)["number"], 16) == head.block_number
    fee_block = call(node, "eth_getBlockByNumber", hex(min(blocks["edited"])), False)
    assert int(fee_block["baseFeePerGas"], 16) == 3 * 10**9
    assert call(node, "eth_getBlockByNumber", "latest", False)["miner"].lower() == FEE_TAKER
    before = chain.dump_state()
    export = tmp_path / "chain.rlp"
    export_blocks(chain, export)
    assert edits_path(export).is_file()

    replayed, result = replay(export)
    try:
        assert replayed.head.hash == head.hash and replayed.head.state_root == head.state_root
        assert replayed.dump_state() == before  # preimages were recorded on import too
        named = dict(result.edited)
        assert set(named) == blocks["edited"] | blocks["impersonated"]
        assert not set(named) & blocks["plain"]
        first = "\n".join(named[min(blocks["edited"])])
        for method in ("setBalance", "setCode", "setStorageAt", "setNonce"):
            assert f"state edited outside a transaction: {method}" in first
        assert "base fee set to 3000000000 wei" in first
        assert "loadState" in "\n".join(named[max(blocks["edited"])])
        impersonated = "\n".join(named[min(blocks["impersonated"])])
        assert (
            "impersonated transaction 0x" in impersonated
            and "from 0x00000000000000000000000000000000000000A1" in impersonated
        )
        # the impersonated transaction reads back with its sender on the replayed chain
        tx_block = replayed.block(min(blocks["impersonated"]))
        assert [bytes(tx.sender).hex() for tx in tx_block.transactions] == [WHALE[2:]]
    finally:
        replayed.close()


def test_edited_blocks_import_the_same_without_the_fast_paths(
    cheated: tuple[InProcessNode, dict[str, set[int]]],
) -> None:
    from tests.conftest import assert_plain_chain_agrees

    assert_plain_chain_agrees(cheated[0].backend.chain)


def test_the_replay_command_prints_the_edited_blocks(
    cheated: tuple[InProcessNode, dict[str, set[int]]], tmp_path: Path
) -> None:
    node, blocks = cheated
    export = tmp_path / "chain.rlp"
    export_blocks(node.backend.chain, export)
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "replay", str(export), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    edited = sorted(blocks["edited"] | blocks["impersonated"])
    assert f"{len(edited)} blocks edited outside a transaction" in done.stdout
    for number in edited:
        assert f"  block {number}: " in done.stdout
    assert f"0x{node.backend.chain.head.hash.hex()}" in done.stdout


def _rewrite_records(export: Path, change: Any) -> None:
    path = edits_path(export)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(line)) + "\n" for line in lines))


def test_a_changed_edit_stops_the_replay_at_its_block(
    cheated: tuple[InProcessNode, dict[str, set[int]]], tmp_path: Path
) -> None:
    node, blocks = cheated
    export = tmp_path / "chain.rlp"
    export_blocks(node.backend.chain, export)
    first = min(blocks["edited"])

    def richer(record: dict[str, Any]) -> dict[str, Any]:
        if record["block"] == first:
            record["cheats"][0]["edits"][0]["value"] = hex(6 * ETHER)  # the whale's balance
        return record

    _rewrite_records(export, richer)
    with pytest.raises(ReplayFailed) as failed:
        replay(export)
    assert failed.value.number == first
    assert failed.value.check == "edits"


def test_an_impersonated_transaction_without_its_record_is_refused(
    cheated: tuple[InProcessNode, dict[str, set[int]]], tmp_path: Path
) -> None:
    node, blocks = cheated
    export = tmp_path / "chain.rlp"
    export_blocks(node.backend.chain, export)
    number = min(blocks["impersonated"])

    def unproven(record: dict[str, Any]) -> dict[str, Any]:
        if record["block"] == number:
            record["impersonated"] = []
        return record

    _rewrite_records(export, unproven)
    with pytest.raises(ReplayFailed) as failed:
        replay(export)
    assert failed.value.number == number
    assert failed.value.check == "impersonation"


def test_an_export_without_its_records_is_refused_before_any_block(
    cheated: tuple[InProcessNode, dict[str, set[int]]], tmp_path: Path
) -> None:
    node, blocks = cheated
    export = tmp_path / "chain.rlp"
    export_blocks(node.backend.chain, export)
    edits_path(export).unlink()
    with pytest.raises(ExportFileError, match="edited outside a transaction"):
        replay(export)


def test_a_chain_without_cheats_exports_no_records(tmp_path: Path) -> None:
    with InProcessNode.create(data_dir=tmp_path / "data") as node:
        call(node, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": TARGET, "value": "0x1"})
        export = tmp_path / "plain.rlp"
        export_blocks(node.backend.chain, export)
    assert not edits_path(export).exists()
    replayed, result = replay(export)
    replayed.close()
    assert result.edited == () and result.imported == 1


def test_a_forked_chain_can_dump_the_state_it_starts_from(tmp_path: Path) -> None:
    from chain.chain import Chain
    from chain.history import fork_chain

    with InProcessNode.create(data_dir=tmp_path / "data") as node:
        call(node, "anvil_setCode", TARGET, STORE_AND_LOAD)
        call(
            node, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": TARGET, "data": _word(5) + _word(6)[2:]}
        )
        expected = node.backend.chain.dump_state()
    fork_chain(tmp_path / "data", "latest", tmp_path / "fork")
    forked = Chain.open(data_dir=tmp_path / "fork")
    try:
        assert forked.dump_state() == expected
        stored = {a.address.hex(): a.storage for a in expected}
        assert stored[TARGET[2:]] == {5: 6}
    finally:
        forked.close()
