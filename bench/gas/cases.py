"""What the gas benchmark measures: the sweep, the paper's Table I setting, the models'
states and samples, and the row every measured transaction becomes."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from vm_contracts.deploy import INCENTIVES
from vm_contracts.fixed_point import SCALE
from vm_contracts.models import MODELS, SPARSE_MODELS

FORKS = ("petersburg", "istanbul", "berlin", "london", "shanghai", "cancun", "prague")  # the forks measured
PERCEPTRONS = ("SparsePerceptron", "DensePerceptron")
FEATURE_COUNTS = (100, 1_000, 10_000)  # features of deployed models
WORDS_PER_SAMPLE = (1, 15, 20, 50, 100, 500)  # distinct words in one sparse sample
UPDATE_FEATURES = 1_000  # features of the models that addData is measured on


@dataclass(frozen=True)
class TableISetting:
    """The paper's Table I setting: ``model`` under ``incentive`` with ``features``
    features, samples of ``words`` distinct words."""

    model: str = "SparsePerceptron"
    incentive: str = "Stakeable"
    features: int = 100
    words: int = 15


TABLE_I = TableISetting()
PAPER_TABLE_I = {"addData agree": 177_693, "addData disagree": 249_037, "deployment": 3_845_840}
ORIGINAL_PY_EVM = {  # the original framework's figures measured on py-evm
    "petersburg": {"addData agree": 188_681, "addData disagree": 278_870, "deployment": 4_344_076},
    "cancun": {"addData agree": 238_389, "addData disagree": 295_326, "deployment": 4_015_980},
}
REFUND_WAIT_S = 2 * 86_400  # s waited before refunds and reports (Stakeable needs a day)
MARKET_STAGES = ("Index", "Losses", "Balances", "Credit", "Done")  # PredictionMarket.Stage
ANVIL_FORKS = ("cancun", "prague")  # where anvil is a reference (it misprices SSTORE before Berlin)

__all__ = ["INCENTIVES", "MODELS", "SPARSE_MODELS"]  # the SDK's lists, measured as they are


@dataclass
class Row:
    """One measured transaction (or a deployment's total) and where its gas went.

    Fields:
        fork: hard fork of the chain (py-evm / solc evmVersion name).
        optimizer: "on" or "off" (the solc optimizer setting of the artifacts).
        operation: "deploy", "deploy total", "addData", "refund" or "report".
        step: for deployments, which transaction ("deploy SparsePerceptron",
            "initialize weights", ...); for the rest, the operation again.
        model: model contract name.
        incentive: incentive mechanism contract name.
        features: the model's number of features.
        words: distinct words in the sample (sparse) or values (dense); 0 for deployments.
        agreement: "agree" / "disagree" (perceptrons), "-" where it does not apply.
        gas: the receipt's gasUsed (gas).
        intrinsic..refund: the parts (gas); intrinsic includes calldata; refund is
            subtracted: gas = intrinsic + trainer + incentive + data_handler + model +
            other - refund.
        block: block number of the transaction (0 for totals).
        tx: transaction hash, hex ("" for totals).
    """

    fork: str
    optimizer: str
    operation: str
    step: str
    model: str
    incentive: str
    features: int
    words: int
    agreement: str
    gas: int
    intrinsic: int = 0
    calldata: int = 0
    trainer: int = 0
    incentive_gas: int = 0
    data_handler: int = 0
    model_gas: int = 0
    other: int = 0
    refund: int = 0
    block: int = 0
    tx: str = ""
    opcodes: dict[str, int] = field(default_factory=dict)  # "role:OPCODE" -> gas


CSV_FIELDS = [f.name for f in fields(Row) if f.name != "opcodes"]


@dataclass(frozen=True)
class MarketSetting:
    """The prediction-market round the grid chains measure, phase by phase: the
    setting of ``sumchain simulate-market`` (1,000 words, 1,000 test samples in 10
    parts, one revealed first, samples of about 90 distinct words as IMDB reviews are,
    bounty 100,000 stakes) with fewer contributions, since a phase's gas per
    transaction hardly depends on their number (the full round's totals are in
    bench/results/simulation/market_gas.csv).

    Fields:
        features, words: model features; distinct feature indices per sample.
        test_samples, parts, initial_parts: D, K and k.
        contributions: T.
        bounty_units: B; stake_wei: wei per stake.
        advance_steps: steps per ``advance`` transaction in each stage, small enough
            for the block gas limit on every fork (before Istanbul every SSTORE to a
            written slot costs 5,000 gas, so indexing 50 reviews of 90 words is ~40 M).
    """

    features: int = 1_000
    words: int = 90
    test_samples: int = 1_000
    parts: int = 10
    initial_parts: int = 1
    contributions: int = 40
    bounty_units: int = 100_000
    stake_wei: int = 10**12
    advance_steps: tuple[tuple[str, int], ...] = (
        ("Index", 10),
        ("Losses", 40),
        ("Balances", 200),
        ("Credit", 500),
    )


@dataclass(frozen=True)
class Sweep:
    """What a run measures.

    Fields:
        forks: hard forks, each on its own chain.
        optimizer: solc optimizer settings ("on", "off").
        models, incentives: contracts to measure.
        feature_counts: features of the deployments measured.
        words: words per sparse sample for addData.
        update_features: features of the models addData is measured on.
        large_features, large_feature_models: deployments with ``large_features`` or
            more are measured only for these models: initialising 10,000 weights is
            ~250 Mgas, minutes of py-evm time per array.
        grid_chains: (fork, optimizer) chains that measure the whole grid above; the
            others measure the core: the paper's Table I setting (deployment, addData
            agree and disagree, refund, report). None: the whole grid everywhere.
        dense_features: features of dense models' deployments (a dense update reads and
            writes every weight, so the block gas limit bounds them).
        dense_update_features: features of dense models' addData.
        refund_report: also measure refund and report.
    """

    forks: tuple[str, ...] = FORKS
    optimizer: tuple[str, ...] = ("on", "off")
    models: tuple[str, ...] = MODELS
    incentives: tuple[str, ...] = INCENTIVES
    feature_counts: tuple[int, ...] = FEATURE_COUNTS
    words: tuple[int, ...] = WORDS_PER_SAMPLE
    update_features: int = UPDATE_FEATURES
    dense_features: tuple[int, ...] = (100, 1_000)
    dense_update_features: tuple[int, ...] = (100,)
    refund_report: bool = True
    large_features: int = 10_000
    large_feature_models: tuple[str, ...] = ("SparsePerceptron",)
    grid_chains: tuple[tuple[str, str], ...] | None = (("cancun", "on"),)
    market: MarketSetting | None = MarketSetting()


QUICK = Sweep(
    forks=("petersburg", "cancun"),
    optimizer=("on",),
    models=("SparsePerceptron", "DensePerceptron"),
    incentives=("Stakeable",),
    feature_counts=(100,),
    words=(15,),
    update_features=100,
    dense_features=(100,),
    grid_chains=None,
    market=None,
)


def core_sweep(sweep: Sweep) -> Sweep:
    """The Table I setting alone: what every fork x optimizer chain measures."""
    return replace(
        sweep,
        models=(TABLE_I.model,),
        incentives=(TABLE_I.incentive,),
        feature_counts=(TABLE_I.features,),
        words=(TABLE_I.words,),
        update_features=TABLE_I.features,
    )


def model_state(model: str, features: int) -> dict[str, Any]:
    """Constructor parameters and non-zero starting parameters of a realistic model."""
    state: dict[str, Any] = {"num_features": features}
    if model in PERCEPTRONS:
        state["learning_rate"] = SCALE
        state["weights"] = [(-1) ** i * SCALE // (1 + i % 7) for i in range(features)]
    elif model == "NaiveBayes":
        state.update(num_classes=2, smoothing=SCALE)
        state["feature_counts"] = [[1 + (i + c) % 3 for i in range(features)] for c in range(2)]
        state["sample_counts"] = [5, 5]
    else:
        state["num_classes"] = 2
        state["centroids"] = [[(i * (c + 1)) % 5 * SCALE // 5 for i in range(features)] for c in range(2)]
        state["sample_counts"] = [5, 5]
    return state


def sample(model: str, features: int, words: int, offset: int) -> list[int]:
    """A sample: ``words`` distinct feature indices (sparse) or ``features`` values (dense)."""
    if model in SPARSE_MODELS:
        return sorted((offset + 7 * i) % features for i in range(words))
    return [((i + offset) % 11 - 5) * SCALE // 5 for i in range(features)]
