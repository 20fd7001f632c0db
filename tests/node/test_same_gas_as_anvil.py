"""SDK scenarios, run unchanged over HTTP against `sumchain devnet` and against anvil:
deploy a framework instance, add data the model agrees and disagrees with, refund,
report (every transaction must use exactly the same gas on both nodes); and a
prediction-market round (the same gas where the drawn parts cannot matter, the twin's
result on both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bench.nodes import start_anvil
from node.provider import poa_web3
from vm_contracts.client import deploy_framework
from vm_contracts.market import Market, deploy_market

from .conftest import start_devnet, stop_devnet

REPO = Path(__file__).resolve().parents[2]
FEATURES = 32
REFUND_WAIT_S = 3_600
DEPOSIT = 10**17  # wei: the same explicit deposit on both nodes (the excess is returned)


@pytest.fixture
def sumchain_w3() -> Iterator[Web3]:
    devnet = start_devnet("--fork", "cancun")
    try:
        yield poa_web3(Web3.HTTPProvider(devnet.url))
    finally:
        stop_devnet(devnet.process)


@pytest.fixture
def anvil_w3() -> Iterator[Web3]:
    with start_anvil(needed_by="the same-gas tests", fork="cancun") as anvil:
        yield Web3(Web3.HTTPProvider(anvil.url))


# Absolute block times, the same on both nodes. A refund's and a report's calldata
# carry the sample's `addedTime`, so a time relative to each node's own clock could put
# a zero byte in one node's calldata and not the other's (4 gas against 16: the 12-gas
# flake CI saw). 2,000,000,000 s (May 2033) is ahead of both nodes' clocks.
BASE_TIME = 2_000_000_000


class Clock:
    """Pins every block time of the scenario from `BASE_TIME` on."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.time = BASE_TIME

    def pin_next_block(self, step: int = 100) -> None:
        self.time += step
        assert int(self.w3.eth.get_block("latest")["timestamp"]) < self.time
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [self.time])


def scenario(w3: Web3) -> list[tuple[str, int]]:
    """The SDK calls a contributor makes; (label, gasUsed) of every transaction."""
    owner, alice, bob = w3.eth.accounts[:3]
    weights = [(i % 5 - 2) * 10**9 for i in range(FEATURES)]
    framework = deploy_framework(
        w3,
        model="SparsePerceptron",
        incentive="Stakeable",
        params={"num_features": FEATURES},
        initial={"weights": weights, "intercept": 0, "learning_rate": 10**9},
        incentive_params={"refund_wait_s": REFUND_WAIT_S},
        account=owner,
        name="gas twin",
        description="same gas on every node",
        encoder="test/v1",
    )
    gas: list[tuple[str, Any]] = [(label, r["gasUsed"]) for label, r in framework.receipts]
    # Block times differ between nodes (anvil may reuse its parent's second; sumchain
    # never does), Stakeable stores the time of the last update, a report's share
    # depends on the sample's age and the calldata carries the time a sample was
    # added: pin every block time from here on, the same on both nodes.
    clock = Clock(w3)
    clock.pin_next_block()
    agree = framework.add_data([2, 7, 12], 1, alice, deposit=DEPOSIT)
    clock.pin_next_block()
    disagree = framework.add_data([0, 5, 10], 1, bob, deposit=DEPOSIT)
    gas += [("addData agree", agree["gasUsed"]), ("addData disagree", disagree["gasUsed"])]
    (mine,) = framework.contributions_in(agree)
    (theirs,) = framework.contributions_in(disagree)
    clock.pin_next_block(REFUND_WAIT_S + 1)
    w3.provider.make_request("evm_mine", [])
    clock.pin_next_block()
    gas.append(("refund", framework.refund(mine, alice)["gasUsed"]))
    if framework.predict(theirs.data) != theirs.label:
        clock.pin_next_block()
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


def market_scenario(w3: Web3) -> tuple[list[tuple[str, int]], Market, list[Any], Any]:
    """One prediction-market round through the SDK; (label, gasUsed) of the transactions
    whose work cannot depend on the drawn parts, the market, the contributions and the
    twin's outcome for this node's order of the test set."""
    import random

    from vm_contracts.reference_market import MarketTerms, settle, split_test_set

    owner, pusher = w3.eth.accounts[0], w3.eth.accounts[9]
    rng = random.Random(7)

    def sample() -> tuple[list[int], int]:
        x = sorted(rng.sample(range(FEATURES), rng.randint(2, 10)))
        return x, int(sum(i < FEATURES // 2 for i in x) * 2 > len(x))

    # 300 samples: the contract's bit sets over D cross a 256-sample word
    parts = split_test_set([sample() for _ in range(300)], 4, b"anvil market")
    terms = MarketTerms(
        stake_unit=10**12,
        num_features=FEATURES,
        learning_rate=10**9,
        intercept=-(10**9) // 2,
        initial_parts=1,
        max_contributions=14,
        reveal_window_s=86_400,
    )
    market = deploy_market(w3, owner)
    market.commit(terms, parts, 30 * 10**12, owner)
    w3.provider.make_request("evm_mine", [])
    drawn = market.draw_test_parts(pusher)
    market.reveal_initial_parts(parts, owner)
    contributions = []
    for t in range(14):
        x, y = sample()
        if t % 4 == 3:
            y = 1 - y
        who = w3.eth.accounts[1 + t % 3]
        market.contribute(x, y, who)
        contributions.append((who, x, y))
    market.reveal_remaining_parts(parts, owner)
    market.compute_rewards(pusher)
    order = drawn + [i for i in range(len(parts)) if i not in drawn]
    test = [(x, y) for i in order for x, y in zip(parts[i].data, parts[i].labels, strict=True)]
    twin = settle(terms, 30 * 10**12, contributions, test)
    same = [
        (label, int(r["gasUsed"]))
        for label, r in market.receipts
        if label in ("deploy PredictionMarket", "commit", "drawTestParts", "contribute")
    ]
    return same, market, contributions, twin


@pytest.mark.anvil
def test_prediction_market_runs_the_same_on_sumchain_and_anvil(sumchain_w3, anvil_w3) -> None:
    """The round's reward computation (bit-sliced losses, scheduled balances) gives the
    twin's result on anvil's EVM as on ours, and every transaction whose work does not
    depend on the drawn test parts (they come from a block hash, which differs between
    the nodes) uses the same gas."""
    ours, ours_market, _, ours_twin = market_scenario(sumchain_w3)
    theirs, theirs_market, _, theirs_twin = market_scenario(anvil_w3)
    assert len(ours) == 17
    assert ours == theirs
    for market, twin in ((ours_market, ours_twin), (theirs_market, theirs_twin)):
        assert market.phase() == "Finished"
        assert market.errors() == twin.errors
        assert market.balances() == twin.balances
