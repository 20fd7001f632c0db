"""The one deployer: its gas policies size initialisation chunks as they say, linked
libraries are filled into solc's link references, and connect() names a dead URL.
(connect() against live nodes: the CLI's --rpc tests in tests/node.)"""

from __future__ import annotations

import math
import socket

import pytest
from eth_utils import keccak

from vm_contracts.deploy import (
    Artifact,
    Deployer,
    GasPolicy,
    artifact_from_json,
    connect,
    deploy_instance,
    linked_library_names,
)
from vm_contracts.errors import DeploymentError, NodeUnreachable

FEATURES = 300
BUDGET = 2_500_000  # gas per initialisation transaction
ENTRY_GAS = 25_000  # gas budgeted per entry: 100 entries per chunk

# A contract whose runtime code holds a library address: PUSH20 <address>; POP; STOP.
PLACEHOLDER = "__$" + keccak(text="lib/Lib.sol:Lib").hex()[:34] + "$__"
RUNTIME = "73" + PLACEHOLDER + "5000"
INIT = "6017600c60003960176000f3"  # CODECOPY the 23-byte runtime after these 12 bytes; RETURN it
LINK_REFERENCES = {"lib/Lib.sol": {"Lib": [{"start": 13, "length": 20}]}}  # 12 bytes + PUSH20


def _state() -> dict[str, object]:
    weights = [(-1) ** i * (1 + i) for i in range(FEATURES)]
    return {"num_features": FEATURES, "learning_rate": 10**9, "weights": weights}


def _initialize_steps(instance_steps: list) -> list:  # type: ignore[type-arg]
    return [s for s in instance_steps if s.action == "initialize"]


def test_fixed_policy_writes_budget_over_entry_gas_entries_per_transaction(w3) -> None:
    policy = GasPolicy(estimate=False, init_gas_budget=BUDGET, entry_gas=ENTRY_GAS)
    instance = deploy_instance(w3, "SparsePerceptron", "Stakeable", _state(), policy=policy)
    chunks = _initialize_steps(instance.steps)
    assert len(chunks) == math.ceil(FEATURES / (BUDGET // ENTRY_GAS))
    assert all(s.detail == "weights" and s.component == "model" for s in chunks)
    # without estimates every transaction is given the block gas limit
    gas_limit = w3.eth.get_block("latest")["gasLimit"]
    assert all(w3.eth.get_transaction(s.receipt["transactionHash"])["gas"] == gas_limit for s in chunks)
    assert [s.action for s in instance.steps][-3:] == ["transferOwnership"] * 3
    assert set(instance.addresses) == {"model", "incentive", "data_handler", "trainer"}


def test_estimated_policy_keeps_each_chunk_within_the_budget(w3) -> None:
    instance = deploy_instance(
        w3, "SparsePerceptron", "Stakeable", _state(), policy=GasPolicy(init_gas_budget=BUDGET)
    )
    chunks = _initialize_steps(instance.steps)
    assert len(chunks) > 1
    assert all(int(s.receipt["gasUsed"]) <= BUDGET for s in chunks)


def test_fixed_and_estimated_policies_deploy_the_same_model(w3) -> None:
    from vm_contracts.client import Framework

    fixed = deploy_instance(w3, "SparsePerceptron", "Stakeable", _state(), policy=GasPolicy(estimate=False))
    estimated = deploy_instance(w3, "SparsePerceptron", "Stakeable", _state())
    weights = [Framework.from_instance(i).read_model()["weights"] for i in (fixed, estimated)]
    assert weights[0] == weights[1] == _state()["weights"]


def test_all_zero_chunks_are_skipped_unless_the_policy_writes_zeros(w3) -> None:
    state = {"num_classes": 2, "num_features": 50}  # sums all zero, sample counts zero
    sent = {}
    for write_zeros in (False, True):
        policy = GasPolicy(estimate=False, write_zeros=write_zeros)
        instance = deploy_instance(w3, "SparseNearestCentroid", "Points", state, policy=policy)
        sent[write_zeros] = [s.detail for s in instance.steps if s.action.startswith("initialize")]
    assert sent[False] == []
    assert sent[True] == ["sums[0]", "sums[1]", "initializeSampleCounts"]


def _linking_artifact() -> Artifact:
    return artifact_from_json(
        "UsesLib",
        {"abi": [], "bytecode": {"object": INIT + RUNTIME, "linkReferences": LINK_REFERENCES}},
    )


def test_a_linked_library_address_is_in_the_deployed_code(w3) -> None:
    library = "0x" + "ab" * 20
    deployer = Deployer(w3, libraries={"Lib": library})
    contract = deployer.contract(_linking_artifact())
    code = bytes(w3.eth.get_code(contract.address))
    assert code == bytes.fromhex("73" + "ab" * 20 + "5000")


def test_the_libraries_an_artifact_links_are_named_from_its_link_references() -> None:
    assert linked_library_names(_linking_artifact()) == ["Lib"]
    assert linked_library_names(artifact_from_json("Plain", {"abi": [], "bytecode": "0x6000"})) == []


def test_libraries_may_be_named_fully_qualified() -> None:
    linked = _linking_artifact().linked({"lib/Lib.sol:Lib": "0x" + "cd" * 20})
    assert linked == "0x" + INIT + "73" + "cd" * 20 + "5000"


def test_a_missing_library_refuses_before_anything_is_sent(w3) -> None:
    before = w3.eth.block_number
    with pytest.raises(DeploymentError, match="links library Lib"):
        Deployer(w3).contract(_linking_artifact())
    assert w3.eth.block_number == before


def test_placeholders_without_link_references_are_refused() -> None:
    artifact = artifact_from_json("Broken", {"abi": [], "bytecode": "0x" + INIT + RUNTIME})
    with pytest.raises(DeploymentError, match="placeholders"):
        artifact.linked({})


def test_connect_names_a_url_where_no_node_answers() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(NodeUnreachable, match=f"cannot reach a node at {url}") as raised:
        connect(url, timeout_s=5)
    assert raised.value.url == url
