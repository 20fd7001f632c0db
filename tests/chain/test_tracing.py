"""The call tracer: frames of real framework transactions on sumchain, re-executed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

from chain.config import ChainConfig
from chain.errors import TraceError
from chain.tracing import trace_call, trace_transaction
from node.provider import InProcessNode
from vm_contracts.client import load_contract

TX_GAS = 8_000_000  # per test transaction: enough for any deployment here
FEATURES = 20
ONE = 10**9  # fixed-point one


def _send(w3: Web3, built: Any, value: int = 0) -> Any:
    tx_hash = built.transact({"from": w3.eth.accounts[0], "gas": TX_GAS, "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def _deploy(w3: Web3, name: str, *args: Any) -> tuple[Any, Any]:
    artifact = load_contract(name, "cancun")
    receipt = _send(w3, w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*args))
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi), receipt


@pytest.fixture(scope="module")
def framework() -> Iterator[dict[str, Any]]:
    """A SparsePerceptron under Points with its data handler and trainer, on Cancun."""
    node = InProcessNode.create(config=ChainConfig(fork="cancun"))
    w3 = node.w3
    model, model_receipt = _deploy(w3, "SparsePerceptron", FEATURES, ONE, 0)
    _send(w3, model.functions.finishInitialization())
    points, _ = _deploy(w3, "Points", 86_400)
    handler, _ = _deploy(w3, "DataHandler")
    trainer, _ = _deploy(
        w3, "CollaborativeTrainer", "m", "", "", handler.address, points.address, model.address
    )
    for part in (model, points, handler):
        _send(w3, part.functions.transferOwnership(trainer.address))
    update = _send(w3, trainer.functions.addData([1, 2, 3], 1))
    yield {
        "node": node,
        "w3": w3,
        "chain": node.backend.chain,
        "model": model,
        "points": points,
        "handler": handler,
        "trainer": trainer,
        "update": update,
        "model_receipt": model_receipt,
    }
    node.close()


def _address(contract: Any) -> bytes:
    return bytes.fromhex(contract.address[2:])


def test_update_trace_shows_the_trainer_calling_each_component(framework: dict) -> None:
    trace = trace_transaction(framework["chain"], bytes(framework["update"]["transactionHash"]))
    root = trace.root
    assert root.type == "CALL"
    assert root.to == _address(framework["trainer"])
    callees = {frame.to for frame in root.calls}
    assert callees == {_address(framework[name]) for name in ("model", "points", "handler")}
    assert all(frame.depth == 1 and frame.error is None for frame in root.calls)


def test_trace_gas_adds_up_to_the_receipt(framework: dict) -> None:
    receipt = framework["update"]
    trace = trace_transaction(framework["chain"], bytes(receipt["transactionHash"]))
    assert trace.gas_used == receipt["gasUsed"]
    assert trace.intrinsic_gas + trace.root.execution_gas - trace.refund == receipt["gasUsed"]
    assert sum(frame.self_gas for frame in trace.root.walk()) == trace.root.execution_gas
    for frame in trace.root.walk():  # opcode gas is the frame's own gas, children excluded
        assert sum(frame.opcode_gas.values()) == frame.self_gas


def test_trace_is_in_geth_call_tracer_shape(framework: dict) -> None:
    receipt = framework["update"]
    geth = trace_transaction(framework["chain"], bytes(receipt["transactionHash"])).to_geth()
    assert geth["from"] == framework["w3"].eth.accounts[0].lower()  # geth gives lower-case addresses
    assert geth["to"] == framework["trainer"].address.lower()
    assert int(geth["gasUsed"], 16) == receipt["gasUsed"]
    assert geth["input"].startswith(
        "0x" + framework["trainer"].functions.addData([1, 2, 3], 1)._encode_transaction_data()[2:10]
    )
    assert {call["type"] for call in geth["calls"]} <= {"CALL", "STATICCALL"}
    assert all(
        set(call) >= {"from", "to", "gas", "gasUsed", "input", "output", "value"} for call in geth["calls"]
    )


def test_creation_is_traced_as_a_create_frame_at_the_new_address(framework: dict) -> None:
    receipt = framework["model_receipt"]
    trace = trace_transaction(framework["chain"], bytes(receipt["transactionHash"]))
    assert trace.root.type == "CREATE"
    assert trace.root.to == _address(framework["model"])
    assert trace.gas_used == receipt["gasUsed"]
    assert trace.root.output  # the deployed code


def test_tracing_leaves_the_chain_unchanged(framework: dict) -> None:
    chain = framework["chain"]
    head = chain.head
    trace_transaction(chain, bytes(framework["update"]["transactionHash"]))
    assert chain.head == head
    assert chain.state_at(head).state_root == head.state_root


def test_reverting_call_reports_the_revert_and_its_data(framework: dict) -> None:
    trainer = framework["trainer"]
    data = trainer.functions.refund(framework["w3"].eth.accounts[0], [9, 9], 0, 1)._encode_transaction_data()
    trace = trace_call(
        framework["chain"],
        {"from": _address(framework["model"]), "to": _address(trainer), "data": bytes.fromhex(data[2:])},
    )
    assert trace.root.error == "execution reverted"
    assert trace.root.output  # the custom error's encoding


def test_unknown_transaction_is_a_trace_error(framework: dict) -> None:
    with pytest.raises(TraceError, match="not in the canonical chain"):
        trace_transaction(framework["chain"], b"\x11" * 32)


def test_struct_logs_list_every_opcode_with_its_gas(framework: dict) -> None:
    receipt = framework["update"]
    trace = trace_transaction(framework["chain"], bytes(receipt["transactionHash"]), steps=True)
    logs = trace.struct_logs()
    steps = logs["structLogs"]
    assert logs["gas"] == receipt["gasUsed"] and logs["failed"] is False
    assert steps[0]["pc"] == 0 and steps[0]["depth"] == 1
    assert {step["depth"] for step in steps} == {1, 2}
    assert "SSTORE" in {step["op"] for step in steps}
    top = sum(step["gasCost"] for step in steps if step["depth"] == 1)
    assert top == trace.root.self_gas
    assert all(step["gas"] >= step["gasCost"] >= 0 for step in steps)


def test_struct_logs_need_steps(framework: dict) -> None:
    trace = trace_transaction(framework["chain"], bytes(framework["update"]["transactionHash"]))
    with pytest.raises(TraceError, match="without steps"):
        trace.struct_logs()
