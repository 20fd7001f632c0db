"""Fixtures for the dashboard's browser tests: a real node in a subprocess, a deployed
model, the dashboard served over HTTP, and Debian's headless Chromium through Playwright.

The browser is /usr/bin/chromium (``apt-get install chromium``; ``make test`` installs it
as root). A missing browser fails with how to install it, never skips.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from bench.nodes import start_anvil, start_devnet, start_sumchain
from bench.ui import CHROMIUM_ARGS  # the headless flags the dashboard bench uses too
from vm_contracts.client import deploy_framework
from vm_contracts.datasets import load_default
from vm_contracts.encoding import SCALE, Vocabulary

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
# Where the browser tests write each page's screenshot: docs/screenshots/ (committed) when
# SUMCHAIN_SCREENSHOTS=1, else a temporary folder, so a test run leaves the tree clean.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("SUMCHAIN_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "sumchain-screenshots"
)
START_TIMEOUT = 60  # seconds for a node or the dashboard to answer
GOOD_SAMPLES = 30  # honest samples the digits model is trained with before the browser opens
TEST_FRACTION = 0.3
SPLIT_SEED = 1
REVIEWS = [  # the text model's training texts and labels
    ("a great wonderful film with brilliant acting", 1),
    ("terrible awful boring film with a dull plot", 0),
    ("great story and wonderful music", 1),
    ("awful acting and a boring story", 0),
    ("brilliant and great", 1),
    ("dull and terrible", 0),
]


def connect(url: str) -> Web3:
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def deploy_models(w3: Web3, workdir: Path) -> dict[str, Any]:
    """The text model (with a vocabulary file) and the digits model (with a test-set file
    and honest training), as the browser tests expect them."""
    vocabulary = Vocabulary.fit([text for text, _ in REVIEWS], 16)
    vocabulary.save(workdir / "vocabulary.json")
    reviews = deploy_framework(
        w3,
        "SparsePerceptron",
        "Stakeable",
        params={"num_features": len(vocabulary), "learning_rate": SCALE},
        name="movie reviews",
        description="is the review positive?",
        encoder=vocabulary.encoder,
    )
    for contributor in w3.eth.accounts[4:6]:  # two passes; two senders keep each sample unique
        for text, label in REVIEWS:  # (anvil may give blocks the same timestamp)
            reviews.add_data(vocabulary.encode(text), label, contributor)
    dataset = load_default("sparse-binary")
    train, test = dataset.split(TEST_FRACTION, seed=SPLIT_SEED)
    test_path = workdir / "digits-test.jsonl"
    with open(test_path, "w") as out:
        for x, y in zip(test.samples, test.labels, strict=True):
            out.write(json.dumps({"data": [int(v) for v in x], "label": int(y)}) + "\n")
    digits = deploy_framework(
        w3,
        "SparsePerceptron",
        "Points",
        params={"num_features": dataset.n_features, "learning_rate": SCALE},
        name="odd digits",
        description="is the handwritten digit odd?",
    )
    for index in range(GOOD_SAMPLES):
        digits.add_data(list(train.samples[index]), int(train.labels[index]), w3.eth.accounts[1])
    bad = workdir / "bad.jsonl"
    bad.write_text('{"data": [1, 2], "label": 1}\nnot json at all\n')
    return {
        "vocabulary": workdir / "vocabulary.json",
        "reviews": reviews,
        "digits": digits,
        "train": train,
        "test_set": test_path,
        "bad_test_set": bad,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run `make test` as root, or `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sumchain_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``sumchain devnet --ui`` in a subprocess, with both models deployed."""
    workdir = tmp_path_factory.mktemp("dashboard")
    vocabulary = workdir / "vocabulary.json"
    Vocabulary.fit([text for text, _ in REVIEWS], 16).save(vocabulary)
    with start_devnet(
        "--ui", "--vocabulary", str(vocabulary), cwd=REPO, ready_path="ui/", ready_s=START_TIMEOUT
    ) as devnet:
        w3 = connect(devnet.url)
        yield {**deploy_models(w3, workdir), "w3": w3, "ui": devnet.url + "ui/", "rpc": devnet.url}


@pytest.fixture(scope="module")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """anvil without archive (``--prune-history``) and ``sumchain ui`` in front of it."""
    workdir = tmp_path_factory.mktemp("dashboard-anvil")
    with start_anvil(needed_by="the dashboard's anvil tests", fork="cancun", prune_history=True) as anvil:
        w3 = connect(anvil.url)
        models = deploy_models(w3, workdir)
        with start_sumchain(
            "ui", "--rpc", anvil.url, "--vocabulary", str(models["vocabulary"]), cwd=REPO
        ) as ui:
            yield {**models, "w3": w3, "ui": ui.url, "rpc": anvil.url}
