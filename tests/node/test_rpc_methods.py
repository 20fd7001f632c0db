"""RPC methods and answers (issue 16): the raw-transaction getters, block hashes wherever a
block is named, eth_signTransaction's {raw, tx}, the pending block built from the pool,
and calls in the environment of the block they are meant for (a pinned timestamp
included). On the in-process provider: the same dispatcher as the server, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS

# Returns (block.number, block.timestamp) as two words: NUMBER PUSH0 MSTORE TIMESTAMP
# PUSH1 0x20 MSTORE PUSH1 0x40 PUSH0 RETURN.
BLOCK_ENV_CODE = "0x435f52426020526040" + "5ff3"
PROBE = "0x00000000000000000000000000000000000000aa"
_SIZE = len(BLOCK_ENV_CODE) // 2 - 1
BLOCK_ENV_INIT = "0x" + f"60{_SIZE:02x}600a5f39" + f"60{_SIZE:02x}5ff3" + BLOCK_ENV_CODE[2:]  # deploys it


def clock_contract_init(start: int) -> str:
    """Init code of a contract whose only function loops (block.timestamp - start) times:
    its gas grows with the time, as the original Stakeable's square-root deposit does."""
    runtime = (
        "67"
        + start.to_bytes(8, "big").hex()  # PUSH8 start
        + "42"
        + "03"
        + "5f"  # TIMESTAMP SUB PUSH0        -> n, i
        + "5b"
        + "8181"
        + "10"
        + "15"  # 12: JUMPDEST DUP2 DUP2 LT ISZERO
        + "601a"
        + "57"  # PUSH1 26 JUMPI (i >= n: done)
        + "600101"
        + "600c56"  # i += 1; JUMP 12
        + "5b00"  # 26: JUMPDEST STOP
    )
    size = len(runtime) // 2
    return "0x" + f"60{size:02x}600a5f39" + f"60{size:02x}5ff3" + runtime


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def error(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" in answer, answer
    return answer["error"]


def send(w3: Web3, value: int = 1, **fields: Any) -> str:
    return rpc(
        w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": hex(value), **fields}
    )


def block_env(w3: Web3, block: Any) -> tuple[int, int]:
    out = rpc(w3, "eth_call", {"to": PROBE}, block, {PROBE: {"code": BLOCK_ENV_CODE}})
    return int(out[2:66], 16), int(out[66:], 16)


# --- raw transactions ---------------------------------------------------------------------


def test_raw_transaction_getters_give_the_signed_bytes_by_hash_and_by_position(w3) -> None:
    tx_hash = send(w3, 7)
    receipt = rpc(w3, "eth_getTransactionReceipt", tx_hash)
    by_hash = rpc(w3, "eth_getRawTransactionByHash", tx_hash)
    assert Web3.keccak(hexstr=by_hash).hex().removeprefix("0x") == tx_hash.removeprefix("0x")
    assert Account.recover_transaction(by_hash) == DEV_ADDRESS
    assert rpc(w3, "eth_getRawTransactionByBlockNumberAndIndex", receipt["blockNumber"], "0x0") == by_hash
    assert rpc(w3, "eth_getRawTransactionByBlockHashAndIndex", receipt["blockHash"], "0x0") == by_hash
    assert rpc(w3, "eth_getRawTransactionByBlockNumberAndIndex", "latest", "0x0") == by_hash
    assert rpc(w3, "debug_getRawTransaction", tx_hash) == by_hash


def test_raw_transaction_getters_answer_null_for_what_is_not_there(w3) -> None:
    send(w3)
    assert rpc(w3, "eth_getRawTransactionByHash", "0x" + "11" * 32) is None
    assert rpc(w3, "eth_getRawTransactionByBlockNumberAndIndex", "0x1", "0x1") is None
    assert rpc(w3, "eth_getRawTransactionByBlockNumberAndIndex", "0x99", "0x0") is None
    assert rpc(w3, "eth_getRawTransactionByBlockHashAndIndex", "0x" + "22" * 32, "0x0") is None
    assert error(w3, "eth_getRawTransactionByBlockNumberAndIndex", "0x1", "1")["code"] == -32602


def test_a_pooled_transaction_has_its_raw_bytes_before_it_is_mined(w3) -> None:
    rpc(w3, "evm_setAutomine", False)
    tx_hash = send(w3)
    raw = rpc(w3, "eth_getRawTransactionByHash", tx_hash)
    assert Account.recover_transaction(raw) == DEV_ADDRESS
    assert rpc(w3, "eth_getRawTransactionByBlockNumberAndIndex", "pending", "0x0") == raw


# --- a block hash wherever a block is named ---------------------------------------------


def test_every_method_taking_a_block_accepts_its_hash(w3) -> None:
    tx_hash = send(w3, 5)
    receipt = rpc(w3, "eth_getTransactionReceipt", tx_hash)
    block_hash, number = receipt["blockHash"], receipt["blockNumber"]
    call = {"to": PROBE}
    overrides = {PROBE: {"code": BLOCK_ENV_CODE}}
    send(w3, 9)  # the head moves on: each answer below must be block 1's, not the head's
    methods: list[tuple[str, list[Any]]] = [
        ("eth_getBalance", [OTHER_ADDRESS]),
        ("eth_getCode", [PROBE]),
        ("eth_getStorageAt", [PROBE, "0x0"]),
        ("eth_getTransactionCount", [DEV_ADDRESS]),
        ("eth_call", [call]),
        ("eth_estimateGas", [call]),
        ("eth_createAccessList", [call]),
        ("eth_getProof", [OTHER_ADDRESS, []]),
        ("eth_getBlockReceipts", []),
        ("debug_getRawBlock", []),
        ("debug_getRawHeader", []),
        ("debug_getRawReceipts", []),
        ("debug_traceCall", [call]),
    ]
    for method, params in methods:
        by_number = rpc(w3, method, *params, number)
        for form in (
            block_hash,
            {"blockHash": block_hash},
            {"blockHash": block_hash, "requireCanonical": True},
        ):
            assert rpc(w3, method, *params, form) == by_number, (method, form)
    assert rpc(w3, "eth_getBlockReceipts", block_hash)[0]["transactionHash"] == tx_hash
    balance = int(rpc(w3, "eth_getBalance", OTHER_ADDRESS, block_hash), 16)
    assert balance == int(rpc(w3, "eth_getBalance", OTHER_ADDRESS, "latest"), 16) - 9
    assert rpc(w3, "eth_call", call, block_hash, overrides) == rpc(w3, "eth_call", call, number, overrides)


def test_an_unknown_block_hash_is_not_found_and_methods_by_number_refuse_a_hash(w3) -> None:
    unknown = "0x" + "33" * 32
    assert rpc(w3, "eth_getBlockReceipts", unknown) is None
    assert "header not found" in error(w3, "eth_getBalance", DEV_ADDRESS, unknown)["message"]
    refused = error(w3, "eth_getBlockByNumber", unknown, False)
    assert refused["code"] == -32602 and "block hash" in refused["message"]


# --- eth_signTransaction ---------------------------------------------------------------------


def test_sign_transaction_answers_geths_raw_and_tx_which_web3_reads(w3) -> None:
    signed = w3.eth.sign_transaction(
        {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 11, "gas": 21_000, "nonce": 0}
    )
    assert Account.recover_transaction(signed.raw) == DEV_ADDRESS
    assert signed.tx["to"] == OTHER_ADDRESS and signed.tx["value"] == 11 and signed.tx["nonce"] == 0
    assert signed.tx["hash"] == Web3.keccak(signed.raw)
    answer = rpc(w3, "eth_signTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0xb"})
    assert set(answer) == {"raw", "tx"} and "blockHash" not in answer["tx"] and "from" not in answer["tx"]
    assert answer["tx"]["gas"] == "0x5208"  # filled in, as geth fills it
    tx_hash = w3.eth.send_raw_transaction(signed.raw)
    assert w3.eth.get_transaction_receipt(tx_hash).status == 1


