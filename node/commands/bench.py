"""``sumchain bench gas``: the gas each model update costs, and where it goes.

The measurement lives in ``bench.gas`` (see its docstring); this module only adds the
command and its flags. Errors a user can fix (``bench.gas.BenchError``, a ChainError)
become one line on stderr through ``node.cli``.
"""

from __future__ import annotations

import argparse
import sys


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from bench.gas import add_arguments
    from node import options

    parser = subparsers.add_parser(
        "bench",
        help="benchmarks (gas per model update)",
        epilog=options.examples("sumchain bench gas --quick --check-snapshot --out out/gas"),
    )
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", parser_class=type(parser))
    benches.required = True
    gas = benches.add_parser(
        "gas",
        help="gas of deployments, addData, refund and report across forks",
        description="Measure gas as real transactions on sumchain, split into parts from a "
        "call trace; --verify replays every transaction on EDR (and anvil).",
        epilog=options.examples(
            "sumchain bench gas --quick --check-snapshot --out out/gas   # two forks, ~10 s",
            "sumchain bench gas --forks cancun --models SparsePerceptron --words 1,15,50 --out out/gas",
            "sumchain bench gas --out out/gas --verify                   # replayed on EDR and anvil",
        ),
    )
    add_arguments(gas)
    gas.set_defaults(func=_gas)


def _gas(args: argparse.Namespace) -> int:
    from bench.gas import main_with_args

    return main_with_args(args, "sumchain " + " ".join(sys.argv[1:]))
