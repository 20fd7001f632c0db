"""The paper's versioning promise end to end (Harris & Waggoner 2019, V-B and VI-A).

A SparsePerceptron is deployed on sumchain and trained with good data, then corrupted
with label-flipped data until its accuracy on a hidden test set drops. The best
version is then recovered three ways, which must agree exactly, parameter for
parameter and in accuracy:

1. read at its block from the archive state (no re-execution);
2. replay of an export of the chain, into a fresh chain, up to that block;
3. on the live chain, a fresh model initialised with that block's parameters,
   swapped in through the trainer's owner-only ``replaceModel``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.config import ChainConfig
from chain.history import export_blocks, replay
from node.provider import InProcessNode, SumchainProvider, poa_web3
from vm_contracts.client import deploy_framework
from vm_contracts.datasets import load_default
from vm_contracts.encoding import SCALE
from vm_contracts.versions import (
    TestSet,
    accuracy,
    attach_trainer,
    best_version,
    model_versions,
    parameters,
)

GOOD_SAMPLES = 14  # label-true samples added first
MAX_BAD_SAMPLES = 14  # label-flipped samples added at most
ACCURACY_DROP = 0.05  # the corruption counts once accuracy is this far below the best
TEST_FRACTION = 0.3
SPLIT_SEED = 1


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The deployed, trained and then corrupted model, with its chain exported."""
    dataset = load_default("sparse-binary")
    train, test = dataset.split(TEST_FRACTION, seed=SPLIT_SEED)
    test_set = TestSet(Path("held-out"), [list(x) for x in test.samples], [int(y) for y in test.labels])
    node = InProcessNode.create(config=ChainConfig(genesis_timestamp=1_700_000_000))
    w3 = node.w3
    framework = deploy_framework(
        w3,
        "SparsePerceptron",
        "Points",
        params={"num_features": dataset.n_features, "learning_rate": SCALE},
    )
    contributor = w3.eth.accounts[1]
    recorded: dict[int, float] = {}
    for index in range(GOOD_SAMPLES):
        framework.add_data(list(train.samples[index]), int(train.labels[index]), contributor)
        head = w3.eth.block_number
        recorded[head] = accuracy(framework.read_model(block=head), test_set)
    best_good = max(recorded.values())
    dropped_at = None
    for index in range(GOOD_SAMPLES, GOOD_SAMPLES + MAX_BAD_SAMPLES):
        framework.add_data(list(train.samples[index]), 1 - int(train.labels[index]), contributor)
        head = w3.eth.block_number
        recorded[head] = accuracy(framework.read_model(block=head), test_set)
        if recorded[head] < best_good - ACCURACY_DROP:
            dropped_at = head
            break
    export = tmp_path_factory.mktemp("export") / "chain.rlp"
    node.dispatcher.run_sync(export_blocks, node.backend.chain, export)
    yield {
        "node": node,
        "w3": w3,
        "framework": framework,
        "test_set": test_set,
        "recorded": recorded,
        "best_good": best_good,
        "dropped_at": dropped_at,
        "export": export,
    }
    node.close()


def test_bad_data_lowers_the_accuracy_recorded_for_the_good_versions(story) -> None:  # type: ignore[no-untyped-def]
    assert story["dropped_at"] is not None
    assert story["recorded"][story["dropped_at"]] < story["best_good"] - ACCURACY_DROP


def test_the_best_version_is_recovered_identically_three_ways(story) -> None:  # type: ignore[no-untyped-def]
    w3, framework, test_set = story["w3"], story["framework"], story["test_set"]
    versions = model_versions(framework, story["dropped_at"])
    for version in versions:
        version.accuracy = accuracy(framework.read_model(block=version.block), test_set)
    best = best_version(versions)
    assert best.accuracy == story["best_good"]

    # 1. read at the block, straight from the archive
    at_block = framework.read_model(block=best.block)

    # 2. replay the export into a fresh chain, stopping at that block
    chain, result = replay(story["export"], to_block=best.block)
    try:
        assert result.head == best.block
        replayed_w3 = poa_web3(SumchainProvider(chain))
        replayed = attach_trainer(replayed_w3, framework.address).read_model(block="latest")
        provider_dispatcher = replayed_w3.provider.dispatcher
        provider_dispatcher.run_sync(chain.close)
        provider_dispatcher.close()
    except BaseException:
        chain.close()
        raise

    # 3. on the live chain: a fresh model with those parameters, swapped in by the owner
    owner = framework.trainer.functions.owner().call()
    corrupted_model = framework.trainer.functions.model().call()
    receipt = framework.replace_model(at_block, owner)
    reverted = framework.read_model(block=receipt["blockNumber"])
    assert reverted["address"] != corrupted_model
    assert w3.eth.block_number > story["dropped_at"]  # history kept: nothing rewound

    assert parameters(at_block) == parameters(replayed) == parameters(reverted)
    scores = {accuracy(state, test_set) for state in (at_block, replayed, reverted)}
    assert scores == {best.accuracy}
    # and the live trainer now predicts as the best version did
    sample = test_set.data[0]
    assert framework.predict(sample) == framework.predict(sample, block=best.block)


def test_history_names_who_changed_the_model_with_which_data(story) -> None:  # type: ignore[no-untyped-def]
    framework = story["framework"]
    versions = model_versions(framework, story["dropped_at"])
    assert versions[0].kind == "deployed"
    updates = [v for v in versions if v.kind == "update"]
    assert updates and all(v.block in story["recorded"] for v in updates)
    added = {c.block_number: c for c in framework.contributions(to_block=story["dropped_at"])}
    for version in updates:
        ((who, label, data, _tx),) = version.changes
        assert (who, label, data) == (
            added[version.block].contributor,
            added[version.block].label,
            added[version.block].data,
        )
    # versions are exactly the blocks where the parameters changed
    blocks = sorted(story["recorded"])
    changed = {
        b
        for prev, b in zip(blocks[:-1], blocks[1:], strict=True)
        if parameters(framework.read_model(block=prev)) != parameters(framework.read_model(block=b))
    }
    assert changed <= {v.block for v in updates}
