"""The papers' experiment run as real transactions: honest and malicious agents on IMDB.

Reproduces Harris & Waggoner 2019, Fig. 3 on a sumchain chain. A model (by default a
``SparsePerceptron`` over the 1,000 most frequent words) is trained off-chain on the
first 8% of the IMDB training set and deployed with the SDK under an incentive
mechanism (``Stakeable``: refund after 1 day, anyone takes the rest after 9 days). Two
agents then act, each as a funded account sending signed transactions:

* the honest agent submits the remaining 92% of the training set with correct labels
  (a mistake with probability 0.0001), a deposit drawn from N(50, 10) units, on
  average every 10 minutes;
* the malicious agent submits training reviews with every label flipped, a deposit
  drawn from N(100, 3), on average every hour.

At each of its turns an agent first adds a sample (if its deposit covers the
contract's required cost; the contract keeps exactly that cost and returns the rest),
then claims: a refund for its own samples older than a day that the model now
classifies as labelled, a report on other agents' samples the model disagrees with,
and everything left in a sample once it is 9 days old. An agent whose balance cannot
cover its next deposit stops. Every turn is one sealed block at the turn's time:
simulated time moves with the chain's clock (the next block's timestamp), nothing
sleeps.

The chain is a fresh in-process sumchain by default, or any dev node over JSON-RPC
(``Simulation(..., rpc=URL)``, ``sumchain simulate imdb --rpc URL``): ``bench.chains``
holds both, and a test checks they give the same trajectory on sumchain and on anvil.

Decisions use an off-chain twin of the model (``vm_contracts.reference``) updated in
lock-step with the contract, so only transactions the contract accepts are sent;
every transaction's receipt must show success, and at every measurement the model
read back from chain state with the SDK must equal the twin parameter for parameter,
or the run stops with :class:`SimulationError`. Accuracy on the IMDB test set is
computed from the parameters read off the chain.

Units: 1 unit = ``UNIT_WEI`` wei (10^15 wei, 0.001 ether). Agents' balances in the
CSV and plot are in percent of their 10,000-unit start and exclude gas, as in the
paper (which treated transactions as free): each agent's account also holds a
separate gas allowance, and the gas each agent spent is reported on its own (gas
units and wei).

    sumchain simulate imdb --imdb ../shared/data/imdb --out bench/results/simulation
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_canonical_address
from scipy import sparse

from bench.chains import GENESIS_TIME, InProcessChain, RpcChain, SimulationChain
from bench.errors import SimulationError
from bench.provenance import machine_line
from vm_contracts import fixed_point as fp
from vm_contracts import reference

UNIT_WEI = 10**15  # wei per unit (the paper's currency): 1 unit = 0.001 ether
DAY_S = 86_400  # seconds
GAS_ALLOWANCE_WEI = 100 * 10**18  # wei per agent for gas, kept apart from its units
MAX_FEE_PER_GAS = 10 * 10**9  # wei; base fee falls far below this on a quiet chain
PRIORITY_FEE_PER_GAS = 0  # wei: agents pay the base fee only
GAS_LIMIT_PER_TX = 8_000_000  # gas; a dense update of 1,000 features fits
MIN_AGENT_KEY = 0x5100  # agent private keys are MIN_AGENT_KEY + index (test keys)
START_AFTER_DEPLOY_S = 600  # s from the mechanism's deployment (its lastUpdateTimeS) to the start

MODEL_CHOICES = {
    "perceptron": "SparsePerceptron",
    "naive-bayes": "NaiveBayes",
    "nearest-centroid": "SparseNearestCentroid",
}
INCENTIVE_CHOICES = ("Stakeable", "Points")

ADD_DATA = keccak(text="addData(int64[],uint64)")[:4]
REFUND = keccak(text="refund(address,int64[],uint64,uint256)")[:4]
REPORT = keccak(text="report(address,int64[],uint64,uint256)")[:4]
CLAIM_TYPES = ["address", "int64[]", "uint64", "uint256"]  # refund's and report's arguments
# what an agent's reports took: a share of a sample the model rejects; the whole remainder
# once the claim wait has passed, of another's sample, of one it had taken a share of, of its own
TAKE_KINDS = ("share", "remainder", "remainder after own share", "own remainder")


# --- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSpec:
    """How one agent behaves (Harris & Waggoner's simulation parameters).

    Fields:
        name: "honest" or "malicious" (also the CSV column prefix).
        start_balance: units the agent starts with (besides its gas allowance).
        mean_deposit, stdev_deposit: units; each deposit is drawn from this normal law.
        mean_wait_s: seconds; mean time between turns (exponential under the "legacy"
            draws, N(mean_wait_s, stdev_wait_s) in whole seconds under the "original" ones).
        mistake_prob: probability that a label is wrong by accident.
        flips_labels: True for the malicious agent (every label inverted).
        stdev_wait_s: seconds; the waits' standard deviation under the "original" draws.
    """

    name: str
    start_balance: float
    mean_deposit: float
    stdev_deposit: float
    mean_wait_s: float
    mistake_prob: float
    flips_labels: bool
    stdev_wait_s: float = 1.0


HONEST = AgentSpec("honest", 10_000, 50, 10, 10 * 60, 0.0001, False)
MALICIOUS = AgentSpec("malicious", 10_000, 100, 3, 60 * 60, 0.0, True)


@dataclass(frozen=True)
class SimulationConfig:
    """One run. Defaults are the paper's Fig. 3 setting.

    Fields:
        model: a key of ``MODEL_CHOICES``.
        incentive: "Stakeable" or "Points".
        words: vocabulary size (most frequent words of the training texts).
        initial_fraction: share of the training set used to train the deployed model.
        train_limit, test_limit: reviews kept (None: all 25,000 of each split).
        honest, malicious: the two agents.
        refund_wait_s: seconds before a refund or a report.
        claim_wait_s: seconds after which anyone takes what a sample still holds.
        cost_weight_units_s: Stakeable's cost weight in unit-seconds: adding data
            ``t`` seconds after the last addition costs ``cost_weight / t`` units.
        min_deposit_units: Stakeable's least required deposit, units.
        eval_every_s: seconds of simulated time between measurements.
        seed: seeds the data order, the agents' draws and their timings.
        learning_rate: the perceptron's on-chain step; None: the SGD perceptron's step
            size eta = 1/(alpha (t0 + t)) at the end of its initial fit.

    The rules below choose between the original framework's simulation (microsoft/
    0xDeCA10B, ``simulate.py`` and ``stakeable.py``; the ``paper`` profile) and the rules
    sumchain ran first (the ``legacy`` profile, these defaults):
        profile: the name of the profile the rules came from (see ``PROFILES``).
        initial_model: "perceptron" (scikit-learn ``Perceptron(eta0=learning_rate)``) or
            "sgd-perceptron" (``SGDClassifier(loss='perceptron', learning_rate='optimal',
            penalty=None, tol=1e-3)`` on dense rows, as the original).
        deposit_law: "linear" (cost_weight / elapsed s) or "sqrt" (cost_weight /
            isqrt(elapsed s), Stakeable's sqrtDepositLaw).
        unit_wei: wei per unit.
        whole_unit_costs: True: the required deposit is a whole number of units, as the
            original's ``int()`` makes it (Stakeable's cost unit = ``unit_wei``, its cost
            weight and least deposit in units), while report shares keep ``unit_wei``'s
            precision (the original's simulation divides them in floats); False: the cost
            is computed in wei.
        draws: "legacy" (real-valued deposits max(0, N), exponential waits) or "original"
            (deposits int(N) drawn again until positive, waits int(N(mean, 1 s)) until >= 1).
        malicious_samples: "random" (training rows drawn with replacement) or "shared"
            (the next row of the stream the honest agent also takes from, label flipped).
        honest_participation: None (the honest agent always contributes) or p: it
            contributes with probability (last measured accuracy + p).
        over_balance: "stop" (an agent whose drawn deposit exceeds its balance stops for
            good) or "skip" (it skips that addition and goes on while its balance is > 0).
        own_remainder: True: an agent takes what is left of its own sample once anyone
            may (``claim_wait_s``), as the original's checks allow.
        same_second_refused: True: an addition in the same second as the last one is
            refused (the original's RejectException); the chain's blocks need a later second.
        eval_first_s: seconds to the first measurement after the start one (None:
            ``eval_every_s``).
        settle_claims: True: the original's claim loop (refund own, report others', take
            anything older than ``claim_wait_s``; stop at the first sample younger than the
            refund wait, or than the claim wait once the data is used up); False: legacy.
    """

    model: str = "perceptron"
    incentive: str = "Stakeable"
    words: int = 1000
    initial_fraction: float = 0.08
    train_limit: int | None = None
    test_limit: int | None = None
    honest: AgentSpec = HONEST
    malicious: AgentSpec = MALICIOUS
    refund_wait_s: int = DAY_S
    claim_wait_s: int = 9 * DAY_S
    cost_weight_units_s: float = 1000.0
    min_deposit_units: float = 1.0
    eval_every_s: int = DAY_S // 4
    seed: int = 0
    learning_rate: float | None = 1.0
    profile: str = "legacy"
    initial_model: str = "perceptron"
    deposit_law: str = "linear"
    unit_wei: int = 10**15
    whole_unit_costs: bool = False
    draws: str = "legacy"
    malicious_samples: str = "random"
    honest_participation: float | None = None
    over_balance: str = "stop"
    own_remainder: bool = False
    same_second_refused: bool = False
    eval_first_s: int | None = None
    settle_claims: bool = False

    def check(self) -> None:
        if self.model not in MODEL_CHOICES:
            raise SimulationError(f"unknown model {self.model!r}; choose one of {sorted(MODEL_CHOICES)}")
        if self.incentive not in INCENTIVE_CHOICES:
            raise SimulationError(f"unknown incentive {self.incentive!r}; choose one of {INCENTIVE_CHOICES}")
        if not 1 <= self.words <= 100_000:
            raise SimulationError(f"words must be from 1 to 100000, got {self.words}")
        if not 0.0 < self.initial_fraction < 1.0:
            raise SimulationError(f"initial fraction must lie in (0, 1), got {self.initial_fraction}")
        if self.refund_wait_s > self.claim_wait_s:
            raise SimulationError("the refund wait must not exceed the claim wait")
        if self.eval_every_s <= 0:
            raise SimulationError("eval_every_s must be positive")
        for name, value, allowed in (
            ("initial_model", self.initial_model, ("perceptron", "sgd-perceptron")),
            ("deposit_law", self.deposit_law, ("linear", "sqrt")),
            ("draws", self.draws, ("legacy", "original")),
            ("malicious_samples", self.malicious_samples, ("random", "shared")),
            ("over_balance", self.over_balance, ("stop", "skip")),
        ):
            if value not in allowed:
                raise SimulationError(f"{name} must be one of {allowed}, got {value!r}")
        if self.learning_rate is None and self.initial_model != "sgd-perceptron":
            raise SimulationError("a learning rate from the fit needs initial_model sgd-perceptron")
        if self.unit_wei < 1:
            raise SimulationError(f"unit_wei must be at least 1, got {self.unit_wei}")
        if self.whole_unit_costs and not (
            float(self.cost_weight_units_s).is_integer() and float(self.min_deposit_units).is_integer()
        ):
            raise SimulationError("whole-unit costs need a whole cost weight and least deposit (units)")
        for agent in (self.honest, self.malicious):
            if agent.mean_wait_s <= 0 or agent.start_balance <= 0 or agent.stdev_deposit < 0:
                raise SimulationError(f"{agent.name}: waits and balances must be positive")


SGD_ALPHA = 1e-4  # scikit-learn SGDClassifier's default regularisation, which sets its step size

PROFILES: dict[str, SimulationConfig] = {
    # the rules sumchain's first Fig. 3 runs used
    "legacy": SimulationConfig(),
    # the original framework's simulation (simulate_imdb_perceptron.py, simulate.py,
    # stakeable.py): the SGD perceptron, 60 / isqrt(elapsed) whole units, its agents
    "paper": SimulationConfig(
        profile="paper",
        initial_model="sgd-perceptron",
        learning_rate=None,
        deposit_law="sqrt",
        cost_weight_units_s=60.0,
        min_deposit_units=1.0,
        unit_wei=10**9,  # shares to 10^-9 unit, as the original's float division
        whole_unit_costs=True,
        draws="original",
        malicious_samples="shared",
        honest_participation=0.15,
        over_balance="skip",
        own_remainder=True,
        same_second_refused=True,
        eval_first_s=10_000,
        eval_every_s=200_000,
        settle_claims=True,
    ),
}
"""Named sets of rules; ``profile_config(name, **changes)`` starts a run from one."""


def profile_config(name: str, **changes: Any) -> SimulationConfig:
    """The profile ``name`` with fields (and ``honest_*``/``malicious_*`` agent fields) changed."""
    if name not in PROFILES:
        raise SimulationError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return config_with(PROFILES[name], **changes)


# --- data ---------------------------------------------------------------------------------


@dataclass
class Data:
    """IMDB encoded as the contracts take it.

    Fields:
        vocabulary_words: the words, feature index = position.
        train_rows, test_rows: per review, the sorted distinct word indices.
        train_labels, test_labels: 0/1 int arrays.
        train_matrix, test_matrix: the same as CSR 0/1 int64 matrices.
        initial: how many leading training reviews trained the deployed model.
    """

    vocabulary_words: tuple[str, ...]
    train_rows: list[list[int]]
    train_labels: np.ndarray
    test_rows: list[list[int]]
    test_labels: np.ndarray
    train_matrix: sparse.csr_matrix
    test_matrix: sparse.csr_matrix
    initial: int


def rows_to_matrix(rows: Sequence[Sequence[int]], columns: int) -> sparse.csr_matrix:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(indptr[-1]))
    values = np.ones(len(indices), dtype=np.int64)
    return sparse.csr_matrix((values, indices, indptr), shape=(len(rows), columns))


def load_data(imdb: str | Path, config: SimulationConfig) -> Data:
    """Load, shuffle (``config.seed``) and encode IMDB; the vocabulary is fitted on the
    training texts (labels unused), as Keras' ``imdb.load_data(num_words=...)``."""
    from vm_contracts.datasets import load_imdb
    from vm_contracts.encoding import Vocabulary

    train = load_imdb(imdb, "train", limit=config.train_limit, seed=config.seed)
    test = load_imdb(imdb, "test", limit=config.test_limit, seed=config.seed + 1)
    vocabulary = Vocabulary.fit(train.samples, config.words)
    train_rows = vocabulary.encode_many(train.samples)
    test_rows = vocabulary.encode_many(test.samples)
    initial = int(round(len(train_rows) * config.initial_fraction))
    if not 2 <= initial < len(train_rows):
        raise SimulationError(
            f"initial training set of {initial} reviews out of {len(train_rows)} is unusable"
        )
    n = len(vocabulary)
    return Data(
        vocabulary.words,
        train_rows,
        np.asarray(train.labels),
        test_rows,
        np.asarray(test.labels),
        rows_to_matrix(train_rows, n),
        rows_to_matrix(test_rows, n),
        initial,
    )


# --- models: initial state, fast batch prediction --------------------------------------------


def initial_state(model: str, data: Data, config: SimulationConfig) -> dict[str, Any]:
    """The deployed model's parameters (SDK state dict) trained on the initial reviews."""
    from vm_contracts.client import state_from_sklearn

    x = data.train_matrix[: data.initial]
    y = data.train_labels[: data.initial]
    n = len(data.vocabulary_words)
    if model == "SparsePerceptron" and config.initial_model == "sgd-perceptron":
        from sklearn.linear_model import SGDClassifier

        estimator = SGDClassifier(
            loss="perceptron",
            learning_rate="optimal",
            penalty=None,
            tol=1e-3,
            alpha=SGD_ALPHA,
            random_state=config.seed,
        )
        estimator.fit(x.toarray(), y)  # dense, as the original: the intercept steps in full
        rate = config.learning_rate
        if rate is None:
            rate = sgd_step_after_fit(int(estimator.t_))
        return state_from_sklearn(model, estimator, learning_rate=rate)
    if model == "SparsePerceptron":
        from sklearn.linear_model import Perceptron

        rate = 1.0 if config.learning_rate is None else config.learning_rate
        estimator = Perceptron(eta0=rate, random_state=config.seed)
        estimator.fit(x, y)
        return state_from_sklearn(model, estimator, learning_rate=rate)
    counts = [np.asarray(x[y == c].sum(axis=0)).ravel().astype(int).tolist() for c in (0, 1)]
    samples = [int((y == c).sum()) for c in (0, 1)]
    if model == "NaiveBayes":
        return {
            "num_classes": 2,
            "num_features": n,
            "smoothing": fp.SCALE,
            "feature_counts": counts,
            "sample_counts": samples,
        }
    return {"num_classes": 2, "num_features": n, "sums": counts, "sample_counts": samples}


def sgd_step_after_fit(t: int, alpha: float = SGD_ALPHA) -> float:
    """The step a perceptron-loss ``SGDClassifier(learning_rate='optimal')`` would take on its
    next sample after a fit that left ``t_ = t``: eta = 1 / (alpha (t0 + t - 1)), t0 =
    1 / (eta0 alpha), eta0 = sqrt(1 / sqrt(alpha)) (scikit-learn's heuristic; the
    perceptron loss's gradient at the typical weight is 1)."""
    eta0 = math.sqrt(1.0 / math.sqrt(alpha))
    t0 = 1.0 / (eta0 * alpha)
    return 1.0 / (alpha * (t0 + t - 1))


def twin_from_state(model: str, state: dict[str, Any]) -> Any:
    """The off-chain twin holding ``state`` (as the SDK reads or deploys it)."""
    n = int(state["num_features"])
    if model == "SparsePerceptron":
        return reference.SparsePerceptron(
            n,
            int(state["learning_rate"]),
            int(state.get("intercept", 0)),
            [int(w) for w in state["weights"]],
        )
    if model == "NaiveBayes":
        return reference.NaiveBayes(
            2,
            n,
            int(state["smoothing"]),
            [[int(v) for v in row] for row in state["feature_counts"]],
            [int(v) for v in state["sample_counts"]],
        )
    return reference.SparseNearestCentroid(
        2,
        n,
        [[int(v) for v in row] for row in state["sums"]],
        [int(v) for v in state["sample_counts"]],
    )


def predict_many(model: str, twin: Any, matrix: sparse.csr_matrix) -> np.ndarray:
    """The twin's predictions for every row of a 0/1 CSR matrix, vectorised but with the
    contract's exact integer arithmetic (checked against ``twin.predict`` in the tests)."""
    if model == "SparsePerceptron":
        scores = matrix @ np.asarray(twin.weights, dtype=np.int64) + int(twin.intercept)
        return (scores > 0).astype(np.int64)
    if model == "NaiveBayes":
        lengths = np.diff(matrix.indptr).astype(np.int64)
        s, a, v = fp.SCALE, twin.smoothing, twin.num_features
        scores = []
        for c in range(twin.num_classes):
            table = np.array([fp.log2(count * s + a) for count in twin.feature_counts[c]], dtype=np.int64)
            prior = fp.log2(twin.sample_counts[c] * s + a)
            per_word = fp.log2(twin.total_counts[c] * s + a * v)
            scores.append(prior - lengths * per_word + matrix @ table)
        return np.argmax(np.vstack(scores), axis=0)  # first maximum, as the contract
    # SparseNearestCentroid: smallest (|sum|^2 - 2 n dot) / n^2, first class on ties;
    # compared as exact fractions (products overflow int64, so Python ints)
    rows = matrix.shape[0]
    best = np.zeros(rows, dtype=np.int64)
    best_num = np.zeros(rows, dtype=object)
    best_den = np.zeros(rows, dtype=object)
    for c in range(twin.num_classes):
        n = twin.sample_counts[c]
        if n == 0:
            continue
        dot = (matrix @ np.asarray(twin.sums[c], dtype=np.int64)).astype(object)
        num = sum(x * x for x in twin.sums[c]) - 2 * n * dot
        den = n * n
        better = np.array(
            [bd == 0 or nu * bd < bn * den for nu, bn, bd in zip(num, best_num, best_den, strict=True)],
            dtype=bool,
        )
        best[better] = c
        best_num[better] = num[better]
        best_den[better] = den
    return best


def accuracy(model: str, twin: Any, matrix: sparse.csr_matrix, labels: np.ndarray) -> float:
    return float(np.mean(predict_many(model, twin, matrix) == labels))


# --- the chain ------------------------------------------------------------------------------


@dataclass
class Agent:
    """One agent's account and running state during a run.

    Fields:
        spec: its behaviour.
        key, address: its signing key and 20-byte address (funded at genesis).
        nonce: next transaction nonce (tracked locally; the agent is its only sender).
        rng: its own random stream (waits, deposits, mistakes, sample picks).
        active: False once its balance could not cover a deposit.
        stopped_at: simulated seconds since start when it stopped, else None.
        gas_used, gas_paid_wei: totals over its transactions.
        txs: transactions sent, by kind.
        good: its refunded samples (Stakeable counts these for report shares).
        next_sample: the honest agent's position in its sample stream.
        rejected_adds: additions skipped because the deposit was below the required cost.
    """

    spec: AgentSpec
    key: bytes
    address: bytes
    rng: np.random.Generator
    nonce: int = 0
    active: bool = True
    stopped_at: float | None = None
    gas_used: int = 0
    gas_paid_wei: int = 0
    txs: dict[str, int] = field(default_factory=lambda: {"addData": 0, "refund": 0, "report": 0})
    good: int = 0
    next_sample: int = 0
    rejected_adds: int = 0
    takes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TAKE_KINDS, 0))
    allowance_wei: int = 0  # wei on chain beyond its units when it started (its gas allowance)


