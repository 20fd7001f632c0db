"""The exact off-chain engine gives the chain's trajectory, balance for balance and
accuracy point for accuracy point, under every profile; the ``paper`` profile's rules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.simulate import (
    PROFILES,
    Result,
    Simulation,
    SimulationConfig,
    SimulationError,
    load_data,
    profile_config,
    sgd_step_after_fit,
)
from tests.testdata import IMDB_SAMPLE

IMDB = IMDB_SAMPLE  # 800 train + 500 test reviews: more than the short runs draw
HOUR = 3600  # seconds


def short_config(profile: str) -> SimulationConfig:
    """Seed 0 of ``profile`` with time compressed (refund after 1 h, anyone takes after
    3 h), 200 words, 600 training reviews (60 left to add) and 400 test reviews."""
    config = profile_config(
        profile,
        words=200,
        train_limit=600,
        test_limit=400,
        initial_fraction=0.9,
        honest_start_balance=1000,
        honest_mean_wait_s=600,
        malicious_start_balance=1000,
        malicious_mean_wait_s=1200,
        refund_wait_s=HOUR,
        claim_wait_s=3 * HOUR,
        eval_every_s=2 * HOUR,
        seed=0,
    )
    if config.eval_first_s is not None:
        config = replace(config, eval_first_s=HOUR)
    return config


def trajectory(result: Result) -> list[tuple[float, float, float, float]]:
    return [(r["day"], r["honest"], r["malicious"], r["accuracy"]) for r in result.rows]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_off_chain_engine_equals_the_chain_run(profile: str) -> None:
    config = short_config(profile)
    data = load_data(IMDB, config)
    on_chain = Simulation(config, data).run()
    off_chain = Simulation(config, data, on_chain=False).run()
    assert on_chain.engine == "chain" and off_chain.engine == "off-chain"
    assert len(on_chain.rows) > 3
    assert trajectory(off_chain) == trajectory(on_chain)
    assert off_chain.submitted == on_chain.submitted
    assert off_chain.rejected == on_chain.rejected
    for name in ("honest", "malicious"):
        assert off_chain.gas[name]["txs"] == on_chain.gas[name]["txs"]
    assert sum(on_chain.gas["honest"]["txs"].values()) > 0
    assert off_chain.days_to_exhaust == on_chain.days_to_exhaust
    assert off_chain.takes == on_chain.takes
    if config.own_remainder:  # the chain paid a reporter the remainder of a sample it took a share of
        assert sum(on_chain.takes[name]["remainder after own share"] for name in on_chain.takes) > 0


def test_paper_profile_steps_as_scikit_learn_would_after_its_fit() -> None:
    from sklearn.linear_model import SGDClassifier

    rng = np.random.default_rng(0)
    x = (rng.random((200, 30)) < 0.2).astype(float)
    y = (x[:, :5].sum(axis=1) > 1).astype(int)
    clf = SGDClassifier(
        loss="perceptron", learning_rate="optimal", penalty=None, tol=1e-3, random_state=0
    ).fit(x, y)
    before = clf.coef_.copy()
    step = sgd_step_after_fit(int(clf.t_))
    sample = x[0]
    label = 0 if clf.decision_function(x[:1])[0] > 0 else 1  # a label the model gets wrong
    clf.partial_fit(sample[None, :], [label])
    moved = (clf.coef_ - before)[0][sample > 0]
    sign = 1 if label == 1 else -1
    np.testing.assert_allclose(moved, np.full_like(moved, sign * step), rtol=1e-9)


def test_every_rule_of_a_profile_is_in_the_summary() -> None:
    paper = PROFILES["paper"]
    result = Result(
        paper,
        [{"day": 0.0, "honest": 100.0, "malicious": 100.0, "accuracy": 0.5}],
        {},
        0.0,
        0,
        0,
        0.5,
        0.5,
        None,
        {},
        {},
        {},
    )
    rules = result.summary()["config"]
    for name in (
        "profile",
        "initial_model",
        "learning_rate",
        "deposit_law",
        "cost_weight_units_s",
        "unit_wei",
        "whole_unit_costs",
        "draws",
        "malicious_samples",
        "honest_participation",
        "over_balance",
        "own_remainder",
        "same_second_refused",
        "eval_first_s",
        "eval_every_s",
    ):
        assert name in rules
    assert rules["profile"] == "paper" and rules["deposit_law"] == "sqrt"


def test_unknown_profile_and_bad_rules_are_refused() -> None:
    with pytest.raises(SimulationError, match="unknown profile"):
        profile_config("nonsense")
    with pytest.raises(SimulationError, match="deposit_law"):
        profile_config("paper", deposit_law="cubic").check()