# --- the pending block ----------------------------------------------------------------------


def test_pending_block_holds_the_pool_when_automine_is_off(w3) -> None:
    rpc(w3, "evm_setAutomine", False)
    head = rpc(w3, "eth_getBlockByNumber", "latest", False)
    first, second = send(w3, 3), send(w3, 4)
    pending = rpc(w3, "eth_getBlockByNumber", "pending", False)
    assert pending["transactions"] == [first, second]
    assert int(pending["number"], 16) == int(head["number"], 16) + 1
    assert pending["parentHash"] == head["hash"] and int(pending["gasUsed"], 16) == 2 * 21_000
    full = rpc(w3, "eth_getBlockByNumber", "pending", True)
    assert [tx["hash"] for tx in full["transactions"]] == [first, second]
    receipts = rpc(w3, "eth_getBlockReceipts", "pending")
    assert [r["transactionHash"] for r in receipts] == [first, second]
    assert all(r["status"] == "0x1" for r in receipts)
    latest_balance = int(rpc(w3, "eth_getBalance", OTHER_ADDRESS, "latest"), 16)
    assert int(rpc(w3, "eth_getBalance", OTHER_ADDRESS, "pending"), 16) == latest_balance + 7
    assert rpc(w3, "eth_getTransactionCount", DEV_ADDRESS, "pending") == "0x2"
    assert rpc(w3, "eth_blockNumber") == head["number"]  # nothing was mined
    rpc(w3, "evm_mine")
    mined = rpc(w3, "eth_getBlockByNumber", "latest", False)
    assert mined["transactions"] == [first, second] and mined["number"] == pending["number"]


