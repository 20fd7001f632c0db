"""A two-point sweep on real chains (on Ray in local mode when Ray is installed,
otherwise on the local process pool): an honest agent whose deposits cannot cover the
submission cost contributes nothing, one that can contributes and wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.simulate import SimulationConfig, SimulationError, config_with
from bench.sweep import DEFAULT_PARAMS, parse_params, points, run_sweep, write_sweep
from tests.bench.test_simulate import small_config
from tests.testdata import IMDB_SAMPLE

IMDB = IMDB_SAMPLE  # 800 train + 500 test reviews: more than the small runs draw
HOUR = 3600  # seconds
MAX_HOURS = 8  # simulated hours per point at most (the able point settles before)


try:
    import ray  # noqa: F401

    RAY = "local"
except ImportError:
    RAY = None


def small_base() -> SimulationConfig:
    """The small Fig. 3 setting of test_simulate, measured every 4 simulated hours."""
    return small_config(eval_every_s=4 * HOUR)


def test_two_point_deposit_sweep(tmp_path: Path) -> None:
    rows = run_sweep(
        IMDB,
        {"honest_mean_deposit": [50, 0.5]},
        base=small_base(),
        workers=2,
        ray_address=RAY,
        max_days=MAX_HOURS * HOUR / 86_400,
    )
    able, unable = rows
    assert (able["value"], unable["value"]) == (50, 0.5)
    assert able["honest_submitted"] > 0 and unable["honest_submitted"] == 0
    assert unable["honest_rejected"] > 0  # 0.5 units never covers the 1-unit least cost
    assert able["malicious_final_pct"] < 100 < able["honest_final_pct"]
    assert unable["days"] <= MAX_HOURS * HOUR / 86_400 + 1e-9
    for row in rows:
        assert 0.0 <= row["gap_to_good_data"] + 0.1 and 0.5 < row["final_accuracy"] <= 1.0
    paths = write_sweep(rows, tmp_path, "test")
    assert "honest_mean_deposit" in paths["md"].read_text()
    assert paths["png:honest_mean_deposit"].read_bytes()[:4] == b"\x89PNG"


def test_sweep_parameters_parse_and_refuse_nonsense() -> None:
    assert parse_params(None) == DEFAULT_PARAMS
    assert parse_params(["words=100,500"]) == {"words": [100.0, 500.0]}
    with pytest.raises(SimulationError, match="unknown sweep parameter"):
        parse_params(["depth=3"])
    with pytest.raises(SimulationError, match="NAME=V1"):
        parse_params(["words"])
    with pytest.raises(SimulationError, match="must be numbers"):
        parse_params(["words=ten"])


def test_points_vary_one_parameter_around_the_base() -> None:
    base = small_base()
    made = points({"words": [300], "honest_mean_deposit": [5], "cost_weight": [10]}, base)
    assert made[0].config.words == 300 and made[0].config.honest == base.honest
    assert made[1].config.honest.mean_deposit == 5 and made[1].config.honest.stdev_deposit == 1
    assert made[2].config.cost_weight_units_s == 10 and made[2].config.words == base.words


def test_paper_points_price_cost_weight_on_the_square_root_law_for_each_seed() -> None:
    from bench.simulate import profile_config
    from bench.sweep import DING_HU_DEPOSIT_STDEV, SQRT_LAW_UNITS

    base = profile_config("paper")
    chosen = points({"cost_weight": [2], "honest_mean_deposit": [500]}, base, seeds=[0, 1, 2])
    assert [(p.param, p.config.seed) for p in chosen] == [
        ("cost_weight", 0),
        ("cost_weight", 1),
        ("cost_weight", 2),
        ("honest_mean_deposit", 0),
        ("honest_mean_deposit", 1),
        ("honest_mean_deposit", 2),
    ]
    assert chosen[0].config.cost_weight_units_s == 2 * SQRT_LAW_UNITS
    assert chosen[0].config.deposit_law == "sqrt"
    assert chosen[3].config.honest.stdev_deposit == DING_HU_DEPOSIT_STDEV


def test_three_paper_points_are_identical_on_chain_and_off_chain() -> None:
    from bench.simulate import profile_config
    from bench.sweep import run_point

    base = profile_config(
        "paper",
        words=200,
        train_limit=600,
        test_limit=400,
        initial_fraction=0.9,
        honest_start_balance=1000,
        malicious_start_balance=1000,
        malicious_mean_wait_s=1200,
        refund_wait_s=HOUR,
        claim_wait_s=3 * HOUR,
        eval_first_s=HOUR,
        eval_every_s=2 * HOUR,
    )
    chosen = points({"cost_weight": [1, 25], "honest_mean_deposit": [5]}, base)
    for point in chosen:
        on_chain = run_point(str(IMDB), point, None, on_chain=True)
        off_chain = run_point(str(IMDB), point, None, on_chain=False)
        assert on_chain.pop("wall_s") >= 0 and off_chain.pop("wall_s") >= 0
        assert off_chain == on_chain
        assert on_chain["txs"] > 0


def test_a_point_takes_the_data_load_data_gives_from_one_shared_load() -> None:
    from bench.simulate import load_data, profile_config
    from bench.sweep import point_data

    for words, fraction in ((50, 0.08), (200, 0.3), (1200, 0.05)):
        config = profile_config(
            "paper", words=words, initial_fraction=fraction, train_limit=300, test_limit=200
        )
        shared, alone = point_data(str(IMDB_SAMPLE), config), load_data(IMDB_SAMPLE, config)
        assert shared.vocabulary_words == alone.vocabulary_words
        assert shared.train_rows == alone.train_rows and shared.test_rows == alone.test_rows
        assert shared.initial == alone.initial
        assert (shared.train_matrix != alone.train_matrix).nnz == 0
        assert (shared.test_matrix != alone.test_matrix).nnz == 0


def test_a_resumed_sweep_takes_matching_rows_and_runs_only_the_rest(tmp_path: Path) -> None:
    from bench.simulate import profile_config
    from bench.sweep import reusable_rows

    base = profile_config("paper", words=100, train_limit=300, test_limit=200, eval_every_s=4 * HOUR)
    params = {"honest_mean_deposit": [50, 5]}
    max_days = MAX_HOURS * HOUR / 86_400
    written: list[int] = []

    def checkpoint(rows: list[dict[str, Any]]) -> None:
        written.append(len(rows))
        write_sweep(rows, tmp_path, "test")

    first = run_sweep(
        IMDB, params, base=base, workers=1, max_days=max_days, on_chain=False, on_row=checkpoint
    )
    assert written == [1, 2]  # the files are rewritten after every point
    earlier = reusable_rows(tmp_path / "sweep.json")
    assert [row["value"] for row in earlier] == [50, 5]
    # a row whose configuration matches is taken as it is; a changed base runs again
    earlier[0]["wall_s"] = -1.0
    again = run_sweep(IMDB, params, base=base, workers=1, max_days=max_days, on_chain=False, done=earlier)
    assert again[0]["wall_s"] == -1.0
    assert {k: v for k, v in again[1].items() if k != "wall_s"} == {
        k: v for k, v in first[1].items() if k != "wall_s"
    }
    # the same configuration reached by another parameter is the same run, under its name
    centre = run_sweep(IMDB, {"cost_weight": [1]}, base=base, workers=1, on_chain=False, done=earlier[:1])
    assert (centre[0]["param"], centre[0]["wall_s"]) == ("cost_weight", -1.0)
    assert centre[0]["final_accuracy"] == earlier[0]["final_accuracy"]
    changed = config_with(base, seed=1)
    fresh = run_sweep(IMDB, params, base=changed, workers=1, max_days=max_days, on_chain=False, done=earlier)
    assert all(row["wall_s"] >= 0 and row["seed"] == 1 for row in fresh)


def test_a_damaged_earlier_sweep_is_refused_with_one_line(tmp_path: Path) -> None:
    from bench.sweep import reusable_rows

    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(SimulationError, match="cannot read the earlier sweep"):
        reusable_rows(tmp_path / "sweep.json")
    (tmp_path / "sweep.json").write_text('{"rows": 1}')
    with pytest.raises(SimulationError, match="not a sweep's rows"):
        reusable_rows(tmp_path / "sweep.json")
    assert reusable_rows(tmp_path / "absent.json") == []
