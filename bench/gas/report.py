"""The gas benchmark's outputs: money, Table I, the snapshot the regression guard pins,
the most expensive parts of an update, and the CSV, Markdown, PNG and run.json files."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_utils.currency import denoms

from bench import provenance
from bench.errors import BenchError
from bench.gas.cases import (
    CSV_FIELDS,
    FORKS,
    MODELS,
    ORIGINAL_PY_EVM,
    PAPER_TABLE_I,
    SPARSE_MODELS,
    TABLE_I,
    UPDATE_FEATURES,
    Row,
)
from bench.gas.run import ChainResult

# Shipped in the wheel as package data (pyproject.toml), so --check-snapshot works anywhere.
SNAPSHOT_FILE = Path(__file__).resolve().parents[1] / "results" / "gas" / "snapshot.json"
WEI_PER_ETHER = denoms.ether


def money(gas: int, gas_price_gwei: float | None, eth_usd: float | None) -> dict[str, float]:
    """What ``gas`` costs at ``gas_price_gwei``: ether, and US dollars at ``eth_usd``."""
    if gas_price_gwei is None:
        return {}
    ether = gas * gas_price_gwei * denoms.gwei / WEI_PER_ETHER
    out = {"eth": ether}
    if eth_usd is not None:
        out["usd"] = ether * eth_usd
    return out


def table_i(rows: Sequence[Row], fork: str, optimizer: str = "on") -> dict[str, int]:
    """The paper's Table I setting measured on ``fork``: addData agree / disagree (100
    features, 15 words, SparsePerceptron, Stakeable) and the deployment total."""
    out: dict[str, int] = {}
    for row in rows:
        if (row.fork, row.optimizer, row.model, row.incentive, row.features) != (
            fork,
            optimizer,
            TABLE_I.model,
            TABLE_I.incentive,
            TABLE_I.features,
        ):
            continue
        if row.operation == "addData" and row.step == "addData" and row.words == TABLE_I.words:
            out.setdefault(f"addData {row.agreement}", row.gas)
        if row.operation == "deploy total":
            out["deployment"] = row.gas
    return out


def snapshot_figures(rows: Sequence[Row]) -> dict[str, int]:
    """The figures the regression guard pins: the Table I setting on every measured chain."""
    figures: dict[str, int] = {}
    for fork in dict.fromkeys(r.fork for r in rows):
        for optimizer in dict.fromkeys(r.optimizer for r in rows if r.fork == fork):
            for name, gas in table_i(rows, fork, optimizer).items():
                figures[f"{fork}/{optimizer} Table I {name}"] = gas
    return figures


@dataclass(frozen=True)
class SnapshotChange:
    """A pinned figure that moved (or appeared / disappeared: old or new is None)."""

    name: str
    old: int | None
    new: int | None

    def __str__(self) -> str:
        if self.old is None or self.new is None:
            return f"{self.name}: old {self.old}, new {self.new}"
        diff = self.new - self.old
        return (
            f"{self.name}: old {self.old:,}, new {self.new:,}, difference {diff:+,} ({diff / self.old:+.2%})"
        )


def check_snapshot(current: dict[str, int], committed: dict[str, int]) -> list[SnapshotChange]:
    """Every figure in ``committed`` that ``current`` does not reproduce exactly."""
    changes = []
    for name, old in sorted(committed.items()):
        new = current.get(name)
        if new != old:
            changes.append(SnapshotChange(name, old, new))
    return changes


HINTS = {  # (role, opcode prefix) -> what would cut it
    ("model", "SSTORE"): "write fewer slots: pack several int64 weights per 32-byte slot, "
    "or skip writing weights whose value does not change",
    ("data_handler", "SSTORE"): "store one hash of (contributor, data, label, time) "
    "instead of the fields; the data is public in calldata/events",
    ("incentive", "SSTORE"): "keep the mechanism's per-update bookkeeping in fewer slots",
    ("trainer", "LOG"): "emit the sample once (it is already in calldata) or emit its hash",
    ("model", "SLOAD"): "read packed weights (fewer slots); from Berlin on, repeat reads are warm",
    ("trainer", "CALL"): "fewer cross-contract calls: the trainer calls three contracts per "
    "update; merging handler and mechanism saves a call and its cold access",
    ("intrinsic", "base"): "every transaction pays 21,000: a batched addData taking several "
    "samples would share it",
    ("intrinsic", "calldata"): "encode features as packed uint16/uint32 instead of ABI int64 "
    "words padded to 32 bytes",
}


def hint(part: str) -> str:
    role, _, opcode = part.partition(":")
    for (hint_role, prefix), text in HINTS.items():
        if role == hint_role and opcode.startswith(prefix):
            return text
    return "look at the contract's code path for this opcode"


def expensive_parts(row: Row, count: int = 5) -> list[tuple[str, int, str]]:
    """The ``count`` largest (part, gas, what would cut it) of one transaction: gas per
    contract role and opcode from the trace, plus the call data."""
    parts = dict(row.opcodes)
    parts["intrinsic:calldata"] = row.calldata
    parts["intrinsic:base"] = row.intrinsic - row.calldata
    ranked = sorted(parts.items(), key=lambda item: -item[1])[:count]
    return [(name, gas, hint(name)) for name, gas in ranked]


# --- output -------------------------------------------------------------------------------------


def write_csv(rows: Sequence[Row], path: Path, gas_price: float | None, eth_usd: float | None) -> None:
    extra = [] if gas_price is None else ["eth"] + ([] if eth_usd is None else ["usd"])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS + extra)
        for row in rows:
            values = asdict(row)
            cost = money(row.gas, gas_price, eth_usd)
            writer.writerow(
                [values[name] for name in CSV_FIELDS]
                + [f"{cost[k]:.8f}" if k == "eth" else f"{cost[k]:.4f}" for k in extra]
            )


def _md_table(header: Sequence[str], lines: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value)

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def table_i_markdown(rows: Sequence[Row]) -> str:
    """The paper's Table I beside our figures (and the original framework's on py-evm). The
    paper's figures came from the original's truffle build, which ran solc without the
    optimizer: the optimizer-off columns are the like-for-like ones, the optimized ones our
    own result."""
    forks = [f for f in ("petersburg", "cancun") if any(r.fork == f for r in rows)]
    header = ["figure", "paper (Table I)"]
    chosen = []
    for fork in forks:
        header.append(f"original on py-evm, {fork}")
        for optimizer in ("off", "on"):
            if any(r.fork == fork and r.optimizer == optimizer for r in rows):
                chosen.append((fork, optimizer))
                header += [f"sumchain, {fork}, optimizer {optimizer}", "vs paper"]
    lines = []
    for name, paper in PAPER_TABLE_I.items():
        line: list[Any] = [name, paper]
        for fork in forks:
            line.append(ORIGINAL_PY_EVM.get(fork, {}).get(name, "-"))
            for optimizer in ("off", "on"):
                if (fork, optimizer) not in chosen:
                    continue
                ours = table_i(rows, fork, optimizer).get(name)
                line += [ours if ours else "-", f"{(ours - paper) / paper:+.1%}" if ours else "-"]
        lines.append(line)
    return (
        "SparsePerceptron, 100 features, 15 words per sample, Stakeable. The paper's figures "
        "came from the original's truffle build, which ran solc without the optimizer: the "
        "optimizer-off columns are the like-for-like comparison, the optimized ones our own "
        'result. "deployment" is every transaction: the model with 100 non-zero weights and '
        "their initialisation, the mechanism, the data handler, the trainer, and the three "
        "ownership transfers.\n\n" + _md_table(header, lines)
    )


def table_i_by_optimizer_markdown(figures: dict[str, int], fork: str = "petersburg") -> str:
    """The paper's Table I beside our optimizer-off figures (the original's truffle build ran
    solc without the optimizer, so these are the like-for-like ones) and our optimized ones,
    from pinned figures (``snapshot_figures``; the committed snapshot by default)."""
    header = [
        "figure",
        "paper (Table I)",
        f"sumchain, {fork}, optimizer off",
        "vs paper",
        f"sumchain, {fork}, optimizer on",
        "vs paper",
    ]
    lines = []
    for name, paper in PAPER_TABLE_I.items():
        line: list[Any] = [name, paper]
        for optimizer in ("off", "on"):
            ours = figures.get(f"{fork}/{optimizer} Table I {name}")
            line += [ours if ours else "-", f"{(ours - paper) / paper:+.1%}" if ours else "-"]
        lines.append(line)
    return (
        f"# The paper's Table I under {fork.capitalize()} rules, optimizer off and on\n\n"
        "SparsePerceptron, 100 features, 15 words per sample, Stakeable (linear deposit law). "
        "The paper's figures came from the original's truffle build, which ran solc without "
        "the optimizer: the optimizer-off column is the like-for-like comparison; the "
        'optimized one is our own result. "deployment" is every transaction (model and its '
        "initialisation, mechanism, data handler, trainer, three ownership transfers). "
        f"Source: `{SNAPSHOT_FILE.relative_to(SNAPSHOT_FILE.parents[3])}` "
        "(`python -m bench.gas --table-i-from-snapshot OUT`).\n\n" + _md_table(header, lines)
    )


def markdown(results: Sequence[ChainResult], gas_price: float | None, eth_usd: float | None) -> str:
    rows = [row for result in results for row in result.measured.rows]
    text = ["# Gas per model update on sumchain\n\n"]
    text.append("## The paper's Table I setting\n\n")
    text.append(table_i_markdown(rows))
    for fork in dict.fromkeys(r.fork for r in rows):
        update = next(
            (
                r
                for r in rows
                if r.fork == fork
                and r.optimizer == "on"
                and r.operation == "addData"
                and r.step == "addData"
                and r.model == TABLE_I.model
                and r.incentive == TABLE_I.incentive
                and r.features == TABLE_I.features
                and r.words == TABLE_I.words
                and r.agreement == "disagree"
            ),
            None,
        )
        if update is None or fork not in ("petersburg", "cancun"):
            continue
        text.append(
            f"\n## The five most expensive parts of an update ({fork})\n\n`addData` of "
            f"{update.model} / {update.incentive}, {update.features} features, "
            f"{update.words} words, model disagrees, {update.fork} "
            f"(optimizer {update.optimizer}): {update.gas:,} gas.\n\n"
        )
        text.append(
            _md_table(["part (contract:opcode)", "gas", "what would cut it"], expensive_parts(update))
        )
    text.append("\n## Gas per fork (Table I setting)\n\n")
    fork_lines = []
    for result in results:
        m = result.measured
        figures = table_i(m.rows, m.fork, m.optimizer)
        if figures:
            fork_lines.append(
                [
                    m.fork,
                    m.optimizer,
                    figures.get("addData agree", "-"),
                    figures.get("addData disagree", "-"),
                    figures.get("deployment", "-"),
                ]
            )
    text.append(
        _md_table(["fork", "optimizer", "addData agree", "addData disagree", "deployment"], fork_lines)
    )
    money_header = (
        []
        if gas_price is None
        else [f"ETH at {gas_price:g} gwei"] + ([] if eth_usd is None else [f"USD at {eth_usd:g}/ETH"])
    )

    def cost(gas: int) -> list[str]:
        values = money(gas, gas_price, eth_usd)
        return ([f"{values['eth']:.6f}"] if "eth" in values else []) + (
            [f"{values['usd']:.2f}"] if "usd" in values else []
        )

    text.append("\n## Deployment and initialisation (totals)\n\n")
    text.append(
        _md_table(
            [
                "fork",
                "optimizer",
                "model",
                "incentive",
                "features",
                "gas",
                "intrinsic",
                "trainer",
                "incentive",
                "data handler",
                "model",
            ]
            + money_header,
            [
                [
                    r.fork,
                    r.optimizer,
                    r.model,
                    r.incentive,
                    r.features,
                    r.gas,
                    r.intrinsic,
                    r.trainer,
                    r.incentive_gas,
                    r.data_handler,
                    r.model_gas,
                ]
                + cost(r.gas)
                for r in rows
                if r.operation == "deploy total"
            ],
        )
    )
    text.append(
        "\n## addData, refund and report\n\nParts from the call trace; they add up to "
        "the gas used (gas = intrinsic + trainer + incentive + data handler + model "
        "- refund).\n\n"
    )
    text.append(
        _md_table(
            [
                "fork",
                "optimizer",
                "operation",
                "model",
                "incentive",
                "features",
                "words",
                "agreement",
                "gas",
                "intrinsic (calldata)",
                "trainer",
                "incentive",
                "data handler",
                "model",
                "refund",
            ]
            + money_header,
            [
                [
                    r.fork,
                    r.optimizer,
                    r.step,
                    r.model,
                    r.incentive,
                    r.features,
                    r.words,
                    r.agreement,
                    r.gas,
                    f"{r.intrinsic:,} ({r.calldata:,})",
                    r.trainer,
                    r.incentive_gas,
                    r.data_handler,
                    r.model_gas,
                    r.refund,
                ]
                + cost(r.gas)
                for r in rows
                if r.operation in ("addData", "refund", "report")
            ],
        )
    )
    market_rows = [r for r in rows if r.operation.startswith("market ")]
    if market_rows:
        text.append("\n## Prediction market, phase by phase\n\n" + market_markdown(market_rows))
    return "".join(text)


def market_markdown(rows: Sequence[Row]) -> str:
    """Per fork and phase: transactions, total, mean and largest gas (market rows)."""
    groups: dict[tuple[str, str, str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.fork, r.optimizer, r.step, r.agreement), []).append(r)
    setting = next(iter(rows))
    intro = (
        f"One round of PredictionMarket with {setting.features:,} features (see "
        f'`MarketSetting`); contribute "disagree" = the sample changed the model; an '
        f"advance row's words = its steps.\n\n"
    )
    return intro + _md_table(
        [
            "fork",
            "optimizer",
            "phase",
            "model changed",
            "transactions",
            "total gas",
            "mean gas",
            "max gas",
            "mean intrinsic (calldata)",
        ],
        [
            [
                fork,
                optimizer,
                step,
                {"disagree": "yes", "agree": "no"}.get(agreement, "-"),
                len(group),
                sum(r.gas for r in group),
                sum(r.gas for r in group) // len(group),
                max(r.gas for r in group),
                f"{sum(r.intrinsic for r in group) // len(group):,} "
                f"({sum(r.calldata for r in group) // len(group):,})",
            ]
            for (fork, optimizer, step, agreement), group in groups.items()
        ],
    )


def plot(rows: Sequence[Row], out: Path) -> list[Path]:
    """gas_vs_words.png (addData by words per sample, per model) and gas_per_fork.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    reference_fork = "cancun" if any(r.fork == "cancun" for r in rows) else rows[0].fork
    figure, axis = plt.subplots(figsize=(8, 5))
    for model in MODELS:
        for agreement in ("agree", "disagree", "-"):
            points = sorted(
                (r.words, r.gas)
                for r in rows
                if r.operation == "addData"
                and r.step == "addData"
                and r.model == model
                and r.agreement == agreement
                and r.fork == reference_fork
                and r.optimizer == "on"
                and r.incentive == "Stakeable"
                and model in SPARSE_MODELS
                and r.features == UPDATE_FEATURES
            )
            if points:
                label = model if agreement == "-" else f"{model} ({agreement})"
                axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axis.set_xscale("log")
    axis.set_xlabel("words per sample")
    axis.set_ylabel("gas per addData")
    axis.set_title(f"addData gas, Stakeable, {UPDATE_FEATURES} features, {reference_fork}")
    if axis.lines:
        axis.legend(fontsize=8)
    else:
        axis.text(0.5, 0.5, "no sparse addData rows in this run", ha="center", transform=axis.transAxes)
    axis.grid(True, alpha=0.3)
    path = out / "gas_vs_words.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)

    figure, axis = plt.subplots(figsize=(8, 5))
    forks = [f for f in FORKS if any(r.fork == f for r in rows)]
    for optimizer in ("on", "off"):
        for name in ("addData agree", "addData disagree"):
            values = [table_i(rows, fork, optimizer).get(name) for fork in forks]
            if any(values):
                axis.plot(
                    forks,
                    [v or float("nan") for v in values],
                    marker="o",
                    linestyle="-" if optimizer == "on" else "--",
                    label=f"{name}, optimizer {optimizer}",
                )
    axis.set_ylabel("gas")
    axis.set_title("Table I setting per fork (SparsePerceptron, 100 features, 15 words)")
    axis.legend(fontsize=8)
    axis.grid(True, alpha=0.3)
    path = out / "gas_per_fork.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)
    return written


