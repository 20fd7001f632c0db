"""Fixtures for the dashboard's browser tests: a real node in a subprocess, a deployed
model, the dashboard served over HTTP, and Debian's headless Chromium through Playwright.

The browser is /usr/bin/chromium (``apt-get install chromium``; ``make test`` installs it
as root). A missing browser fails with how to install it, never skips.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from vm_contracts.client import deploy_framework
from vm_contracts.datasets import load_default
from vm_contracts.encoding import SCALE, Vocabulary

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect(url: str) -> Web3:
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    vocabulary = workdir / "vocabulary.json"
    Vocabulary.fit([text for text, _ in REVIEWS], 16).save(vocabulary)
    process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "devnet", "--ui", "--port", str(port)]
        + ["--vocabulary", str(vocabulary)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for(url + "ui/", process)
        w3 = connect(url)
        yield {**deploy_models(w3, workdir), "w3": w3, "ui": url + "ui/", "rpc": url}
    finally:
        stop(process)


@pytest.fixture(scope="module")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """anvil without archive (``--prune-history``) and ``sumchain ui`` in front of it."""
    if not ANVIL.exists():
        pytest.fail(f"anvil not installed at {ANVIL}; run `make test` (npm install)")
    workdir = tmp_path_factory.mktemp("dashboard-anvil")
    port, ui_port = free_port(), free_port()
    rpc = f"http://127.0.0.1:{port}/"
    anvil = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--hardfork", "cancun", "--silent", "--prune-history"],
        stdout=subprocess.DEVNULL,
    )
    ui = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        w3 = connect(rpc)
        while not w3.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError("anvil did not start")
            time.sleep(0.2)
        models = deploy_models(w3, workdir)
        ui = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "ui", "--rpc", rpc, "--port", str(ui_port)]
            + ["--vocabulary", str(models["vocabulary"])],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        ui_url = f"http://127.0.0.1:{ui_port}/"
        wait_for(ui_url, ui)
        yield {**models, "w3": w3, "ui": ui_url, "rpc": rpc}
    finally:
        if ui is not None:
            stop(ui)
        stop(anvil)
