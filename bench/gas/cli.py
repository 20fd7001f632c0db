"""The command line of the gas benchmark: ``sumchain bench gas`` and ``python -m bench.gas``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.gas.cases import FORKS, INCENTIVES, MODELS, QUICK, Sweep
from bench.gas.references import References
from bench.gas.report import (
    SNAPSHOT_FILE,
    check_snapshot,
    snapshot_figures,
    table_i_by_optimizer_markdown,
    table_i_markdown,
    write_outputs,
)
from bench.gas.run import run
from bench.outputs import default_out
from bench.tools import EDR_PACKAGE
from chain.errors import ChainError
from vm_contracts.errors import VmContractsError


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BenchError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise BenchError(f"expected positive integers, got {text!r}")
    return values


def _csv_names(text: str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise BenchError(f"unknown {what} {unknown or text!r}; choose from {', '.join(allowed)}")
    return values


def _grid_chains(text: str) -> tuple[tuple[str, str], ...] | None:
    if text.strip() == "all":
        return None
    chains = []
    for item in text.split(","):
        fork, _, optimizer = item.strip().partition("/")
        if fork not in FORKS or optimizer not in ("on", "off"):
            raise BenchError(f"--grid: expected fork/on or fork/off (or 'all'), got {item!r}")
        chains.append((fork, optimizer))
    return tuple(chains)


def add_arguments(parser: Any) -> None:
    """The flags of ``sumchain bench gas`` (and ``python -m bench.gas``)."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for CSV, Markdown and PNG (default: a new "
        "./sumchain-gas-<UTC time> in the current directory)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="replay every transaction on EDR (and anvil for Cancun); fail if any gas figure differs",
    )
    parser.add_argument(
        "--edr",
        type=Path,
        metavar="DIR",
        help=f"the {EDR_PACKAGE} npm package for --verify "
        "(default: ./node_modules, or the source checkout's)",
    )
    parser.add_argument(
        "--anvil",
        type=Path,
        metavar="PATH",
        help="the anvil program for --verify (default: on PATH, or in node_modules)",
    )
    parser.add_argument("--quick", action="store_true", help="a small sweep (two forks)")
    parser.add_argument("--forks", help=f"comma-separated, from {','.join(FORKS)}")
    parser.add_argument("--optimizer", choices=("on", "off", "both"), default=None)
    parser.add_argument("--models", help=f"comma-separated, from {','.join(MODELS)}")
    parser.add_argument("--incentives", help="comma-separated: Stakeable,Points")
    parser.add_argument("--features", help="feature counts of deployments, e.g. 100,1000,10000")
    parser.add_argument("--words", help="words per sparse sample, e.g. 1,15,20,50,100,500")
    parser.add_argument("--gas-price", type=float, default=None, help="gwei per gas")
    parser.add_argument("--eth-usd", type=float, default=None, help="US dollars per ether")
    parser.add_argument(
        "--grid",
        default="cancun/on",
        help="fork/optimizer chains measuring the whole grid, comma-separated, "
        "or 'all'; the others measure the Table I setting only",
    )
    parser.add_argument("--jobs", type=int, default=1, help="chains measured in parallel")
    parser.add_argument(
        "--check-snapshot", action="store_true", help=f"fail if a figure pinned in {SNAPSHOT_FILE.name} moved"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--table-i-from-snapshot",
        metavar="FILE",
        default=None,
        help=f"only write Table I, optimizer off and on, from {SNAPSHOT_FILE.name}",
    )


def sweep_from_args(args: Any) -> Sweep:

    sweep = QUICK if args.quick else Sweep()
    changes: dict[str, Any] = {}
    if args.forks:
        changes["forks"] = _csv_names(args.forks, FORKS, "fork")
    if args.optimizer:
        changes["optimizer"] = ("on", "off") if args.optimizer == "both" else (args.optimizer,)
    if args.models:
        changes["models"] = _csv_names(args.models, MODELS, "model")
    if args.incentives:
        changes["incentives"] = _csv_names(args.incentives, INCENTIVES, "incentive mechanism")
    if args.features:
        changes["feature_counts"] = _csv_ints(args.features)
    if args.words:
        changes["words"] = _csv_ints(args.words)
    if not args.quick:
        changes["grid_chains"] = _grid_chains(args.grid)
    return replace(sweep, **changes)


def main_with_args(args: Any, command: str) -> int:
    """Run the benchmark as the flags say; 0 if every check passed, 1 otherwise."""
    if getattr(args, "table_i_from_snapshot", None):
        text = table_i_by_optimizer_markdown(json.loads(SNAPSHOT_FILE.read_text()))
        Path(args.table_i_from_snapshot).write_text(text + "\n")
        print(text)
        return 0
    if args.gas_price is not None and not args.gas_price > 0:
        raise BenchError("--gas-price must be a positive number of gwei")
    if args.eth_usd is not None and args.gas_price is None:
        raise BenchError("--eth-usd needs --gas-price")
    if args.jobs < 1:
        raise BenchError("--jobs must be at least 1")
    sweep = sweep_from_args(args)
    # found before anything is measured: a missing tool refuses at once, not after the run
    references = References.find(sweep.forks, args.edr, args.anvil) if args.verify else None
    out = args.out if args.out is not None else default_out("gas")
    started = time.perf_counter()
    results = run(sweep, check=args.verify, jobs=args.jobs, verbose=not args.quiet, references=references)
    seconds = time.perf_counter() - started
    written = write_outputs(results, out, command, seconds, args.gas_price, args.eth_usd)
    rows = [row for result in results for row in result.measured.rows]
    print(table_i_markdown(rows))
    print(f"{len(rows)} rows in {seconds:.0f} s; wrote {', '.join(str(p) for p in written)}")
    print(f"results in {out.resolve()}")
    failed = False
    if args.verify:
        total = sum(sum(r.replayed.values()) for r in results)
        mismatches = [m for r in results for m in r.mismatches]
        for m in mismatches:
            print(
                f"MISMATCH {m.reference} {m.fork}/{m.optimizer} block {m.block} tx {m.index}: "
                f"sumchain {m.sumchain:,}, {m.reference} {m.other:,}",
                file=sys.stderr,
            )
        errors = [r for r in results if r.verify_error]
        for r in errors:
            print(
                f"VERIFY FAILED {r.measured.fork}/{r.measured.optimizer}: {r.verify_error}", file=sys.stderr
            )
        print(
            f"verify: {total} replayed transactions, {len(mismatches)} gas differences, "
            f"{len(errors)} chains not replayed"
        )
        failed |= bool(mismatches) or bool(errors)
    if args.check_snapshot:
        if not SNAPSHOT_FILE.is_file():
            raise BenchError(
                f"--check-snapshot: {SNAPSHOT_FILE} is missing; reinstall sumchain, or "
                "take bench/results/gas/snapshot.json from its source repository"
            )
        committed = json.loads(SNAPSHOT_FILE.read_text())
        current = snapshot_figures(rows)
        changes = check_snapshot(current, {k: v for k, v in committed.items() if k in current})
        for change in changes:
            print(f"SNAPSHOT {change}", file=sys.stderr)
        failed |= bool(changes)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    import bench.gas

    doc = bench.gas.__doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.gas", description=doc.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return main_with_args(args, "python -m bench.gas " + " ".join(sys.argv[1:] if argv is None else argv))
    except (BenchError, VmContractsError, ChainError) as exc:  # bad flags, missing tools, a failed run
        print(f"error: {exc}", file=sys.stderr)
        return 2
