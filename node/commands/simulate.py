"""``sumchain simulate imdb`` and ``sumchain sweep``: the papers' experiments on chain.

``simulate imdb`` runs Harris & Waggoner's honest-vs-malicious experiment as real
transactions (``bench.simulate``) and writes a CSV, a PNG and a JSON summary.
``sweep`` runs Ding & Hu's parameter study (``bench.sweep``), each point on its own
chain, on a local process pool or on Ray (``--ray ADDRESS``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.outputs import default_out, out_help
from bench.provenance import command_line
from node import options
from node.commands import market


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    from bench.simulate import INCENTIVE_CHOICES, MODEL_CHOICES

    parser.add_argument(
        "--imdb",
        type=Path,
        required=True,
        help="IMDB: an aclImdb folder, aclImdb_v1.tar.gz, or a folder of .jsonl.gz splits",
    )
    parser.add_argument("--model", choices=sorted(MODEL_CHOICES), default="perceptron")
    parser.add_argument("--incentive", choices=INCENTIVE_CHOICES, default="Stakeable")
    parser.add_argument("--seed", type=int, default=0, help="seeds data order and agents (default 0)")
    parser.add_argument(
        "--train-limit",
        type=_positive_int,
        metavar="N",
        help="keep N training reviews (default: all 25,000)",
    )
    parser.add_argument(
        "--test-limit",
        type=_positive_int,
        metavar="N",
        help="keep N test reviews (default: all 25,000)",
    )
    parser.add_argument(
        "--eval-every-days",
        type=_positive_float,
        default=None,
        metavar="DAYS",
        help="simulated days between accuracy measurements (default: the profile's; 0.25 for sweeps)",
    )
    parser.add_argument("--out", type=Path, default=None, help=out_help("<experiment>"))


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    simulate = subparsers.add_parser(
        "simulate",
        help="run a paper's experiment as real transactions",
        description="Honest and malicious agents add, refund and report data on a fresh "
        "in-process chain, or on any dev node over JSON-RPC (--rpc URL: sumchain devnet, anvil, "
        "Hardhat); simulated time moves with the chain's clock.",
        epilog=options.examples(
            "sumchain simulate imdb --imdb ./aclImdb",
            "sumchain simulate market --imdb ./aclImdb",
        ),
    )
    experiments = simulate.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    experiments.required = True
    imdb = experiments.add_parser(
        "imdb",
        help="Harris & Waggoner 2019 Fig. 3 on IMDB",
        epilog=options.examples(
            "sumchain simulate imdb --imdb ./aclImdb                        # the 'paper' rules",
            "sumchain simulate imdb --imdb ./aclImdb --off-chain --profile legacy --vocab-size 500",
            "sumchain simulate imdb --imdb ./aclImdb --rpc http://127.0.0.1:8545 --max-days 30",
        ),
    )
    market.add_experiment(experiments)
    _common(imdb)
    imdb.add_argument(
        "--profile",
        choices=("paper", "legacy"),
        default="paper",
        help="rules of the run: 'paper' (the original framework's simulation, default) or "
        "'legacy' (sumchain's first rules); every rule is written to the JSON",
    )
    imdb.add_argument(
        "--off-chain",
        action="store_true",
        help="run with the exact off-chain engine (the twins alone, no transactions)",
    )
    imdb.add_argument(
        "--rpc",
        metavar="URL",
        help="run on the node at URL over JSON-RPC (a dev node: unlocked funded account, "
        "evm_mine, evm_setNextBlockTimestamp); default: a fresh in-process sumchain",
    )
    imdb.add_argument(
        "--vocab-size",
        dest="words",
        type=_positive_int,
        default=1000,
        metavar="WORDS",
        help="vocabulary size in words (default 1000)",
    )
    options.add_deprecated(imdb, "--words", "--vocab-size", "words", type=_positive_int)
    imdb.add_argument(
        "--initial-fraction",
        type=_fraction,
        default=0.08,
        help="share of the training set the deployed model is trained on (default 0.08)",
    )
    imdb.add_argument(
        "--max-days",
        type=_positive_float,
        metavar="DAYS",
        help="stop after this many simulated days",
    )
    imdb.add_argument("--name", help="file name stem of the outputs (default: derived from the settings)")
    imdb.set_defaults(func=run_simulate)

    sweep = subparsers.add_parser(
        "sweep",
        help="Ding & Hu's parameter study, each point on its own chain",
        description="Vary one parameter at a time around the Fig. 3 setting; report accuracy "
        "after the simulation, its gap to a model trained on all good data, and the "
        "days until the malicious agent is exhausted.",
        epilog=options.examples(
            "sumchain sweep --imdb ./aclImdb --ray local",
            "sumchain sweep --imdb ./aclImdb --param words=250,500,1000 --off-chain --seeds 0,1,2",
        ),
    )
    _common(sweep)
    sweep.add_argument(
        "--param",
        action="append",
        metavar="NAME=V1,V2,...",
        help="a parameter and its values: words, initial_fraction, honest_mean_deposit, "
        "cost_weight (repeatable; default: Ding & Hu's four ranges)",
    )
    sweep.add_argument(
        "--workers", type=_positive_int, help="processes in the local pool (default: CPU count)"
    )
    sweep.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run points on Ray at ADDRESS ('local' starts Ray in this process)",
    )
    sweep.add_argument("--max-days", type=_positive_float, metavar="DAYS", help="stop each point after DAYS")
    sweep.add_argument(
        "--profile",
        choices=("paper", "legacy"),
        default="legacy",
        help="rules of every point (default legacy); 'paper' with no --param runs Ding & Hu's "
        "full grids on the square-root law",
    )
    sweep.add_argument("--seeds", metavar="S1,S2,...", help="seeds per point (default: --seed alone)")
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="take the rows of an earlier sweep in --out whose whole configuration matches a point "
        "(the sweep's files are rewritten after every point, so a stopped sweep resumes)",
    )
    sweep.add_argument(
        "--off-chain",
        action="store_true",
        help="run the points with the exact off-chain engine (no transactions)",
    )
    sweep.set_defaults(func=run_sweep)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_simulate(args: argparse.Namespace) -> int:
    from bench.simulate import SimulationError, profile_config, simulate, write_outputs

    changes = {}
    if args.eval_every_days is not None:
        changes["eval_every_s"] = max(1, int(args.eval_every_days * 86_400))
    config = profile_config(
        args.profile,
        model=args.model,
        incentive=args.incentive,
        words=args.words,
        initial_fraction=args.initial_fraction,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        seed=args.seed,
        **changes,
    )
    config.check()
    if args.rpc is not None and args.off_chain:
        raise SimulationError("--rpc and --off-chain exclude each other: the off-chain engine uses no node")
    stem = args.name or (
        f"imdb-{args.model}-{args.incentive.lower()}-{args.profile}-seed{args.seed}"
        + ("-offchain" if args.off_chain else "")
    )
    command = command_line("sumchain", sys.argv[1:])
    out = args.out if args.out is not None else default_out(stem)
    print(f"writing to {out.resolve()}", file=sys.stderr, flush=True)

    def checkpoint(result):  # type: ignore[no-untyped-def]
        write_outputs(result, out, stem, command + "  (checkpoint: run still in progress)")

    result = simulate(
        args.imdb,
        config,
        progress=_progress,
        checkpoint=checkpoint,
        max_days=args.max_days,
        on_chain=not args.off_chain,
        rpc=args.rpc,
    )
    paths = write_outputs(result, out, stem, command)
    last = result.rows[-1]
    print(
        f"accuracy {result.initial_accuracy:.4f} -> {result.final_accuracy:.4f} "
        f"(all good data: {result.good_data_accuracy:.4f}); balances after {last['day']:.1f} days: "
        f"honest {last['honest']:.1f}, malicious {last['malicious']:.1f}"
        f"{'%' if args.incentive == 'Stakeable' else ' points'}"
    )
    for name, gas in result.gas.items():
        print(f"{name}: {gas['gas_used']} gas ({gas['gas_paid_wei']} wei), transactions {gas['txs']}")
    print(
        f"{result.txs} transactions in {result.blocks} blocks, {result.wall_s:.1f} s wall "
        f"({result.tx_per_s:.2f} tx/s)"
    )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from bench.simulate import SimulationError, profile_config
    from bench.sweep import DING_HU_GRIDS, parse_params, reusable_rows, write_sweep
    from bench.sweep import run_sweep as sweep

    params = parse_params(args.param)
    if args.profile == "paper" and not args.param:
        params = {name: list(values) for name, values in DING_HU_GRIDS.items()}
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    except ValueError:
        raise SimulationError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
    changes = {}
    if args.eval_every_days is not None or args.profile == "legacy":
        changes["eval_every_s"] = max(1, int((args.eval_every_days or 0.25) * 86_400))
    base = profile_config(
        args.profile,
        model=args.model,
        incentive=args.incentive,
        seed=args.seed,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        **changes,
    )
    command = command_line("sumchain", sys.argv[1:])
    out = args.out if args.out is not None else default_out("sweep")
    done = reusable_rows(out / "sweep.json") if args.resume else []
    points = sweep(
        args.imdb,
        params,
        model=args.model,
        incentive=args.incentive,
        seed=args.seed,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        eval_every_s=max(1, int((args.eval_every_days or 0.25) * 86_400)),
        max_days=args.max_days,
        workers=args.workers,
        ray_address=args.ray,
        progress=_progress,
        base=base,
        seeds=seeds,
        on_chain=not args.off_chain,
        done=done,
        on_row=lambda rows: write_sweep(rows, out, command),
    )
    paths = write_sweep(points, out, command)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