@dataclass
class Pending:
    """A sample on chain whose deposit is not all claimed yet.

    Fields:
        owner: index of the agent that added it.
        row: index into the training rows (its features).
        label: the label it was added with.
        added_time: block timestamp of its addData (part of its on-chain key).
        deposit: wei the contract kept (Stakeable's required cost at that time).
        claimable: wei still held.
        claimed_by: agents that refunded or reported it (a reporter takes one share; once
            the claim wait has passed anyone may take the remainder).
    """

    owner: int
    row: int
    label: int
    added_time: int
    deposit: int
    claimable: int
    claimed_by: set[int] = field(default_factory=set)


@dataclass
class Result:
    """What a run produced.

    Fields:
        rows: per measurement: day, each agent's balance (% of start; points under
            Points), accuracy, block number.
        gas: per agent: gas used, wei paid, transactions by kind.
        wall_s: wall-clock seconds of the agents' phase; txs: transactions in it.
        initial_accuracy, final_accuracy: test accuracy at start and end.
        days_to_exhaust: simulated days until the malicious agent stopped (None: never).
        submitted: samples added per agent; rejected: additions skipped because the
            drawn deposit was below the required cost.
        timings: wall seconds per part (chain, twin decisions, measurements, signing).
    """

    config: SimulationConfig
    rows: list[dict[str, float]]
    gas: dict[str, dict[str, Any]]
    wall_s: float
    txs: int
    blocks: int
    initial_accuracy: float
    final_accuracy: float
    days_to_exhaust: float | None
    submitted: dict[str, int]
    rejected: dict[str, int]
    timings: dict[str, float]
    good_data_accuracy: float | None = None
    engine: str = "chain"  # "chain": real transactions; "off-chain": the twins alone
    deployed_learning_rate: int | None = None  # the perceptron's on-chain step (10^9 fixed point)
    node: str | None = None  # the node's JSON-RPC URL; None: an in-process chain (or off-chain)
    takes: dict[str, dict[str, int]] = field(default_factory=dict)  # per agent, by TAKE_KINDS

    @property
    def tx_per_s(self) -> float:
        return self.txs / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, Any]:
        last = self.rows[-1] if self.rows else {}
        return {
            "model": self.config.model,
            "incentive": self.config.incentive,
            "seed": self.config.seed,
            "initial_accuracy": self.initial_accuracy,
            "final_accuracy": self.final_accuracy,
            "good_data_accuracy": self.good_data_accuracy,
            "final_balance_pct": {k: last.get(k) for k in ("honest", "malicious")},
            "days": last.get("day"),
            "days_to_exhaust": self.days_to_exhaust,
            "submitted": self.submitted,
            "rejected": self.rejected,
            "takes": self.takes,
            "txs": self.txs,
            "blocks": self.blocks,
            "wall_s": round(self.wall_s, 1),
            "tx_per_s": round(self.tx_per_s, 1),
            "gas": self.gas,
            "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
            "units": f"1 unit = {self.config.unit_wei} wei; balances exclude gas",
            "engine": self.engine,
            "node": self.node or ("in-process" if self.engine == "chain" else None),
            "deployed_learning_rate": self.deployed_learning_rate,
            "config": _jsonable(asdict(self.config)),
        }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class Simulation:
    """One run on its own fresh in-process chain (see the module docstring), on any node
    over JSON-RPC (``rpc``: its URL; ``bench.chains.RpcChain``), or, with
    ``on_chain=False``, the same run decided and accounted by the off-chain twins alone
    (the exact off-chain engine: no node, no transactions; balances are the twins'
    wei ledger, accuracy the twin model's). The chain run checks every decision against
    the chain, so all give the same trajectory (tests compare them)."""

    # set up by ``_start_chain`` (or its off-chain twin) and ``run``
    chain: SimulationChain
    framework: Any  # vm_contracts.client.Framework
    trainer: bytes
    twin: Any  # the off-chain twin of the model (vm_contracts.reference)
    rules: reference.StakeableRules
    start_time: int  # unix seconds of the run's start
    last_update: int  # Stakeable's lastUpdateTimeS as the twin tracks it
    last_add: int
    last_accuracy: float
    pending: list[Pending]  # unsettled samples, oldest first
    total_good: int
    blocks: int
    submitted: list[int]  # per agent
    held_wei: list[int]  # per agent: the twin's ledger of its units
    points: list[int]  # per agent, under Points
    honest_done: bool
    next_row: int  # the shared stream's next training row (after the initial ones)

    def __init__(
        self,
        config: SimulationConfig,
        data: Data,
        progress: Callable[[str], None] | None = None,
        checkpoint: Callable[[Result], None] | None = None,
        on_chain: bool = True,
        rpc: str | None = None,
    ) -> None:
        config.check()
        if rpc is not None and not on_chain:
            raise SimulationError("the off-chain engine uses no node: leave out the RPC URL")
        self.on_chain = on_chain
        self.rpc = rpc
        self.config = config
        self.data = data
        self.model = MODEL_CHOICES[config.model]
        self.progress = progress or (lambda _line: None)
        self.checkpoint = checkpoint
        self.stakeable = config.incentive == "Stakeable"
        rng = np.random.default_rng(config.seed)
        self.agents = [self._agent(config.honest, 0, rng), self._agent(config.malicious, 1, rng)]
        self.timings = {
            "chain (execute, seal, commit)": 0.0,
            "twin and decisions": 0.0,
            "signing and encoding": 0.0,
            "measurements (SDK read + test set)": 0.0,
        }

    def _agent(self, spec: AgentSpec, index: int, rng: np.random.Generator) -> Agent:
        key = (MIN_AGENT_KEY + index).to_bytes(32, "big")
        address = to_canonical_address(Account.from_key(key).address)
        return Agent(spec, key, address, np.random.default_rng(rng.integers(2**63)))

    # -- setup

    def _start_offline(self) -> None:
        state = initial_state(self.model, self.data, self.config)
        self.twin = twin_from_state(self.model, state)
        self.rules = self._rules()
        self.last_update = GENESIS_TIME
        self.start_time = self.last_update + START_AFTER_DEPLOY_S

    def _rules(self) -> reference.StakeableRules:
        config = self.config
        if config.whole_unit_costs:  # costs in whole units: Stakeable's cost unit is one unit
            weight, least, unit = (
                int(config.cost_weight_units_s),
                int(config.min_deposit_units),
                config.unit_wei,
            )
        else:
            weight, least, unit = (
                self._units_wei(config.cost_weight_units_s),
                self._units_wei(config.min_deposit_units),
                1,
            )
        return reference.StakeableRules(
            config.refund_wait_s,
            config.claim_wait_s,
            config.claim_wait_s,
            weight,
            least,
            sqrt_deposit_law=config.deposit_law == "sqrt",
            cost_unit=unit,
        )

    def _start_chain(self) -> None:
        if not self.on_chain:
            self._start_offline()
            return
        from vm_contracts.client import deploy_framework

        alloc = {
            Account.from_key(a.key).address: self._units_wei(a.spec.start_balance) + GAS_ALLOWANCE_WEI
            for a in self.agents
        }
        self.chain: SimulationChain = RpcChain.connect(self.rpc, alloc) if self.rpc else InProcessChain(alloc)
        for agent in self.agents:
            agent.nonce = self.chain.nonce(agent.address)
            units = self._units_wei(agent.spec.start_balance)
            agent.allowance_wei = self.chain.balance(agent.address) - units
        state = initial_state(self.model, self.data, self.config)
        incentive_params = None
        if self.stakeable:
            rules = self._rules()
            incentive_params = {
                "refund_wait_s": rules.refund_wait_time_s,
                "owner_claim_wait_s": rules.owner_claim_wait_time_s,
                "any_address_claim_wait_s": rules.any_address_claim_wait_time_s,
                "cost_weight": rules.cost_weight,
                "min_deposit": rules.min_deposit,
                "sqrt_deposit_law": int(rules.sqrt_deposit_law),
                "cost_unit_wei": rules.cost_unit,
            }
        else:
            incentive_params = {"refund_wait_s": self.config.refund_wait_s}
        self.framework = deploy_framework(
            self.chain.w3,
            self.model,
            self.config.incentive,
            initial=state,
            incentive_params=incentive_params,
            name="imdb-simulation",
            encoder=f"bag-of-words/top-{len(self.data.vocabulary_words)}",
        )
        self.trainer = to_canonical_address(self.framework.address)
        self.twin = twin_from_state(self.model, state)
        self.rules = self._rules()
        self.chain.manual_mining()
        head_time = self.chain.head()[1]
        deployed = head_time  # Stakeable's lastUpdateTimeS: read below
        if self.stakeable:
            deployed = int(self.framework.incentive.functions.lastUpdateTimeS().call())
        # start a fixed time after the mechanism's deployment, so that the off-chain
        # engine (which has no deployment) prices the first addition the same
        self.start_time = deployed + START_AFTER_DEPLOY_S
        if self.start_time <= head_time:
            raise SimulationError(
                f"deploying took {head_time - deployed} s of chain time, more than the "
                f"{START_AFTER_DEPLOY_S} s the start is set after it"
            )
        self.last_update = deployed

    def _units_wei(self, units: float) -> int:
        return int(round(units * self.config.unit_wei))

    # -- transactions

    def _sign(
        self, agent: Agent, selector: bytes, types: list[str], args: list[Any], value: int = 0
    ) -> bytes:
        if not self.on_chain:
            return b""  # the off-chain engine sends nothing
        tx = {
            "nonce": agent.nonce,
            "gas": GAS_LIMIT_PER_TX,
            "to": self.framework.address,
            "value": value,
            "data": selector + abi_encode(types, args),
            "chainId": self.chain.chain_id,
            "maxFeePerGas": MAX_FEE_PER_GAS,
            "maxPriorityFeePerGas": PRIORITY_FEE_PER_GAS,
        }
        agent.nonce += 1
        return bytes(Account.sign_transaction(tx, agent.key).raw_transaction)

    def _mine(self, raws: list[tuple[Agent, str, bytes]], timestamp: int) -> None:
        """Put the turn's transactions in one block sealed at ``timestamp``; every one
        must succeed (the twin predicted it would)."""
        if not self.on_chain:
            for agent, kind, _raw in raws:
                agent.txs[kind] += 1
            self.blocks += 1
            return
        number, included = self.chain.mine([raw for _agent, _kind, raw in raws], timestamp)
        for (agent, kind, _raw), outcome in zip(raws, included, strict=True):
            if not outcome.success:
                raise SimulationError(
                    f"{agent.spec.name}'s {kind} failed on chain in block {number} "
                    "although the twin expected success"
                )
            agent.gas_used += outcome.gas_used
            agent.gas_paid_wei += outcome.gas_used * outcome.gas_price
            agent.txs[kind] += 1
        self.blocks += 1

    # -- balances and measurements

    def _balance_units(self, agent: Agent) -> float:
        """Units held: on-chain balance plus gas paid, minus the gas allowance."""
        wei = self.chain.balance(agent.address)
        return (wei + agent.gas_paid_wei - agent.allowance_wei) / self.config.unit_wei

    def _points(self, agent: Agent) -> float:
        return float(self.framework.points("0x" + agent.address.hex()))

    def _measure(self, now: int) -> dict[str, float]:
        if not self.on_chain:
            return self._measure_offline(now)
        started = time.perf_counter()
        head = self.chain.head()[0]
        state = self.framework.read_model(head)
        onchain = twin_from_state(self.model, state)
        if onchain.parameters() != self.twin.parameters():
            raise SimulationError(f"block {head}: the model on chain differs from the off-chain twin")
        row: dict[str, float] = {
            "day": (now - self.start_time) / DAY_S,
            "block": head,
            "accuracy": accuracy(self.model, onchain, self.data.test_matrix, self.data.test_labels),
        }
        for agent in self.agents:
            if self.stakeable:
                row[agent.spec.name] = 100.0 * self._balance_units(agent) / agent.spec.start_balance
            else:
                row[agent.spec.name] = self._points(agent)
        self.timings["measurements (SDK read + test set)"] += time.perf_counter() - started
        return row

    def _measure_offline(self, now: int) -> dict[str, float]:
        started = time.perf_counter()
        row: dict[str, float] = {
            "day": (now - self.start_time) / DAY_S,
            "block": self.blocks,
            "accuracy": accuracy(self.model, self.twin, self.data.test_matrix, self.data.test_labels),
        }
        for index, agent in enumerate(self.agents):
            if self.stakeable:
                units = self.held_wei[index] / self.config.unit_wei
                row[agent.spec.name] = 100.0 * units / agent.spec.start_balance
            else:
                row[agent.spec.name] = float(self.points[index])
        self.timings["measurements (SDK read + test set)"] += time.perf_counter() - started
        return row

    # -- one turn

    def _draw_sample(self, agent: Agent) -> tuple[int, int] | None:
        """(row, label) the agent submits next, or None when it has nothing left."""
        first, total = self.data.initial, len(self.data.train_rows)
        if not agent.spec.flips_labels:
            if first + agent.next_sample >= total:
                return None
            row = first + agent.next_sample
        else:
            if self.honest_done:
                return None
            row = int(agent.rng.integers(first, total))
        return row, self._label(agent, row)

    def _label(self, agent: Agent, row: int) -> int:
        """The label ``agent`` gives training row ``row``: the true one, flipped by the
        malicious agent, and flipped again by an accidental mistake (one draw)."""
        label = int(self.data.train_labels[row])
        if agent.spec.flips_labels:
            label = 1 - label
        if agent.spec.mistake_prob > 0 and agent.rng.random() < agent.spec.mistake_prob:
            label = 1 - label
        return label

    def _turn(self, index: int, now: int) -> list[tuple[Agent, str, bytes]]:
        agent = self.agents[index]
        raws: list[tuple[Agent, str, bytes]] = []
        sample = self._draw_sample(agent)
        if sample is not None:
            self._add(index, sample, now, raws)
        if agent.active:
            self._claims(index, now, raws)
        return raws

    def _add(
        self, index: int, sample: tuple[int, int], now: int, raws: list[tuple[Agent, str, bytes]]
    ) -> None:
        agent = self.agents[index]
        row, label = sample
        value = 0
        cost = 0
        if self.stakeable:
            deposit = max(0.0, float(agent.rng.normal(agent.spec.mean_deposit, agent.spec.stdev_deposit)))
            value = self._units_wei(deposit)
            if value > self.held_wei[index]:
                agent.active = False
                agent.stopped_at = (now - self.start_time) / DAY_S
                self.progress(
                    f"{agent.spec.name} stops on day {agent.stopped_at:.1f}: "
                    f"balance {self.held_wei[index] / UNIT_WEI:.2f} units < deposit {deposit:.2f}"
                )
                return
            cost = self.rules.add_data_cost(now, self.last_update)
            if value < cost:
                agent.rejected_adds += 1  # the contract would refuse it: try again next turn
                return
            self.last_update = now
            self.held_wei[index] -= cost
        self._append_add(index, row, label, value, cost, now, raws)

    def _append_add(
        self,
        index: int,
        row: int,
        label: int,
        value: int,
        cost: int,
        now: int,
        raws: list[tuple[Agent, str, bytes]],
    ) -> None:
        """Train the twin on (row, label) and queue the addData carrying ``value`` wei."""
        agent = self.agents[index]
        self.last_add = now
        data = self.data.train_rows[row]
        self.twin.update(data, label)
        started = time.perf_counter()
        raws.append(
            (
                agent,
                "addData",
                self._sign(agent, ADD_DATA, ["int64[]", "uint64"], [data, label], value),
            )
        )
        self.timings["signing and encoding"] += time.perf_counter() - started
        if not agent.spec.flips_labels:
            agent.next_sample += 1
        self.submitted[index] += 1
        self.pending.append(Pending(index, row, label, now, cost, cost))

    def _claims(self, index: int, now: int, raws: list[tuple[Agent, str, bytes]]) -> None:
        """Refund own samples the model agrees with, report others' it disagrees with,
        take whatever 9-day-old samples still hold (the paper's agent loop)."""
        agent = self.agents[index]
        due = []
        for item in self.pending:
            if now - item.added_time < self.config.refund_wait_s:
                break  # pending is in time order
            if index not in item.claimed_by:
                due.append(item)
        if not due:
            return
        rows = [item.row for item in due]
        predictions = predict_many(self.model, self.twin, self.data.train_matrix[rows])
        settled = False
        for item, predicted in zip(due, predictions, strict=True):
            agrees = int(predicted) == item.label
            age = now - item.added_time
            if item.owner == index:
                if not agrees:
                    continue
                if self.stakeable and item.claimable == 0:
                    continue
                amount = item.claimable if self.stakeable else 0
                kind, selector = "refund", REFUND
                agent.good += 1
                self.total_good += 1
                if not self.stakeable:
                    self.points[index] += 1
            else:
                if not self.stakeable or item.claimable == 0:
                    continue
                if age < self.config.claim_wait_s and (agrees or agent.good == 0):
                    continue
                amount = self._report_amount(now, item, agrees, agent)
                agent.takes["share" if age < self.config.claim_wait_s else "remainder"] += 1
                kind, selector = "report", REPORT
            self._claim(index, item, amount, kind, selector, raws)
            if item.claimable == 0 or not self.stakeable:
                settled = True
        if settled:
            self.pending = [p for p in self.pending if not self._settled(p)]

    def _report_amount(
        self, now: int, item: Pending, agrees: bool, agent: Agent, own: bool = False, taken: bool = False
    ) -> int:
        """Wei a report by ``agent`` takes from ``item`` (its own sample when ``own``; one it
        already took a share of when ``taken``)."""
        return self.rules.report_amount(
            now,
            item.added_time,
            item.deposit,
            item.claimable,
            agrees,
            agent.good,
            self.total_good,
            False,
            own,
            taken,
        )

    def _claim(
        self,
        index: int,
        item: Pending,
        amount: int,
        kind: str,
        selector: bytes,
        raws: list[tuple[Agent, str, bytes]],
    ) -> None:
        """Move ``amount`` wei of ``item`` to agent ``index`` and queue its refund or report."""
        agent = self.agents[index]
        item.claimable -= amount
        item.claimed_by.add(index)
        self.held_wei[index] += amount
        started = time.perf_counter()
        owner = "0x" + self.agents[item.owner].address.hex()
        args = [owner, self.data.train_rows[item.row], item.label, item.added_time]
        raws.append((agent, kind, self._sign(agent, selector, CLAIM_TYPES, args)))
        self.timings["signing and encoding"] += time.perf_counter() - started

    # -- one turn under the original framework's rules (``settle_claims``)

    def _data_used_up(self) -> bool:
        return self.data.initial + self.next_row >= len(self.data.train_rows)

    def _draw_deposit(self, agent: Agent) -> float:
        """Units the agent sends with an addData."""
        spec = agent.spec
        if self.config.draws == "legacy":
            return max(0.0, float(agent.rng.normal(spec.mean_deposit, spec.stdev_deposit)))
        while True:  # the original: int(N(mean, stdev)), drawn again until positive
            deposit = int(agent.rng.normal(spec.mean_deposit, spec.stdev_deposit))
            if deposit > 0:
                return float(deposit)

    def _draw_wait(self, agent: Agent) -> float:
        """Seconds to the agent's next turn."""
        spec = agent.spec
        if self.config.draws == "legacy":
            return float(agent.rng.exponential(spec.mean_wait_s))
        while True:  # the original: int(N(mean, stdev)) seconds, drawn again until >= 1
            wait = int(agent.rng.normal(spec.mean_wait_s, spec.stdev_wait_s))
            if wait >= 1:
                return float(wait)

    def _turn_original(
        self, index: int, now: int, drawn_time: int
    ) -> tuple[list[tuple[Agent, str, bytes]], bool]:
        """The original's turn: add the next row of the shared stream (flipped by the
        malicious agent; the honest one takes part with probability accuracy + p), then
        claim. Returns the transactions and whether the agent goes on (balance > 0)."""
        agent = self.agents[index]
        raws: list[tuple[Agent, str, bytes]] = []
        if self.held_wei[index] > 0 and not self._data_used_up():
            self._add_original(index, now, drawn_time, raws)
        goes_on = self.held_wei[index] > 0
        if self.stakeable:
            self._claims_original(index, now, raws)
        if not goes_on:
            agent.active = False
        return raws, goes_on

    def _add_original(
        self, index: int, now: int, drawn_time: int, raws: list[tuple[Agent, str, bytes]]
    ) -> None:
        agent = self.agents[index]
        spec = agent.spec
        row = self.data.initial + self.next_row
        label = self._label(agent, row)
        bonus = self.config.honest_participation
        if not spec.flips_labels and bonus is not None:
            if not agent.rng.random() < self.last_accuracy + bonus:
                return
        value, cost = 0, 0
        if self.stakeable:
            deposit = self._draw_deposit(agent)
            value = self._units_wei(deposit)
            if value > self.held_wei[index]:
                if agent.stopped_at is None:
                    agent.stopped_at = (now - self.start_time) / DAY_S
                    self.progress(
                        f"{spec.name} cannot cover a deposit from day {agent.stopped_at:.1f}: "
                        f"balance {self.held_wei[index] / self.config.unit_wei:.2f} units "
                        f"< deposit {deposit:.0f}"
                    )
                return
            if self.config.same_second_refused and drawn_time <= self.last_update:
                agent.rejected_adds += 1  # the original refuses a second addition in one second
                return
            cost = self.rules.add_data_cost(now, self.last_update)
            if value < cost:
                agent.rejected_adds += 1
                return
            self.last_update = now
            self.held_wei[index] -= cost
        self.next_row += 1
        self._append_add(index, row, label, value, cost, now, raws)

    def _claims_original(self, index: int, now: int, raws: list[tuple[Agent, str, bytes]]) -> None:
        """The original's claim loop over unsettled samples, oldest first: stop at the first
        younger than the refund wait (or than the claim wait once the data is used up);
        take all of a sample older than the claim wait; refund one's own; report others'."""
        agent = self.agents[index]
        refund_wait, claim_wait = self.config.refund_wait_s, self.config.claim_wait_s
        used_up = self._data_used_up()
        due = []
        for item in self.pending:
            age = now - item.added_time
            if age < refund_wait or (used_up and age < claim_wait):
                break
            if item.claimable > 0 and (age >= claim_wait or index not in item.claimed_by):
                due.append(item)  # else NothingToClaim / AlreadyClaimed (before the claim wait)
        if not due:
            return
        predictions = predict_many(self.model, self.twin, self.data.train_matrix[[item.row for item in due]])
        settled = False
        for item, predicted in zip(due, predictions, strict=True):
            agrees = int(predicted) == item.label
            age = now - item.added_time
            own = item.owner == index
            if age > claim_wait:
                if own and not self.config.own_remainder:
                    continue
                kind, selector = "report", REPORT
            elif own:
                if age <= refund_wait or not agrees:
                    continue  # the original refuses a refund at exactly the wait
                kind, selector = "refund", REFUND
            else:
                # from the claim wait on, the mechanism gives the whole remainder to
                # anyone (one who took a share included), whatever the model says
                taken = index in item.claimed_by
                if age < claim_wait and (taken or age <= refund_wait or agrees or agent.good == 0):
                    continue
                kind, selector = "report", REPORT
            if kind == "refund":
                amount = self.rules.refund_amount(now, item.added_time, item.claimable, agrees)
                agent.good += 1
                self.total_good += 1
            else:
                taken = index in item.claimed_by
                amount = self._report_amount(now, item, agrees, agent, own, taken)
                if age < claim_wait:
                    agent.takes["share"] += 1
                else:
                    agent.takes[
                        "own remainder" if own else "remainder after own share" if taken else "remainder"
                    ] += 1
            self._claim(index, item, amount, kind, selector, raws)
            settled |= item.claimable == 0
        if settled:
            self.pending = [p for p in self.pending if p.claimable > 0]

    def _claimable_by_someone(self) -> bool:
        """Whether an agent still acting could claim from an unsettled sample: once the
        claim wait has passed anyone takes its remainder (its contributor too when
        ``own_remainder``), so only a sample whose sole acting claimant is an owner that
        does not take its own can outlive the run."""
        acting = {i for i, a in enumerate(self.agents) if a.active}
        for item in self.pending:
            claimants = acting if self.config.own_remainder else acting - {item.owner}
            if item.claimable > 0 and claimants:
                return True
        return False

    def _settled(self, item: Pending) -> bool:
        if self.stakeable:
            return item.claimable == 0
        return item.owner in item.claimed_by

    # -- the run

    def run(self, max_days: float | None = None) -> Result:
        self._start_chain()
        self.pending = []
        self.total_good = 0
        self.blocks = 0
        self.submitted = [0, 0]
        self.held_wei = [self._units_wei(a.spec.start_balance) for a in self.agents]
        self.honest_done = False
        self.points = [0, 0]
        self.next_row = 0  # the shared stream's next training row (after the initial ones)
        self.last_add = self.start_time
        rows = [self._measure(self.start_time)]
        initial_accuracy = rows[0]["accuracy"]
        self.last_accuracy = initial_accuracy
        self.progress(
            f"deployed {self.model} under {self.config.incentive}; initial test accuracy "
            f"{initial_accuracy:.4f}; {len(self.data.train_rows) - self.data.initial} "
            "honest samples to submit"
        )
        queue: list[tuple[float, int]] = []
        for index, agent in enumerate(self.agents):
            heapq.heappush(queue, (self.start_time + self._draw_wait(agent), index))
        first_eval = self.config.eval_first_s or self.config.eval_every_s
        next_eval = self.start_time + first_eval
        original = self.config.settle_claims
        last_time = self.start_time - 1
        end_time: float | None = None
        txs = 0
        started = time.perf_counter()
        honest = self.agents[0]
        while queue:
            when, index = heapq.heappop(queue)
            now = max(int(when), last_time + 1)
            if max_days is not None and now - self.start_time > max_days * DAY_S:
                break
            if original and self._data_used_up() and not self._claimable_by_someone():
                break  # the original stops once the data is used up and every claim settled
            if end_time is not None and now > end_time:
                break
            if now > self.last_add + self.config.claim_wait_s + self.config.refund_wait_s:
                break  # nobody could add for a whole claim period: nothing new will happen
            while now >= next_eval:
                rows.append(self._measure(next_eval))
                self.last_accuracy = rows[-1]["accuracy"]
                next_eval += self.config.eval_every_s
                if len(rows) % max(1, DAY_S // self.config.eval_every_s) == 0:
                    self._report_progress(rows[-1], txs, time.perf_counter() - started)
                    if self.checkpoint is not None:
                        self.checkpoint(
                            self._result(rows, initial_accuracy, time.perf_counter() - started, txs)
                        )
            agent = self.agents[index]
            decide = time.perf_counter()
            if original:
                raws, goes_on = self._turn_original(index, now, int(when))
            else:
                raws = self._turn(index, now)
                goes_on = agent.active and not (self.honest_done and not self.pending)
            self.timings["twin and decisions"] += time.perf_counter() - decide
            if raws:
                tick = time.perf_counter()
                self._mine(raws, now)
                self.timings["chain (execute, seal, commit)"] += time.perf_counter() - tick
                txs += len(raws)
                last_time = now
            if (
                not original
                and not self.honest_done
                and honest.next_sample + self.data.initial >= len(self.data.train_rows)
            ):
                self.honest_done = True
                end_time = now + self.config.claim_wait_s + self.config.refund_wait_s
                self.progress(
                    f"honest agent submitted all its samples on day {(now - self.start_time) / DAY_S:.1f}"
                )
            if goes_on:
                heapq.heappush(queue, (when + self._draw_wait(agent), index))
        wall = time.perf_counter() - started
        if last_time > self.start_time + rows[-1]["day"] * DAY_S:
            rows.append(self._measure(last_time))
        result = self._result(rows, initial_accuracy, wall, txs)
        if self.on_chain:
            self.chain.close()
        return result

    def _report_progress(self, row: dict[str, float], txs: int, wall: float) -> None:
        self.progress(
            f"day {row['day']:.1f}: honest {row['honest']:.1f} malicious {row['malicious']:.1f} "
            f"accuracy {row['accuracy']:.4f}; {txs} txs in {wall:.0f} s ({txs / max(wall, 1e-9):.1f} tx/s)"
        )

    def _result(self, rows: list[dict[str, float]], initial_accuracy: float, wall: float, txs: int) -> Result:
        malicious = self.agents[1]
        return Result(
            config=self.config,
            rows=list(rows),
            gas={
                a.spec.name: {
                    "gas_used": a.gas_used,
                    "gas_paid_wei": a.gas_paid_wei,
                    "gas_paid_ether": a.gas_paid_wei / 10**18,  # gas is paid in ether, whatever the unit
                    "txs": dict(a.txs),
                }
                for a in self.agents
            },
            wall_s=wall,
            txs=txs,
            blocks=self.blocks,
            initial_accuracy=initial_accuracy,
            final_accuracy=rows[-1]["accuracy"],
            days_to_exhaust=malicious.stopped_at,
            submitted={a.spec.name: self.submitted[i] for i, a in enumerate(self.agents)},
            rejected={a.spec.name: a.rejected_adds for a in self.agents},
            takes={a.spec.name: dict(a.takes) for a in self.agents},
            engine="chain" if self.on_chain else "off-chain",
            node=self.rpc,
            deployed_learning_rate=getattr(self.twin, "learning_rate", None),
            timings={
                **self.timings,
                "twin and decisions": self.timings["twin and decisions"]
                - self.timings["signing and encoding"],
            },
        )


def good_data_accuracy(model: str, data: Data, config: SimulationConfig) -> float:
    """Test accuracy of the same model trained off-chain (twin arithmetic) on the initial
    reviews then every remaining training review with its true label, in order: what the
    honest agent alone would have built."""
    twin = twin_from_state(model, initial_state(model, data, config))
    for row in range(data.initial, len(data.train_rows)):
        twin.update(data.train_rows[row], int(data.train_labels[row]))
    return accuracy(model, twin, data.test_matrix, data.test_labels)


def simulate(
    imdb: str | Path,
    config: SimulationConfig,
    progress: Callable[[str], None] | None = None,
    checkpoint: Callable[[Result], None] | None = None,
    max_days: float | None = None,
    data: Data | None = None,
    on_chain: bool = True,
    rpc: str | None = None,
) -> Result:
    """Load IMDB (unless ``data`` is given), run the simulation (on a fresh in-process
    chain, on the node at ``rpc``, or with the off-chain engine), return its result."""
    config.check()
    data = data if data is not None else load_data(imdb, config)
    result = Simulation(config, data, progress, checkpoint, on_chain, rpc).run(max_days)
    result.good_data_accuracy = good_data_accuracy(MODEL_CHOICES[config.model], data, config)
    return result


# --- output -----------------------------------------------------------------------------------


CSV_COLUMNS = ("day", "honest", "malicious", "accuracy", "block")


def write_csv(result: Result, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in result.rows:
            writer.writerow(
                {k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in CSV_COLUMNS}
            )


def plot(result: Result, path: Path, title: str | None = None) -> None:
    """Balances (% of start, or points) and accuracy over simulated days, as the paper's Fig. 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [r["day"] for r in result.rows]
    fig, left = plt.subplots(figsize=(9, 5))
    stakeable = result.config.incentive == "Stakeable"
    for name, colour in (("honest", "tab:green"), ("malicious", "tab:red")):
        left.plot(days, [r[name] for r in result.rows], color=colour, label=f"{name} agent balance")
    left.set_xlabel("simulated time (days)")
    left.set_ylabel("balance (% of start)" if stakeable else "points")
    right = left.twinx()
    right.plot(days, [100 * r["accuracy"] for r in result.rows], color="tab:blue", label="model accuracy")
    right.set_ylabel("test accuracy (%)")
    right.set_ylim(0, 100)
    if stakeable:
        left.set_ylim(bottom=0)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [str(h.get_label()) for h in handles], loc="lower left")
    left.set_title(
        title or f"{result.config.model} + {result.config.incentive} on sumchain (seed {result.config.seed})"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(result: Result, out: Path, stem: str, command: str = "") -> dict[str, Path]:
    """CSV, PNG and a JSON summary (gas per agent, wall time, tx/s, command, machine)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / f"{stem}.csv", "png": out / f"{stem}.png", "json": out / f"{stem}.json"}
    write_csv(result, paths["csv"])
    plot(result, paths["png"])
    summary = result.summary()
    summary["command"] = command
    summary["machine"] = machine_line()
    paths["json"].write_text(json.dumps(summary, indent=2) + "\n")
    return paths


def config_with(base: SimulationConfig, **changes: Any) -> SimulationConfig:
    """``base`` with top-level fields and agent fields (``honest_mean_deposit=...``) changed."""
    agent_changes: dict[str, dict[str, Any]] = {"honest": {}, "malicious": {}}
    top: dict[str, Any] = {}
    for key, value in changes.items():
        for name in agent_changes:
            if key.startswith(name + "_"):
                agent_changes[name][key[len(name) + 1 :]] = value
                break
        else:
            top[key] = value
    for name, fields in agent_changes.items():
        if fields:
            top[name] = replace(getattr(base, name), **fields)
    return replace(base, **top)


def _finite(value: float) -> bool:
    return math.isfinite(value)
