"""The prediction market as the original framework ran it, over many seeds, off-chain.

Harris & Waggoner's market (section III-B) as ``simulate_prediction_market.py`` of the
original framework (microsoft/0xDeCA10B) runs it, with our contract's reward rule:

* h(0) is the SGD perceptron (``SGDClassifier(loss='perceptron', learning_rate='optimal',
  penalty=None, tol=1e-3)``) trained on the first 10 of 10,000 training reviews, deployed
  in fixed point with a constant step equal to its eta at the end of the fit
  (``bench.simulate.sgd_step_after_fit``);
* the test set (1,000 reviews) is split in 10 parts; one part, drawn at random, is revealed
  before participation; **the loss counts only the other, unrevealed parts**, as the
  original's ``end_market`` collects them;
* the agent process: three honest agents with waits int(N(10, 20, 30 min, 1 s)) and two
  malicious ones with int(N(1 h, 1 s)) (drawn again until >= 1 s); at its turn an agent
  stakes one unit on the next review of the shared stream (the malicious agents flip its
  label); an honest agent takes part with probability (accuracy of h(0) + 0.15), the
  model staying h(0) during participation (the original's ``update_model = False``);
  participation ends when the 9,990 remaining reviews are used up;
* the reward phase re-applies the contributions in order to h(0) and pays by the paper's
  iterated rule, exactly as ``PredictionMarket.sol`` (``vm_contracts.reference_market
  .balances``: each bounty round b_t += stake (L(t') - L(t)), contributions below one
  stake leave; 100,000 rounds).

``VARIANTS["zero-weight"]`` keeps today's on-chain setting (``bench.market``: h(0) with zero
weights and step 1, all 10,000 reviews contributed, the loss over every part, exponential
waits, honest agents always taking part). The errors of h(0) .. h(T) come from an exact
integer perceptron in NumPy, checked against the contract's twin in the tests.

    python -m bench.market_study --imdb ../shared/data/imdb --seeds 0-9 --out out/market-study
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import MarketSimulationError
from bench.provenance import machine_line

AGENTS = ("honest 1", "honest 2", "honest 3", "malicious 1", "malicious 2")
MALICIOUS = frozenset({"malicious 1", "malicious 2"})
MEAN_WAIT_S = {"honest 1": 600, "honest 2": 1200, "honest 3": 1800, "malicious 1": 3600, "malicious 2": 3600}
WAIT_STDEV_S = 1.0  # the original's Agent.stdev_update_wait_time
TRAIN_SIZE = 10_000  # the original's train_size
TEST_SIZE = 1_000  # the original's test_size
PARTS = 10  # num_pieces
INITIAL_TRAIN = 10  # init_train_data_portion = 10 / train_size
BOUNTY_ROUNDS = 100_000  # total_bounty, one round per unit
WORDS = 1_000  # num_words
STAKE = 1  # units per contribution (min_stake, allow_greater_deposit=False)
PARTICIPATION_BONUS = 0.15  # an honest agent contributes with probability accuracy + 0.15
SCALE = 10**9  # fixed point of the contract's weights


@dataclass(frozen=True)
class MarketVariant:
    """The rules of one study.

    Fields:
        name: its name in the outputs.
        initial_model: "sgd" (the SGD perceptron on the first ``INITIAL_TRAIN`` reviews,
            step = its eta after the fit) or "zero" (zero weights, step 1, no reviews kept
            back).
        loss_parts: "unrevealed" (the loss over the parts not revealed before
            participation, the original's) or "all" (over the whole test set, as the
            contract today).
        waits: "normal" (int(N(mean, 1 s)), the original's) or "exponential".
        honest_participation: p: an honest agent contributes with probability accuracy of
            h(0) + p; None: always.
    """

    name: str
    initial_model: str
    loss_parts: str
    waits: str
    honest_participation: float | None


VARIANTS = {
    "original": MarketVariant("original", "sgd", "unrevealed", "normal", PARTICIPATION_BONUS),
    "zero-weight": MarketVariant("zero-weight", "zero", "all", "exponential", None),
}


def _waits(rng: np.random.Generator, agent: str, variant: MarketVariant) -> float:
    mean = MEAN_WAIT_S[agent]
    if variant.waits == "exponential":
        return float(rng.exponential(mean))
    while True:
        wait = int(rng.normal(mean, WAIT_STDEV_S))
        if wait >= 1:
            return float(wait)


def contributors(count: int, variant: MarketVariant, accuracy: float, rng: np.random.Generator) -> list[str]:
    """Who contributes each of ``count`` reviews of the shared stream: turns in time order
    (ties by name, as the original's queue), an honest agent's turn passing without a
    contribution with probability 1 - (accuracy + p)."""
    import heapq

    queue = [(_waits(rng, agent, variant), agent) for agent in AGENTS]
    heapq.heapify(queue)
    order: list[str] = []
    while len(order) < count:
        when, agent = heapq.heappop(queue)
        takes_part = True
        if agent not in MALICIOUS and variant.honest_participation is not None:
            takes_part = bool(rng.random() < accuracy + variant.honest_participation)
        if takes_part:
            order.append(agent)
        heapq.heappush(queue, (when + _waits(rng, agent, variant), agent))
    return order


def rows_matrix(rows: Sequence[Sequence[int]], columns: int) -> Any:
    from scipy import sparse

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(indptr[-1]))
    return sparse.csr_matrix(
        (np.ones(len(indices), dtype=np.int64), indices, indptr), shape=(len(rows), columns)
    )


def errors_over_time(
    weights: Sequence[int],
    intercept: int,
    learning_rate: int,
    contributions: Sequence[tuple[Sequence[int], int]],
    test_rows: Sequence[Sequence[int]],
    test_labels: Sequence[int],
) -> list[int]:
    """Test errors of h(0) .. h(T): the SparsePerceptron's integer rule (predict 1 iff the
    score > 0; on a mistake every listed weight and the intercept move by the step), the
    contributions applied in order, vectorised over the test set."""
    w = np.asarray(weights, dtype=np.int64).copy()
    b = int(intercept)
    x = rows_matrix(test_rows, len(w))
    y = np.asarray(test_labels, dtype=np.int64)

    def wrong() -> int:
        return int(np.count_nonzero(((x @ w + b) > 0).astype(np.int64) != y))

    errors = [wrong()]
    for data, label in contributions:
        idx = np.asarray(data, dtype=np.int64)
        predicted = 1 if int(w[idx].sum()) + b > 0 else 0
        if predicted == label:
            errors.append(errors[-1])
            continue
        step = learning_rate if label == 1 else -learning_rate
        w[idx] += step
        b += step
        errors.append(wrong())
    return errors


def initial_model(
    variant: MarketVariant, rows: Sequence[Sequence[int]], labels: Sequence[int], words: int, seed: int
) -> tuple[list[int], int, int, int]:
    """(weights, intercept, step) in fixed point and how many leading reviews trained it."""
    if variant.initial_model == "zero":
        return [0] * words, 0, SCALE, 0
    from sklearn.linear_model import SGDClassifier

    from bench.simulate import SGD_ALPHA, sgd_step_after_fit

    x = rows_matrix(rows[:INITIAL_TRAIN], words).toarray()
    y = np.asarray(labels[:INITIAL_TRAIN])
    if len(set(y.tolist())) < 2:
        raise MarketSimulationError(f"seed {seed}: the first {INITIAL_TRAIN} reviews hold one class only")
    estimator = SGDClassifier(
        loss="perceptron", learning_rate="optimal", penalty=None, tol=1e-3, alpha=SGD_ALPHA, random_state=seed
    )
    estimator.fit(x, y)
    step = sgd_step_after_fit(int(estimator.t_))
    weights = [round(float(v) * SCALE) for v in estimator.coef_[0]]
    return weights, round(float(estimator.intercept_[0]) * SCALE), round(step * SCALE), INITIAL_TRAIN


def _per_stake(paid: dict[str, float], stakes: dict[str, int], group: Sequence[str]) -> float:
    return sum(paid[a] for a in group) / max(1, sum(stakes[a] for a in group))


def run_seed(imdb: str | Path, seed: int, variants: Sequence[MarketVariant]) -> list[dict[str, Any]]:
    """One row per variant: stakes, payout and units per stake of every agent."""
    from vm_contracts.datasets import load_imdb
    from vm_contracts.encoding import Vocabulary
    from vm_contracts.reference_market import balances

    train = load_imdb(imdb, "train", limit=TRAIN_SIZE, seed=seed)
    test = load_imdb(imdb, "test", limit=TEST_SIZE, seed=seed + 1)
    vocabulary = Vocabulary.fit(train.samples, WORDS)
    train_rows = vocabulary.encode_many(train.samples)
    test_rows = vocabulary.encode_many(test.samples)
    train_labels = [int(v) for v in train.labels]
    test_labels = [int(v) for v in test.labels]
    bounds = [p * len(test_rows) // PARTS for p in range(PARTS + 1)]
    out = []
    for variant in variants:
        rng = np.random.default_rng(
            [seed, list(VARIANTS).index(variant.name) if variant.name in VARIANTS else 99]
        )
        started = time.perf_counter()
        weights, intercept, step, kept = initial_model(
            variant, train_rows, train_labels, len(vocabulary), seed
        )
        revealed = int(rng.integers(PARTS))
        if variant.loss_parts == "unrevealed":
            scored = [i for p in range(PARTS) if p != revealed for i in range(bounds[p], bounds[p + 1])]
        else:
            scored = list(range(len(test_rows)))
        h0_errors = errors_over_time(weights, intercept, step, [], test_rows, test_labels)[0]
        h0_accuracy = 1 - h0_errors / len(test_rows)  # the original's `accuracy` (whole test set)
        stream = list(range(kept, len(train_rows)))
        who = contributors(len(stream), variant, h0_accuracy, rng)
        contributions = [
            (train_rows[row], 1 - train_labels[row] if agent in MALICIOUS else train_labels[row])
            for row, agent in zip(stream, who, strict=True)
        ]
        errors = errors_over_time(
            weights,
            intercept,
            step,
            contributions,
            [test_rows[i] for i in scored],
            [test_labels[i] for i in scored],
        )
        n = len(scored)
        final, runs = balances(errors, STAKE, n, BOUNTY_ROUNDS)
        stakes = dict.fromkeys(AGENTS, 0)
        paid = dict.fromkeys(AGENTS, 0.0)
        for agent, b in zip(who, final, strict=True):
            stakes[agent] += STAKE
            paid[agent] += b / n
        honest = [a for a in AGENTS if a not in MALICIOUS]

        out.append(
            {
                "variant": variant.name,
                "seed": seed,
                "revealed_part": revealed,
                "scored_test_samples": n,
                "h0_accuracy": round(h0_accuracy, 4),
                "hT_accuracy_scored": round(1 - errors[-1] / n, 4),
                "learning_rate": step,
                "contributions": len(who),
                "runs": len(runs),
                "stakes": stakes,
                "paid_units": {a: round(v, 3) for a, v in paid.items()},
                "units_per_stake": {a: round(paid[a] / stakes[a], 4) if stakes[a] else None for a in AGENTS},
                "honest_per_stake": round(_per_stake(paid, stakes, honest), 4),
                "malicious_per_stake": round(_per_stake(paid, stakes, sorted(MALICIOUS)), 4),
                "malicious_lose": _per_stake(paid, stakes, sorted(MALICIOUS)) < STAKE,
                "malicious_below_honest": _per_stake(paid, stakes, sorted(MALICIOUS))
                < _per_stake(paid, stakes, honest),
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    return out


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r["variant"] == name]
        data = [
            [r["units_per_stake"][a] for r in mine if r["units_per_stake"][a] is not None] for a in AGENTS
        ]
        data.append([r["honest_per_stake"] for r in mine])
        data.append([r["malicious_per_stake"] for r in mine])
        labels = [*AGENTS, "all honest", "all malicious"]
        axis.boxplot(data, showmeans=True)
        for i, values in enumerate(data, start=1):
            axis.scatter(
                [i] * len(values), values, s=10, alpha=0.6, color="tab:red" if i in (4, 5, 7) else "tab:green"
            )
        axis.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right")
        axis.axhline(STAKE, color="black", linestyle=":", label="the stake (1 unit)")
        axis.set_ylabel("units paid out per unit staked")
        axis.set_title(f"{name}: {len(mine)} seeds")
        axis.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _seeds(text: str) -> list[int]:
    if "-" in text and "," not in text:
        low, high = (int(v) for v in text.split("-"))
        return list(range(low, high + 1))
    return [int(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.market_study", description=__doc__.split("\n")[0])
    parser.add_argument("--imdb", type=Path, required=True)
    parser.add_argument("--seeds", default="0-9", help="seeds: 'A-B' or comma-separated")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {','.join(VARIANTS)}"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        seeds = _seeds(args.seeds)
        variants = [VARIANTS[name] for name in args.variants.split(",")]
    except (ValueError, KeyError) as exc:
        print(f"error: bad --seeds or --variants: {exc}", file=sys.stderr)
        return 2
    if not args.imdb.exists():
        print(f"error: {args.imdb}: no such file or directory (expected IMDB data)", file=sys.stderr)
        return 2
    command = "python -m bench.market_study " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for row in run_seed(args.imdb, seed, variants):
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "command": command,
        "machine": machine_line(),
        "wall_s": round(time.perf_counter() - started, 1),
        "variants": {v.name: asdict(v) for v in variants},
        "settings": {
            "train_size": TRAIN_SIZE,
            "test_size": TEST_SIZE,
            "parts": PARTS,
            "initial_train": INITIAL_TRAIN,
            "bounty_rounds": BOUNTY_ROUNDS,
            "words": WORDS,
            "mean_wait_s": MEAN_WAIT_S,
        },
        "rows": rows,
    }
    (args.out / "market_study.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, args.out / "market_study.png")
    print(f"{len(rows)} rows in {summary['wall_s']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
