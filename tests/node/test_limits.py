"""The dispatcher's limits on a real in-memory chain: batch answer size, struct-logger
steps, the call deadline (from the in-process provider too), and the nesting scan."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from node.assemble import assemble
from node.rpc import errors
from node.rpc.deadline import Job
from node.rpc.dispatcher import MAX_DEPTH, Dispatcher, Limits, nesting_depth
from tests.node.conftest import DEV_ADDRESS

ENDLESS_LOOP_INITCODE = "0x635b6000566000526004601cf3"  # deploys JUMPDEST PUSH1 0 JUMP


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    backend = assemble().backend
    node = Dispatcher(backend, Limits(batch_response_bytes=2_000, trace_steps=50, call_timeout=1.0))
    try:
        yield node
    finally:
        node.run_sync(backend.close)
        node.close()


def _deploy_loop(dispatcher: Dispatcher) -> str:
    tx_hash = dispatcher.call("eth_sendTransaction", [{"from": DEV_ADDRESS, "data": ENDLESS_LOOP_INITCODE}])
    return str(dispatcher.call("eth_getTransactionReceipt", [tx_hash])["contractAddress"])


def test_batch_answers_stop_at_the_response_limit(dispatcher: Dispatcher) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["0x0", False]}
        for i in range(10)
    ]
    answers = asyncio.run(dispatcher.handle_payload(batch))
    assert isinstance(answers, list)
    assert [a["id"] for a in answers] == list(range(10))
    served = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert served and refused and answers.index(refused[0]) == len(served)
    assert all(a["error"] == {"code": -32003, "message": "response too large"} for a in refused)


def test_struct_logger_refuses_past_the_step_cap_and_keeps_the_first_limit_steps(
    dispatcher: Dispatcher,
) -> None:
    loop = _deploy_loop(dispatcher)
    call = {"from": DEV_ADDRESS, "to": loop, "gas": hex(100_000)}
    with pytest.raises(errors.LimitExceeded, match="more than 50 steps"):
        dispatcher.call("debug_traceCall", [call, "latest"])
    limited = dispatcher.call("debug_traceCall", [call, "latest", {"limit": 10}])
    assert len(limited["structLogs"]) == 10
    assert [step["op"] for step in limited["structLogs"][:3]] == ["JUMPDEST", "PUSH1", "JUMP"]
    tx_hash = dispatcher.call("eth_sendTransaction", [{**call, "gas": hex(60_000)}])
    with pytest.raises(errors.LimitExceeded):
        dispatcher.call("debug_traceTransaction", [tx_hash])
    assert len(dispatcher.call("debug_traceTransaction", [tx_hash, {"limit": 5}])["structLogs"]) == 5
    tree = dispatcher.call("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    assert tree["to"].lower() == loop.lower()  # the call tracer has no step cap


def test_the_gas_cap_is_never_below_the_block_gas_limit() -> None:
    from chain.config import ChainConfig

    backend = assemble(ChainConfig(gas_limit=60_000_000)).backend
    node = Dispatcher(backend, Limits(gas_cap=1_000_000))
    try:
        code = {"0x00000000000000000000000000000000000c0de1": {"code": "0x5a60005260206000f3"}}
        call = {"from": DEV_ADDRESS, "to": "0x00000000000000000000000000000000000c0de1"}
        given = node.call("eth_call", [{**call, "gas": hex(90_000_000)}, "latest", code])
        assert 59_900_000 < int(given, 16) < 60_000_000  # capped at the block's 60 M
    finally:
        node.run_sync(backend.close)
        node.close()


def test_endless_call_with_a_deadline_is_stopped(dispatcher: Dispatcher) -> None:
    loop = _deploy_loop(dispatcher)
    with pytest.raises(errors.ExecutionTimeout):
        dispatcher.call("eth_call", [{"from": DEV_ADDRESS, "to": loop, "gas": hex(50_000_000)}])
    with pytest.raises(errors.ExecutionTimeout):  # eth_sendTransaction estimates under the deadline
        dispatcher.call("eth_sendTransaction", [{"from": DEV_ADDRESS, "to": loop}])
    assert dispatcher.call("eth_blockNumber") == "0x1"


def test_a_job_is_stopped_at_its_deadline_and_a_finished_one_is_not() -> None:
    spins = threading.Event()

    def forever() -> None:
        while True:
            spins.set()

    job = Job(forever).start()
    assert spins.wait(30)
    assert job.wait(0.2) is False and job.timed_out
    quick = Job(lambda: 42).start()
    assert quick.wait(30) and quick.result == 42
    assert quick.abort() is False and quick.result == 42


def test_a_job_error_is_kept_for_the_caller() -> None:
    def fail() -> Any:
        raise ValueError("bad")

    job = Job(fail).start()
    assert job.wait(30) and isinstance(job.error, ValueError)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b'{"a": [1, 2, {"b": []}]}', 0),  # few brackets: not scanned
        (b"[" * 200 + b"]" * 200, 200),
        (b'["' + b"[" * 300 + b'"]', 1),  # brackets inside a string do not count
        (b'["\\"' + b"{" * 300 + b'"]', 1),  # nor after an escaped quote
        ("{" * 150 + "}" * 150, 150),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(body: bytes | str, depth: int) -> None:
    assert nesting_depth(body) == depth


def test_nesting_just_at_the_limit_is_parsed() -> None:
    assert Dispatcher.parse_body("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(errors.InvalidRequest):
        Dispatcher.parse_body("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
