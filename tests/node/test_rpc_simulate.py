"""eth_simulateV1 as the execution-apis specification defines it: several blocks whose
state follows on, block and state overrides, the validation flag, traceTransfers,
returnFullTransactions, the specification's error codes, and answers that validate
against the specification's result schema. Nothing is mined."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS

# Hand-assembled contracts (runtime code, put in place with state overrides):
# ENV returns 7 words: NUMBER, TIMESTAMP, COINBASE, GASLIMIT, BASEFEE, PREVRANDAO, BALANCE(CALLER).
ENV_CODE = (
    "0x435f52" + "42602052" + "41604052" + "45606052" + "48608052" + "4460a052" + "333160c052" + "60e05ff3"
)
# FORWARD sends its call value on to the address in its calldata (CALL, result ignored).
FORWARD_CODE = "0x5f5f5f5f345f355af15000"
EMIT_CODE = "0x5f5fa000"  # LOG0 of no data
REVERT_CODE = "0x5f5ffd"  # REVERT with no data
PREVIOUS_HASH_CODE = "0x60014303405f5260205ff3"  # returns BLOCKHASH(NUMBER - 1)
ENV = "0x00000000000000000000000000000000000000e1"
FORWARD = "0x00000000000000000000000000000000000000f1"
EMIT = "0x00000000000000000000000000000000000000e2"
REVERT = "0x00000000000000000000000000000000000000d1"
PREVIOUS_HASH = "0x00000000000000000000000000000000000000b1"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_EMITTER = "0x" + "ee" * 20
CODES = {
    ENV: {"code": ENV_CODE},
    FORWARD: {"code": FORWARD_CODE},
    EMIT: {"code": EMIT_CODE},
    REVERT: {"code": REVERT_CODE},
    PREVIOUS_HASH: {"code": PREVIOUS_HASH_CODE},
}


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def error(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" in answer, answer
    return answer["error"]


def words(data: str) -> list[int]:
    body = data[2:]
    return [int(body[i : i + 64], 16) for i in range(0, len(body), 64)]


def word(address: str) -> str:
    return "0x" + address[2:].lower().rjust(64, "0")


def simulate(
    w3: Web3, blocks: list[dict[str, Any]], tag: Any = "latest", **flags: Any
) -> list[dict[str, Any]]:
    return rpc(w3, "eth_simulateV1", {"blockStateCalls": blocks, **flags}, tag)


def test_blocks_follow_on_and_nothing_is_mined(w3, check_result) -> None:
    w3.eth.send_transaction({"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 1})
    head = w3.eth.get_block("latest")
    before = w3.eth.get_balance(OTHER_ADDRESS)
    blocks = simulate(
        w3,
        [
            {
                "stateOverrides": CODES,
                "calls": [{"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": hex(10**18)}],
            },
            {"calls": [{"from": OTHER_ADDRESS, "to": ENV}, {"from": OTHER_ADDRESS, "to": PREVIOUS_HASH}]},
        ],
    )
    check_result("eth_simulateV1", blocks)
    first, second = blocks
    assert [int(b["number"], 16) for b in blocks] == [head.number + 1, head.number + 2]
    assert (
        int(first["timestamp"], 16) == head.timestamp + 12
        and int(second["timestamp"], 16) == head.timestamp + 24
    )
    assert (
        first["parentHash"] == "0x" + head.hash.hex().removeprefix("0x")
        and second["parentHash"] == first["hash"]
    )
    assert first["calls"][0]["status"] == "0x1" and first["calls"][0]["gasUsed"] == "0x5208"
    env = words(second["calls"][0]["returnData"])
    assert env[0] == head.number + 2 and env[1] == head.timestamp + 24
    assert env[6] == before + 10**18  # the first block's transfer is in the second's state
    assert second["calls"][1]["returnData"] == first["hash"]  # BLOCKHASH of the simulated parent
    assert len(second["transactions"]) == 2 and int(second["gasUsed"], 16) == sum(
        int(c["gasUsed"], 16) for c in second["calls"]
    )
    assert w3.eth.block_number == head.number and w3.eth.get_balance(OTHER_ADDRESS) == before


def test_block_overrides_set_the_environment_and_skipped_numbers_are_filled(w3) -> None:
    head = w3.eth.get_block("latest")
    overrides = {
        "number": hex(head.number + 5),
        "time": hex(head.timestamp + 1_000),
        "gasLimit": hex(10_000_000),
        "feeRecipient": OTHER_ADDRESS,
        "baseFeePerGas": "0x7",
        "prevRandao": "0x1234",
    }
    blocks = simulate(
        w3,
        [{"blockOverrides": overrides, "stateOverrides": CODES, "calls": [{"from": DEV_ADDRESS, "to": ENV}]}],
    )
    assert [int(b["number"], 16) for b in blocks] == list(range(head.number + 1, head.number + 6))
    assert all(b["transactions"] == [] and b["calls"] == [] for b in blocks[:-1])
    last = blocks[-1]
    env = words(last["calls"][0]["returnData"])
    assert env[:6] == [head.number + 5, head.timestamp + 1_000, int(OTHER_ADDRESS, 16), 10_000_000, 7, 0x1234]
    assert last["miner"] == OTHER_ADDRESS.lower() and last["gasLimit"] == hex(10_000_000)
    assert last["baseFeePerGas"] == "0x7" and last["mixHash"] == "0x" + "1234".rjust(64, "0")


def test_state_overrides_apply_from_their_block_on(w3) -> None:
    slot_code = "0x5f545f5260205ff3"  # returns storage slot 0
    account = "0x00000000000000000000000000000000000000c1"
    blocks = simulate(
        w3,
        [
            {"stateOverrides": {account: {"code": slot_code, "balance": "0x99"}}, "calls": [{"to": account}]},
            {
                "stateOverrides": {account: {"stateDiff": {"0x" + "00" * 32: "0x" + "00" * 31 + "2a"}}},
                "calls": [{"to": account}],
            },
            {"stateOverrides": {ENV: {"code": ENV_CODE}}, "calls": [{"from": account, "to": ENV}]},
        ],
    )
    assert words(blocks[0]["calls"][0]["returnData"]) == [0]
    assert words(blocks[1]["calls"][0]["returnData"]) == [42]
    assert words(blocks[2]["calls"][0]["returnData"])[6] == 0x99  # BALANCE(CALLER): the override held


def test_validation_checks_nonce_fees_and_funds_as_a_transaction(w3) -> None:
    call = {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1"}
    # without validation: any nonce, no gas price
    assert simulate(w3, [{"calls": [{**call, "nonce": "0x9"}]}])[0]["calls"][0]["status"] == "0x1"
    validated = simulate(
        w3, [{"calls": [{**call, "nonce": "0x0"}, {**call, "nonce": "0x1"}]}], validation=True
    )
    assert [c["status"] for c in validated[0]["calls"]] == ["0x1", "0x1"]
    assert int(validated[0]["baseFeePerGas"], 16) > 0  # validation: the base fee is the chain's rule
    cases = [
        ({**call, "nonce": "0x3"}, -38011),
        ({**call, "maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x0"}, -38012),
        ({**call, "from": "0x00000000000000000000000000000000000000c2", "value": "0x1"}, -38014),
    ]
    for bad, code in cases:
        assert (
            error(w3, "eth_simulateV1", {"blockStateCalls": [{"calls": [bad]}], "validation": True})["code"]
            == code
        )
    w3.eth.send_transaction({"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 1})
    low = {"blockStateCalls": [{"calls": [{**call, "nonce": "0x0"}]}], "validation": True}
    assert error(w3, "eth_simulateV1", low)["code"] == -38010


def test_calls_that_cannot_be_transactions_get_the_specs_codes(w3) -> None:
    poor = "0x00000000000000000000000000000000000000c3"
    cases = [
        ([{"calls": [{"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "gas": "0x100"}]}], -38013),
        ([{"calls": [{"from": poor, "to": OTHER_ADDRESS, "value": "0x5"}]}], -38014),
        (
            [{"blockOverrides": {"gasLimit": "0x5208"}, "calls": [{"to": OTHER_ADDRESS, "gas": "0x5209"}]}],
            -38015,
        ),
        ([{"blockOverrides": {"number": "0x9"}}, {"blockOverrides": {"number": "0x9"}}], -38020),
        ([{"blockOverrides": {"time": "0x10"}}], -38021),
        ([{}] * 257, -38026),
        ([{"blockOverrides": {"number": hex(10**6)}}], -38026),
        ([{"calls": "nope"}], -32602),
        ([{"stateOverrides": {ENV: {"movePrecompileToAddress": ENV}}}], -32602),
        ([{"blockOverrides": {"sometime": "0x1"}}], -32602),
    ]
    for blocks, code in cases:
        assert error(w3, "eth_simulateV1", {"blockStateCalls": blocks})["code"] == code, blocks
    assert error(w3, "eth_simulateV1", {"calls": []})["code"] == -32602


def test_a_revert_and_an_execution_error_are_in_the_call_results(w3, check_result) -> None:
    blocks = simulate(
        w3,
        [
            {
                "stateOverrides": CODES,
                "calls": [
                    {"from": DEV_ADDRESS, "to": REVERT},
                    {"from": DEV_ADDRESS, "to": ENV, "gas": hex(21_010)},
                    {"from": DEV_ADDRESS, "to": ENV},
                ],
            }
        ],
    )
    check_result("eth_simulateV1", blocks)
    reverted, starved, fine = blocks[0]["calls"]
    assert (
        reverted["status"] == "0x0" and reverted["error"]["code"] == 3 and reverted["error"]["data"] == "0x"
    )
    assert starved["status"] == "0x0" and starved["error"] == {
        "code": -32015,
        "message": "vm execution error: out of gas",
    }
    assert starved["gasUsed"] == hex(21_010)
    assert fine["status"] == "0x1" and "error" not in fine


def test_trace_transfers_logs_every_ether_move_in_execution_order(w3) -> None:
    calldata = "0x" + word(EMIT)[2:]
    blocks = simulate(
        w3,
        [
            {
                "stateOverrides": CODES,
                "calls": [
                    {"from": DEV_ADDRESS, "to": FORWARD, "value": "0x7", "input": calldata},
                    {"from": DEV_ADDRESS, "to": FORWARD, "value": "0x8", "input": "0x" + word(REVERT)[2:]},
                ],
            }
        ],
        traceTransfers=True,
    )
    forwarded, refused = blocks[0]["calls"]
    shapes = [(log["address"], log["topics"], log["data"]) for log in forwarded["logs"]]
    assert shapes == [
        (TRANSFER_EMITTER, [TRANSFER_TOPIC, word(DEV_ADDRESS), word(FORWARD)], "0x" + "7".rjust(64, "0")),
        (TRANSFER_EMITTER, [TRANSFER_TOPIC, word(FORWARD), word(EMIT)], "0x" + "7".rjust(64, "0")),
        (EMIT, [], "0x"),
    ]
    assert [int(log["logIndex"], 16) for log in forwarded["logs"] + refused["logs"]] == [0, 1, 2, 3]
    # the inner call reverted: its transfer did not happen, the outer one did
    assert [log["topics"][2] for log in refused["logs"]] == [word(FORWARD)]
    plain = simulate(
        w3,
        [
            {
                "stateOverrides": CODES,
                "calls": [{"from": DEV_ADDRESS, "to": FORWARD, "value": "0x7", "input": calldata}],
            }
        ],
    )
    assert [log["address"] for log in plain[0]["calls"][0]["logs"]] == [EMIT]


def test_full_transactions_carry_the_calls_and_their_senders(w3, check_result) -> None:
    call = {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x3", "input": "0x1234"}
    hashes = simulate(w3, [{"calls": [call]}])
    full = simulate(w3, [{"calls": [call]}], returnFullTransactions=True)
    check_result("eth_simulateV1", full)
    tx = full[0]["transactions"][0]
    assert tx["hash"] == hashes[0]["transactions"][0]
    assert tx["from"] == DEV_ADDRESS.lower() and tx["to"] == OTHER_ADDRESS.lower()
    assert tx["value"] == "0x3" and tx["input"] == "0x1234" and tx["blockHash"] == full[0]["hash"]


@pytest.mark.parametrize("tag", ["latest", "pending", "0x0", "earliest"])
def test_the_base_block_is_any_block_parameter(w3, tag) -> None:
    w3.eth.send_transaction({"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": 1})
    base = {"latest": 1, "pending": 2, "0x0": 0, "earliest": 0}[tag]
    blocks = simulate(w3, [{}], tag)
    assert int(blocks[0]["number"], 16) == base + 1
    by_hash = simulate(w3, [{}], "0x" + w3.eth.get_block(0).hash.hex().removeprefix("0x"))
    assert by_hash[0]["number"] == "0x1"
