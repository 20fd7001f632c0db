"""JSON-RPC over WebSocket on the HTTP port: requests, batches, and subscriptions
(newHeads, logs, newPendingTransactions) pushed as blocks are sealed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.node.conftest import COUNTER_BYTECODE, DEV_ADDRESS, OTHER_ADDRESS

TIMEOUT = 20.0  # seconds to wait for one message


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 100
        self.notifications: list[dict[str, Any]] = []

    async def request(self, method: str, *params: Any) -> dict[str, Any]:
        self.next_id += 1
        wanted = self.next_id
        await self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": wanted, "method": method, "params": list(params)})
        )
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
            if message.get("id") == wanted:
                return message
            self.notifications.append(message)

    async def notification(self, subscription: str) -> Any:
        for index, message in enumerate(self.notifications):
            if message["params"]["subscription"] == subscription:
                return self.notifications.pop(index)["params"]["result"]
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
            assert message.get("method") == "eth_subscription", message
            if message["params"]["subscription"] == subscription:
                return message["params"]["result"]
            self.notifications.append(message)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_requests_and_batches_work_over_websocket(devnet) -> None:
    async def scenario() -> None:
        async with websockets.connect(devnet.ws_url) as ws:
            client = Client(ws)
            assert (await client.request("eth_chainId"))["result"] == "0x7a69"
            assert (await client.request("nope"))["error"]["code"] == -32601
            await ws.send('[{"jsonrpc":"2.0","id":1,"method":"net_version"},{"jsonrpc":"2.0","id":2}]')
            answers = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert answers[0]["result"] == "31337" and answers[1]["error"]["code"] == -32600
            await ws.send("{not json")
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["error"]["code"] == -32700

    run(scenario())


def test_subscriptions_push_heads_logs_and_pending_transactions(devnet, check_result) -> None:
    async def scenario() -> None:
        async with websockets.connect(devnet.ws_url) as ws:
            client = Client(ws)
            heads = (await client.request("eth_subscribe", "newHeads"))["result"]
            pending = (await client.request("eth_subscribe", "newPendingTransactions"))["result"]
            logs = (await client.request("eth_subscribe", "logs", {"topics": [None]}))["result"]
            deploy = await client.request(
                "eth_sendTransaction", {"from": DEV_ADDRESS, "data": COUNTER_BYTECODE}
            )
            tx_hash = deploy["result"]
            assert await client.notification(pending) == tx_hash
            head = await client.notification(heads)
            assert head["number"].startswith("0x") and len(head["hash"]) == 66
            receipt = (await client.request("eth_getTransactionReceipt", tx_hash))["result"]
            assert receipt["blockHash"] == head["hash"]
            contract = receipt["contractAddress"]
            add_five = "0x1003e2d2" + (5).to_bytes(32, "big").hex()
            sent = await client.request(
                "eth_sendTransaction", {"from": DEV_ADDRESS, "to": contract, "data": add_five}
            )
            entry = await client.notification(logs)
            check_result("eth_getLogs", [entry])
            assert entry["transactionHash"] == sent["result"]
            assert entry["address"].lower() == contract.lower()
            assert (await client.request("eth_unsubscribe", heads))["result"] is True
            # one queue per socket: heads sent earlier arrived before this answer
            client.notifications.clear()
            assert (await client.request("eth_unsubscribe", heads))["result"] is False
            await client.request("eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS})
            await client.notification(pending)
            assert not any(n["params"]["subscription"] == heads for n in client.notifications)

    run(scenario())


def test_bad_subscriptions_are_refused(devnet) -> None:
    async def scenario() -> None:
        async with websockets.connect(devnet.ws_url) as ws:
            client = Client(ws)
            assert (await client.request("eth_subscribe", "everything"))["error"]["code"] == -32602
            bad_logs = await client.request("eth_subscribe", "logs", {"address": "0x12"})
            assert bad_logs["error"]["code"] == -32602
            assert (await client.request("eth_subscribe"))["error"]["code"] == -32602

    run(scenario())


def test_oversized_websocket_message_closes_only_that_socket(devnet) -> None:
    async def scenario() -> None:
        from node.rpc.dispatcher import MAX_BODY

        async with websockets.connect(devnet.ws_url, max_size=None) as ws:
            await ws.send("[" + " " * (MAX_BODY + 10) + "]")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        async with websockets.connect(devnet.ws_url) as ws:
            assert (await Client(ws).request("eth_chainId"))["result"] == "0x7a69"

    run(scenario())