def test_calls_and_estimates_at_pending_see_the_pending_transactions(w3) -> None:
    rpc(w3, "evm_setAutomine", False)
    deploy = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "data": BLOCK_ENV_INIT})
    created = rpc(w3, "eth_getBlockReceipts", "pending")[0]["contractAddress"]
    assert rpc(w3, "eth_getCode", created, "latest") == "0x"
    assert rpc(w3, "eth_getCode", created, "pending") == "0x" + BLOCK_ENV_CODE[2:]
    out = rpc(w3, "eth_call", {"to": created}, "pending")
    assert int(out[2:66], 16) == 1  # the pending block's number
    assert rpc(w3, "eth_call", {"to": created}, "latest") == "0x"  # no code there yet
    assert int(rpc(w3, "eth_estimateGas", {"to": created}), 16) > 21_000  # default: pending
    assert int(rpc(w3, "eth_estimateGas", {"to": created}, "latest"), 16) == 21_000
    rpc(w3, "evm_mine")
    assert rpc(w3, "eth_getTransactionReceipt", deploy)["contractAddress"] == created


def test_with_an_empty_pool_pending_is_the_next_empty_block(w3) -> None:
    send(w3)
    pending = rpc(w3, "eth_getBlockByNumber", "pending", False)
    head = rpc(w3, "eth_getBlockByNumber", "latest", False)
    assert (
        pending["number"] == "0x2" and pending["transactions"] == [] and pending["parentHash"] == head["hash"]
    )
    assert rpc(w3, "eth_getBalance", OTHER_ADDRESS, "pending") == rpc(
        w3, "eth_getBalance", OTHER_ADDRESS, "latest"
    )


# --- the block environment of calls -------------------------------------------------------


def test_calls_at_latest_use_the_last_blocks_own_number_and_time(w3) -> None:
    send(w3)
    head = rpc(w3, "eth_getBlockByNumber", "latest", False)
    assert block_env(w3, "latest") == (1, int(head["timestamp"], 16))
    assert block_env(w3, "0x0") == (0, int(rpc(w3, "eth_getBlockByNumber", "0x0", False)["timestamp"], 16))


def test_calls_at_pending_use_a_pinned_next_timestamp(w3) -> None:
    send(w3)
    head = rpc(w3, "eth_getBlockByNumber", "latest", False)
    pinned = int(head["timestamp"], 16) + 5_000
    rpc(w3, "evm_setNextBlockTimestamp", hex(pinned))
    assert block_env(w3, "pending") == (2, pinned)
    assert block_env(w3, "latest") == (1, int(head["timestamp"], 16))  # the pin moves only the next block
    assert int(rpc(w3, "eth_getBlockByNumber", "pending", False)["timestamp"], 16) == pinned
    send(w3)
    assert int(rpc(w3, "eth_getBlockByNumber", "latest", False)["timestamp"], 16) == pinned


@pytest.mark.parametrize("automine", [True, False])
def test_an_estimate_is_enough_for_the_block_it_is_meant_for(w3, automine: bool) -> None:
    """A contract whose gas grows with block.timestamp, and a pinned next timestamp: the
    estimate at the default block (pending, as anvil and EDR: what ethers, viem and cast
    ask for) sent as the exact gas limit succeeds; the estimate at latest (the last
    block's own time, as anvil and EDR) is far too little for the next block."""
    start = int(rpc(w3, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    deploy = w3.eth.send_transaction({"from": DEV_ADDRESS, "data": clock_contract_init(start)})
    contract = w3.eth.wait_for_transaction_receipt(deploy).contractAddress
    pinned = start + 3_000
    rpc(w3, "evm_setNextBlockTimestamp", hex(pinned))
    if not automine:
        rpc(w3, "evm_setAutomine", False)
    request = {"from": DEV_ADDRESS, "to": contract}
    estimate = int(rpc(w3, "eth_estimateGas", request), 16)
    assert w3.eth.estimate_gas(request, "pending") == estimate  # type: ignore[arg-type]
    at_latest = w3.eth.estimate_gas(request, "latest")  # type: ignore[arg-type]
    assert estimate == 21_037 + 43 * 3_000  # 43 gas per loop, one loop per second since start
    assert at_latest < estimate - 40 * 2_990
    tx_hash = w3.eth.send_transaction({**request, "gas": estimate})  # type: ignore[typeddict-item]
    if not automine:
        rpc(w3, "evm_mine")
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt.status == 1 and receipt.gasUsed == estimate
    assert w3.eth.get_block(receipt.blockNumber)["timestamp"] == pinned
    # sent without a gas limit, eth_sendTransaction's own estimate is for the next block too
    rpc(w3, "evm_setNextBlockTimestamp", hex(pinned + 3_000))
    filled = rpc(w3, "eth_sendTransaction", request)  # web3's own filling would estimate at latest
    if not automine:
        rpc(w3, "evm_mine")
    assert w3.eth.get_transaction_receipt(filled).status == 1
    assert w3.eth.get_transaction(filled)["gas"] == 21_037 + 43 * 6_000
