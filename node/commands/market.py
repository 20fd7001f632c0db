"""``sumchain simulate market`` (also ``simulate-market``): one round of the bounty-funded prediction market
(PredictionMarket.sol) on IMDB, as real transactions on an in-process chain.

A provider funds the bounty and commits to a test set in parts; three honest and two
malicious contributors add the training reviews in turn; the rewards are computed on
chain in chunks and withdrawn. Writes ``market.png`` (accuracy of h(t) and balances over
the bounty rounds), ``market_gas.csv`` (gas of each phase), ``market_accuracy.csv``,
``market_balances.csv`` and ``market.md`` to ``--out``. See ``bench.market``.

    sumchain simulate market --imdb ../shared/data/imdb --out bench/results/simulation
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.outputs import default_out, out_help
from node import options
from node.options import UsageError

EXAMPLES = options.examples(
    "sumchain simulate market --imdb ./aclImdb --out ./market-run",
    "sumchain simulate market --imdb ./aclImdb --train-size 1000 --test-size 200 --vocab-size 500",
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_simulate_market(args: argparse.Namespace) -> int:
    from bench import market

    if not args.imdb.exists():
        raise UsageError(f"--imdb {args.imdb}: no such file or directory")
    settings = {
        "train_size": args.train_size,
        "test_size": args.test_size,
        "parts": args.parts,
        "initial_parts": args.initial_parts,
        "bounty_units": args.bounty,
        "vocab": args.vocab,
        "seed": args.seed,
    }
    result = market.run(args.imdb, progress=lambda line: print(line, file=sys.stderr), **settings)
    given = sys.argv[1:]
    while given and given[0] in ("simulate", "market", "simulate-market"):
        given = given[1:]
    command = "sumchain simulate market " + shlex.join(given)
    out = args.out if args.out is not None else default_out("market")
    written = market.write(result, out, command, settings)
    print(f"accuracy of h(0) {100 * result.accuracy[0]:.1f}%, of h(T) {100 * result.accuracy[-1]:.1f}%")
    for agent in market.AGENTS:
        print(
            f"{agent:12s} staked {result.stakes[agent]:6d} units, withdrew {result.owed[agent]:12.3f} units"
        )
    for name, gas in result.gas.items():
        print(
            f"gas {name:24s} {len(gas):6d} tx, total {sum(gas):14d}, mean {sum(gas) // max(len(gas), 1):10d}"
        )
    for path in written:
        print(f"wrote {path}")
    return 0


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``simulate-market``, the older spelling of ``simulate market``."""
    parser = subparsers.add_parser(
        "simulate-market",
        help="the same as: simulate market",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=options.examples(
            "sumchain simulate-market --imdb ./aclImdb   # the same as: sumchain simulate market"
        ),
    )
    arguments(parser)


def add_experiment(experiments: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``simulate market`` (``experiments``: the subparsers of ``simulate``)."""
    parser = experiments.add_parser(
        "market",
        help="one round of the prediction market on IMDB, as transactions",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EXAMPLES,
    )
    arguments(parser)


def arguments(parser: argparse.ArgumentParser) -> None:
    from bench import market

    parser.add_argument(
        "--imdb",
        type=Path,
        required=True,
        metavar="PATH",
        help="IMDB: aclImdb folder, tarball, or folder of train/test .jsonl.gz",
    )
    parser.add_argument("--out", type=Path, default=None, help=out_help("market"))
    parser.add_argument(
        "--train-size",
        type=_positive,
        default=market.DEFAULT_TRAIN_SIZE,
        help=f"contributions (default {market.DEFAULT_TRAIN_SIZE})",
    )
    parser.add_argument(
        "--test-size",
        type=_positive,
        default=market.DEFAULT_TEST_SIZE,
        help=f"test reviews (default {market.DEFAULT_TEST_SIZE})",
    )
    parser.add_argument(
        "--parts",
        type=_positive,
        default=market.DEFAULT_PARTS,
        help=f"test parts K (default {market.DEFAULT_PARTS})",
    )
    parser.add_argument(
        "--initial-parts",
        type=_positive,
        default=market.DEFAULT_INITIAL_PARTS,
        help=f"parts revealed before participation k (default {market.DEFAULT_INITIAL_PARTS})",
    )
    parser.add_argument(
        "--bounty",
        type=_positive,
        default=market.DEFAULT_BOUNTY_UNITS,
        help=f"bounty in units (default {market.DEFAULT_BOUNTY_UNITS})",
    )
    parser.add_argument(
        "--vocab-size",
        dest="vocab",
        type=_positive,
        default=market.DEFAULT_VOCAB,
        metavar="WORDS",
        help=f"vocabulary size in words (default {market.DEFAULT_VOCAB})",
    )
    options.add_deprecated(parser, "--vocab", "--vocab-size", "vocab", type=_positive)
    parser.add_argument("--seed", type=int, default=0, help="seeds the contributors' turns (default 0)")
    parser.set_defaults(func=run_simulate_market)
