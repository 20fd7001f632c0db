"""Fig. 3 over several seeds with the exact off-chain engine, plotted as bands.

Each seed is a whole run of ``bench.simulate`` under a profile (default ``paper``) with
``on_chain=False``: the twins decide and account every transaction the chain run would
send (``tests/bench/test_offchain.py`` checks the two trajectories are equal). Writes, per
seed, the CSV of the run; then a JSON summary with the issue's acceptance figures per seed
(mean and minimum accuracy over the attack window, final balances, the malicious agent's
exhaustion day) and a PNG of the median and min-max band over seeds.

    python -m bench.fig3_bands --imdb ../shared/data/imdb --seeds 0,1,2,3,4 \\
        --out bench/results/simulation/fig3-paper-offchain
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.provenance import machine_line
from bench.simulate import (
    DAY_S,
    Result,
    SimulationError,
    profile_config,
    simulate,
    write_csv,
)

ACCURACY_MEAN_BAND = 0.015  # the attack window's mean accuracy lies within this of the initial
ACCURACY_MIN_DROP = 0.03  # and its minimum at most this far below it
HONEST_LEAST_PCT = 180.0  # the honest agent ends at least here (% of its start)


def acceptance(result: Result) -> dict[str, Any]:
    """The issue's figures for one run. The attack window runs from the start to the day the
    malicious agent could no longer cover a deposit (the whole run if it never stopped)."""
    end_day = result.days_to_exhaust if result.days_to_exhaust is not None else result.rows[-1]["day"]
    window = [r["accuracy"] for r in result.rows if r["day"] <= end_day]
    initial = result.initial_accuracy
    last = result.rows[-1]
    figures: dict[str, Any] = {
        "seed": result.config.seed,
        "initial_accuracy": initial,
        "attack_window_days": end_day,
        "attack_mean_accuracy": float(np.mean(window)),
        "attack_min_accuracy": float(np.min(window)),
        "final_accuracy": result.final_accuracy,
        "good_data_accuracy": result.good_data_accuracy,
        "honest_final_pct": last["honest"],
        "malicious_final_pct": last["malicious"],
        "malicious_exhausted_day": result.days_to_exhaust,
        "days": last["day"],
        "submitted": result.submitted,
        "rejected": result.rejected,
        "takes": result.takes,
        "txs": result.gas and {k: v["txs"] for k, v in result.gas.items()},
        "wall_s": round(result.wall_s, 1),
    }
    figures["mean_within_1_5_points"] = abs(figures["attack_mean_accuracy"] - initial) <= ACCURACY_MEAN_BAND
    figures["min_within_3_points"] = initial - figures["attack_min_accuracy"] <= ACCURACY_MIN_DROP
    figures["honest_at_least_180_pct"] = figures["honest_final_pct"] >= HONEST_LEAST_PCT
    figures["malicious_exhausted"] = result.days_to_exhaust is not None
    return figures


def plot_bands(results: list[Result], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max(r.rows[-1]["day"] for r in results)
    grid = np.linspace(0.0, end, 400)

    def on_grid(result: Result, key: str) -> np.ndarray:
        days = np.array([r["day"] for r in result.rows])
        values = np.array([r[key] for r in result.rows], dtype=float)
        out = np.interp(grid, days, values)  # step-free: measurements are 2.3 days apart
        out[grid > days[-1]] = np.nan
        return out

    fig, left = plt.subplots(figsize=(9, 5))
    right = left.twinx()
    for key, axis, colour, scale, label in (
        ("honest", left, "tab:green", 1.0, "honest agent balance"),
        ("malicious", left, "tab:red", 1.0, "malicious agent balance"),
        ("accuracy", right, "tab:blue", 100.0, "model accuracy"),
    ):
        stack = np.vstack([on_grid(r, key) for r in results]) * scale
        axis.fill_between(
            grid, np.nanmin(stack, axis=0), np.nanmax(stack, axis=0), color=colour, alpha=0.25, linewidth=0
        )
        axis.plot(grid, np.nanmedian(stack, axis=0), color=colour, label=f"{label} (median, min-max)")
    good = float(np.mean([r.good_data_accuracy for r in results if r.good_data_accuracy is not None]))
    right.axhline(100 * good, color="black", linestyle=":", label=f"all good data: {100 * good:.1f}%")
    left.set_xlabel("simulated time (days)")
    left.set_ylabel("balance (% of start)")
    left.set_ylim(bottom=0)
    right.set_ylabel("test accuracy (%)")
    right.set_ylim(0, 100)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [str(h.get_label()) for h in handles], loc="lower left", fontsize=8)
    left.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fig3_bands", description=__doc__.split("\n")[0])
    parser.add_argument("--imdb", type=Path, required=True)
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        configs = [profile_config(args.profile, seed=seed) for seed in seeds]
    except (ValueError, SimulationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.fig3_bands " + " ".join(sys.argv[1:] if argv is None else argv)
    results, figures = [], []
    started = time.perf_counter()
    for config in configs:
        result = simulate(args.imdb, config, progress=lambda line: print(line, flush=True), on_chain=False)
        write_csv(result, args.out / f"seed{config.seed}.csv")
        results.append(result)
        figures.append(acceptance(result))
        print(json.dumps(figures[-1]), flush=True)
    wall = time.perf_counter() - started
    summary = {
        "command": command,
        "machine": machine_line(),
        "engine": "off-chain (exact twins; equal to the chain on seed 0, tests/bench/test_offchain.py)",
        "wall_s": round(wall, 1),
        "day_s": DAY_S,
        "per_seed": figures,
        "config": json.loads(json.dumps(results[0].summary()["config"], default=str)),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_bands(
        results,
        args.out / "fig3-bands.png",
        f"Fig. 3, '{args.profile}' profile, {len(results)} seeds, off-chain engine",
    )
    print(f"{len(results)} seeds in {wall:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
