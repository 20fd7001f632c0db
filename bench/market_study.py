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


@dataclass
class SeedData:
    """One seed's reviews, encoded (the same for every variant).

    Fields:
        seed: the seed (it shuffles the reviews).
        words: the vocabulary's size.
        train_rows, train_labels: the 10,000 training reviews, sorted word indices.
        test_rows, test_labels: the 1,000 test reviews.
    """

    seed: int
    words: int
    train_rows: list[list[int]]
    train_labels: list[int]
    test_rows: list[list[int]]
    test_labels: list[int]


@dataclass
class SeedPlan:
    """What one variant of one seed decides before the reward phase: h(0), the revealed
    part, the scored test samples and who contributes what.

    Fields:
        variant: its rules.
        data: the seed's reviews.
        weights, intercept, step: h(0) in the contract's fixed point.
        revealed: the test part revealed before participation.
        scored: indices of the test samples the loss counts.
        h0_accuracy: h(0)'s accuracy on the whole test set (the original's `accuracy`).
        who: the agent of each contribution, in order.
        contributions: (word indices, label as sent) of each contribution.
    """

    variant: MarketVariant
    data: SeedData
    weights: list[int]
    intercept: int
    step: int
    revealed: int
    scored: list[int]
    h0_accuracy: float
    who: list[str]
    contributions: list[tuple[list[int], int]]

    def part_bounds(self) -> list[int]:
        n = len(self.data.test_rows)
        return [p * n // PARTS for p in range(PARTS + 1)]


def load_seed(imdb: str | Path, seed: int) -> SeedData:
    from vm_contracts.datasets import load_imdb
    from vm_contracts.encoding import Vocabulary

    train = load_imdb(imdb, "train", limit=TRAIN_SIZE, seed=seed)
    test = load_imdb(imdb, "test", limit=TEST_SIZE, seed=seed + 1)
    vocabulary = Vocabulary.fit(train.samples, WORDS)
    return SeedData(
        seed,
        len(vocabulary),
        vocabulary.encode_many(train.samples),
        [int(v) for v in train.labels],
        vocabulary.encode_many(test.samples),
        [int(v) for v in test.labels],
    )


def plan_seed(data: SeedData, variant: MarketVariant) -> SeedPlan:
    """The variant's h(0), revealed part and agent process on ``data`` (all draws from a
    generator seeded by (seed, variant))."""
    rng = np.random.default_rng(
        [data.seed, list(VARIANTS).index(variant.name) if variant.name in VARIANTS else 99]
    )
    weights, intercept, step, kept = initial_model(
        variant, data.train_rows, data.train_labels, data.words, data.seed
    )
    revealed = int(rng.integers(PARTS))
    n = len(data.test_rows)
    bounds = [p * n // PARTS for p in range(PARTS + 1)]
    if variant.loss_parts == "unrevealed":
        scored = [i for p in range(PARTS) if p != revealed for i in range(bounds[p], bounds[p + 1])]
    else:
        scored = list(range(n))
    h0_errors = errors_over_time(weights, intercept, step, [], data.test_rows, data.test_labels)[0]
    h0_accuracy = 1 - h0_errors / n
    stream = list(range(kept, len(data.train_rows)))
    who = contributors(len(stream), variant, h0_accuracy, rng)
    contributions = [
        (data.train_rows[row], 1 - data.train_labels[row] if agent in MALICIOUS else data.train_labels[row])
        for row, agent in zip(stream, who, strict=True)
    ]
    return SeedPlan(
        variant, data, weights, intercept, step, revealed, scored, h0_accuracy, who, contributions
    )


def off_chain_errors(plan: SeedPlan) -> list[int]:
    """Test errors of h(0) .. h(T) on the scored samples (the exact integer perceptron)."""
    return errors_over_time(
        plan.weights,
        plan.intercept,
        plan.step,
        plan.contributions,
        [plan.data.test_rows[i] for i in plan.scored],
        [plan.data.test_labels[i] for i in plan.scored],
    )


def seed_row(plan: SeedPlan, errors: Sequence[int], wall_s: float) -> dict[str, Any]:
    """The study's row of one seed and variant from the errors of h(0) .. h(T): balances
    by the contract's rule (``reference_market.balances``), stakes and payouts per agent.
    ``balance_sums`` is exact: each agent's sum of balances in units times the scored
    test-set size n (the contract pays floor(stake wei * sum / n) wei)."""
    from vm_contracts.reference_market import balances

    n = len(plan.scored)
    final, runs = balances(errors, STAKE, n, BOUNTY_ROUNDS)
    stakes = dict.fromkeys(AGENTS, 0)
    sums = dict.fromkeys(AGENTS, 0)
    for agent, b in zip(plan.who, final, strict=True):
        stakes[agent] += STAKE
        sums[agent] += b
    paid = {a: sums[a] / n for a in AGENTS}
    honest = [a for a in AGENTS if a not in MALICIOUS]
    return {
        "variant": plan.variant.name,
        "seed": plan.data.seed,
        "revealed_part": plan.revealed,
        "scored_test_samples": n,
        "h0_accuracy": round(plan.h0_accuracy, 4),
        "hT_accuracy_scored": round(1 - errors[-1] / n, 4),
        "learning_rate": plan.step,
        "contributions": len(plan.who),
        "runs": len(runs),
        "stakes": stakes,
        "balance_sums": sums,
        "paid_units": {a: round(v, 3) for a, v in paid.items()},
        "units_per_stake": {a: round(paid[a] / stakes[a], 4) if stakes[a] else None for a in AGENTS},
        "honest_per_stake": round(_per_stake(paid, stakes, honest), 4),
        "malicious_per_stake": round(_per_stake(paid, stakes, sorted(MALICIOUS)), 4),
        "malicious_lose": _per_stake(paid, stakes, sorted(MALICIOUS)) < STAKE,
        "malicious_below_honest": _per_stake(paid, stakes, sorted(MALICIOUS))
        < _per_stake(paid, stakes, honest),
        "wall_s": round(wall_s, 1),
    }


def run_seed(imdb: str | Path, seed: int, variants: Sequence[MarketVariant]) -> list[dict[str, Any]]:
    """One row per variant: stakes, payout and units per stake of every agent."""
    data = load_seed(imdb, seed)
    out = []
    for variant in variants:
        started = time.perf_counter()
        plan = plan_seed(data, variant)
        out.append(seed_row(plan, off_chain_errors(plan), time.perf_counter() - started))
    return out


CHECKPOINT_EVERY = 250  # contributions between two progress checkpoints of an on-chain run
SEED_BLOCK_TRIES = 200  # seed blocks tried for the study's revealed part (1 in 10 draws it)


@dataclass
class ChainRun:
    """What an on-chain run of one seed measured besides its row.

    Fields:
        errors: test errors of h(0) .. h(T) read from the chain.
        owed_wei: what each agent withdrew (wei).
        gas: phase -> total gas of its transactions.
        transactions: phase -> its transactions.
        seconds: phase -> wall time (s).
        seed_block_tries: seed blocks mined before the chain drew the study's part.
    """

    errors: list[int]
    owed_wei: dict[str, int]
    gas: dict[str, int]
    transactions: dict[str, int]
    seconds: dict[str, float]
    seed_block_tries: int


def run_seed_on_chain(
    plan: SeedPlan,
    progress: Any = print,
    checkpoint: Path | None = None,
) -> tuple[dict[str, Any], ChainRun]:
    """Run ``plan`` as real transactions: one PredictionMarket round on a fresh in-process
    sumchain chain with the same h(0) (``commit``'s initial weights, or none for zero weights),
    the same loss (``lossOnLaterParts`` for the original's unrevealed parts) and every
    contribution from its agent's account, one stake unit each. The chain must draw the
    study's revealed part: the seed block (the block after the commit, whose hash draws it)
    is mined, and while it draws another part, reverted (evm_snapshot/evm_revert) and mined
    again one second later, as the chain's authority can (see PredictionMarket's notice).
    The row is built from the chain's errors; every error count, balance and payout must
    equal the off-chain study's, or MarketSimulationError. ``checkpoint`` (a JSON file) is
    rewritten every CHECKPOINT_EVERY contributions and at each phase."""
    from web3.types import RPCEndpoint

    from bench.market import BLOCK_GAS_LIMIT, CONTRIBUTE_GAS, REVEAL_WINDOW_S, UNIT_WEI
    from chain.config import ChainConfig
    from node.provider import InProcessNode
    from vm_contracts.market import deploy_market
    from vm_contracts.reference_market import MarketTerms, balances, draw_parts, split_test_set

    data = plan.data
    started_all = time.perf_counter()
    expected = off_chain_errors(plan)
    row = seed_row(plan, expected, 0.0)
    samples = list(zip(data.test_rows, data.test_labels, strict=True))
    parts = split_test_set(samples, PARTS, f"market study {data.seed}".encode())
    later_only = plan.variant.loss_parts == "unrevealed"
    terms = MarketTerms(
        stake_unit=UNIT_WEI,
        num_features=data.words,
        learning_rate=plan.step,
        intercept=plan.intercept,
        initial_parts=1,
        max_contributions=len(plan.contributions),
        reveal_window_s=REVEAL_WINDOW_S,
        loss_on_later_parts=later_only,
    )
    run = ChainRun([], {}, {}, {}, {}, 0)
    state: dict[str, Any] = {"seed": data.seed, "variant": plan.variant.name, "phase": "deploy"}

    def save(**fields: Any) -> None:
        state.update(fields, elapsed_s=round(time.perf_counter() - started_all, 1))
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            checkpoint.write_text(json.dumps(state, indent=2) + "\n")

    with InProcessNode.create(config=ChainConfig(gas_limit=BLOCK_GAS_LIMIT)) as node:
        w3 = node.w3
        accounts = list(w3.eth.accounts)
        provider, pusher = accounts[0], accounts[6]
        account = dict(zip(AGENTS, accounts[1:6], strict=True))
        market = deploy_market(w3, provider)

        def phase(name: str, mark: int, began: float) -> None:
            used = [int(r["gasUsed"]) for _, r in market.receipts[mark:]]
            run.gas[name] = run.gas.get(name, 0) + sum(used)
            run.transactions[name] = run.transactions.get(name, 0) + len(used)
            run.seconds[name] = round(run.seconds.get(name, 0.0) + time.perf_counter() - began, 1)
            save(phase=name, gas=run.gas, transactions=run.transactions, seconds=run.seconds)

        began, mark = time.perf_counter(), len(market.receipts)
        weights = plan.weights if plan.variant.initial_model != "zero" else None
        market.commit(terms, parts, BOUNTY_ROUNDS * UNIT_WEI, provider, initial_weights=weights)
        phase("commit", mark, began)
        began, mark = time.perf_counter(), len(market.receipts)
        commit_block = w3.eth.get_block("latest")
        want = [plan.revealed] if later_only else None
        while True:
            run.seed_block_tries += 1
            snapshot = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
            when = int(commit_block["timestamp"]) + run.seed_block_tries
            w3.provider.make_request(RPCEndpoint("evm_mine"), [when])
            seed_hash = bytes(w3.eth.get_block(int(commit_block["number"]) + 1)["hash"])
            if want is None or draw_parts(seed_hash, 1, PARTS, 1) == want:
                break
            if run.seed_block_tries >= SEED_BLOCK_TRIES:
                raise MarketSimulationError(
                    f"no seed block drew part {plan.revealed} in {SEED_BLOCK_TRIES} tries"
                )
            w3.provider.make_request(RPCEndpoint("evm_revert"), [snapshot])
        drawn = market.draw_test_parts(pusher)
        if want is not None and drawn != want:
            raise MarketSimulationError(f"the chain drew {drawn}, the study reveals {want}")
        market.reveal_initial_parts(parts, provider)
        phase("draw and reveal the initial part", mark, began)
        progress(
            f"seed {data.seed} {plan.variant.name}: committed, drew {drawn} "
            f"({run.seed_block_tries} seed blocks), participation open"
        )

        began, mark = time.perf_counter(), len(market.receipts)
        total = len(plan.contributions)
        for t, ((x, label), agent) in enumerate(zip(plan.contributions, plan.who, strict=True), start=1):
            market.contribute(x, label, account[agent], stake=UNIT_WEI, gas=CONTRIBUTE_GAS)
            if t % CHECKPOINT_EVERY == 0 or t == total:
                elapsed = time.perf_counter() - began
                rate = t / elapsed
                save(
                    phase="contribute",
                    done=t,
                    total=total,
                    rate_per_s=round(rate, 2),
                    eta_s=round((total - t) / rate),
                )
                progress(f"{t}/{total} contributions, {rate:.2f}/s")
        phase("contribute", mark, began)

        began, mark = time.perf_counter(), len(market.receipts)
        market.reveal_remaining_parts(parts, provider)
        phase("reveal the other parts", mark, began)
        progress("test set revealed; computing rewards")
        began, mark = time.perf_counter(), len(market.receipts)

        def advanced(sent: int, receipt: Any) -> None:
            stage, cursor, left = market.contract.functions.progress(1).call()
            save(
                phase="advance",
                advance_transactions=sent,
                stage=int(stage),
                cursor=int(cursor),
                rounds_left=int(left),
            )
            if sent % 10 == 0:
                progress(f"{sent} advance transactions; stage {int(stage)}, cursor {int(cursor)}")

        market.compute_rewards(pusher, progress=advanced)
        phase("advance", mark, began)

        run.errors = market.errors()
        if run.errors != expected:
            raise MarketSimulationError("test errors of h(t) on chain differ from the off-chain study's")
        n = len(plan.scored)
        final, _ = balances(expected, STAKE, n, BOUNTY_ROUNDS)
        if market.balances() != [UNIT_WEI * b for b in final]:
            raise MarketSimulationError("balances on chain differ from the off-chain study's")
        began, mark = time.perf_counter(), len(market.receipts)
        for agent in AGENTS:
            owed, _ = market.owed_to(account[agent])
            if owed != UNIT_WEI * row["balance_sums"][agent] // n:
                raise MarketSimulationError(f"{agent}: the chain owes {owed} wei, the study pays otherwise")
            if owed:
                market.withdraw(account[agent])
            run.owed_wei[agent] = owed
        phase("withdraw", mark, began)

    chain_row = seed_row(plan, run.errors, time.perf_counter() - started_all)
    if {k: v for k, v in chain_row.items() if k != "wall_s"} != {
        k: v for k, v in row.items() if k != "wall_s"
    }:
        raise MarketSimulationError("the on-chain row differs from the off-chain study's")
    chain_row["on_chain"] = {
        "owed_wei": run.owed_wei,
        "unit_wei": UNIT_WEI,
        "gas": run.gas,
        "transactions": run.transactions,
        "seconds": run.seconds,
        "seed_block_tries": run.seed_block_tries,
        "equal_to_off_chain": True,  # checked above: errors, balances and payouts
    }
    save(phase="done", row=chain_row)
    return chain_row, run


def plot_on_chain(row: dict[str, Any], errors: Sequence[int], off_chain: dict[str, Any], path: Path) -> None:
    """Accuracy of h(t) over the contributions (chain), and units per stake per agent,
    on chain beside off-chain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = row["scored_test_samples"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(range(len(errors)), [100 * (1 - e / n) for e in errors])
    left.set_xlabel("contribution t")
    left.set_ylabel(f"accuracy of h(t) on the {n} scored test reviews (%)")
    left.set_title(f"seed {row['seed']}, {row['variant']}: model over participation (on chain)")
    labels = [*AGENTS, "all honest", "all malicious"]

    def values(r: dict[str, Any]) -> list[float]:
        return [
            *(r["units_per_stake"][a] or 0.0 for a in AGENTS),
            r["honest_per_stake"],
            r["malicious_per_stake"],
        ]

    xs = np.arange(len(labels))
    right.bar(xs - 0.2, values(row), 0.4, label="on chain")
    right.bar(xs + 0.2, values(off_chain), 0.4, label="off-chain study")
    right.axhline(STAKE, color="black", linestyle=":", label="the stake (1 unit)")
    right.set_xticks(xs, labels, rotation=30, ha="right")
    right.set_ylabel("units paid out per unit staked")
    right.set_title("payouts: chain and off-chain study")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    parser.add_argument(
        "--on-chain",
        action="store_true",
        help="run each seed and variant as real transactions too (market_study_on_chain.json; "
        "on_chain_progress.json is rewritten as it goes)",
    )
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
    if args.on_chain:
        return _main_on_chain(args, seeds, variants, command)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for row in run_seed(args.imdb, seed, variants):
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = _summary(command, started, variants, rows)
    (args.out / "market_study.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, args.out / "market_study.png")
    print(f"{len(rows)} rows in {summary['wall_s']:.0f} s; wrote {args.out}")
    return 0


def _summary(command: str, started: float, variants: Any, rows: list[Any]) -> dict[str, Any]:
    """What a study's JSON holds: the command, machine, wall time, rules and rows."""
    return {
        "command": command,
        "machine": machine_line(),
        "wall_s": round(time.perf_counter() - started, 1),
        "variants": {v.name: asdict(v) for v in variants},
        "settings": _settings(),
        "rows": rows,
    }


def _settings() -> dict[str, Any]:
    return {
        "train_size": TRAIN_SIZE,
        "test_size": TEST_SIZE,
        "parts": PARTS,
        "initial_train": INITIAL_TRAIN,
        "bounty_rounds": BOUNTY_ROUNDS,
        "words": WORDS,
        "mean_wait_s": MEAN_WAIT_S,
    }


def _main_on_chain(
    args: argparse.Namespace, seeds: Sequence[int], variants: Sequence[MarketVariant], command: str
) -> int:
    """Every seed and variant on chain, each checked equal to the off-chain study."""
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        data = load_seed(args.imdb, seed)
        for variant in variants:
            plan = plan_seed(data, variant)
            off_chain = seed_row(plan, off_chain_errors(plan), 0.0)
            row, run = run_seed_on_chain(
                plan,
                progress=lambda line: print(line, flush=True),
                checkpoint=args.out / "on_chain_progress.json",
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
            plot_on_chain(
                row, run.errors, off_chain, args.out / f"market_study_on_chain_{variant.name}_{seed}.png"
            )
    summary = _summary(command, started, variants, rows)
    (args.out / "market_study_on_chain.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{len(rows)} rows on chain, each equal to the off-chain study, in {summary['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
