"""The dev controls give the same answers on sumchain as on anvil 1.7.1.

Both nodes are started by the test (a `sumchain devnet` subprocess and anvil from
node_modules, each on a free loopback port, both Cancun with anvil's dev accounts) and
driven over HTTP JSON-RPC with the same requests: setBalance, setCode, setStorageAt,
setNonce, impersonation (named, stopped and automatic), and a state dumped by each one
loaded into the other. Every cheat's answer and every read after it must be equal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.errors import NodeFailed
from bench.nodes import NodeProcess, start_anvil, start_devnet
from bench.tools import ToolMissing
from tests.node.conftest import DEV_ADDRESS

pytestmark = pytest.mark.xdist_group("anvil-parity-dev")

# runtime: SSTORE(CALLDATALOAD(0), CALLDATALOAD(32)); return SLOAD(CALLDATALOAD(0))
STORE_AND_LOAD = "0x602035600035556000355460005260206000f3"
# creation code: SSTORE(7, 42), then deploy STORE_AND_LOAD
RUNTIME_BYTES = bytes.fromhex(STORE_AND_LOAD[2:])
CREATE_WITH_STORAGE = (
    "0x602a600755"
    + f"60{len(RUNTIME_BYTES):02x}601160003960{len(RUNTIME_BYTES):02x}6000f3"
    + RUNTIME_BYTES.hex()
)
ETHER = 10**18
RECEIPT_S = 10.0  # seconds a node may take to mine an automined transaction


def receipt_of(node: NodeProcess, tx_hash: str) -> dict[str, Any]:
    """The transaction's receipt, waiting for the node's automine to seal it."""
    deadline = time.monotonic() + RECEIPT_S
    while True:
        receipt = node.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        assert time.monotonic() < deadline, f"{node.name}: no receipt for {tx_hash}"
        time.sleep(0.05)


def _address(tag: int) -> str:
    return "0x" + f"{tag:040x}"


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


class Pair:
    """sumchain and anvil side by side: one request to both, both answers."""

    def __init__(self, sumchain: NodeProcess, anvil: NodeProcess) -> None:
        self.sumchain = sumchain
        self.anvil = anvil

    def both(self, method: str, *params: Any) -> tuple[Any, Any]:
        return self.sumchain.rpc(method, params), self.anvil.rpc(method, params)

    def same(self, method: str, *params: Any) -> Any:
        """The answer both give; fails the test when they differ."""
        ours, theirs = self.both(method, *params)
        assert ours == theirs, f"{method}{params}: sumchain {ours!r}, anvil {theirs!r}"
        return ours

    def receipt(self, node: NodeProcess, tx_hash: str) -> dict[str, Any]:
        return receipt_of(node, tx_hash)


def _start_pair() -> tuple[NodeProcess, NodeProcess]:
    try:
        anvil = start_anvil(fork="cancun", needed_by="the anvil parity test")
    except ToolMissing as exc:
        pytest.fail(f"{exc} (`make node_modules/.installed` installs anvil)")
    try:
        sumchain = start_devnet()
    except NodeFailed:
        anvil.stop()
        raise
    return sumchain, anvil


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    sumchain, anvil = _start_pair()
    try:
        yield Pair(sumchain, anvil)
    finally:
        sumchain.stop()
        anvil.stop()


@pytest.fixture
def fresh_pair() -> Iterator[Pair]:
    """Nodes of their own, for a test that replaces a whole state."""
    sumchain, anvil = _start_pair()
    try:
        yield Pair(sumchain, anvil)
    finally:
        sumchain.stop()
        anvil.stop()


def test_both_nodes_start_with_the_same_dev_account(pair: Pair) -> None:
    assert pair.same("eth_chainId") == "0x7a69"
    assert pair.same("eth_accounts")[0].lower() == DEV_ADDRESS.lower()


def test_set_balance_is_read_back_at_latest_and_after_a_block(pair: Pair) -> None:
    account = _address(0x51)
    for wei in (12345, 10**30, 0, 2**256 - 1):
        assert pair.same("anvil_setBalance", account, hex(wei)) is None
        assert int(pair.same("eth_getBalance", account, "latest"), 16) == wei
    assert pair.same("hardhat_setBalance", account, hex(7 * ETHER)) is None
    pair.both("evm_mine")
    assert int(pair.same("eth_getBalance", account, "latest"), 16) == 7 * ETHER


def test_set_code_runs_in_calls_and_transactions(pair: Pair) -> None:
    contract = _address(0x52)
    assert pair.same("anvil_setCode", contract, STORE_AND_LOAD) is None
    assert pair.same("eth_getCode", contract, "latest") == STORE_AND_LOAD
    call = {"to": contract, "data": _word(3) + _word(99)[2:]}
    assert pair.same("eth_call", call, "latest") == _word(99)
    ours, theirs = pair.both("eth_sendTransaction", {"from": DEV_ADDRESS, **call, "gas": hex(100_000)})
    assert pair.receipt(pair.sumchain, ours)["status"] == pair.receipt(pair.anvil, theirs)["status"] == "0x1"
    assert pair.same("eth_getStorageAt", contract, "0x3", "latest") == _word(99)
    assert pair.same("hardhat_setCode", contract, "0x") is None
    assert pair.same("eth_getCode", contract, "latest") == "0x"


def test_set_storage_at_is_seen_by_reads_and_by_code(pair: Pair) -> None:
    contract = _address(0x53)
    pair.same("anvil_setCode", contract, STORE_AND_LOAD)
    assert pair.same("anvil_setStorageAt", contract, "0x5", _word(2**255 + 1)) is True
    assert pair.same("eth_getStorageAt", contract, "0x5", "latest") == _word(2**255 + 1)
    read = {"to": contract, "data": _word(5) + _word(2**255 + 1)[2:]}  # writes the same value back
    assert pair.same("eth_call", read, "latest") == _word(2**255 + 1)
    assert pair.same("hardhat_setStorageAt", contract, _word(5), _word(0)) is True
    assert pair.same("eth_getStorageAt", contract, "0x5", "latest") == _word(0)


def test_set_nonce_sets_the_next_transaction_and_creation_address(pair: Pair) -> None:
    sender = _address(0x54)
    pair.same("anvil_setBalance", sender, hex(ETHER))
    assert pair.same("anvil_setNonce", sender, "0x2a") is None
    assert pair.same("eth_getTransactionCount", sender, "latest") == "0x2a"
    pair.same("anvil_impersonateAccount", sender)
    ours, theirs = pair.both("eth_sendTransaction", {"from": sender, "data": CREATE_WITH_STORAGE})
    ours_receipt, theirs_receipt = pair.receipt(pair.sumchain, ours), pair.receipt(pair.anvil, theirs)
    assert ours_receipt["status"] == theirs_receipt["status"] == "0x1"
    assert ours_receipt["contractAddress"] == theirs_receipt["contractAddress"]
    assert pair.same("eth_getTransactionCount", sender, "latest") == "0x2b"
    created = ours_receipt["contractAddress"]
    assert pair.same("eth_getStorageAt", created, "0x7", "latest") == _word(42)
    pair.same("hardhat_setNonce", sender, "0x64")
    assert pair.same("eth_getTransactionCount", sender, "latest") == "0x64"


def test_impersonated_account_sends_until_stopped(pair: Pair) -> None:
    whale, receiver = _address(0x55), _address(0x56)
    pair.same("anvil_setBalance", whale, hex(10 * ETHER))
    assert pair.same("anvil_impersonateAccount", whale) is None
    ours, theirs = pair.both("eth_sendTransaction", {"from": whale, "to": receiver, "value": hex(ETHER)})
    for node, tx_hash in ((pair.sumchain, ours), (pair.anvil, theirs)):
        receipt = pair.receipt(node, tx_hash)
        assert receipt["status"] == "0x1" and receipt["from"].lower() == whale
        tx = node.rpc("eth_getTransactionByHash", [tx_hash])
        assert tx["from"].lower() == whale and int(tx["value"], 16) == ETHER
    assert int(pair.same("eth_getBalance", receiver, "latest"), 16) == ETHER
    assert pair.same("anvil_stopImpersonatingAccount", whale) is None
    for node in (pair.sumchain, pair.anvil):
        with pytest.raises(NodeFailed):
            node.rpc("eth_sendTransaction", [{"from": whale, "to": receiver, "value": "0x1"}])
    assert pair.same("hardhat_impersonateAccount", whale) is None
    ours, theirs = pair.both("eth_sendTransaction", {"from": whale, "to": receiver, "value": "0x1"})
    assert pair.receipt(pair.sumchain, ours)["status"] == pair.receipt(pair.anvil, theirs)["status"] == "0x1"
    pair.same("hardhat_stopImpersonatingAccount", whale)


def test_auto_impersonation_lets_any_account_send(pair: Pair) -> None:
    anyone, receiver = _address(0x57), _address(0x58)
    pair.same("anvil_setBalance", anyone, hex(ETHER))
    assert pair.same("anvil_autoImpersonateAccount", True) is None
    try:
        ours, theirs = pair.both("eth_sendTransaction", {"from": anyone, "to": receiver, "value": "0x2"})
        assert (
            pair.receipt(pair.sumchain, ours)["status"] == pair.receipt(pair.anvil, theirs)["status"] == "0x1"
        )
    finally:
        pair.same("anvil_autoImpersonateAccount", False)
    for node in (pair.sumchain, pair.anvil):
        with pytest.raises(NodeFailed):
            node.rpc("eth_sendTransaction", [{"from": anyone, "to": receiver, "value": "0x1"}])
    assert int(pair.same("eth_getBalance", receiver, "latest"), 16) == 2


def _build_state(node: NodeProcess) -> dict[str, str]:
    """Accounts made by cheats and by transactions (a creation whose constructor and a
    later call write storage): what a dump must carry. Returns name -> address."""
    cheat, sender = _address(0x61), _address(0x62)
    node.rpc("anvil_setBalance", [cheat, hex(3 * ETHER)])
    node.rpc("anvil_setNonce", [cheat, "0x9"])
    node.rpc("anvil_setCode", [cheat, STORE_AND_LOAD])
    node.rpc("anvil_setStorageAt", [cheat, "0x1", _word(11)])
    node.rpc("anvil_setBalance", [sender, hex(ETHER)])
    node.rpc("anvil_impersonateAccount", [sender])
    created = receipt_of(
        node, node.rpc("eth_sendTransaction", [{"from": sender, "data": CREATE_WITH_STORAGE}])
    )
    contract = created["contractAddress"]
    call = node.rpc(
        "eth_sendTransaction", [{"from": sender, "to": contract, "data": _word(8) + _word(77)[2:]}]
    )
    assert receipt_of(node, call)["status"] == "0x1"
    return {"cheat": cheat, "sender": sender, "contract": contract}


def _account(node: NodeProcess, address: str, slots: tuple[int, ...]) -> dict[str, Any]:
    return {
        "balance": node.rpc("eth_getBalance", [address, "latest"]),
        "nonce": node.rpc("eth_getTransactionCount", [address, "latest"]),
        "code": node.rpc("eth_getCode", [address, "latest"]),
        "storage": [node.rpc("eth_getStorageAt", [address, hex(s), "latest"]) for s in slots],
    }


SLOTS = (1, 7, 8)


@pytest.mark.parametrize("direction", ["sumchain to anvil", "anvil to sumchain"])
def test_a_dumped_state_loads_into_the_other_node(fresh_pair: Pair, direction: str) -> None:
    source, target = (
        (fresh_pair.sumchain, fresh_pair.anvil)
        if direction == "sumchain to anvil"
        else (fresh_pair.anvil, fresh_pair.sumchain)
    )
    accounts = _build_state(source)
    expected = {name: _account(source, address, SLOTS) for name, address in accounts.items()}
    assert expected["contract"]["storage"] == [_word(0), _word(42), _word(77)]
    assert expected["cheat"]["storage"][0] == _word(11)
    dump = source.rpc("anvil_dumpState")
    assert dump.startswith("0x1f8b")  # gzip, as anvil writes it
    assert target.rpc("anvil_loadState", [dump]) is True
    got = {name: _account(target, address, SLOTS) for name, address in accounts.items()}
    assert got == expected
    # and the loaded state is live: the loaded contract runs in a new transaction
    target.rpc("anvil_impersonateAccount", [accounts["sender"]])
    write = {"from": accounts["sender"], "to": accounts["contract"], "data": _word(9) + _word(5)[2:]}
    receipt = receipt_of(target, target.rpc("eth_sendTransaction", [write]))
    assert receipt["status"] == "0x1"
    assert target.rpc("eth_getStorageAt", [accounts["contract"], "0x9", "latest"]) == _word(5)


def test_the_next_base_fee_is_the_mined_blocks(pair: Pair) -> None:
    assert pair.same("anvil_setNextBlockBaseFeePerGas", hex(5 * 10**9)) is None
    pair.both("evm_mine")
    latest = [block["baseFeePerGas"] for block in pair.both("eth_getBlockByNumber", "latest", False)]
    assert latest[0] == latest[1] == hex(5 * 10**9)


def test_the_coinbase_is_the_blocks_miner_and_takes_the_tip(pair: Pair) -> None:
    coinbase = _address(0x59)
    assert pair.same("anvil_setCoinbase", coinbase) is None
    tip = 3 * 10**9
    transfer = {
        "from": DEV_ADDRESS,
        "to": _address(0x5A),
        "gas": hex(21_000),
        "maxPriorityFeePerGas": hex(tip),
        "maxFeePerGas": hex(100 * 10**9),
    }
    ours, theirs = pair.both("eth_sendTransaction", transfer)
    for node, tx_hash in ((pair.sumchain, ours), (pair.anvil, theirs)):
        block = node.rpc("eth_getBlockByHash", [receipt_of(node, tx_hash)["blockHash"], False])
        assert block["miner"].lower() == coinbase
    assert int(pair.same("eth_getBalance", coinbase, "latest"), 16) == 21_000 * tip


def test_reset_goes_back_to_a_fresh_genesis_state(fresh_pair: Pair) -> None:
    account = _address(0x5B)
    fresh_pair.same("anvil_setBalance", account, hex(ETHER))
    fresh_pair.both("eth_sendTransaction", {"from": DEV_ADDRESS, "to": account, "value": "0x1"})
    assert fresh_pair.same("anvil_reset") is None
    assert fresh_pair.same("eth_blockNumber") == "0x0"
    assert fresh_pair.same("eth_getBalance", account, "latest") == "0x0"
    assert fresh_pair.same("eth_getBalance", DEV_ADDRESS, "latest") == hex(10_000 * ETHER)
    assert fresh_pair.same("eth_getTransactionCount", DEV_ADDRESS, "latest") == "0x0"
