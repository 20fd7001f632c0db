"""eth_createAccessList: the touched accounts and slots, gas with the list attached, and
the spec's result shape."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.testdata import OPENRPC_SPEC
from vm_contracts.client import deploy_framework


@pytest.fixture(scope="module")
def schema() -> dict:
    methods = json.loads(OPENRPC_SPEC.read_text())["methods"]
    return next(m for m in methods if m["name"] == "eth_createAccessList")["result"]["schema"]


def test_access_list_names_the_trainers_components_and_lowers_gas(w3, schema) -> None:
    framework = deploy_framework(
        w3,
        model="SparsePerceptron",
        incentive="Points",
        params={"num_features": 16},
        initial={"weights": [0] * 16, "intercept": 0, "learning_rate": 10**9},
    )
    call = framework.trainer.functions.addData([1, 2, 3], 1).build_transaction(
        {"from": w3.eth.accounts[1], "gas": 2_000_000}
    )
    request = {"from": call["from"], "to": call["to"], "data": call["data"], "gas": hex(call["gas"])}
    result = w3.provider.make_request("eth_createAccessList", [request, "latest"])["result"]
    jsonschema.Draft201909Validator(schema).validate(result)
    listed = {entry["address"].lower() for entry in result["accessList"]}
    assert framework.model.address.lower() in listed
    assert framework.data_handler.address.lower() in listed
    assert w3.eth.accounts[1].lower() not in listed
    plain = w3.eth.estimate_gas({**request, "gas": call["gas"]})
    assert int(result["gasUsed"], 16) <= plain + 2_000  # warm access saves what the list costs


def test_access_list_of_a_plain_transfer_is_empty(w3, schema) -> None:
    request = {"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": "0x1"}
    result = w3.provider.make_request("eth_createAccessList", [request])["result"]
    jsonschema.Draft201909Validator(schema).validate(result)
    assert result == {"accessList": [], "gasUsed": hex(21_000)}
