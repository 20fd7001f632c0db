"""The Fig. 3 experiment at small scale, on a real chain: the malicious agent loses,
the honest agent gains, accuracy holds; plus the exactness of the fast evaluators and
clear errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench.simulate import (
    HONEST,
    MALICIOUS,
    MODEL_CHOICES,
    Simulation,
    SimulationConfig,
    SimulationError,
    initial_state,
    load_data,
    predict_many,
    twin_from_state,
    write_outputs,
)
from tests.testdata import IMDB_SAMPLE

pytestmark = pytest.mark.xdist_group("bench-simulate")  # its Fig. 3 run is built once

IMDB = IMDB_SAMPLE  # 800 train + 500 test reviews: more than the small runs draw
HOUR = 3600  # seconds
FINAL_ACCURACY_BAND = (
    0.08  # final accuracy ends within this of the initial one (18 honest vs ~9 flipped samples)
)
DIP_BAND = 0.20  # a flipped-label update may dip accuracy this far, briefly


def small_config(**changes: object) -> SimulationConfig:
    """Fig. 3 with time compressed (refund after 1 h, anyone takes after 2 h), the honest
    agent acting every 10 min and the malicious one every 20 min, 200 words, on 600
    training reviews (18 left for the honest agent) and 400 test reviews. The run goes
    on until every claim has settled."""
    base = SimulationConfig(
        words=200,
        train_limit=600,
        test_limit=400,
        initial_fraction=0.97,
        honest=replace(HONEST, start_balance=1000, mean_wait_s=600),
        malicious=replace(MALICIOUS, start_balance=1000, mean_wait_s=1200),
        refund_wait_s=HOUR,
        claim_wait_s=2 * HOUR,
        eval_every_s=2 * HOUR,
        seed=7,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data():
    return load_data(IMDB, small_config())


@pytest.fixture(scope="module")
def run(data):
    return Simulation(small_config(), data).run()


def test_malicious_agent_loses_and_honest_agent_gains(run) -> None:
    last = run.rows[-1]
    assert last["malicious"] < 100.0
    assert last["honest"] > 100.0
    assert run.gas["honest"]["txs"]["report"] > 0
    assert run.gas["honest"]["txs"]["refund"] > 0


def test_accuracy_stays_within_band_of_initial(run) -> None:
    assert abs(run.final_accuracy - run.initial_accuracy) <= FINAL_ACCURACY_BAND
    for row in run.rows:
        assert row["accuracy"] >= run.initial_accuracy - DIP_BAND, row


def test_every_transaction_is_a_mined_block_at_simulated_time(run) -> None:
    assert run.txs == sum(sum(g["txs"].values()) for g in run.gas.values())
    assert 0 < run.blocks <= run.txs
    assert run.gas["honest"]["gas_used"] > 0 and run.gas["malicious"]["gas_used"] > 0
    days = [row["day"] for row in run.rows]
    assert days == sorted(days) and days[-1] >= 3 * HOUR / 86_400  # simulated hours, not slept


def test_outputs_csv_png_json(run, tmp_path: Path) -> None:
    paths = write_outputs(run, tmp_path, "small", "test")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = paths["csv"].read_text().splitlines()[0]
    assert header == "day,honest,malicious,accuracy,block"
    summary = json.loads(paths["json"].read_text())
    assert summary["gas"]["honest"]["gas_used"] == run.gas["honest"]["gas_used"]
    assert summary["tx_per_s"] > 0


@pytest.mark.parametrize("model", sorted(MODEL_CHOICES.values()))
def test_fast_evaluator_matches_twin_predictions(data, model: str) -> None:
    twin = twin_from_state(model, initial_state(model, data, small_config()))
    fast = predict_many(model, twin, data.test_matrix[:150])
    assert list(fast) == [twin.predict(row) for row in data.test_rows[:150]]


def test_same_seed_same_decisions(data) -> None:
    a = Simulation(small_config(), data)
    b = Simulation(small_config(), data)
    assert [float(x.rng.random()) for x in a.agents] == [float(x.rng.random()) for x in b.agents]
    c = Simulation(small_config(seed=8), data)
    assert [float(x.rng.random()) for x in a.agents] != [float(x.rng.random()) for x in c.agents]


def test_bad_settings_are_refused_with_a_clear_error(data) -> None:
    with pytest.raises(SimulationError, match="unknown model"):
        Simulation(small_config(model="svm"), data)
    with pytest.raises(SimulationError, match="refund wait"):
        Simulation(small_config(refund_wait_s=10 * HOUR), data)
    with pytest.raises(SimulationError, match="initial fraction"):
        small_config(initial_fraction=1.5).check()


def test_cli_missing_imdb_path_is_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "simulate",
            "imdb",
            "--imdb",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no such file or directory" in proc.stderr
    assert "Traceback" not in proc.stderr
