"""The gas benchmark on a tiny sweep: figures add up, match EDR and anvil, match the
committed snapshot, and are written as CSV, Markdown and PNG."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import pytest

from bench import gas
from bench.gas import (
    SNAPSHOT_FILE,
    BenchError,
    ChainResult,
    SnapshotChange,
    Sweep,
    check_snapshot,
    snapshot_figures,
)

pytestmark = pytest.mark.xdist_group("bench-gas")  # its gas sweep (about a minute) is built once

# 300 test samples: the market's bit sets cross a 256-sample word
TINY_MARKET = gas.MarketSetting(
    features=64,
    words=8,
    test_samples=300,
    parts=4,
    contributions=12,
    bounty_units=50,
    advance_steps=(("Index", 100), ("Losses", 5), ("Balances", 40), ("Credit", 40)),
)
TINY = Sweep(
    forks=("petersburg", "cancun", "prague"),
    optimizer=("on",),
    models=("SparsePerceptron",),
    incentives=("Stakeable",),
    feature_counts=(100,),
    words=(15,),
    update_features=100,
    refund_report=False,
    grid_chains=None,
    market=TINY_MARKET,
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results() -> Iterator[list[ChainResult]]:
    yield gas.run(TINY, check=False)


def _rows(results: list[ChainResult]) -> list[gas.Row]:
    return [row for result in results for row in result.measured.rows]


def test_parts_from_the_trace_add_up_to_each_receipt(results: list[ChainResult]) -> None:
    rows = [r for r in _rows(results) if r.tx]
    assert rows
    for row in rows:
        assert (
            row.intrinsic
            + row.trainer
            + row.incentive_gas
            + row.data_handler
            + row.model_gas
            + row.other
            - row.refund
            == row.gas
        ), row
    update = next(r for r in rows if r.operation == "addData" and r.agreement == "disagree")
    assert min(update.trainer, update.incentive_gas, update.data_handler, update.model_gas) > 0


def test_market_round_is_measured_phase_by_phase(results: list[ChainResult]) -> None:
    for result in results:
        rows = [r for r in result.measured.rows if r.operation.startswith("market ")]
        phases = {r.operation for r in rows}
        assert phases == {
            "market deploy",
            "market commit",
            "market draw",
            "market reveal",
            "market contribute",
            "market advance",
            "market withdraw",
        }
        assert sum(r.operation == "market contribute" for r in rows) == TINY_MARKET.contributions
        assert sum(r.operation == "market reveal" for r in rows) == TINY_MARKET.parts
        advances = " ".join(r.step for r in rows if r.operation == "market advance")
        assert all(stage in advances for stage in ("Index", "Losses", "Balances")), advances
        assert advances.endswith("to Done)"), advances
        changed = [r.gas for r in rows if r.operation == "market contribute" and r.agreement == "disagree"]
        kept = [r.gas for r in rows if r.operation == "market contribute" and r.agreement == "agree"]
        # a change also writes the weights
        assert changed and kept and sum(changed) / len(changed) > sum(kept) / len(kept)
    assert "## Prediction market, phase by phase" in gas.markdown(results, None, None)


def test_model_disagreeing_costs_more_than_agreeing(results: list[ChainResult]) -> None:
    for result in results:
        figures = gas.table_i(result.measured.rows, result.measured.fork)
        assert figures["addData disagree"] > figures["addData agree"] > 21_000


def test_every_figure_is_the_same_on_edr_and_anvil(results: list[ChainResult]) -> None:
    for result in results:
        replayed, mismatches = gas.verify(result.measured)
        transactions = sum(len(b.transactions) for b in result.measured.replayable())
        # the market's round is replayed up to its draw (block hashes differ between chains)
        assert result.measured.replay_until is not None
        assert transactions < sum(len(b.transactions) for b in result.measured.blocks)
        assert mismatches == []
        assert replayed["edr"] == transactions
        if result.measured.fork in ("cancun", "prague"):
            assert replayed["anvil"] == transactions


def test_pinned_figures_have_not_moved(results: list[ChainResult]) -> None:
    committed = json.loads(SNAPSHOT_FILE.read_text())
    current = snapshot_figures(_rows(results))
    missing = sorted(set(current) - set(committed))
    assert not missing, f"figures with no committed value in {SNAPSHOT_FILE}: {missing}"
    changes = check_snapshot(current, {k: v for k, v in committed.items() if k in current})
    assert not changes, "gas moved (update bench/results/gas/snapshot.json if intended):\n" + "\n".join(
        str(change) for change in changes
    )


def test_snapshot_check_reports_old_new_and_difference() -> None:
    changes = check_snapshot({"a": 110, "b": 5}, {"a": 100, "b": 5, "c": 7})
    assert changes == [SnapshotChange("a", 100, 110), SnapshotChange("c", 7, None)]
    assert str(changes[0]) == "a: old 100, new 110, difference +10 (+10.00%)"


def test_outputs_are_written_with_money(results: list[ChainResult], tmp_path) -> None:
    written = gas.write_outputs(results, tmp_path, "test", 1.0, gas_price=20, eth_usd=3000)
    names = {path.name for path in written}
    assert {"gas.csv", "gas.md", "table_i.md", "run.json", "gas_vs_words.png", "gas_per_fork.png"} <= names
    with (tmp_path / "gas.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(_rows(results))
    row = next(r for r in rows if r["operation"] == "addData")
    assert float(row["eth"]) == pytest.approx(int(row["gas"]) * 20e9 / 1e18)
    assert float(row["usd"]) == pytest.approx(float(row["eth"]) * 3000, rel=1e-3)
    assert "177,693" in (tmp_path / "table_i.md").read_text()
    assert (tmp_path / "gas_per_fork.png").read_bytes().startswith(PNG_SIGNATURE)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["versions"]["py-evm"] and run["machine"]["cpus"]


def test_unknown_fork_is_a_clear_error() -> None:
    with pytest.raises(BenchError, match="unknown fork 'frontier'"):
        gas.run(Sweep(forks=("frontier",)))


def test_cli_refuses_eth_price_without_gas_price(tmp_path, capsys) -> None:
    from node.cli import main

    assert main(["bench", "gas", "--quick", "--eth-usd", "3000", "--out", str(tmp_path)]) == 2
    assert "--eth-usd needs --gas-price" in capsys.readouterr().err


def test_table_i_shows_optimizer_off_figures_beside_the_papers() -> None:
    figures = {"petersburg/off Table I addData agree": 150_000, "petersburg/on Table I addData agree": 90_000}
    text = gas.table_i_by_optimizer_markdown(figures)
    line = next(row for row in text.splitlines() if row.startswith("| addData agree"))
    assert line == "| addData agree | 177,693 | 150,000 | -15.6% | 90,000 | -49.4% |"
    assert "| deployment | 3,845,840 | - | - | - | - |" in text
