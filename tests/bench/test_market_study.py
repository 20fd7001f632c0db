"""The off-chain market study scores models exactly as the contract's twin and runs the
original framework's agent process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.market_study import (
    AGENTS,
    MALICIOUS,
    VARIANTS,
    contributors,
    errors_over_time,
    initial_model,
    load_seed,
    off_chain_errors,
    plan_seed,
    run_seed,
    run_seed_on_chain,
)
from tests.testdata import IMDB_SAMPLE
from vm_contracts.reference import SparsePerceptron
from vm_contracts.reference_market import MarketTerms, model_errors


def _samples(rng: np.random.Generator, count: int, features: int) -> list[tuple[list[int], int]]:
    out = []
    for _ in range(count):
        idx = sorted(set(rng.integers(0, features, size=int(rng.integers(1, 8))).tolist()))
        out.append((idx, int(rng.integers(0, 2))))
    return out


def test_errors_equal_the_contract_twin_from_zero_weights() -> None:
    rng = np.random.default_rng(1)
    contributions, test = _samples(rng, 120, 30), _samples(rng, 40, 30)
    terms = MarketTerms(stake_unit=1, num_features=30, learning_rate=10**9)
    expected = model_errors(terms, contributions, test)
    got = errors_over_time([0] * 30, 0, 10**9, contributions, [x for x, _ in test], [y for _, y in test])
    assert got == expected
    assert len(set(got)) > 3  # the model moved


def test_errors_equal_the_twin_from_trained_weights() -> None:
    rng = np.random.default_rng(2)
    contributions, test = _samples(rng, 120, 30), _samples(rng, 40, 30)
    weights = [int(v) for v in rng.integers(-(3 * 10**9), 3 * 10**9, size=30)]
    twin = SparsePerceptron(30, 7 * 10**8, -(10**8), list(weights))
    expected = [sum(twin.predict(x) != y for x, y in test)]
    for x, y in contributions:
        twin.update(x, y)
        expected.append(sum(twin.predict(d) != label for d, label in test))
    got = errors_over_time(
        weights, -(10**8), 7 * 10**8, contributions, [x for x, _ in test], [y for _, y in test]
    )
    assert got == expected


def test_original_agent_process_waits_are_nearly_periodic() -> None:
    rng = np.random.default_rng(0)
    order = contributors(6000, VARIANTS["original"], accuracy=1.0, rng=rng)
    counts = {a: order.count(a) for a in AGENTS}
    # turns every 10, 20, 30, 60, 60 minutes: shares 6:3:2:1:1 of 13, within a turn or two
    for agent, weight in zip(AGENTS, (6, 3, 2, 1, 1), strict=True):
        assert abs(counts[agent] - 6000 * weight / 13) <= 3, counts
    half = contributors(6000, VARIANTS["original"], accuracy=0.35, rng=np.random.default_rng(0))
    malicious = sum(a in MALICIOUS for a in half)
    assert malicious > sum(a in MALICIOUS for a in order)  # honest agents skip half their turns


def test_sgd_initial_model_is_trained_on_ten_reviews_with_its_end_step() -> None:
    rng = np.random.default_rng(3)
    rows = [sorted(set(rng.integers(0, 50, size=6).tolist())) for _ in range(40)]
    labels = [i % 2 for i in range(40)]
    weights, _intercept, step, kept = initial_model(VARIANTS["original"], rows, labels, 50, seed=0)
    assert kept == 10 and step > 0 and any(weights)
    assert initial_model(VARIANTS["zero-weight"], rows, labels, 50, seed=0) == ([0] * 50, 0, 10**9, 0)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_seed_pays_out_every_stake_it_took(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.market_study as study

    monkeypatch.setattr(study, "TRAIN_SIZE", 300)
    monkeypatch.setattr(study, "TEST_SIZE", 100)
    monkeypatch.setattr(study, "BOUNTY_ROUNDS", 50)
    (row,) = run_seed(IMDB_SAMPLE, 0, [VARIANTS[name]])
    assert row["contributions"] == (290 if name == "original" else 300) == sum(row["stakes"].values())
    assert row["scored_test_samples"] == (90 if name == "original" else 100)
    # the market pays back at least what stays in S; every figure is a finite number of units
    assert all(v >= 0 for v in row["paid_units"].values())
    assert row["malicious_lose"] == (row["malicious_per_stake"] < 1)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_seed_on_chain_equals_the_off_chain_study(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import bench.market_study as study
    from bench.market import UNIT_WEI

    monkeypatch.setattr(study, "TRAIN_SIZE", 60)
    monkeypatch.setattr(study, "TEST_SIZE", 40)
    monkeypatch.setattr(study, "BOUNTY_ROUNDS", 50)
    monkeypatch.setattr(study, "CHECKPOINT_EVERY", 20)
    data = load_seed(IMDB_SAMPLE, 0)
    plan = plan_seed(data, VARIANTS[name])
    errors = off_chain_errors(plan)
    (off_chain,) = run_seed(IMDB_SAMPLE, 0, [VARIANTS[name]])
    checkpoint = tmp_path / "progress.json"
    row, run = run_seed_on_chain(plan, progress=lambda _: None, checkpoint=checkpoint)
    assert run.errors == errors and len(set(errors)) > 1  # the model moved
    assert row["stakes"] == off_chain["stakes"]
    assert row["balance_sums"] == off_chain["balance_sums"]
    assert row["paid_units"] == off_chain["paid_units"]
    n = off_chain["scored_test_samples"]
    assert run.owed_wei == {a: UNIT_WEI * off_chain["balance_sums"][a] // n for a in AGENTS}
    assert json.loads(checkpoint.read_text())["phase"] == "done"
    if name == "original":  # the chain scored only the 9 parts not revealed, from trained weights
        assert n == 36 and plan.weights != [0] * data.words
        assert run.seed_block_tries >= 1
    else:
        assert n == 40 and plan.weights == [0] * data.words
