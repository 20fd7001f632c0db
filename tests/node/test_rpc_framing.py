"""JSON-RPC 2.0 framing and parameter errors over HTTP, table-driven: each request
gets the right error object and the node keeps serving afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.rpc.dispatcher import MAX_BATCH, MAX_BODY

ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"


def call(method: str, *params: Any, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


# (request body, expected error code, fragment of the message)
ERROR_CASES: list[tuple[str, Any, int, str]] = [
    ("malformed JSON", b'{"jsonrpc": "2.0", "id": 1, "method": ', -32700, "parse error"),
    ("not JSON at all", b"\xff\xfe\x00garbage", -32700, "parse error"),
    ("a number", 42, -32600, "expected a JSON object"),
    ("a string", "eth_blockNumber", -32600, "expected a JSON object"),
    ("null", None, -32600, "expected a JSON object"),
    ("empty batch", [], -32600, "empty batch"),
    (
        "wrong jsonrpc version",
        {"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"},
        -32600,
        "jsonrpc",
    ),
    ("method not a string", {"jsonrpc": "2.0", "id": 1, "method": 5}, -32600, "method"),
    (
        "params not a container",
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": 3},
        -32600,
        "params",
    ),
    ("id an object", {"jsonrpc": "2.0", "id": {}, "method": "eth_chainId"}, -32600, "id"),
    ("unknown method", call("eth_doesNotExist"), -32601, "eth_doesNotExist"),
    ("too many params", call("eth_blockNumber", 1), -32602, "too many arguments"),
    ("missing param", call("eth_getBalance"), -32602, "missing value for required argument 0"),
    (
        "params by name",
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": {"address": ADDRESS}},
        -32602,
        "by position",
    ),
    ("address not a string", call("eth_getBalance", 12, "latest"), -32602, "address"),
    ("address too short", call("eth_getBalance", "0x1234", "latest"), -32602, "20 bytes"),
    ("address not hex", call("eth_getBalance", "0x" + "zz" * 20, "latest"), -32602, "invalid hex"),
    ("address without 0x", call("eth_getBalance", ADDRESS[2:], "latest"), -32602, "0x prefix"),
    ("unknown block tag", call("eth_getBalance", ADDRESS, "newest"), -32602, "block"),
    (
        "block number with leading zero",
        call("eth_getBalance", ADDRESS, "0x01"),
        -32602,
        "leading zeros",
    ),
    ("empty quantity", call("eth_getBalance", ADDRESS, "0x"), -32602, "invalid hex quantity"),
    (
        "absurd block number",
        call("eth_getBalance", ADDRESS, "0x" + "f" * 20),
        -32602,
        "beyond any possible block",
    ),
    (
        "over 256-bit quantity",
        call("eth_getBlockByNumber", "0x1" + "0" * 64, False),
        -32602,
        "256 bits",
    ),
    (
        "block hash and number",
        call("eth_getBalance", ADDRESS, {"blockHash": "0x" + "00" * 32, "blockNumber": "0x0"}),
        -32602,
        "not both",
    ),
    (
        "bad block object field",
        call("eth_getBalance", ADDRESS, {"block": "0x0"}),
        -32602,
        "unknown field",
    ),
    ("odd-length data", call("eth_sendRawTransaction", "0xabc"), -32602, "odd length"),
    ("bool flag as string", call("eth_getBlockByNumber", "latest", "yes"), -32602, "true or false"),
    ("hash too short", call("eth_getTransactionByHash", "0x1234"), -32602, "32 bytes"),
    ("raw tx garbage", call("eth_sendRawTransaction", "0x1234"), -32000, "transaction"),
    (
        "unknown block hash",
        call("eth_getBalance", ADDRESS, {"blockHash": "0x" + "ab" * 32}),
        -32000,
        "header not found",
    ),
    ("block beyond head", call("eth_getBalance", ADDRESS, "0xffffff"), -32000, "header not found"),
    (
        "call with gas and fee fields",
        call("eth_call", {"to": ADDRESS, "gasPrice": "0x1", "maxFeePerGas": "0x1"}),
        -32602,
        "exclusive",
    ),
    ("subscribe over HTTP", call("eth_subscribe", "newHeads"), -32004, "WebSocket"),
    ("unknown filter", call("eth_getFilterChanges", "0x1234"), -32001, "filter not found"),
    (
        "unknown account signs",
        call("eth_sign", "0x" + "11" * 20, "0x00"),
        -32000,
        "unknown account",
    ),
]


@pytest.mark.parametrize(
    ("case", "payload", "code", "fragment"), ERROR_CASES, ids=[case[0] for case in ERROR_CASES]
)
def test_bad_request_gets_its_error_object(devnet, case, payload, code, fragment) -> None:
    raw = payload if isinstance(payload, bytes) else None
    response = devnet.post(payload, raw=raw)
    assert response.status_code == 200
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code, answer
    assert fragment in answer["error"]["message"], answer
    expected_id = payload.get("id") if isinstance(payload, dict) and code != -32600 else None
    if isinstance(payload, dict) and code in (-32600,) and payload.get("id") in (1,):
        expected_id = 1
    assert answer["id"] == expected_id
    assert devnet.rpc("eth_chainId") == "0x7a69"


def test_batch_answers_each_request_in_order(devnet) -> None:
    batch = [
        call("eth_chainId", request_id=1),
        call("nope", request_id="two"),
        7,
        call("web3_sha3", "0x68656c6c6f", request_id=3),
    ]
    answers = devnet.post(batch).json()
    assert [a["id"] for a in answers] == [1, "two", None, 3]
    assert answers[0]["result"] == "0x7a69"
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32600
    assert answers[3]["result"] == "0x1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac8"


def test_notifications_get_no_answer(devnet) -> None:
    single = devnet.post({"jsonrpc": "2.0", "method": "eth_chainId"})
    assert single.status_code == 204 and single.content == b""
    mixed = devnet.post([{"jsonrpc": "2.0", "method": "eth_chainId"}, call("net_version", request_id=9)])
    assert mixed.json() == [{"jsonrpc": "2.0", "id": 9, "result": "31337"}]


def test_oversized_batch_is_refused_whole(devnet) -> None:
    answer = devnet.post([call("eth_chainId", request_id=i) for i in range(MAX_BATCH + 1)]).json()
    assert answer["error"]["code"] == -32600
    assert "batch" in answer["error"]["message"]
    full = devnet.post([call("eth_chainId", request_id=i) for i in range(MAX_BATCH)]).json()
    assert len(full) == MAX_BATCH


def test_oversized_body_is_refused_with_413(devnet) -> None:
    big = json.dumps(call("web3_sha3", "0x" + "00" * (MAX_BODY // 2 + 10))).encode()
    response = devnet.post(None, raw=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600
    assert devnet.rpc("net_listening") is True


def test_get_without_upgrade_is_refused(devnet) -> None:
    import requests

    response = requests.get(devnet.url, timeout=10)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == -32600


def test_cors_headers_only_when_configured(devnet) -> None:
    response = devnet.post(call("eth_chainId"))
    assert "Access-Control-Allow-Origin" not in response.headers


def test_web3_and_net_namespaces(devnet, check_result) -> None:
    assert devnet.rpc("web3_clientVersion").startswith("sumchain/v")
    assert devnet.rpc("web3_sha3", "0x") == (
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert devnet.rpc("net_version") == "31337"
    assert devnet.rpc("net_listening") is True
    check_result("net_version", devnet.rpc("net_version"))


def test_server_answers_while_the_worker_mines(devnet) -> None:
    """A request is answered while the chain worker is busy mining, not after it.

    No clock is asserted: the probe must come back while the mining request is still
    running. A machine fast enough to finish the mining first gets a longer run.
    """
    import threading
    import time

    for count in (500, 2_000, 10_000):  # 10,000: anvil_mine's most blocks per call
        done = threading.Event()

        def mine_many(count: int = count, done: threading.Event = done) -> None:
            devnet.rpc("anvil_mine", hex(count))
            done.set()

        miner = threading.Thread(target=mine_many)
        miner.start()
        time.sleep(0.1)  # let the mining request reach the worker first
        assert devnet.rpc("eth_chainId") == "0x7a69"
        assert devnet.rpc("web3_clientVersion").startswith("sumchain/")
        answered_while_mining = not done.is_set()
        miner.join(600)
        assert done.is_set()
        if answered_while_mining:
            return
    pytest.fail("every probe was answered only after the mining finished")
