"""Ding & Hu's parameter study, each point a full simulation on its own chain.

Ding & Hu ("An Investigation of Smart Contract for Collaborative Machine Learning
Model Training") vary one parameter at a time around Harris & Waggoner's Fig. 3
setting: the number of words (100 to 1,000), the initial training fraction (1% to
32%), the honest agent's mean deposit (0.5 to 5,000 units, against the malicious
agent's 100) and the submission cost (Stakeable's cost weight). For each point this
module reports the test accuracy after the simulation, its gap to the same model
trained on all good data, and the simulated days until the malicious agent's balance
can no longer cover a deposit.

Points run in parallel on a local process pool (spawned processes, one chain each) or,
with ``ray_address``, as Ray tasks (``"local"`` starts Ray inside this process; Ray is
the optional ``ray`` extra).

    sumchain sweep --imdb ../shared/data/imdb --train-limit 3000 --max-days 20
"""

from __future__ import annotations

import csv
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.provenance import machine_line
from bench.simulate import (
    MODEL_CHOICES,
    Simulation,
    SimulationConfig,
    SimulationError,
    config_with,
    good_data_accuracy,
    load_data,
)

# Ding & Hu's ranges (deposits and cost weight in units; cost weight in unit-seconds).
DEFAULT_PARAMS: dict[str, list[float]] = {
    "words": [100, 250, 500, 1000],
    "initial_fraction": [0.01, 0.02, 0.04, 0.08, 0.16, 0.32],
    "honest_mean_deposit": [0.5, 5, 50, 500, 5000],
    "cost_weight": [100, 1000, 10_000],
}
# Ding & Hu's full grids, run on the ``paper`` profile (the square-root law: cost weight cw
# charges 60 cw / isqrt(elapsed) units, the original's; the honest deposit's stdev stays 10)
DING_HU_GRIDS: dict[str, list[float]] = {
    "words": [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
    "initial_fraction": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10, 0.12, 0.16, 0.20, 0.25, 0.32],
    "honest_mean_deposit": [0.5, 1, 5, 10, 50, 100, 500, 1000, 5000],
    "cost_weight": [1, 5, 10, 15, 20, 25],
}
SQRT_LAW_UNITS = 60  # the original's simulation charges 60 * cost weight / isqrt(elapsed) units
DING_HU_DEPOSIT_STDEV = 10.0  # units: Ding & Hu keep the honest deposit's stdev at 10
DEPOSIT_STDEV_SHARE = 0.2  # a swept mean deposit keeps the Fig. 3 ratio: stdev = mean / 5
INTEGER_PARAMS = frozenset({"words"})
CONFIG_FIELDS = {"cost_weight": "cost_weight_units_s"}  # sweep name -> SimulationConfig field
TABLE_COLUMNS = (
    "param",
    "value",
    "seed",
    "final_accuracy",
    "initial_accuracy",
    "good_data_accuracy",
    "gap_to_good_data",
    "days_to_exhaust",
    "honest_final_pct",
    "malicious_final_pct",
    "days",
    "honest_submitted",
    "honest_rejected",
    "txs",
    "wall_s",
)


@dataclass(frozen=True)
class Point:
    """One sweep point: which parameter, its value, and the full run configuration."""

    param: str
    value: float
    config: SimulationConfig


