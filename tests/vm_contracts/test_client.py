"""The SDK against a real chain: every model under every incentive mechanism, versioned
reads, chunked initialisation, model replacement and named reverts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from bench.nodes import start_anvil
from vm_contracts.client import (
    INCENTIVES,
    MODELS,
    Framework,
    deploy_framework,
)
from vm_contracts.encoding import SCALE
from vm_contracts.errors import ClientError, ContractRevert, TransactionFailed, VmContractsError

REPO = Path(__file__).resolve().parents[2]
REFUND_WAIT_S = 10
OWNER_CLAIM_WAIT_S = 20
ANY_ADDRESS_CLAIM_WAIT_S = 30
INCENTIVE_PARAMS = {
    "Stakeable": {
        "refund_wait_s": REFUND_WAIT_S,
        "owner_claim_wait_s": OWNER_CLAIM_WAIT_S,
        "any_address_claim_wait_s": ANY_ADDRESS_CLAIM_WAIT_S,
    },
    "Points": {"refund_wait_s": REFUND_WAIT_S},
}

SPARSE_FEATURES = 16
DENSE_FEATURES = 4
# Per model: a small untrained state, a sample the model learns to agree with (label 1),
# and another sample (label 0) for a second contributor.
CASES: dict[str, tuple[dict[str, Any], list[int], list[int]]] = {
    "SparsePerceptron": (
        {"num_features": SPARSE_FEATURES, "learning_rate": SCALE},
        [1, 2, 3],
        [5, 6],
    ),
    "DensePerceptron": (
        {"num_features": DENSE_FEATURES, "learning_rate": SCALE},
        [SCALE, 0, SCALE // 2, 0],
        [0, SCALE, 0, 0],
    ),
    "NaiveBayes": (
        {"num_classes": 2, "num_features": SPARSE_FEATURES, "smoothing": SCALE},
        [1, 2, 3],
        [5, 6],
    ),
    "NearestCentroid": (
        {"num_classes": 2, "num_features": DENSE_FEATURES},
        [SCALE, 0, SCALE // 2, 0],
        [0, SCALE, 0, 0],
    ),
    "SparseNearestCentroid": (
        {"num_classes": 2, "num_features": SPARSE_FEATURES},
        [1, 2, 3],
        [5, 6],
    ),
}


def advance_time(w3: Web3, seconds: int) -> None:
    """Move the chain's clock ``seconds`` forward and mine a block (the one place tests
    travel in time: eth-tester's API, else the dev RPC methods anvil and sumchain share)."""
    tester = getattr(w3.provider, "ethereum_tester", None)
    if tester is not None:
        pending = tester.get_block_by_number("pending")["timestamp"]
        tester.time_travel(pending + seconds)
        tester.mine_blocks(1)
        return
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def cost_of(receipt: Any) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def deploy(w3: Web3, model: str, incentive: str = "Stakeable", **kwargs: Any) -> Framework:
    return deploy_framework(
        w3,
        model=model,
        incentive=incentive,
        params=CASES[model][0],
        incentive_params=INCENTIVE_PARAMS[incentive],
        encoder="test/v1",
        **kwargs,
    )


