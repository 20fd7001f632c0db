"""The same RPC scenarios on sumchain and on anvil 1.7.1 (both started here), compared
wherever anvil has the feature: eth_simulateV1, the raw-transaction getters, the
pending block, calls and estimates at latest and at pending under a pinned timestamp,
and the prestate / call tracers' shapes.

What anvil 1.7.1 does differently, and so is not compared: its simulated blocks number
from 0 with zero parent hash and state root (sumchain's follow on from the base block,
as geth's), it checks neither block order nor nonces in eth_simulateV1 (sumchain
answers the specification's -38020 / -38011), and it answers -32003 where the
specification says -38014, and -3200 for a reverted call where it says 3. Hashes
differ where the chains differ (genesis, Clique seal).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_utils import to_checksum_address

from bench.nodes import start_anvil
from bench.tools import ToolMissing, find_anvil
from chain.config import ChainConfig
from node.provider import InProcessNode
from tests.node.conftest import COUNTER_BYTECODE, DEV_ADDRESS, DEV_KEY, OTHER_ADDRESS
from tests.node.test_rpc_methods import clock_contract_init

ADD = "0x1003e2d2"  # Counter.add(uint256)
ENV = "0x00000000000000000000000000000000000000e1"
ENV_CODE = "0x435f52426020526040" + "5ff3"  # returns NUMBER and TIMESTAMP
FORWARD = "0x00000000000000000000000000000000000000f1"
FORWARD_CODE = "0x5f5f5f5f345f355af15000"  # sends its value on to the address in its calldata
EMIT = "0x00000000000000000000000000000000000000e2"
EMIT_CODE = "0x5f5fa000"  # LOG0
FEES = {"maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9}
CHAIN_ID = 31337
RECEIPT_S = 10.0  # seconds a node may take to seal an automined transaction


class Node:
    """One node over JSON-RPC: anvil over HTTP, sumchain through its in-process dispatcher."""

    def __init__(self, name: str, request: Any) -> None:
        self.name = name
        self._request = request

    def answer(self, method: str, *params: Any) -> dict[str, Any]:
        return self._request(method, list(params))  # type: ignore[no-any-return]

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.answer(method, *params)
        assert "error" not in answer, (self.name, method, answer)
        return answer["result"]

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """The transaction's receipt, waiting for automine to seal it: anvil mines in a
        task of its own, so a receipt asked for at once after sending may still be null
        (foundry-rs/foundry#3537, #10944), as on any node, and clients poll for it."""
        deadline = time.monotonic() + RECEIPT_S
        while (receipt := self.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{self.name}: no receipt for {tx_hash}"
            time.sleep(0.02)
        return dict(receipt)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Node]:
    try:
        find_anvil(None, "this test")
    except ToolMissing as exc:
        pytest.fail(f"{exc} (`make test` runs npm install)")
    with start_anvil(fork="cancun", chain_id=CHAIN_ID) as process:
        session = requests.Session()

        def request(method: str, params: list[Any]) -> dict[str, Any]:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            return session.post(process.url, json=body, timeout=30).json()  # type: ignore[no-any-return]

        yield Node("anvil", request)


@pytest.fixture
def nodes(anvil: Node) -> Iterator[list[Node]]:
    """anvil at a fresh snapshot and a fresh sumchain, both with the same funded dev account."""
    snapshot = anvil.rpc("evm_snapshot")
    with InProcessNode.create(config=ChainConfig(chain_id=CHAIN_ID)) as running:
        sumchain = Node("sumchain", lambda method, params: running.provider.make_request(method, params))
        yield [sumchain, anvil]
    anvil.rpc("evm_revert", snapshot)
    anvil.rpc("evm_setAutomine", True)


def signed(nonce: int, **fields: Any) -> str:
    if "to" in fields:
        fields["to"] = to_checksum_address(fields["to"])
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "gas": 300_000, "value": 0, **FEES, **fields}
    return "0x" + Account.sign_transaction(tx, DEV_KEY).raw_transaction.hex().removeprefix("0x")


