"""debug_traceTransaction and debug_traceCall: geth's struct logger and callTracer shapes,
gas that matches the receipt, and clear errors for unknown transactions and tracers."""

from __future__ import annotations

import pytest

from vm_contracts.client import deploy_framework


@pytest.fixture
def added(w3):
    framework = deploy_framework(
        w3,
        model="SparsePerceptron",
        incentive="Stakeable",
        params={"num_features": 16},
        initial={"weights": [0] * 16, "intercept": 0, "learning_rate": 10**9},
    )
    receipt = framework.add_data([1, 2, 3], 1, w3.eth.accounts[1])
    return framework, receipt


def _hash(receipt) -> str:
    text = receipt["transactionHash"].hex()
    return text if text.startswith("0x") else "0x" + text


def test_call_tracer_shows_the_trainer_calling_its_three_components(w3, added) -> None:
    framework, receipt = added
    result = w3.provider.make_request("debug_traceTransaction", [_hash(receipt), {"tracer": "callTracer"}])
    call = result["result"]
    assert call["type"] == "CALL" and call["to"].lower() == framework.address.lower()
    assert int(call["gasUsed"], 16) == receipt["gasUsed"]
    callees = {c["to"].lower() for c in call["calls"]}
    expected = {
        framework.model.address.lower(),
        framework.incentive.address.lower(),
        framework.data_handler.address.lower(),
    }
    assert expected <= callees
    assert all(int(c["gasUsed"], 16) < int(call["gasUsed"], 16) for c in call["calls"])


def test_struct_logger_lists_every_opcode_with_gas(w3, added) -> None:
    _framework, receipt = added
    result = w3.provider.make_request("debug_traceTransaction", [_hash(receipt)])["result"]
    assert result["failed"] is False and result["gas"] == receipt["gasUsed"]
    first = result["structLogs"][0]
    assert set(first) >= {"pc", "op", "gas", "gasCost", "depth", "stack"}
    assert {step["depth"] for step in result["structLogs"]} >= {1, 2}


def test_trace_call_reports_a_revert_without_mining(w3, added) -> None:
    framework, _receipt = added
    before = w3.eth.block_number
    result = w3.provider.make_request(
        "debug_traceCall",
        [
            {"to": framework.address, "data": "0x"},
            "latest",
            {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}},
        ],
    )
    assert result["result"]["error"] == "execution reverted"
    assert "calls" not in result["result"]
    assert w3.eth.block_number == before


def test_unknown_transactions_and_tracers_get_error_objects(w3) -> None:
    missing = w3.provider.make_request("debug_traceTransaction", ["0x" + "11" * 32])
    assert missing["error"]["code"] == -32001
    bad = w3.provider.make_request("debug_traceTransaction", ["0x" + "11" * 32, {"tracer": "4byteTracer"}])
    assert bad["error"]["code"] == -32602 and "not supported" in bad["error"]["message"]
