"""Dev controls (evm_/anvil_/hardhat_), the pool namespace and debug_ methods, on the
in-process provider: the same dispatcher as the server, without HTTP."""

from __future__ import annotations

import time

import pytest
from web3 import Web3

from chain.config import ChainConfig
from node.provider import InProcessNode, SumchainProvider
from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS


def rpc(node: InProcessNode, method: str, *params):  # type: ignore[no-untyped-def]
    answer = node.provider.make_request(method, list(params))
    assert "error" not in answer, answer
    return answer["result"]


def send(node: InProcessNode, value: int = 1) -> str:
    return rpc(node, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": hex(value)})


def test_in_process_web3_sees_a_fresh_funded_chain(in_process) -> None:
    w3 = in_process.w3
    assert w3.is_connected()
    assert w3.eth.chain_id == 31337 and w3.eth.block_number == 0
    assert w3.eth.accounts[0] == DEV_ADDRESS
    assert w3.eth.get_balance(DEV_ADDRESS) == 10_000 * 10**18


def test_in_process_node_takes_a_config() -> None:
    with InProcessNode.create(config=ChainConfig(chain_id=1337, accounts=2)) as node:
        assert node.w3.eth.chain_id == 1337
        assert len(node.w3.eth.accounts) == 2
        assert isinstance(node.w3.provider, SumchainProvider)


def test_manual_mining_holds_transactions_in_the_pool(in_process) -> None:
    assert rpc(in_process, "evm_setAutomine", False) is True
    assert rpc(in_process, "anvil_getAutomine") is False
    tx_hash = send(in_process)
    assert rpc(in_process, "txpool_status") == {"pending": "0x1", "queued": "0x0"}
    content = rpc(in_process, "txpool_content")
    assert content["pending"][DEV_ADDRESS.lower()]["0"]["hash"] == tx_hash
    inspect = rpc(in_process, "txpool_inspect")
    assert "1 wei + 21000 gas" in inspect["pending"][DEV_ADDRESS.lower()]["0"]
    assert rpc(in_process, "eth_getTransactionByHash", tx_hash)["blockHash"] is None
    assert rpc(in_process, "eth_getTransactionReceipt", tx_hash) is None
    assert rpc(in_process, "eth_getTransactionCount", DEV_ADDRESS, "pending") == "0x1"
    assert rpc(in_process, "eth_getTransactionCount", DEV_ADDRESS, "latest") == "0x0"
    assert rpc(in_process, "evm_mine") == "0x0"
    assert rpc(in_process, "eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
    assert rpc(in_process, "txpool_status") == {"pending": "0x0", "queued": "0x0"}


def test_anvil_and_hardhat_mine_make_many_blocks(in_process) -> None:
    rpc(in_process, "anvil_mine", "0x3")
    rpc(in_process, "hardhat_mine", 2)
    assert rpc(in_process, "eth_blockNumber") == "0x5"
    rpc(in_process, "anvil_mine", 3, 100)
    blocks = [rpc(in_process, "eth_getBlockByNumber", hex(n), False) for n in (6, 7, 8)]
    stamps = [int(b["timestamp"], 16) for b in blocks]
    assert stamps[1] - stamps[0] >= 100 and stamps[2] - stamps[1] >= 100


def test_clock_controls_set_block_timestamps(in_process) -> None:
    now = int(time.time())
    rpc(in_process, "evm_setNextBlockTimestamp", now + 10_000)
    rpc(in_process, "evm_mine")
    assert int(rpc(in_process, "eth_getBlockByNumber", "latest", False)["timestamp"], 16) == now + 10_000
    rpc(in_process, "evm_increaseTime", 3600)
    rpc(in_process, "evm_mine")
    assert int(rpc(in_process, "eth_getBlockByNumber", "latest", False)["timestamp"], 16) >= now + 13_600
    rpc(in_process, "evm_mine", now + 50_000)
    assert int(rpc(in_process, "eth_getBlockByNumber", "latest", False)["timestamp"], 16) == now + 50_000
    error = in_process.provider.make_request("evm_setNextBlockTimestamp", [1])["error"]
    assert error["code"] == -32000 and "not after" in error["message"]


def test_snapshot_revert_restores_state_and_ids_stay_valid(in_process) -> None:
    w3 = in_process.w3
    snapshot = rpc(in_process, "evm_snapshot")
    balance = w3.eth.get_balance(OTHER_ADDRESS)
    send(in_process, 10**18)
    assert w3.eth.get_balance(OTHER_ADDRESS) == balance + 10**18
    assert rpc(in_process, "evm_revert", snapshot) is True
    assert w3.eth.get_balance(OTHER_ADDRESS) == balance and w3.eth.block_number == 0
    send(in_process, 5)
    assert rpc(in_process, "evm_revert", snapshot) is True  # the id is still valid
    assert w3.eth.block_number == 0
    assert rpc(in_process, "evm_revert", "0x99") is False


def test_debug_set_head_and_raw_data(in_process) -> None:
    tx_hash = send(in_process)
    send(in_process)
    raw_block = rpc(in_process, "debug_getRawBlock", "0x1")
    raw_tx = rpc(in_process, "debug_getRawTransaction", tx_hash)
    assert Web3.keccak(hexstr=raw_tx).hex() == tx_hash[2:]
    assert raw_tx[2:] in raw_block
    receipts = rpc(in_process, "debug_getRawReceipts", "0x1")
    assert len(receipts) == 1 and receipts[0].startswith("0x02")  # a typed (dynamic fee) receipt
    header = rpc(in_process, "debug_getRawHeader", "0x1")
    assert (
        Web3.keccak(hexstr=header).hex() == rpc(in_process, "eth_getBlockByNumber", "0x1", False)["hash"][2:]
    )
    assert rpc(in_process, "debug_setHead", "0x1") is None
    assert rpc(in_process, "eth_blockNumber") == "0x1"
    assert rpc(in_process, "eth_getBlockByNumber", "0x2", False) is None


def test_interval_mining_seals_empty_blocks_on_its_own(in_process) -> None:
    rpc(in_process, "evm_setIntervalMining", 1000)
    deadline = time.monotonic() + 10
    while rpc(in_process, "eth_blockNumber") == "0x0" and time.monotonic() < deadline:
        time.sleep(0.1)
    rpc(in_process, "evm_setIntervalMining", 0)
    assert rpc(in_process, "eth_blockNumber") != "0x0"


def test_log_filters_follow_a_revert(in_process) -> None:
    filter_id = rpc(in_process, "eth_newBlockFilter")
    snapshot = rpc(in_process, "evm_snapshot")
    send(in_process)
    assert len(rpc(in_process, "eth_getFilterChanges", filter_id)) == 1
    rpc(in_process, "evm_revert", snapshot)
    assert rpc(in_process, "eth_getFilterChanges", filter_id) == []
    logs_filter = rpc(in_process, "eth_newFilter", {"fromBlock": "0x5"})
    assert rpc(in_process, "eth_getFilterChanges", logs_filter) == []


@pytest.mark.parametrize("tag", ["earliest", "latest", "pending", "safe", "finalized"])
def test_every_tag_reads_state_in_process(in_process, tag) -> None:
    assert int(rpc(in_process, "eth_getBalance", DEV_ADDRESS, tag), 16) == 10_000 * 10**18


def test_provider_wraps_an_open_chain() -> None:
    from chain.chain import Chain
    from node.provider import poa_web3

    chain = Chain.open(ChainConfig(chain_id=99))
    provider = SumchainProvider(chain)
    w3 = poa_web3(provider)
    try:
        tx_hash = w3.eth.send_transaction({"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 3})
        assert w3.eth.get_transaction_receipt(tx_hash).status == 1
        assert w3.eth.chain_id == 99
        assert SumchainProvider(provider.dispatcher.backend).dispatcher is provider.dispatcher
    finally:
        provider.dispatcher.run_sync(chain.close)
        provider.dispatcher.close()


def test_get_proof_verifies_against_the_state_root(in_process, check_result) -> None:
    import rlp
    from eth.rlp.accounts import Account as AccountRlp
    from eth_utils import keccak
    from trie import HexaryTrie

    send(in_process, 77)
    proof = rpc(in_process, "eth_getProof", OTHER_ADDRESS, ["0x0"], "latest")
    check_result("eth_getProof", proof)
    root = bytes.fromhex(rpc(in_process, "eth_getBlockByNumber", "latest", False)["stateRoot"][2:])
    nodes = [rlp.decode(bytes.fromhex(node[2:])) for node in proof["accountProof"]]
    encoded = HexaryTrie.get_from_proof(root, keccak(bytes.fromhex(OTHER_ADDRESS[2:])), nodes)
    account = rlp.decode(encoded, sedes=AccountRlp)
    assert account.balance == int(proof["balance"], 16) == 10_000 * 10**18 + 77
    assert proof["storageProof"][0]["value"] == "0x0"


@pytest.mark.parametrize("fork", ["petersburg", "berlin", "london", "shanghai", "cancun"])
def test_transactions_blocks_and_receipts_match_the_spec_on_every_fork(fork, check_result) -> None:
    with InProcessNode.create(config=ChainConfig(fork=fork)) as node:
        tx_hash = send(node, 9)
        block = rpc(node, "eth_getBlockByNumber", "latest", True)
        check_result("eth_getBlockByNumber", block)
        check_result("eth_getTransactionByHash", rpc(node, "eth_getTransactionByHash", tx_hash))
        receipt = rpc(node, "eth_getTransactionReceipt", tx_hash)
        check_result("eth_getTransactionReceipt", receipt)
        assert receipt["status"] == "0x1"
        check_result("eth_feeHistory", rpc(node, "eth_feeHistory", "0x2", "latest", [50]))
        legacy = fork in ("petersburg", "berlin")
        assert block["transactions"][0]["type"] == ("0x0" if legacy else "0x2")
        assert ("baseFeePerGas" in block) is not legacy


def test_web3_batch_requests_work_in_process(in_process) -> None:
    w3 = in_process.w3
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_balance(DEV_ADDRESS))
        batch.add(w3.eth.get_block(0))
        balance, genesis = batch.execute()
    assert balance == 10_000 * 10**18 and genesis["number"] == 0


def test_a_transaction_dropped_at_block_building_says_why(in_process) -> None:
    rpc(in_process, "evm_setAutomine", False)
    balance = int(rpc(in_process, "eth_getBalance", DEV_ADDRESS, "latest"), 16)
    fee = 21_000 * 10 * 10**9
    spends = rpc(
        in_process,
        "eth_sendTransaction",
        {
            "from": DEV_ADDRESS,
            "to": OTHER_ADDRESS,
            "value": hex(balance - fee),
            "gas": hex(21_000),
            "maxFeePerGas": hex(10 * 10**9),
            "maxPriorityFeePerGas": hex(10**9),
        },
    )
    starved = send(in_process, 10**18)  # affordable alone, not after the first
    rpc(in_process, "evm_mine")
    assert rpc(in_process, "eth_getTransactionReceipt", spends)["status"] == "0x1"
    assert rpc(in_process, "eth_getTransactionReceipt", starved) is None
    record = rpc(in_process, "txpool_dropped", starved)
    assert record["error"] == "InsufficientFunds" and record["blockNumber"] == "0x1"
    assert record["from"] == DEV_ADDRESS.lower() and "insufficient funds" in record["reason"]
    assert [r["hash"] for r in rpc(in_process, "txpool_dropped")] == [starved]
    assert rpc(in_process, "txpool_dropped", spends) is None


def test_oversized_initcode_is_refused_with_geths_message(in_process) -> None:
    answer = in_process.provider.make_request(
        "eth_sendTransaction", [{"from": DEV_ADDRESS, "data": "0x" + "00" * 49_153, "gas": hex(5_000_000)}]
    )
    assert answer["error"]["message"].startswith("max initcode size exceeded"), answer
    assert rpc(in_process, "eth_blockNumber") == "0x0"
    send(in_process)
    assert rpc(in_process, "eth_blockNumber") == "0x1"