def nonce_of(node: Node) -> int:
    return int(node.rpc("eth_getTransactionCount", DEV_ADDRESS, "pending"), 16)


def calls_of(blocks: list[dict[str, Any]]) -> list[list[tuple[Any, ...]]]:
    """What must match between nodes: per block with calls (anvil does not fill skipped
    numbers with empty blocks, as geth does), each call's status, output, gas, logs."""
    return [
        [
            (
                call["status"],
                call["returnData"],
                call["gasUsed"],
                [(log["address"], log["topics"], log["data"]) for log in call["logs"]],
            )
            for call in block["calls"]
        ]
        for block in blocks
        if block["calls"]
    ]


def test_simulate_v1_gives_the_same_call_results(nodes: list[Node]) -> None:
    calldata = "0x" + EMIT[2:].rjust(64, "0")
    codes = {FORWARD: {"code": FORWARD_CODE}, EMIT: {"code": EMIT_CODE}}
    payload = {
        "blockStateCalls": [
            {
                "stateOverrides": codes,
                "calls": [
                    {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": hex(10**18)},
                    {"from": DEV_ADDRESS, "to": FORWARD, "value": "0x7", "input": calldata},
                ],
            },
            {
                "blockOverrides": {"number": "0x20", "time": hex(2_000_000_000)},
                "stateOverrides": {OTHER_ADDRESS: {"balance": hex(5 * 10**18)}},
                "calls": [{"from": OTHER_ADDRESS, "to": DEV_ADDRESS, "value": hex(10**18)}],
            },
        ],
        "traceTransfers": True,
    }
    results = [node.rpc("eth_simulateV1", payload, "latest") for node in nodes]
    ours, theirs = results
    assert calls_of(ours) == calls_of(theirs)
    assert ours[-1]["number"] == theirs[-1]["number"] == "0x20"
    assert ours[-1]["timestamp"] == theirs[-1]["timestamp"] == hex(2_000_000_000)
    assert [len(block["transactions"]) for block in ours] == [2] + [0] * (len(ours) - 2) + [1]
    transfers = [log for log in ours[0]["calls"][1]["logs"] if log["address"] == "0x" + "ee" * 20]
    assert len(transfers) == 2  # the call's own value and the forwarded one
    # a revert answers code 3 on both
    revert = {"blockStateCalls": [{"stateOverrides": {ENV: {"code": "0x5f5ffd"}}, "calls": [{"to": ENV}]}]}
    reverted = [node.rpc("eth_simulateV1", revert)[0]["calls"][0] for node in nodes]
    assert [call["status"] for call in reverted] == ["0x0", "0x0"]
    assert reverted[0]["error"]["code"] == 3  # the specification's; anvil 1.7.1 answers -3200


def test_raw_transaction_getters_give_the_same_bytes(nodes: list[Node]) -> None:
    raw = signed(0, to=OTHER_ADDRESS, value=5)
    for node in nodes:
        tx_hash = node.rpc("eth_sendRawTransaction", raw)
        receipt = node.receipt(tx_hash)
        assert node.rpc("eth_getRawTransactionByHash", tx_hash) == raw, node.name
        by_number = node.rpc("eth_getRawTransactionByBlockNumberAndIndex", receipt["blockNumber"], "0x0")
        by_hash = node.rpc("eth_getRawTransactionByBlockHashAndIndex", receipt["blockHash"], "0x0")
        assert by_number == by_hash == raw, node.name
        assert node.rpc("eth_getRawTransactionByHash", "0x" + "11" * 32) is None, node.name
        assert node.rpc("eth_getRawTransactionByBlockNumberAndIndex", receipt["blockNumber"], "0x5") is None
        assert node.rpc("eth_getBlockReceipts", receipt["blockHash"])[0]["transactionHash"] == tx_hash


def test_the_pending_block_holds_the_pool_on_both(nodes: list[Node]) -> None:
    seen = []
    for node in nodes:
        node.rpc("evm_setAutomine", False)
        head = node.rpc("eth_getBlockByNumber", "latest", False)
        hashes = [
            node.rpc("eth_sendRawTransaction", signed(n, to=OTHER_ADDRESS, value=n + 1)) for n in range(2)
        ]
        pending = node.rpc("eth_getBlockByNumber", "pending", False)
        balance = int(node.rpc("eth_getBalance", OTHER_ADDRESS, "pending"), 16) - int(
            node.rpc("eth_getBalance", OTHER_ADDRESS, "latest"), 16
        )
        assert pending["transactions"] == hashes, node.name
        assert pending["parentHash"] == head["hash"], node.name
        seen.append((int(pending["number"], 16) - int(head["number"], 16), pending["gasUsed"], balance))
        node.rpc("evm_mine")
        assert node.rpc("eth_getBlockByNumber", "latest", False)["transactions"] == hashes
    assert seen[0] == seen[1] == (1, hex(2 * 21_000), 3)


def test_calls_and_estimates_under_a_pinned_timestamp_agree(nodes: list[Node]) -> None:
    found = []
    for node in nodes:
        head = node.rpc("eth_getBlockByNumber", "latest", False)
        start = int(head["timestamp"], 16)
        deploy = node.rpc("eth_sendRawTransaction", signed(nonce_of(node), data=clock_contract_init(start)))
        clock = node.receipt(deploy)["contractAddress"]
        latest = node.rpc("eth_getBlockByNumber", "latest", False)
        node.rpc("evm_setNextBlockTimestamp", hex(start + 3_000))
        env_code = {ENV: {"code": ENV_CODE}}
        at_latest = node.rpc("eth_call", {"to": ENV}, "latest", env_code)
        at_pending = node.rpc("eth_call", {"to": ENV}, "pending", env_code)
        request = {"from": DEV_ADDRESS, "to": clock}
        estimates = [
            int(node.rpc("eth_estimateGas", request), 16),
            int(node.rpc("eth_estimateGas", request, "pending"), 16),
        ]
        latest_estimate = int(node.rpc("eth_estimateGas", request, "latest"), 16)
        number = int(latest["number"], 16)
        assert int(at_latest[2:66], 16) == number and int(at_latest[66:130], 16) == int(
            latest["timestamp"], 16
        )
        assert int(at_pending[2:66], 16) == number + 1 and int(at_pending[66:130], 16) == start + 3_000
        tx = node.rpc("eth_sendRawTransaction", signed(nonce_of(node), to=clock, gas=estimates[0]))
        assert node.receipt(tx)["status"] == "0x1", node.name
        found.append((estimates, latest_estimate < estimates[0]))
    assert found[0] == found[1] == ([21_037 + 43 * 3_000] * 2, True)


def test_tracers_give_the_same_shapes(nodes: list[Node]) -> None:
    shapes = []
    for node in nodes:
        deploy = node.rpc("eth_sendRawTransaction", signed(nonce_of(node), data=COUNTER_BYTECODE))
        counter = node.receipt(deploy)["contractAddress"]
        add = node.rpc(
            "eth_sendRawTransaction", signed(nonce_of(node), to=counter, data=ADD + "3".rjust(64, "0"))
        )
        gas_used = node.receipt(add)["gasUsed"]
        pre = node.rpc("debug_traceTransaction", add, {"tracer": "prestateTracer"})
        diff = node.rpc(
            "debug_traceTransaction", add, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
        )
        call = node.rpc("debug_traceTransaction", add, {"tracer": "callTracer"})
        sender = DEV_ADDRESS.lower()
        shapes.append(
            (
                set(pre[counter]),
                pre[counter]["storage"],
                pre[sender]["nonce"],
                set(diff),
                diff["post"][counter],
                set(diff["post"][sender]),
                diff["post"][sender]["nonce"],
                call["type"],
                call["from"],
                call["to"] == counter,
                call["gasUsed"] == gas_used,
            )
        )
    assert shapes[0] == shapes[1]
    assert shapes[0][4] == {"storage": {"0x" + "00" * 32: "0x" + "3".rjust(64, "0")}}