def parse_params(specs: Sequence[str] | None) -> dict[str, list[float]]:
    """``["words=100,500", ...]`` as a dict; None or empty gives ``DEFAULT_PARAMS``."""
    if not specs:
        return {name: list(values) for name, values in DEFAULT_PARAMS.items()}
    params: dict[str, list[float]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise SimulationError(f"sweep parameter {spec!r}: expected NAME=V1,V2,...")
        if name not in DEFAULT_PARAMS:
            raise SimulationError(f"unknown sweep parameter {name!r}; choose from {sorted(DEFAULT_PARAMS)}")
        try:
            parsed = [float(v) for v in values.split(",")]
        except ValueError:
            raise SimulationError(f"sweep parameter {name}: values must be numbers, got {values!r}") from None
        if any(not v > 0 for v in parsed):
            raise SimulationError(f"sweep parameter {name}: values must be positive")
        params[name] = parsed
    return params


def points(
    params: Mapping[str, Iterable[float]],
    base: SimulationConfig,
    seeds: Sequence[int] | None = None,
) -> list[Point]:
    """One point per (parameter, value, seed), all other settings as in ``base``. Under the
    square-root law a cost weight cw means 60 cw / isqrt(elapsed) units and a swept honest
    deposit keeps its stdev at 10 (Ding & Hu); under the linear law the cost weight is in
    unit-seconds and the stdev is a fifth of the mean."""
    sqrt_law = base.deposit_law == "sqrt"
    out = []
    for name, values in params.items():
        for value in values:
            for seed in seeds if seeds is not None else (base.seed,):
                seeded = config_with(base, seed=seed)
                if name == "honest_mean_deposit":
                    stdev = DING_HU_DEPOSIT_STDEV if sqrt_law else value * DEPOSIT_STDEV_SHARE
                    config = config_with(seeded, honest_mean_deposit=value, honest_stdev_deposit=stdev)
                elif name in INTEGER_PARAMS:
                    config = config_with(seeded, **{name: int(value)})
                elif name == "cost_weight" and sqrt_law:
                    config = config_with(seeded, cost_weight_units_s=SQRT_LAW_UNITS * value)
                else:
                    config = config_with(seeded, **{CONFIG_FIELDS.get(name, name): value})
                config.check()
                out.append(Point(name, value, config))
    return out


@functools.lru_cache(maxsize=8)  # a few seeds' loads (about 0.4 GB each) stay
def _data(imdb: str, config: SimulationConfig) -> Any:
    return load_data(imdb, config)


def _data_key(config: SimulationConfig) -> SimulationConfig:
    """The settings that change the encoded data (others share one load per process; the
    initial fraction only moves the split, see ``point_data``)."""
    return SimulationConfig(
        words=config.words,
        train_limit=config.train_limit,
        test_limit=config.test_limit,
        seed=config.seed,
    )


SHARED_VOCABULARY = 1000  # words loaded once per seed; a smaller vocabulary is its prefix


def point_data(imdb: str, config: SimulationConfig) -> Any:
    """The encoded data of a point, exactly as ``load_data`` gives it, from one load per
    (limits, seed): a vocabulary of n words is the first n of the ranking (most frequent
    first), so its encoding keeps the indices below n; the split is at the point's initial
    fraction."""
    import bisect
    from dataclasses import replace

    from bench.simulate import rows_to_matrix

    words = config.words
    data = _data(imdb, _data_key(replace(config, words=max(words, SHARED_VOCABULARY))))
    if words < len(data.vocabulary_words):
        train_rows = [r[: bisect.bisect_left(r, words)] for r in data.train_rows]
        test_rows = [r[: bisect.bisect_left(r, words)] for r in data.test_rows]
        data = replace(
            data,
            vocabulary_words=data.vocabulary_words[:words],
            train_rows=train_rows,
            test_rows=test_rows,
            train_matrix=rows_to_matrix(train_rows, words),
            test_matrix=rows_to_matrix(test_rows, words),
        )
    initial = int(round(len(data.train_rows) * config.initial_fraction))
    if not 2 <= initial < len(data.train_rows):
        raise SimulationError(
            f"initial training set of {initial} reviews out of {len(data.train_rows)} is unusable"
        )
    return replace(data, initial=initial)


def run_point(imdb: str, point: Point, max_days: float | None, on_chain: bool = True) -> dict[str, Any]:
    """Run one point on a fresh chain (or with the exact off-chain engine); its table row."""
    data = point_data(str(imdb), point.config)
    started = time.perf_counter()
    result = Simulation(point.config, data, on_chain=on_chain).run(max_days)
    good = good_data_accuracy(MODEL_CHOICES[point.config.model], data, point.config)
    last = result.rows[-1]
    return {
        "param": point.param,
        "value": point.value,
        "seed": point.config.seed,
        "final_accuracy": round(result.final_accuracy, 4),
        "initial_accuracy": round(result.initial_accuracy, 4),
        "good_data_accuracy": round(good, 4),
        "gap_to_good_data": round(good - result.final_accuracy, 4),
        "days_to_exhaust": None if result.days_to_exhaust is None else round(result.days_to_exhaust, 2),
        "honest_final_pct": round(last["honest"], 2),
        "malicious_final_pct": round(last["malicious"], 2),
        "days": round(last["day"], 2),
        "honest_submitted": result.submitted["honest"],
        "honest_rejected": result.rejected["honest"],
        "txs": result.txs,
        "wall_s": round(time.perf_counter() - started, 1),
        "config": point_config(point),
    }


def point_config(point: Point) -> dict[str, Any]:
    """A point's full configuration as its row stores it: what ``--resume`` matches on."""
    return json.loads(json.dumps(asdict(point.config), default=str))


def _config_key(config: Any) -> str:
    """A configuration as a comparable string: a whole float is its integer (a swept 50.0
    is the profile's 50)."""

    def normal(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [normal(v) for v in value]
        return value

    return json.dumps(normal(config), sort_keys=True)


def reusable_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an earlier sweep's ``sweep.json`` (none when it is absent); a row is
    reused only for a point whose whole configuration equals the row's."""
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SimulationError(f"{path}: cannot read the earlier sweep to resume ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SimulationError(f"{path}: not a sweep's rows (expected a JSON list of objects)")
    return [row for row in rows if isinstance(row.get("config"), dict)]


def run_sweep(
    imdb: str | Path,
    params: Mapping[str, Iterable[float]],
    model: str = "perceptron",
    incentive: str = "Stakeable",
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
    eval_every_s: int = 86_400,
    max_days: float | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[str], None] | None = None,
    base: SimulationConfig | None = None,
    seeds: Sequence[int] | None = None,
    on_chain: bool = True,
    done: Sequence[Mapping[str, Any]] = (),
    on_row: Callable[[list[dict[str, Any]]], object] | None = None,
) -> list[dict[str, Any]]:
    """Every point's row, in the order of ``params``. Each point runs in its own process
    (pool) or Ray task, on its own chain; the same seed gives the same rows. A point whose
    configuration equals a row of ``done`` is not run again: that row is taken. ``on_row``
    is called with the rows so far (in the order of ``params``) after every point finishes."""
    report = progress or (lambda _line: None)
    if not Path(imdb).exists():
        raise SimulationError(f"{imdb}: no such file or directory (expected IMDB data)")
    base = base or SimulationConfig(
        model=model,
        incentive=incentive,
        seed=seed,
        train_limit=train_limit,
        test_limit=test_limit,
        eval_every_s=eval_every_s,
    )
    todo = points(params, base, seeds)
    if not todo:
        raise SimulationError("the sweep has no points")
    taken = {_config_key(row["config"]): dict(row) for row in done}
    known: dict[int, dict[str, Any]] = {}
    for index, point in enumerate(todo):
        row = taken.get(_config_key(point_config(point)))
        if row is not None:  # the same run under another parameter's name (a grid's centre)
            known[index] = {**row, "param": point.param, "value": point.value}
    fresh = [point for index, point in enumerate(todo) if index not in known]
    if known:
        report(f"{len(known)} of {len(todo)} points taken from the earlier sweep")
    where = "Ray at " + ray_address if ray_address else "a local process pool"
    report(f"{len(fresh)} points on {where}")
    order = [index for index in range(len(todo)) if index not in known]

    def finished(index: int, row: dict[str, Any]) -> None:
        known[order[index]] = row
        if on_row is not None:
            on_row([known[i] for i in sorted(known)])

    if fresh and ray_address:
        _on_ray(str(imdb), fresh, max_days, ray_address, report, on_chain, finished)
    elif fresh:
        _on_pool(str(imdb), fresh, max_days, workers, report, on_chain, finished)
    return [known[index] for index in range(len(todo))]


def _done_line(point: Point, row: Mapping[str, Any]) -> str:
    return f"{point.param}={point.value:g} seed {point.config.seed}: accuracy {row['final_accuracy']:.4f}"


def _on_pool(
    imdb: str,
    todo: list[Point],
    max_days: float | None,
    workers: int | None,
    report: Callable[[str], None],
    on_chain: bool,
    finished: Callable[[int, dict[str, Any]], None],
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    count = min(len(todo), workers or os.cpu_count() or 1)
    context = multiprocessing.get_context("spawn")  # each process builds its own chain and threads
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = {pool.submit(run_point, imdb, point, max_days, on_chain): i for i, point in enumerate(todo)}
        for future in as_completed(futures):
            index = futures[future]
            row = future.result()
            point = todo[index]
            report(_done_line(point, row))
            finished(index, row)


def _on_ray(
    imdb: str,
    todo: list[Point],
    max_days: float | None,
    address: str,
    report: Callable[[str], None],
    on_chain: bool,
    finished: Callable[[int, dict[str, Any]], None],
) -> None:
    try:
        import ray
    except ImportError:
        raise SimulationError("--ray needs Ray: pip install 'sumchain[ray]' (ray==2.60.0)") from None
    started_here = not ray.is_initialized()
    if started_here:
        root = str(Path(__file__).resolve().parents[1])
        runtime_env = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
        if address == "local":
            # Ray lowers its workers' priority by default; a local sweep is the main work
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    try:
        remote = ray.remote(run_point)
        refs = {remote.remote(imdb, point, max_days, on_chain): i for i, point in enumerate(todo)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            index = refs[ready[0]]
            row = ray.get(ready[0])
            point = todo[index]
            report(_done_line(point, row))
            finished(index, row)
    finally:
        if started_here:
            ray.shutdown()


def write_sweep(rows: Sequence[Mapping[str, Any]], out: Path, command: str = "") -> dict[str, Path]:
    """sweep.csv, sweep.md (table with the command and machine) and one PNG per parameter."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "sweep.csv", "md": out / "sweep.md"}
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in TABLE_COLUMNS})
    lines = [
        "# Parameter sweep (Ding & Hu) on sumchain",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine_line()}",
        "",
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
    ]
    for row in rows:
        lines.append(
            "| " + " | ".join("" if row.get(k) is None else str(row.get(k)) for k in TABLE_COLUMNS) + " |"
        )
    paths["md"].write_text("\n".join(lines) + "\n")
    for param in dict.fromkeys(row["param"] for row in rows):
        chosen = [row for row in rows if row["param"] == param]
        paths[f"png:{param}"] = out / f"sweep-{param}.png"
        _plot(param, chosen, paths[f"png:{param}"])
    paths["summary"] = out / "sweep-summary.md"
    paths["summary"].write_text(summary_markdown(rows, command) + "\n")
    (out / "sweep.json").write_text(json.dumps(list(rows), indent=2) + "\n")
    return paths


def summary_markdown(rows: Sequence[Mapping[str, Any]], command: str = "") -> str:
    """One table per parameter, one line per value: the median over seeds with the min-max
    in brackets, and on which of the seeds' runs the malicious agent was exhausted."""
    import statistics

    def spread(got: list[float], scale: float = 1.0, digits: int = 2) -> str:
        if not got:
            return "-"
        middle = f"{scale * statistics.median(got):.{digits}f}"
        if len(got) == 1 or min(got) == max(got):
            return middle
        return f"{middle} ({scale * min(got):.{digits}f}-{scale * max(got):.{digits}f})"

    lines = ["# Parameter sweep (Ding & Hu): median over seeds, min-max in brackets", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    for param in dict.fromkeys(row["param"] for row in rows):
        chosen = [row for row in rows if row["param"] == param]
        lines += [
            f"## {param}",
            "",
            "| value | seeds | initial accuracy % | final accuracy % | all good data % | gap, points "
            "| malicious exhausted (runs) | exhausted on day | honest final % | malicious final % "
            "| honest additions refused | days |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for value in sorted(dict.fromkeys(row["value"] for row in chosen)):
            at = [row for row in chosen if row["value"] == value]

            def got(key: str, at: list[Mapping[str, Any]] = at) -> list[float]:
                return [row[key] for row in at if row.get(key) is not None]

            exhausted = got("days_to_exhaust")
            lines.append(
                f"| {value:g} | {len(at)} | {spread(got('initial_accuracy'), 100)} "
                f"| {spread(got('final_accuracy'), 100)} | {spread(got('good_data_accuracy'), 100)} "
                f"| {spread(got('gap_to_good_data'), 100)} | {len(exhausted)} of {len(at)} "
                f"| {spread(exhausted, digits=1)} | {spread(got('honest_final_pct'), digits=1)} "
                f"| {spread(got('malicious_final_pct'), digits=1)} "
                f"| {spread(got('honest_rejected'), digits=0)} | {spread(got('days'), digits=0)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _plot(param: str, rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Accuracy, gap to all good data and days to exhaustion against the parameter: the
    median over seeds with the min-max band (a single seed gives a plain line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = sorted(dict.fromkeys(row["value"] for row in rows))

    def band(key: str, scale: float = 1.0) -> tuple[list[float], list[float], list[float]]:
        low, mid, high = [], [], []
        for value in values:
            got = [row[key] for row in rows if row["value"] == value and row[key] is not None]
            if not got:
                low.append(np.nan)
                mid.append(np.nan)
                high.append(np.nan)
                continue
            low.append(scale * min(got))
            mid.append(scale * float(np.median(got)))
            high.append(scale * max(got))
        return low, mid, high

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for axis, key, scale, colour, label in (
        (axes[0], "final_accuracy", 100.0, "tab:blue", "accuracy after simulation (%)"),
        (axes[1], "gap_to_good_data", 100.0, "tab:purple", "gap to all good data (points)"),
        (axes[2], "days_to_exhaust", 1.0, "tab:red", "day the malicious agent is exhausted"),
    ):
        low, mid, high = band(key, scale)
        axis.fill_between(values, low, high, color=colour, alpha=0.25, linewidth=0)
        axis.plot(values, mid, "o-", color=colour)
        axis.set_xlabel(param)
        axis.set_ylabel(label)
        if param in ("honest_mean_deposit", "cost_weight") and min(values) > 0:
            axis.set_xscale("log")
    seeds = len(dict.fromkeys(row.get("seed") for row in rows))
    fig.suptitle(f"{param}: median over {seeds} seed(s), band min-max (no point: never exhausted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
