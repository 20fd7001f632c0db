"""The prediction market's IMDB simulation at small scale, on a real chain: every error
count and balance read from the chain equals the twin's (``bench.market.run`` raises
otherwise), funds are conserved, and the outputs are written."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bench import market
from tests.testdata import IMDB_SAMPLE

pytestmark = pytest.mark.xdist_group("bench-market")  # its market run is built once

IMDB = IMDB_SAMPLE  # 800 train + 500 test reviews: more than the small round draws
SETTINGS = {
    "train_size": 80,
    "test_size": 40,
    "parts": 4,
    "initial_parts": 1,
    "bounty_units": 500,
    "vocab": 300,
    "seed": 0,
}


@pytest.fixture(scope="module")
def result() -> market.MarketResult:
    return market.run(IMDB, **SETTINGS)


def test_turns_are_timed_as_in_the_framework_simulation() -> None:
    order = market.contribution_order(6_000, seed=0)
    malicious = sum(agent in market.MALICIOUS for agent in order) / len(order)
    # rates 1/10 + 1/20 + 1/30 honest against 2/60 malicious per minute: 15.4% malicious
    assert 0.13 < malicious < 0.18
    assert order.count("honest 1") > order.count("honest 2") > order.count("honest 3")
    assert market.contribution_order(50, seed=1) != market.contribution_order(50, seed=0)


def test_round_matches_the_twin_and_conserves_funds(result: market.MarketResult) -> None:
    assert sum(result.stakes.values()) == SETTINGS["train_size"]
    assert len(result.accuracy) == SETTINGS["train_size"] + 1
    paid = sum(result.owed.values())
    # every wei is either paid or still in the contract (owed is floor-divided per agent)
    assert paid * market.UNIT_WEI + result.locked_wei == pytest.approx(
        (SETTINGS["bounty_units"] + SETTINGS["train_size"]) * market.UNIT_WEI, abs=len(result.owed)
    )
    for phase in (
        "commit",
        "draw",
        "reveal initial parts",
        "contribute",
        "reveal remaining parts",
        "advance",
        "withdraw",
    ):
        assert result.gas[phase] and min(result.gas[phase]) > 21_000, phase
    assert len(result.gas["contribute"]) == SETTINGS["train_size"]


def test_outputs_are_written(result: market.MarketResult, tmp_path: Path) -> None:
    written = market.write(result, tmp_path, "test", SETTINGS)
    assert {p.name for p in written} == {
        "market_gas.csv",
        "market_accuracy.csv",
        "market_balances.csv",
        "market.png",
        "market.md",
    }
    with (tmp_path / "market_gas.csv").open() as fh:
        phases = [row["phase"] for row in csv.DictReader(fh)]
    assert "advance" in phases and "contribute" in phases
    assert (tmp_path / "market.png").read_bytes().startswith(b"\x89PNG")


def test_simulate_market_is_a_simulate_experiment(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "simulate",
            "market",
            "--imdb",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no such file or directory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
