"""node.ui.history: the dashboard's history, read once and extended block by block (in
small pages of blocks here), gives the versions of the SDK's plain path
(``model_versions``) and the accuracies of reading the model from the archive at every
version (``score_versions``), through updates, flipped data, a revert and a rewind, on a
sumchain node in process and on anvil over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from bench.nodes import start_anvil
from chain.config import ChainConfig
from node.provider import InProcessNode
from node.ui import history as history_module
from node.ui.history import TrainerHistory
from vm_contracts.client import deploy_framework
from vm_contracts.datasets import load_default
from vm_contracts.encoding import SCALE
from vm_contracts.versions import (
    TestSet,
    model_versions,
    revert_model,
    score_versions,
    score_versions_replayed,
)

GOOD, FLIPPED = 6, 4  # samples added honestly, then label-flipped
PAGE_BLOCKS = 3  # a tiny page, so every read spans several eth_getLogs


def plain(
    framework: Any, test_set: TestSet, archive: bool = False
) -> list[tuple[int, str, Any, float | None]]:
    """The SDK's versions, scored by the replayed path, or with ``archive`` by reading the
    model at every version (slow; the SDK's own test proves the two equal)."""
    head = int(framework.w3.eth.block_number)
    versions = model_versions(framework, head)
    (score_versions if archive else score_versions_replayed)(framework, versions, test_set)
    return [(v.block, v.kind, v.changes, v.accuracy) for v in versions]


def incremental(history: TrainerHistory, test_set: TestSet) -> list[tuple[int, str, Any, float | None]]:
    history.refresh(int(history.framework.w3.eth.block_number))
    scores = history.accuracies(test_set, ("held-out",))
    return [(v.block, v.kind, v.changes, a) for v, a in zip(history.versions, scores, strict=True)]


@contextmanager
def node_web3(kind: str) -> Iterator[Web3]:
    if kind == "sumchain":
        with InProcessNode.create(config=ChainConfig(genesis_timestamp=1_700_000_000)) as node:
            yield node.w3
        return
    with start_anvil(needed_by="the dashboard history's anvil test", fork="cancun") as anvil:
        w3 = Web3(HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        yield w3


@pytest.mark.parametrize(
    ("node", "model"),
    [("sumchain", "SparsePerceptron"), ("sumchain", "NaiveBayes"), ("anvil", "SparsePerceptron")],
)
def test_the_history_read_in_steps_equals_the_plain_path(
    node: str, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "LOG_PAGE_BLOCKS", PAGE_BLOCKS)
    dataset = load_default("sparse-binary")
    train, test = dataset.split(0.3, seed=1)
    test_set = TestSet(Path("held-out"), [list(x) for x in test.samples], [int(y) for y in test.labels])
    params = {
        "num_features": dataset.n_features,
        "learning_rate": SCALE,
        "num_classes": 2,
        "smoothing": SCALE,
    }
    with node_web3(node) as w3:
        framework = deploy_framework(w3, model, "Points", params=params)
        history = TrainerHistory(framework)
        contributor = w3.eth.accounts[1]
        for i in range(GOOD):
            framework.add_data(list(train.samples[i]), int(train.labels[i]), contributor)
        assert incremental(history, test_set) == plain(framework, test_set)
        middle = int(w3.eth.block_number)
        for i in range(GOOD, GOOD + FLIPPED):
            framework.add_data(list(train.samples[i]), 1 - int(train.labels[i]), contributor)
        assert incremental(history, test_set) == plain(framework, test_set)
        revert_model(framework, middle, w3.eth.accounts[0])
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        for i in range(GOOD + FLIPPED, GOOD + FLIPPED + 4):
            framework.add_data(list(train.samples[i]), int(train.labels[i]), contributor)
        steps = incremental(history, test_set)
        assert steps == plain(framework, test_set, archive=model == "SparsePerceptron")
        assert [kind for _, kind, _, _ in steps].count("replaced") == 1
        assert len({accuracy for *_, accuracy in steps}) > 2  # the chart moves
        assert len(history.added) == GOOD + FLIPPED + 4
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        framework.add_data(list(train.samples[0]), 1 - int(train.labels[0]), w3.eth.accounts[2])
        assert incremental(history, test_set) == plain(framework, test_set)  # started again
        assert len(history.added) == GOOD + FLIPPED + 1