@pytest.mark.parametrize("incentive", INCENTIVES)
@pytest.mark.parametrize("model", MODELS)
def test_each_model_trains_predicts_refunds_and_is_reported_under_each_mechanism(w3, model, incentive):
    owner, alice, bob, carol = w3.eth.accounts[:4]
    _, good_sample, other_sample = CASES[model]
    framework = deploy(w3, model, incentive, name=f"{model} test", description="d")
    assert framework.metadata() == {
        "name": f"{model} test",
        "description": "d",
        "encoder": "test/v1",
    }
    assert all(r["status"] == 1 for _, r in framework.receipts)

    deposit = framework.required_deposit()
    assert (deposit > 0) == (incentive == "Stakeable")
    added = framework.add_data(good_sample, 1, alice)
    assert added["gasUsed"] > 21_000
    (contribution,) = framework.contributions_in(added)
    assert contribution.contributor == alice and contribution.label == 1
    assert 0 < contribution.deposit <= deposit if incentive == "Stakeable" else contribution.deposit == 0
    assert framework.predict(good_sample) == 1

    with pytest.raises(ContractRevert) as early:
        framework.refund(contribution, alice)
    assert early.value.name == "TooEarly"
    assert early.value.args_by_name["availableAt"] == contribution.added_time + REFUND_WAIT_S

    advance_time(w3, REFUND_WAIT_S + 1)
    before = w3.eth.get_balance(alice)
    refunded = framework.refund(contribution, alice)
    assert w3.eth.get_balance(alice) == before - cost_of(refunded) + contribution.deposit
    if incentive == "Points":
        assert framework.points(alice) == 1
    else:
        with pytest.raises(ClientError, match="Points"):
            framework.points(alice)

    (bad,) = framework.contributions_in(framework.add_data(other_sample, 0, bob))
    if incentive == "Points":
        with pytest.raises(ContractRevert, match=r"^ReportNotSupported\(\)$"):
            framework.report(bad, carol)
        return
    advance_time(w3, ANY_ADDRESS_CLAIM_WAIT_S + 1)
    before = w3.eth.get_balance(carol)
    reported = framework.report(bad, carol)
    assert w3.eth.get_balance(carol) == before - cost_of(reported) + bad.deposit
    rebuilt = {c.contributor: c for c in framework.contributions()}
    assert rebuilt[alice].refunded and rebuilt[alice].claimable == 0
    assert rebuilt[bob].taken == {carol: bad.deposit} and rebuilt[bob].claimable == 0


def test_read_model_at_an_older_block_returns_the_parameters_of_then(w3):
    alice = w3.eth.accounts[1]
    framework = deploy(w3, "NaiveBayes", "Points")
    initial_block = w3.eth.block_number
    initial = framework.read_model()
    framework.add_data([1, 2, 2, 3], 1, alice)
    framework.add_data([4], 0, alice)
    now = framework.read_model()
    assert now["feature_counts"][1][:4] == [0, 1, 2, 1]
    assert now["sample_counts"] == [1, 1] and now["total_counts"] == [1, 4]
    assert framework.read_model(block=initial_block) == initial
    assert initial["feature_counts"] == [[0] * SPARSE_FEATURES] * 2
    assert framework.predict([4], block=initial_block) == 0
    assert framework.predict([1, 2], block="latest") == 1


def test_initialisation_is_split_into_transactions_that_fit_the_gas_budget(w3):
    budget = 500_000  # gas per initialisation transaction
    weights = [(i % 7 - 3) * SCALE for i in range(120)]
    framework = deploy_framework(
        w3,
        "SparsePerceptron",
        "Points",
        params={"num_features": 120, "learning_rate": SCALE},
        initial={"weights": weights, "intercept": -SCALE},
        init_gas_budget=budget,
    )
    chunks = framework.gas_used("initialize weights")
    assert len(chunks) >= 3
    assert all(gas <= budget for gas in chunks)
    state = framework.read_model()
    assert state["weights"] == weights and state["intercept"] == -SCALE


def test_one_entry_over_the_gas_budget_is_a_deployment_error(w3):
    with pytest.raises(VmContractsError, match="budget"):
        deploy_framework(
            w3,
            "SparsePerceptron",
            "Points",
            params={"num_features": 4, "learning_rate": SCALE},
            initial={"weights": [SCALE] * 4},
            init_gas_budget=30_000,
        )


def test_replace_model_restores_an_earlier_version(w3):
    owner, alice = w3.eth.accounts[:2]
    framework = deploy(w3, "SparsePerceptron", "Points")
    framework.add_data([1, 2, 3], 1, alice)
    good_block = w3.eth.block_number
    good = framework.read_model()
    for _ in range(3):  # a vandal teaches the model the opposite
        framework.add_data([1, 2, 3], 0, alice)
    assert framework.predict([1, 2, 3]) == 0
    with pytest.raises(ContractRevert, match=r"NotOwner\(caller="):
        framework.replace_model(framework.read_model(block=good_block), alice)
    receipt = framework.replace_model(framework.read_model(block=good_block), owner)
    assert receipt["status"] == 1
    assert framework.predict([1, 2, 3]) == 1
    restored = framework.read_model()
    assert restored["address"] != good["address"]
    assert restored["weights"] == good["weights"] and restored["intercept"] == good["intercept"]
    assert framework.predict([1, 2, 3], block=good_block) == 1


