"""Thousands of generated bad (and some good) requests against a devnet of its own:
every answer is a well-formed JSON-RPC response with an expected error code (never
an internal error, never a traceback), and the node still works afterwards.

Seeded, bounded in count and in time, loopback only.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import requests

from node.rpc.dispatcher import METHODS, load_namespaces
from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS, start_devnet, stop_devnet

SEED = 20261123
SINGLE_REQUESTS = 2500
BATCHES = 40
BATCH_SIZE = 40
ALLOWED_CODES = {-32700, -32600, -32601, -32602, -32000, -32001, -32004, -32005, 3}
# Mining many blocks or mining on a millisecond timer is legitimate but slow; the
# fuzzer would spend its budget waiting for blocks instead of probing inputs.
SLOW_METHODS = {"anvil_mine", "hardhat_mine", "evm_setIntervalMining", "anvil_setIntervalMining"}
# A random but valid base fee prices every later block out of any account's reach (EIP-1559
# lowers it by at most 1/8 a block), so the check at the end could not send a transaction;
# their parameter decoding is fuzzed by tests/node/test_dev_cheats.py's bad-params table.
FEE_CHEATS = {"anvil_setNextBlockBaseFeePerGas", "hardhat_setNextBlockBaseFeePerGas"}

HEXISH = [
    "0x",
    "0x0",
    "0x00",
    "0x1",
    "0X1",
    "0xg",
    "0x" + "f" * 65,
    "0x" + "0" * 40,
    "0x" + "ab" * 32,
    "latest",
    "pending",
    "earliest",
    "safe",
    "finalized",
    "LATEST",
    "",
    "0x-1",
    "1",
    "-0x1",
    "0x" + "1" * 7,
    DEV_ADDRESS,
    OTHER_ADDRESS.lower(),
    "0x" + "ff" * 20,
    "0x" + "7" * 16,
    "\u0000",
    "é",
    "0x" + "ab" * 1000,
]
NUMBERS: list[Any] = [0, 1, -1, 2**64, 2**256, -(2**255), 1.5, float("1e308"), True, False, None]
KEYS = [
    "from",
    "to",
    "gas",
    "gasPrice",
    "value",
    "data",
    "input",
    "nonce",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "accessList",
    "blockHash",
    "blockNumber",
    "requireCanonical",
    "fromBlock",
    "toBlock",
    "address",
    "topics",
    "type",
    "chainId",
    "balance",
    "code",
    "state",
    "stateDiff",
    "timestamp",
    "types",
    "domain",
    "primaryType",
    "message",
]


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(HEXISH)
    if kind == 1:
        return rng.choice(NUMBERS)
    if kind == 2:
        return "0x" + "".join(rng.choice("0123456789abcdefABCDEFxz") for _ in range(rng.randrange(70)))
    if kind == 3:
        return hex(rng.getrandbits(rng.choice([8, 64, 160, 256, 300])))
    if kind in (4, 5):
        return [value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randrange(5))}


CALL = {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1", "data": "0x"}
# Valid calls; the fuzzer breaks one parameter (or one field of it) at a time, so the
# bad value gets past the framing checks into each method's own decoding and logic.
TEMPLATES: list[tuple[str, list[Any]]] = [
    ("eth_getBalance", [DEV_ADDRESS, "latest"]),
    ("eth_getStorageAt", [DEV_ADDRESS, "0x0", {"blockNumber": "0x0"}]),
    ("eth_call", [CALL, "latest", {OTHER_ADDRESS: {"balance": "0x1", "stateDiff": {}}}]),
    ("eth_estimateGas", [CALL, "pending"]),
    ("eth_sendTransaction", [CALL]),
    ("eth_signTransaction", [CALL]),
    ("eth_sign", [DEV_ADDRESS, "0x1234"]),
    (
        "eth_signTypedData_v4",
        [
            DEV_ADDRESS,
            {
                "types": {"EIP712Domain": []},
                "primaryType": "EIP712Domain",
                "domain": {},
                "message": {},
            },
        ],
    ),
    (
        "eth_getLogs",
        [
            {
                "fromBlock": "0x0",
                "toBlock": "latest",
                "address": [OTHER_ADDRESS],
                "topics": [None, ["0x" + "ab" * 32]],
            }
        ],
    ),
    ("eth_newFilter", [{"fromBlock": "earliest", "topics": []}]),
    ("eth_feeHistory", ["0x2", "latest", [25, 75]]),
    ("eth_getBlockByNumber", ["0x0", True]),
    ("eth_getTransactionByBlockNumberAndIndex", ["latest", "0x0"]),
    ("evm_mine", [{"timestamp": 2**33}]),
    ("evm_increaseTime", [60]),
    ("evm_setNextBlockTimestamp", [2**34]),
    ("evm_revert", ["0x1"]),
    ("debug_getRawReceipts", ["latest"]),
    ("txpool_contentFrom", [DEV_ADDRESS]),
    ("eth_sendRawTransaction", ["0x02f86e827a6980843b9aca0084b2d05e00825208"]),
]


def mutated(rng: random.Random) -> dict[str, Any]:
    method, params = rng.choice(TEMPLATES)
    params = json.loads(json.dumps(params))
    if params:
        index = rng.randrange(len(params))
        if isinstance(params[index], dict) and params[index] and rng.random() < 0.7:
            key = rng.choice(sorted(params[index]))
            params[index][key] = value(rng)
        else:
            params[index] = value(rng)
    return {"jsonrpc": "2.0", "id": rng.randrange(10**6), "method": method, "params": params}


def request(rng: random.Random, methods: list[str]) -> Any:
    roll = rng.random()
    if roll < 0.03:
        return value(rng)  # not an object at all
    if roll < 0.5:
        return mutated(rng)
    message: dict[str, Any] = {
        "jsonrpc": "2.0" if rng.random() < 0.95 else rng.choice(["1.0", 2, None]),
        "id": rng.choice([1, "x", None, 2**70, 1, "y", 1.5, [1], {}]),
    }
    if rng.random() < 0.05:
        del message["id"]
    method = rng.choice(methods) if rng.random() < 0.9 else rng.choice(["", "eth_", "x" * 300, 7])
    message["method"] = method
    params_roll = rng.random()
    if params_roll < 0.85:
        message["params"] = [value(rng) for _ in range(rng.randrange(5))]
    elif params_roll < 0.95:
        message["params"] = value(rng)
    return message


def body(rng: random.Random, methods: list[str]) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))  # garbage
    if roll < 0.07:
        return b"[" * 5000 + b"]" * 5000  # deep nesting
    text = json.dumps(request(rng, methods))
    if roll < 0.12:
        text = text[: rng.randrange(len(text))]  # truncated JSON
    return text.encode()


def check_response(item: Any, sent: Any) -> None:
    assert isinstance(item, dict) and item.get("jsonrpc") == "2.0", (sent, item)
    if "error" in item:
        error = item["error"]
        assert error["code"] in ALLOWED_CODES, (sent, item)
        assert isinstance(error["message"], str) and "Traceback" not in error["message"]
    else:
        assert "result" in item, (sent, item)


@pytest.mark.slow
def test_fuzzed_requests_get_error_objects_and_the_node_survives() -> None:
    load_namespaces()
    methods = sorted(set(METHODS) - SLOW_METHODS - FEE_CHEATS)
    rng = random.Random(SEED)
    node = start_devnet()
    session = requests.Session()
    sent_count = 0
    try:
        for _ in range(SINGLE_REQUESTS):
            payload = body(rng, methods)
            response = session.post(
                node.url, data=payload, timeout=30, headers={"Content-Type": "application/json"}
            )
            sent_count += 1
            assert response.status_code in (200, 204), (payload[:300], response.status_code)
            if response.status_code == 204:
                continue
            answer = response.json()
            for item in answer if isinstance(answer, list) else [answer]:
                check_response(item, payload[:300])
        for _ in range(BATCHES):
            batch = [request(rng, methods) for _ in range(BATCH_SIZE)]
            response = session.post(node.url, json=batch, timeout=60)
            sent_count += BATCH_SIZE
            assert response.status_code in (200, 204)
            if response.status_code == 200:
                answers = response.json()
                for item in answers if isinstance(answers, list) else [answers]:
                    check_response(item, batch)
        assert sent_count == SINGLE_REQUESTS + BATCHES * BATCH_SIZE
        # the node still answers, still mines, and its head is intact
        assert node.rpc("eth_chainId") == "0x7a69"
        node.rpc("evm_setAutomine", True)
        before = int(node.rpc("eth_blockNumber"), 16)
        tx_hash = node.rpc("eth_sendTransaction", {"from": OTHER_ADDRESS, "to": DEV_ADDRESS, "value": "0x1"})
        receipt = node.rpc("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and receipt["status"] == "0x1"
        assert int(node.rpc("eth_blockNumber"), 16) > before
        assert node.process.poll() is None
    finally:
        returncode = stop_devnet(node.process)
        stderr = node.process.stderr.read() if node.process.stderr else ""
    assert returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
