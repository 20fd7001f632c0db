"""vm_contracts.versions: the replayed scoring (fast path) agrees with reading the model
from the archive at every version, across updates, flipped data and a revert; trainers are
found from the chain alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.config import ChainConfig
from node.provider import InProcessNode
from vm_contracts.client import deploy_framework
from vm_contracts.datasets import load_default
from vm_contracts.encoding import SCALE
from vm_contracts.errors import TestSetError
from vm_contracts.versions import (
    TestSet,
    find_trainers,
    model_versions,
    parse_test_set,
    revert_model,
    score_versions,
    score_versions_replayed,
)

GOOD, FLIPPED = 16, 10  # samples added honestly, then label-flipped


@pytest.mark.parametrize("model", ["SparsePerceptron", "NaiveBayes", "SparseNearestCentroid"])
def test_replayed_scores_equal_archive_scores_through_updates_flips_and_a_revert(model: str) -> None:
    dataset = load_default("sparse-binary")
    train, test = dataset.split(0.3, seed=1)
    test_set = TestSet(Path("held-out"), [list(x) for x in test.samples], [int(y) for y in test.labels])
    params = {
        "num_features": dataset.n_features,
        "learning_rate": SCALE,
        "num_classes": 2,
        "smoothing": SCALE,
    }
    with InProcessNode.create(config=ChainConfig(genesis_timestamp=1_700_000_000)) as node:
        w3 = node.w3
        framework = deploy_framework(w3, model, "Points", params=params)
        other = deploy_framework(w3, "SparsePerceptron", "Points", params=params)
        contributor = w3.eth.accounts[1]
        for i in range(GOOD):
            framework.add_data(list(train.samples[i]), int(train.labels[i]), contributor)
        middle = int(w3.eth.block_number)
        for i in range(GOOD, GOOD + FLIPPED):
            framework.add_data(list(train.samples[i]), 1 - int(train.labels[i]), contributor)
        revert_model(framework, middle, w3.eth.accounts[0])
        for i in range(GOOD + FLIPPED, GOOD + FLIPPED + 4):
            framework.add_data(list(train.samples[i]), int(train.labels[i]), contributor)
        head = int(w3.eth.block_number)
        archive = model_versions(framework, head)
        replayed = model_versions(framework, head)
        score_versions(framework, archive, test_set)
        score_versions_replayed(framework, replayed, test_set)
        assert [v.kind for v in archive].count("replaced") == 1
        assert len(archive) > 3
        assert [(v.block, v.accuracy) for v in replayed] == [(v.block, v.accuracy) for v in archive]
        assert find_trainers(w3) == [framework.address, other.address]


def test_a_test_set_line_that_is_not_a_sample_names_its_line() -> None:
    with pytest.raises(TestSetError) as error:
        parse_test_set(['{"data": [1], "label": 0}', '{"data": "x"}'], "t.jsonl")
    assert error.value.line == 2 and str(error.value).startswith("t.jsonl:2: expected")