def write_outputs(
    results: Sequence[ChainResult],
    out: Path,
    command: str,
    seconds: float,
    gas_price: float | None,
    eth_usd: float | None,
) -> list[Path]:
    """CSV, Markdown, Table I, PNG plots and run.json (command, versions, machine)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [row for result in results for row in result.measured.rows]
    if not rows:
        raise BenchError("nothing was measured")
    written = [out / "gas.csv", out / "gas.md", out / "table_i.md", out / "run.json"]
    write_csv(rows, written[0], gas_price, eth_usd)
    written[1].write_text(markdown(results, gas_price, eth_usd))
    written[2].write_text("# The paper's Table I setting under Petersburg rules\n\n" + table_i_markdown(rows))
    written[3].write_text(
        json.dumps(
            {
                "command": command,
                "commit": provenance.commit(),
                "wall_time_s": round(seconds, 1),
                "versions": provenance.versions(),
                "machine": provenance.machine(),
                "gas_price_gwei": gas_price,
                "eth_usd": eth_usd,
                "chains": [
                    {
                        "fork": r.measured.fork,
                        "optimizer": r.measured.optimizer,
                        "transactions": sum(len(b.transactions) for b in r.measured.blocks),
                        "replayable_transactions": sum(len(b.transactions) for b in r.measured.replayable()),
                        "measure_s": round(r.measured.seconds, 1),
                        "replayed": r.replayed,
                        "mismatches": [asdict(m) for m in r.mismatches],
                        "verify_error": r.verify_error,
                    }
                    for r in results
                ],
                "snapshot": snapshot_figures(rows),
            },
            indent=2,
        )
        + "\n"
    )
    written += plot(rows, out)
    return written