def test_reverts_surface_as_exceptions_naming_the_custom_error(w3):
    alice = w3.eth.accounts[1]
    framework = deploy(w3, "SparsePerceptron", "Stakeable")
    required = framework.required_deposit()
    with pytest.raises(ContractRevert) as low:
        framework.add_data([1], 1, alice, deposit=1)
    assert low.value.name == "DepositTooLow"
    assert low.value.args_by_name["sent"] == 1
    assert low.value.args_by_name["required"] >= required // 2
    assert str(low.value).startswith("DepositTooLow(required=")
    with pytest.raises(ContractRevert, match=r"FeatureIndexOutOfRange\(position=1, index=99\)"):
        framework.predict([1, 99])
    with pytest.raises(ContractRevert, match=r"LabelOutOfRange\(label=2, numClasses=2\)"):
        framework.add_data([1], 2, alice)


def test_a_failed_transaction_is_decoded_from_its_receipt(w3):
    alice = w3.eth.accounts[1]
    framework = deploy(w3, "SparsePerceptron", "Stakeable")
    with pytest.raises(ContractRevert, match="DepositTooLow") as raised:
        framework.add_data([1], 1, alice, deposit=1, gas=300_000)  # no estimate: it is mined
    assert raised.value.receipt is not None and raised.value.receipt["status"] == 0
    assert framework.receipts[-1] == ("addData", raised.value.receipt)


def test_bad_arguments_are_client_errors_before_anything_is_sent(w3):
    with pytest.raises(ClientError, match="unknown model"):
        deploy_framework(w3, "Forest", "Points", params={})
    with pytest.raises(ClientError, match="unknown incentive"):
        deploy_framework(w3, "SparsePerceptron", "Lottery", params={})
    with pytest.raises(ClientError, match="learning_rate"):
        deploy_framework(w3, "SparsePerceptron", "Points", params={"num_features": 3})
    with pytest.raises(ClientError, match="weights has 2 entries"):
        deploy_framework(
            w3,
            "SparsePerceptron",
            "Points",
            params={"num_features": 3, "learning_rate": SCALE, "weights": [1, 2]},
        )
    assert w3.eth.block_number == 0


def test_a_local_account_signs_its_own_transactions(w3):
    funder = w3.eth.accounts[0]
    local = Account.create()
    w3.eth.send_transaction({"from": funder, "to": local.address, "value": 10**18})
    framework = deploy(w3, "SparseNearestCentroid", "Points", account=local)
    assert framework.trainer.functions.owner().call() == local.address
    framework.add_data([3, 4], 1, local)
    assert framework.predict([3, 4]) == 1
    assert [c.contributor for c in framework.contributions()] == [local.address]


def test_attach_finds_the_components_of_a_deployed_trainer(w3):
    framework = deploy(w3, "NearestCentroid", "Stakeable")
    attached = Framework.attach(w3, framework.address, "NearestCentroid", "Stakeable")
    assert attached.model.address == framework.model.address
    assert attached.read_model() == framework.read_model()


def test_a_node_refusal_is_a_transaction_failed_error(w3):
    with pytest.raises(TransactionFailed, match="the node refused"):
        deploy(w3, "SparsePerceptron", "Points", account=Account.create())


@pytest.fixture
def anvil_w3():
    """A web3 over HTTP to a fresh anvil (Cancun): the SDK must work on any node."""
    with start_anvil(needed_by="the SDK's anvil test", fork="cancun") as anvil:
        yield Web3(Web3.HTTPProvider(anvil.url))


@pytest.mark.anvil
def test_the_sdk_works_unchanged_against_anvil_over_http(anvil_w3):
    w3 = anvil_w3
    alice = w3.eth.accounts[1]
    framework = deploy(w3, "SparsePerceptron", "Stakeable")
    start_block = w3.eth.block_number
    with pytest.raises(ContractRevert, match=r"^DepositTooLow\(required="):
        framework.add_data([1, 2, 3], 1, alice, deposit=1)
    (contribution,) = framework.contributions_in(framework.add_data([1, 2, 3], 1, alice))
    assert framework.predict([1, 2, 3]) == 1
    assert framework.predict([1, 2, 3], block=start_block) == 0
    advance_time(w3, REFUND_WAIT_S + 1)
    assert framework.refund(contribution, alice)["status"] == 1
    assert framework.read_model(block=start_block)["weights"] == [0] * SPARSE_FEATURES
    assert framework.contributions()[0].refunded
