"""debug_traceTransaction / debug_traceCall with geth's prestateTracer (with and without
diffMode) and callTracer's addresses and CREATE2 frames, in geth's shapes."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from tests.node.conftest import COUNTER_BYTECODE, DEV_ADDRESS

ADD = "0x1003e2d2"  # Counter.add(uint256)
SLOT0 = "0x" + "00" * 32
# A factory whose code CREATE2s (salt 1) a contract from the 3-byte init code 5f5ff3.
FACTORY_RUNTIME = "625f5ff35f5260016003601d5ff500"
FACTORY_INIT = (
    "0x"
    + f"60{len(FACTORY_RUNTIME) // 2:02x}600a5f39"
    + f"60{len(FACTORY_RUNTIME) // 2:02x}5ff3"
    + FACTORY_RUNTIME
)


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def amount(value: int) -> str:
    return ADD + hex(value)[2:].rjust(64, "0")


def deployed(w3: Web3, init: str) -> str:
    tx = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "data": init})
    return rpc(w3, "eth_getTransactionReceipt", tx)["contractAddress"]


def test_prestate_shows_the_touched_accounts_and_slots_before_the_transaction(w3) -> None:
    counter = deployed(w3, COUNTER_BYTECODE)
    rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": counter, "data": amount(2)})
    sender = DEV_ADDRESS.lower()
    balance_before = int(rpc(w3, "eth_getBalance", DEV_ADDRESS, "latest"), 16)
    tx = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": counter, "data": amount(3)})
    pre = rpc(w3, "debug_traceTransaction", tx, {"tracer": "prestateTracer"})
    assert pre[sender] == {"balance": hex(balance_before), "nonce": 2}  # before paying for gas
    assert pre[counter]["storage"] == {SLOT0: "0x" + "2".rjust(64, "0")}
    assert pre[counter]["code"] == rpc(w3, "eth_getCode", counter, "latest") and pre[counter]["nonce"] == 1
    assert pre[counter]["balance"] == "0x0"
    assert all(address == address.lower() for address in pre)


def test_prestate_diff_mode_gives_what_changed_before_and_after(w3) -> None:
    counter = deployed(w3, COUNTER_BYTECODE)
    tx = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": counter, "data": amount(3)})
    receipt = rpc(w3, "eth_getTransactionReceipt", tx)
    diff = rpc(
        w3, "debug_traceTransaction", tx, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
    )
    assert set(diff) == {"pre", "post"}
    pre, post = diff["pre"], diff["post"]
    sender = DEV_ADDRESS.lower()
    assert pre[counter] == {"balance": "0x0", "nonce": 1, "code": rpc(w3, "eth_getCode", counter, "0x1")}
    assert post[counter] == {"storage": {SLOT0: "0x" + "3".rjust(64, "0")}}  # only the change
    paid = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert int(pre[sender]["balance"], 16) - int(post[sender]["balance"], 16) == paid
    assert post[sender]["nonce"] == pre[sender]["nonce"] + 1
    # a transaction that changes no storage leaves the contract out of the diff
    again = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": counter, "data": amount(0)})
    quiet = rpc(
        w3, "debug_traceTransaction", again, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
    )
    assert counter not in quiet["pre"] and counter not in quiet["post"]


def test_a_created_contract_is_only_in_post(w3) -> None:
    tx = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "data": COUNTER_BYTECODE})
    created = rpc(w3, "eth_getTransactionReceipt", tx)["contractAddress"]
    plain = rpc(w3, "debug_traceTransaction", tx, {"tracer": "prestateTracer"})
    assert created not in plain  # empty before it was created
    diff = rpc(
        w3, "debug_traceTransaction", tx, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
    )
    assert created not in diff["pre"]
    assert diff["post"][created]["code"] == rpc(w3, "eth_getCode", created, "latest")
    assert diff["post"][created]["nonce"] == 1


def test_trace_call_prestate_reads_the_block_state_without_mining(w3) -> None:
    counter = deployed(w3, COUNTER_BYTECODE)
    rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": counter, "data": amount(5)})
    head = rpc(w3, "eth_blockNumber")
    call = {"from": DEV_ADDRESS, "to": counter, "data": amount(1)}
    pre = rpc(w3, "debug_traceCall", call, "latest", {"tracer": "prestateTracer"})
    assert pre[counter]["storage"] == {SLOT0: "0x" + "5".rjust(64, "0")}
    at_deploy = rpc(w3, "debug_traceCall", call, "0x1", {"tracer": "prestateTracer"})
    assert at_deploy[counter]["storage"] == {SLOT0: SLOT0}
    diff = rpc(
        w3,
        "debug_traceCall",
        call,
        "latest",
        {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}},
    )
    assert diff["post"][counter]["storage"] == {SLOT0: "0x" + "6".rjust(64, "0")}
    assert rpc(w3, "eth_blockNumber") == head
    assert rpc(w3, "eth_getStorageAt", counter, "0x0", "latest") == "0x" + "5".rjust(64, "0")


def test_call_tracer_names_create2_and_gives_lower_case_addresses(w3) -> None:
    factory = deployed(w3, FACTORY_INIT)
    tx = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": factory, "gas": hex(100_000)})
    call = rpc(w3, "debug_traceTransaction", tx, {"tracer": "callTracer"})
    assert call["type"] == "CALL" and call["from"] == DEV_ADDRESS.lower() and call["to"] == factory
    (child,) = call["calls"]
    assert child["type"] == "CREATE2" and child["from"] == factory and child["input"] == "0x5f5ff3"
    salt, init_hash = (1).to_bytes(32, "big"), Web3.keccak(hexstr="0x5f5ff3")
    expected = Web3.keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + init_hash)[12:]
    assert child["to"] == "0x" + expected.hex().removeprefix("0x")
    top = rpc(w3, "debug_traceTransaction", rpc(w3, "eth_getTransactionReceipt", tx)["transactionHash"], {})
    assert any(step["op"] == "CREATE2" for step in top["structLogs"])
    created = rpc(w3, "eth_sendTransaction", {"from": DEV_ADDRESS, "data": COUNTER_BYTECODE})
    assert rpc(w3, "debug_traceTransaction", created, {"tracer": "callTracer"})["type"] == "CREATE"


def test_a_bad_diff_mode_is_refused(w3) -> None:
    answer = w3.provider.make_request(
        "debug_traceCall",
        [{"to": DEV_ADDRESS}, "latest", {"tracer": "prestateTracer", "tracerConfig": {"diffMode": 1}}],
    )
    assert answer["error"]["code"] == -32602 and "diffMode" in answer["error"]["message"]
