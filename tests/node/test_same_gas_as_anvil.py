"""One SDK scenario, run unchanged over HTTP against `sumchain devnet` and against anvil:
deploy a framework instance, add data the model agrees and disagrees with, refund,
report. Every transaction must use exactly the same gas on both nodes."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from node.provider import poa_web3
from vm_contracts.client import deploy_framework

from .conftest import start_devnet, stop_devnet

REPO = Path(__file__).resolve().parents[2]
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
FEATURES = 32
REFUND_WAIT_S = 3_600
DEPOSIT = 10**17  # wei: the same explicit deposit on both nodes (the excess is returned)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sumchain_w3() -> Iterator[Web3]:
    devnet = start_devnet("--fork", "cancun")
    try:
        yield poa_web3(Web3.HTTPProvider(devnet.url))
    finally:
        stop_devnet(devnet.process)


@pytest.fixture
def anvil_w3() -> Iterator[Web3]:
    if not ANVIL.exists():
        pytest.fail(f"anvil not installed at {ANVIL}; run `make test` (npm install)")
    port = _free_port()
    process = subprocess.Popen([str(ANVIL), "--port", str(port), "--hardfork", "cancun", "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 20
        while not w3.is_connected():
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("anvil did not start")
            time.sleep(0.1)
        yield w3
    finally:
        process.terminate()
        process.wait(timeout=10)


def pin_next_block_time(w3: Web3, step: int = 100) -> None:
    latest = int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request("evm_setNextBlockTimestamp", [latest + step])


def scenario(w3: Web3) -> list[tuple[str, int]]:
    """The SDK calls a contributor makes; (label, gasUsed) of every transaction."""
    owner, alice, bob = w3.eth.accounts[:3]
    weights = [(i % 5 - 2) * 10**9 for i in range(FEATURES)]
    framework = deploy_framework(
        w3, model="SparsePerceptron", incentive="Stakeable",
        params={"num_features": FEATURES},
        initial={"weights": weights, "intercept": 0, "learning_rate": 10**9},
        incentive_params={"refund_wait_s": REFUND_WAIT_S}, account=owner,
        name="gas twin", description="same gas on every node", encoder="test/v1")
    gas: list[tuple[str, Any]] = [(label, r["gasUsed"]) for label, r in framework.receipts]
    # Block times differ between nodes (anvil may reuse its parent's second; sumchain
    # never does), and Stakeable stores the time of the last update: pin each add's
    # block time so both nodes execute the same state transition.
    pin_next_block_time(w3)
    agree = framework.add_data([2, 7, 12], 1, alice, deposit=DEPOSIT)
    pin_next_block_time(w3)
    disagree = framework.add_data([0, 5, 10], 1, bob, deposit=DEPOSIT)
    gas += [("addData agree", agree["gasUsed"]), ("addData disagree", disagree["gasUsed"])]
    (mine,) = framework.contributions_in(agree)
    (theirs,) = framework.contributions_in(disagree)
    w3.provider.make_request("evm_increaseTime", [REFUND_WAIT_S + 1])
    w3.provider.make_request("evm_mine", [])
    gas.append(("refund", framework.refund(mine, alice)["gasUsed"]))
    if framework.predict(theirs.data) != theirs.label:
        gas.append(("report", framework.report(theirs, alice)["gasUsed"]))
    return [(label, int(used)) for label, used in gas]


@pytest.mark.anvil
def test_every_transaction_uses_the_same_gas_on_sumchain_and_anvil(sumchain_w3, anvil_w3) -> None:
    ours = scenario(sumchain_w3)
    theirs = scenario(anvil_w3)
    assert [label for label, _ in ours] == [label for label, _ in theirs]
    assert len(ours) >= 10
    differences = [(label, a, b) for (label, a), (_, b) in zip(ours, theirs, strict=True) if a != b]
    assert differences == [], f"gas differs (label, sumchain, anvil): {differences}"
