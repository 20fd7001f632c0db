"""What one request, one client or one browser page must not be able to do to the node:
crash it (a nesting bomb), freeze it (an endless call, a big block), exhaust it
(gas, filters, connections, memory), or use its unlocked accounts from a foreign page."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import websockets
from websockets.typing import Origin

from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS, Devnet, start_devnet, stop_devnet

# runtime code: JUMPDEST PUSH1 0 JUMP — loops until its gas runs out
ENDLESS_LOOP = "0x5b600056"
# runtime code: GAS PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN — returns the gas it was given
RETURN_GAS = "0x5a60005260206000f3"
LOOP_ADDRESS = "0x00000000000000000000000000000000000c0de1"
NESTING_BOMB_DEPTH = 66_000  # the depth that crashed the node with SIGSEGV (132 KB)


def request(method: str, *params: Any, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def endless_call(gas: int = 50_000_000) -> dict[str, Any]:
    """eth_call params: an endless loop, put at LOOP_ADDRESS by a state override."""
    return request(
        "eth_call",
        {"from": DEV_ADDRESS, "to": LOOP_ADDRESS, "gas": hex(gas)},
        "latest",
        {LOOP_ADDRESS: {"code": ENDLESS_LOOP}},
    )


# --- Critical: the nesting bomb ---------------------------------------------------------


def test_nesting_bomb_over_http_is_refused_and_the_node_stays_up(devnet: Devnet) -> None:
    bomb = b"[" * NESTING_BOMB_DEPTH + b"]" * NESTING_BOMB_DEPTH
    answer = devnet.post(None, raw=bomb).json()
    assert answer["error"]["code"] == -32600
    assert "nested" in answer["error"]["message"]
    assert devnet.rpc("eth_chainId") == "0x7a69"


def test_nesting_bomb_over_websocket_is_refused_and_the_node_stays_up(devnet: Devnet) -> None:
    async def scenario() -> None:
        async with websockets.connect(devnet.ws_url) as ws:
            await ws.send("{" * 10 + "[" * NESTING_BOMB_DEPTH + "]" * NESTING_BOMB_DEPTH)
            answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert answer["error"]["code"] == -32600
            await ws.send(json.dumps(request("eth_chainId")))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["result"] == "0x7a69"

    asyncio.run(scenario())
    assert devnet.process.poll() is None


def test_nesting_within_the_limit_and_brackets_in_strings_are_parsed(devnet: Devnet) -> None:
    nested = json.loads("[" * 100 + "]" * 100)
    answer = devnet.post(request("web3_sha3", nested)).json()
    assert answer["error"]["code"] == -32602  # parsed, then refused as a parameter
    in_string = devnet.post(request("web3_sha3", "[" * 5000)).json()
    assert in_string["error"]["code"] == -32602


def test_huge_numeric_id_gets_valid_json(devnet: Devnet) -> None:
    body = b'{"jsonrpc":"2.0","id":1e400,"method":"eth_chainId"}'
    text = devnet.post(None, raw=body).text

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the answer: {text}")

    answer = json.loads(text, parse_constant=refuse)
    assert answer["error"]["code"] == -32600 and answer["id"] is None
    batch = devnet.post(None, raw=b'[{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}]')
    assert json.loads(batch.text, parse_constant=refuse)["error"]["code"] == -32700


# --- High: gas cap, timeout, reads never wait -------------------------------------------


def test_call_gas_above_the_cap_runs_with_the_cap(devnet: Devnet) -> None:
    given = devnet.rpc(
        "eth_call",
        {"from": DEV_ADDRESS, "to": LOOP_ADDRESS, "gas": hex(300_000_000)},
        "latest",
        {LOOP_ADDRESS: {"code": RETURN_GAS}},
    )
    assert 49_900_000 < int(given, 16) < 50_000_000  # geth's 50 M cap, less intrinsic gas


def test_endless_call_is_stopped_at_the_timeout() -> None:
    slow = start_devnet("--rpc-timeout", "1")
    try:
        answer = slow.post(endless_call()).json()
        assert answer["error"]["code"] == -32000
        assert "timeout" in answer["error"]["message"]
        assert slow.rpc("eth_blockNumber") == "0x0"
    finally:
        stop_devnet(slow.process)


def _in_background(fn: Any) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


# Gas for a call that outlasts a 20 s timeout: the lean interpreter loop runs the default
# 50 M gas of ENDLESS_LOOP in about 4 s, so this test raises the node's cap.
LONG_CALL_GAS = 2_000_000_000


def test_block_number_is_answered_while_a_long_call_runs() -> None:
    node = start_devnet("--rpc-timeout", "20", "--rpc-gascap", str(LONG_CALL_GAS))
    try:
        answers: list[dict[str, Any]] = []
        call = _in_background(lambda: answers.append(node.post(endless_call(LONG_CALL_GAS)).json()))
        running = node.rpc("eth_blockNumber")  # may arrive before the call starts: ask again
        for _ in range(5):
            running = node.rpc("eth_blockNumber")
            balance = node.rpc("eth_getBalance", DEV_ADDRESS, "latest")
        assert call.is_alive(), "the call ended before the reads were answered"
        assert running == "0x0" and int(balance, 16) > 0
        call.join(60)
        assert answers and "timeout" in answers[0]["error"]["message"]
    finally:
        stop_devnet(node.process)


def _deploy_gas_burner(node: Devnet) -> str:
    """A contract whose code loops until less than 10,000 gas is left, then stops."""
    runtime = "5b6127105a1160005700"  # JUMPDEST PUSH2 10000 GAS GT PUSH1 0 JUMPI STOP
    initcode = "0x69" + runtime + "600052600a6016f3"
    tx_hash = node.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, "data": initcode})
    receipt = node.rpc("eth_getTransactionReceipt", tx_hash)
    return receipt["contractAddress"]


@pytest.mark.parametrize("store", ["memory", "lmdb"])
def test_reads_answer_the_committed_head_while_a_big_block_is_built(store: str, tmp_path: Any) -> None:
    node = start_devnet(*(("--datadir", str(tmp_path / "data")) if store == "lmdb" else ()))
    try:
        burner = _deploy_gas_burner(node)
        node.rpc("evm_setAutomine", False)
        head = node.rpc("eth_blockNumber")
        for _ in range(6):
            node.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, "to": burner, "gas": hex(1_000_000)})
        mined: list[Any] = []
        miner = _in_background(lambda: mined.append(node.rpc("evm_mine")))
        seen = [node.rpc("eth_blockNumber") for _ in range(3)]
        block = node.rpc("eth_getBlockByNumber", "latest", False)
        still_building = miner.is_alive()
        miner.join(120)
        assert mined, "the block was not built"
        new_head = node.rpc("eth_getBlockByNumber", "latest", False)
        assert int(new_head["gasUsed"], 16) > 5_000_000
        if still_building:  # answered during the build: from the committed head only
            assert seen == [head] * 3 and block["number"] == head
        assert still_building, "the block was built before the reads were answered"
    finally:
        stop_devnet(node.process)


# --- Medium: browser pages ----------------------------------------------------------------


def test_text_plain_post_from_a_foreign_page_cannot_send(devnet: Devnet) -> None:
    before = devnet.rpc("eth_getBalance", OTHER_ADDRESS, "latest")
    body = json.dumps(
        request(
            "eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0xde0b6b3a7640000"}
        )
    )
    response = requests.post(
        devnet.url,
        data=body,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        timeout=30,
    )
    assert response.status_code == 415
    json_from_page = requests.post(
        devnet.url,
        data=body,
        headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
        timeout=30,
    )
    assert json_from_page.status_code == 403
    assert "Access-Control-Allow-Origin" not in json_from_page.headers
    assert devnet.rpc("eth_getBalance", OTHER_ADDRESS, "latest") == before


def test_foreign_host_header_is_refused(devnet: Devnet) -> None:
    port = urlsplit(devnet.url).port
    call = json.dumps(request("eth_chainId"))
    headers = {"Content-Type": "application/json"}
    rebound = requests.post(devnet.url, data=call, headers={**headers, "Host": "evil.example"}, timeout=30)
    assert rebound.status_code == 403
    by_name = requests.post(
        devnet.url, data=call, headers={**headers, "Host": f"localhost:{port}"}, timeout=30
    )
    assert by_name.json()["result"] == "0x7a69"


def test_websocket_from_a_foreign_origin_is_refused(devnet: Devnet) -> None:
    async def scenario() -> None:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(devnet.ws_url, origin=Origin("http://evil.example")):
                pass
        assert refused.value.response.status_code == 403
        port = urlsplit(devnet.url).port
        async with websockets.connect(devnet.ws_url, origin=Origin(f"http://localhost:{port}")) as ws:
            await ws.send(json.dumps(request("eth_chainId")))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["result"] == "0x7a69"

    asyncio.run(scenario())


def test_cors_answers_listed_origins_only() -> None:
    node = start_devnet("--cors", "https://a.example,https://b.example")
    try:
        for origin in ("https://a.example", "https://b.example"):
            response = requests.post(
                node.url, json=request("eth_chainId"), headers={"Origin": origin}, timeout=30
            )
            assert response.headers["Access-Control-Allow-Origin"] == origin
        other = requests.post(
            node.url, json=request("eth_chainId"), headers={"Origin": "https://c.example"}, timeout=30
        )
        assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other.headers
    finally:
        stop_devnet(node.process)


# --- Medium: filters and connections ------------------------------------------------------


def test_one_connection_cannot_take_every_filter(devnet: Devnet) -> None:
    from node.filters import MAX_FILTERS_PER_CLIENT

    greedy, other = requests.Session(), requests.Session()
    installed = []
    for _ in range(MAX_FILTERS_PER_CLIENT):
        answer = greedy.post(devnet.url, json=request("eth_newBlockFilter"), timeout=30).json()
        installed.append(answer["result"])
    refused = greedy.post(devnet.url, json=request("eth_newBlockFilter"), timeout=30).json()
    assert refused["error"]["code"] == -32005
    assert "result" in other.post(devnet.url, json=request("eth_newBlockFilter"), timeout=30).json()
    for filter_id in installed:
        greedy.post(devnet.url, json=request("eth_uninstallFilter", filter_id), timeout=30)


def _connect(node: Devnet) -> socket.socket:
    parts = urlsplit(node.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the socket (reads until EOF; bounded by the timeout)."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_and_idle_connections_are_closed() -> None:
    node = start_devnet("--header-timeout", "1", "--idle-timeout", "1")
    try:
        slow = _connect(node)
        slow.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
        idle = _connect(node)
        body = json.dumps(request("eth_chainId")).encode()
        idle.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert _closed_by_server(slow)
        assert _closed_by_server(idle)
        assert node.rpc("eth_chainId") == "0x7a69"
    finally:
        stop_devnet(node.process)


def test_connections_over_the_limit_are_closed_oldest_first() -> None:
    node = start_devnet("--max-connections", "4")
    try:
        held = [_connect(node) for _ in range(8)]
        assert all(_closed_by_server(sock) for sock in held[:4])  # the oldest idle ones
        refused = node.post(request("eth_chainId"))
        assert refused.status_code == 503
        assert "too many connections" in refused.json()["error"]["message"]
        for sock in held:
            sock.close()
        answers = [node.post(request("eth_chainId")).status_code for _ in range(20)]
        assert 200 in answers
    finally:
        stop_devnet(node.process)


# --- Low ------------------------------------------------------------------------------------


def test_malformed_http_requests_log_no_traceback() -> None:
    node = start_devnet()
    try:
        for _ in range(20):
            sock = _connect(node)
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            _closed_by_server(sock)
            sock.close()
        assert node.rpc("eth_chainId") == "0x7a69"
    finally:
        stop_devnet(node.process)
    err = node.process.stderr.read() if node.process.stderr else ""
    assert "Traceback" not in err
    assert err.count("\n") < 20


def test_sighup_stops_the_node_cleanly() -> None:
    node = start_devnet()
    node.process.send_signal(signal.SIGHUP)
    assert node.process.wait(15) == 0
    out = node.output()
    assert "stopped" in out


def test_sigterm_during_a_long_call_stops_promptly() -> None:
    node = start_devnet("--rpc-timeout", "120")
    call = _in_background(lambda: _post_quietly(node, endless_call()))
    for _ in range(5):
        assert node.rpc("eth_blockNumber") == "0x0"
    time.sleep(0.5)  # setup only: let the call reach the node
    assert call.is_alive()
    node.process.send_signal(signal.SIGTERM)
    assert node.process.wait(15) == 0  # the call would run for minutes
    call.join(30)


def _post_quietly(node: Devnet, payload: Any) -> None:
    try:
        node.post(payload)
    except requests.RequestException:
        pass  # the node stopped under the call: that is the point


def test_listening_beyond_loopback_warns_about_the_dev_accounts() -> None:
    node = start_devnet("--host", "0.0.0.0")
    stop_devnet(node.process)
    err = node.process.stderr.read() if node.process.stderr else ""
    assert "unlocked dev accounts" in err
    local = start_devnet()
    stop_devnet(local.process)
    assert "unlocked" not in (local.process.stderr.read() if local.process.stderr else "")


def test_streamed_batch_answers_are_one_json_array(devnet: Devnet) -> None:
    batch = [request("eth_getBlockByNumber", "0x0", True, request_id=i) for i in range(300)]
    batch.insert(7, {"jsonrpc": "2.0", "method": "eth_chainId"})  # a notification: no answer
    response = devnet.post(batch)
    assert response.headers["Content-Type"].startswith("application/json")
    answers = response.json()
    assert [a["id"] for a in answers] == list(range(300))
    only_notifications = devnet.post([{"jsonrpc": "2.0", "method": "eth_chainId"}] * 3)
    assert only_notifications.status_code == 204 and only_notifications.content == b""


def test_one_client_with_many_calls_does_not_starve_another(devnet: Devnet) -> None:
    # ten million gas of endless loop ends out of gas after a few tenths of a second of the
    # lean loop (a second per million on py-evm's plain loop, which calls used before the
    # reading chains got the lean loop back): ten of them keep the batch busy for seconds
    heavy = [dict(endless_call(10_000_000), id=i) for i in range(10)]
    answers: list[Any] = []
    greedy = _in_background(lambda: answers.append(devnet.post(heavy).json()))
    time.sleep(0.5)  # setup only: let the batch start
    other = devnet.post(endless_call(1_000_000)).json()
    assert "error" in other and "out of gas" in other["error"]["message"].lower()
    assert greedy.is_alive(), "the batch was done before the other client was served"
    greedy.join(300)
    assert len(answers[0]) == 10
