"""web3.py over HTTP against a devnet subprocess: transfers, a contract deployed,
called and transacted, events, filters, reverts with their data, signing. Every raw
result is also validated against the execution-apis result schema of its method."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from node.provider import poa_web3
from tests.node.conftest import (
    COUNTER_ABI,
    COUNTER_BYTECODE,
    DEV_ADDRESS,
    DEV_KEY,
    OTHER_ADDRESS,
)


@pytest.fixture(scope="module")
def w3(devnet) -> Web3:
    return poa_web3(Web3.HTTPProvider(devnet.url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="module")
def counter(w3):  # type: ignore[no-untyped-def]
    factory = w3.eth.contract(abi=COUNTER_ABI, bytecode=COUNTER_BYTECODE)
    tx_hash = factory.constructor().transact({"from": DEV_ADDRESS})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=COUNTER_ABI)


def test_transfer_moves_value_and_is_mined_at_once(w3) -> None:
    before = w3.eth.get_balance(OTHER_ADDRESS)
    height = w3.eth.block_number
    tx_hash = w3.eth.send_transaction({"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 12345})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1 and receipt.gasUsed == 21000
    assert receipt.blockNumber == height + 1
    assert w3.eth.get_balance(OTHER_ADDRESS) == before + 12345
    assert w3.eth.get_balance(OTHER_ADDRESS, block_identifier=height) == before


def test_raw_transaction_signed_offline_is_accepted(w3) -> None:
    nonce = w3.eth.get_transaction_count(DEV_ADDRESS, "pending")
    tx = {
        "to": OTHER_ADDRESS,
        "value": 1,
        "gas": 21000,
        "nonce": nonce,
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    signed = Account.sign_transaction(tx, DEV_KEY)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == signed.hash
    mined = w3.eth.get_transaction(tx_hash)
    assert mined["from"] == DEV_ADDRESS and mined["nonce"] == nonce


def test_second_send_of_same_nonce_is_refused_with_chain_message(devnet, w3) -> None:
    mined = w3.eth.send_transaction({"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 1})
    nonce = w3.eth.get_transaction(mined)["nonce"]
    tx = {
        "to": OTHER_ADDRESS,
        "value": 1,
        "gas": 21000,
        "nonce": nonce,
        "chainId": 31337,
        "gasPrice": 5 * 10**9,
    }
    raw = Account.sign_transaction(tx, DEV_KEY).raw_transaction
    error = devnet.error("eth_sendRawTransaction", "0x" + raw.hex())
    assert error["code"] == -32000
    assert "nonce" in error["message"].lower()


def test_contract_call_transact_and_event(w3, counter) -> None:
    start = counter.functions.count().call()
    tx_hash = counter.functions.add(7).transact({"from": DEV_ADDRESS})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert counter.functions.count().call() == start + 7
    assert counter.functions.count().call(block_identifier=receipt.blockNumber - 1) == start
    events = counter.events.Incremented().process_receipt(receipt)
    assert len(events) == 1
    assert events[0].args.by == DEV_ADDRESS and events[0].args["count"] == start + 7
    logs = counter.events.Incremented().get_logs(from_block=receipt.blockNumber, to_block=receipt.blockNumber)
    assert [log.transactionHash for log in logs] == [tx_hash]


def test_custom_error_revert_carries_its_data(devnet, w3, counter) -> None:
    with pytest.raises(ContractCustomError) as raised:
        counter.functions.add(1000).call({"from": DEV_ADDRESS})
    selector = Web3.keccak(text="TooBig(uint256)")[:4].hex()
    assert selector in str(raised.value.data)
    call = {"from": DEV_ADDRESS, "to": counter.address, "data": counter.encode_abi("add", [1000])}
    error = devnet.error("eth_call", call, "latest")
    assert error["code"] == 3
    assert error["data"] == "0x" + selector + (1000).to_bytes(32, "big").hex()
    estimate_error = devnet.error("eth_estimateGas", call)
    assert estimate_error["code"] == 3 and estimate_error["data"] == error["data"]


def test_require_message_is_in_the_error(devnet, w3, counter) -> None:
    with pytest.raises(ContractLogicError, match="nope"):
        counter.functions.fail().call()
    error = devnet.error("eth_call", {"to": counter.address, "data": counter.encode_abi("fail", [])})
    assert error["code"] == 3 and error["message"] == "execution reverted: nope"


def test_state_override_changes_the_call_only(devnet, w3, counter) -> None:
    slot0 = "0x" + "00" * 32
    override = {counter.address: {"stateDiff": {slot0: "0x" + (99).to_bytes(32, "big").hex()}}}
    call = {"to": counter.address, "data": counter.encode_abi("count", [])}
    assert int(devnet.rpc("eth_call", call, "latest", override), 16) == 99
    balance_override = {OTHER_ADDRESS: {"balance": "0x1"}}
    assert devnet.rpc("eth_call", {"to": OTHER_ADDRESS}, "latest", balance_override) == "0x"
    assert counter.functions.count().call() != 99


def test_estimate_gas_is_enough_and_tight(w3, counter) -> None:
    estimate = counter.functions.add(1).estimate_gas({"from": DEV_ADDRESS})
    tx_hash = counter.functions.add(1).transact({"from": DEV_ADDRESS, "gas": estimate})
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30).status == 1
    assert estimate < 100_000


def test_log_filter_and_block_filter_report_changes_once(w3, counter) -> None:
    log_filter = counter.events.Incremented.create_filter(from_block="latest")
    block_filter = w3.eth.filter("latest")
    tx_hash = counter.functions.add(2).transact({"from": DEV_ADDRESS})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    changes = log_filter.get_new_entries()
    assert [entry.transactionHash for entry in changes] == [tx_hash]
    assert log_filter.get_new_entries() == []
    assert receipt.blockHash in block_filter.get_new_entries()
    assert block_filter.get_new_entries() == []
    assert tx_hash in [entry.transactionHash for entry in log_filter.get_all_entries()]
    assert w3.eth.uninstall_filter(log_filter.filter_id) is True
    assert w3.eth.uninstall_filter(log_filter.filter_id) is False


def test_dev_account_signatures_recover_to_the_account(w3) -> None:
    signature = w3.eth.sign(DEV_ADDRESS, text="hello")
    assert Account.recover_message(encode_defunct(text="hello"), signature=signature) == DEV_ADDRESS
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "Mail": [{"name": "contents", "type": "string"}],
        },
        "primaryType": "Mail",
        "domain": {"name": "sumchain", "chainId": 31337},
        "message": {"contents": "hi"},
    }
    signature = w3.provider.make_request("eth_signTypedData_v4", [DEV_ADDRESS, typed])["result"]
    recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    assert recovered == DEV_ADDRESS
    # geth's {raw, tx} object (what web3.py's sign_transaction expects), not the spec's bare bytes
    request = {
        "from": DEV_ADDRESS,
        "to": OTHER_ADDRESS,
        "value": "0x5",
        "gas": "0x5208",
        "nonce": hex(10**6),
    }
    signed = w3.provider.make_request("eth_signTransaction", [request])["result"]
    assert Account.recover_transaction(signed["raw"]) == DEV_ADDRESS


def test_every_result_matches_the_spec_schema(devnet, w3, counter, check_result) -> None:
    tx_hash = counter.functions.add(3).transact({"from": DEV_ADDRESS})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    number, block_hash = hex(receipt.blockNumber), "0x" + receipt.blockHash.hex()
    tx = "0x" + tx_hash.hex()
    call = {"to": counter.address, "data": counter.encode_abi("count", [])}
    checks = [
        ("eth_chainId", []),
        ("eth_blockNumber", []),
        ("eth_syncing", []),
        ("eth_accounts", []),
        ("eth_coinbase", []),
        ("eth_gasPrice", []),
        ("eth_maxPriorityFeePerGas", []),
        ("eth_blobBaseFee", []),
        ("eth_feeHistory", ["0x4", "latest", [10, 50, 90]]),
        ("eth_getBalance", [DEV_ADDRESS, "latest"]),
        ("eth_getBalance", [DEV_ADDRESS, "earliest"]),
        ("eth_getBalance", [DEV_ADDRESS, {"blockHash": block_hash}]),
        ("eth_getBalance", [DEV_ADDRESS, {"blockNumber": number}]),
        ("eth_getCode", [counter.address, "pending"]),
        ("eth_getStorageAt", [counter.address, "0x0", "safe"]),
        ("eth_getTransactionCount", [DEV_ADDRESS, "finalized"]),
        ("eth_call", [call, number]),
        ("eth_estimateGas", [call]),
        ("eth_getBlockByNumber", [number, False]),
        ("eth_getBlockByNumber", [number, True]),
        ("eth_getBlockByNumber", ["0xffffffff", False]),
        ("eth_getBlockByHash", [block_hash, True]),
        ("eth_getBlockTransactionCountByNumber", [number]),
        ("eth_getBlockTransactionCountByHash", [block_hash]),
        ("eth_getTransactionByHash", [tx]),
        ("eth_getTransactionByBlockHashAndIndex", [block_hash, "0x0"]),
        ("eth_getTransactionByBlockNumberAndIndex", [number, "0x0"]),
        ("eth_getTransactionReceipt", [tx]),
        ("eth_getBlockReceipts", [number]),
        ("eth_getLogs", [{"fromBlock": number, "toBlock": number, "address": counter.address}]),
        ("eth_getLogs", [{"blockHash": block_hash}]),
        ("eth_newBlockFilter", []),
        ("eth_newPendingTransactionFilter", []),
        ("txpool_status", []),
        ("txpool_content", []),
        ("txpool_contentFrom", [DEV_ADDRESS]),
        ("debug_getRawBlock", [number]),
        ("debug_getRawHeader", [number]),
        ("debug_getRawTransaction", [tx]),
        ("debug_getRawReceipts", [number]),
        ("net_version", []),
        ("eth_getProof", [counter.address, ["0x0"], number]),
    ]
    for method, params in checks:
        result = devnet.rpc(method, *params)
        check_result(method, result)
    receipt_json = devnet.rpc("eth_getTransactionReceipt", tx)
    assert receipt_json["status"] == "0x1" and len(receipt_json["logs"]) == 1
    filter_id = devnet.rpc("eth_newFilter", {"address": counter.address})
    check_result("eth_newFilter", filter_id)
    # an empty list matches both branches of the spec's oneOf, so make one change first
    w3.eth.wait_for_transaction_receipt(counter.functions.add(1).transact({"from": DEV_ADDRESS}))
    check_result("eth_getFilterChanges", devnet.rpc("eth_getFilterChanges", filter_id))
    check_result("eth_getFilterLogs", devnet.rpc("eth_getFilterLogs", filter_id))
    check_result("eth_uninstallFilter", devnet.rpc("eth_uninstallFilter", filter_id))
    raw = devnet.rpc("debug_getRawTransaction", tx)
    assert Web3.keccak(hexstr=raw) == tx_hash


def test_every_block_tag_is_accepted_by_state_methods(devnet) -> None:
    for tag in (
        "earliest",
        "latest",
        "pending",
        "safe",
        "finalized",
        "0x0",
        {"blockNumber": "0x0"},
        {"blockNumber": "latest"},
    ):
        for method, params in (
            ("eth_getBalance", [DEV_ADDRESS]),
            ("eth_getCode", [DEV_ADDRESS]),
            ("eth_getTransactionCount", [DEV_ADDRESS]),
            ("eth_getStorageAt", [DEV_ADDRESS, "0x0"]),
            ("eth_call", [{"to": DEV_ADDRESS}]),
        ):
            devnet.rpc(method, *params, tag)
    for tag in ("earliest", "latest", "pending", "safe", "finalized", "0x0"):
        assert devnet.rpc("eth_getBlockByNumber", tag, False)["number"].startswith("0x")
        devnet.rpc("debug_getRawBlock", tag)
        devnet.rpc("eth_getBlockReceipts", tag)
        devnet.rpc("eth_feeHistory", "0x1", tag, [])


def test_storage_proof_holds_the_slot_value(devnet, w3, counter) -> None:
    import rlp
    from eth_utils import keccak
    from trie import HexaryTrie

    w3.eth.wait_for_transaction_receipt(counter.functions.add(4).transact({"from": DEV_ADDRESS}))
    proof = devnet.rpc("eth_getProof", counter.address, ["0x0"], "latest")
    entry = proof["storageProof"][0]
    assert int(entry["value"], 16) == counter.functions.count().call() > 0
    nodes = [rlp.decode(bytes.fromhex(node[2:])) for node in entry["proof"]]
    stored = HexaryTrie.get_from_proof(
        bytes.fromhex(proof["storageHash"][2:]), keccak((0).to_bytes(32, "big")), nodes
    )
    assert rlp.decode(stored, sedes=rlp.sedes.big_endian_int) == int(entry["value"], 16)
