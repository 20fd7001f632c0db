"""``sumchain demo``: the whole idea in under two minutes, on data that ships offline.

It starts a chain in-process (no HTTP), deploys a framework instance (a sparse
perceptron under the deposit-refund-take mechanism) whose model was trained
off-chain on a slice of a dataset bundled with scikit-learn, then has three honest
accounts add correctly labelled samples and one malicious account add flipped ones,
predicts for free, refunds and reports after the wait time, and prints the gas of
each operation and the model's accuracy on held-out data before and after.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any

DEFAULT_SEED = 7
INITIAL_FRACTION = 0.08  # of the training split, trained off-chain (the paper's 8%)
TEST_FRACTION = 0.25
HONEST_ACCOUNTS = 3
DEFAULT_GOOD = 60  # honest samples added on chain
DEFAULT_BAD = 30  # malicious (label-flipped) samples added on chain


def _examples() -> str:
    from node import options

    return options.examples(
        "sumchain demo                                 # 60 honest and 30 malicious samples",
        "sumchain demo --good 200 --bad 100 --fork shanghai --seed 1",
    )


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo",
        help="train a model on an in-process chain and print gas and accuracy",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=_examples(),
    )
    parser.add_argument(
        "--good", type=_count, default=DEFAULT_GOOD, help=f"honest samples to add (default {DEFAULT_GOOD})"
    )
    parser.add_argument(
        "--bad",
        type=_count,
        default=DEFAULT_BAD,
        help=f"label-flipped samples to add (default {DEFAULT_BAD})",
    )
    parser.add_argument("--fork", default="cancun", help="hard fork of the demo chain (default cancun)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for the data split and order")
    parser.set_defaults(func=run)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be from 0 to 10000")
    return value


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from sklearn.linear_model import Perceptron
    from tqdm import tqdm
    from web3.types import RPCEndpoint

    from chain.config import ChainConfig
    from node.provider import InProcessNode
    from vm_contracts import reference
    from vm_contracts.client import deploy_framework, state_from_sklearn
    from vm_contracts.datasets import load_default
    from vm_contracts.errors import ContractRevert

    started = time.perf_counter()
    config = ChainConfig(fork=args.fork)  # validated: a bad fork is one clear line
    data = load_default("sparse-binary")
    train, test = data.split(TEST_FRACTION, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(train))
    n_initial = max(10, int(len(train) * INITIAL_FRACTION))
    initial_rows, stream_rows = order[:n_initial], order[n_initial:]
    needed = args.good + args.bad
    if needed > len(stream_rows):
        raise _usage(f"--good + --bad must be at most {len(stream_rows)} (samples left after training)")

    print(
        f"sumchain demo: dataset {data.name!r} ({data.n_features} features, bundled with "
        f"scikit-learn), {len(train)} train / {len(test)} test samples"
    )
    x_initial = _one_hot([train.samples[i] for i in initial_rows], data.n_features)
    estimator = Perceptron(random_state=args.seed).fit(x_initial, train.labels[initial_rows])
    state = state_from_sklearn("SparsePerceptron", estimator)
    print(f"  trained a perceptron off-chain on {n_initial} samples ({INITIAL_FRACTION:.0%})")

    gas: dict[str, list[int]] = defaultdict(list)
    accuracy: list[tuple[str, float]] = []

    with InProcessNode.create(config=config) as node:
        w3 = node.w3
        owner, *others = list(w3.eth.accounts)
        honest, malicious = others[:HONEST_ACCOUNTS], others[HONEST_ACCOUNTS]
        print(f"  chain: {config.fork}, chain id {config.chain_id}, proof of authority, automine")
        framework = deploy_framework(
            w3,
            model="SparsePerceptron",
            incentive="Stakeable",
            params={"num_features": data.n_features},
            initial=state,
            account=owner,
            name="digits odd/even",
            description="sumchain demo: is the handwritten digit odd?",
            encoder="digits-bag-of-pixels/v1",
        )
        deploy_gas = sum(int(r["gasUsed"]) for _, r in framework.receipts)
        gas["deploy (model + mechanism + handler + trainer)"].append(deploy_gas)
        print(f"  deployed trainer at {framework.address} ({len(framework.receipts)} transactions)")

        def evaluate(label: str) -> None:
            params = framework.read_model()
            twin = reference.SparsePerceptron(
                params["num_features"], params["learning_rate"], params["intercept"], list(params["weights"])
            )
            pairs = zip(test.samples, test.labels, strict=True)
            hits = sum(twin.predict(list(s)) == int(y) for s, y in pairs)
            accuracy.append((label, hits / len(test)))

        evaluate("initial (off-chain training)")
        contributions: dict[str, list[Any]] = defaultdict(list)
        rows = list(stream_rows[:needed])
        for step, row in enumerate(tqdm(rows, desc="  adding data", unit="tx", leave=False)):
            sample = list(train.samples[row])
            label = int(train.labels[row])
            if step < args.good:
                who = honest[step % HONEST_ACCOUNTS]
                kind = "addData (honest)"
            else:
                who, label, kind = malicious, 1 - label, "addData (malicious, label flipped)"
            receipt = framework.add_data(sample, label, who)
            gas[kind].append(int(receipt["gasUsed"]))
            contributions[who].extend(framework.contributions_in(receipt))
            if step + 1 == args.good:
                evaluate(f"after {args.good} honest samples")
        if args.bad:
            evaluate(f"after {args.bad} malicious samples")

        probe = list(test.samples[0])
        start_call = time.perf_counter()
        predicted = framework.predict(probe)
        call_ms = (time.perf_counter() - start_call) * 1000
        print(
            f"  predict(test sample 0) = {predicted} (true {int(test.labels[0])}), "
            f"a free eth_call in {call_ms:.1f} ms"
        )

        wait = framework.incentive.functions.refundWaitTimeS().call()
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(wait) + 1])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        refunded = reported = 0
        for who in honest:
            for contribution in contributions[who]:
                try:
                    gas["refund"].append(int(framework.refund(contribution, who)["gasUsed"]))
                    refunded += 1
                except ContractRevert:
                    pass  # the model now disagrees with it: not refundable
        reporter = honest[0]
        for contribution in contributions[malicious]:
            try:
                gas["report"].append(int(framework.report(contribution, reporter)["gasUsed"]))
                reported += 1
            except ContractRevert:
                pass  # the model agrees with this flipped label, or nothing is left to take
        print(
            f"  after the {int(wait) // 3600} h wait: {refunded} honest samples refunded, "
            f"{reported} malicious samples reported"
        )
        head = node.backend.chain.head.block_number

    print()
    print(
        _table(
            ["operation", "count", "mean gas", "min", "max"],
            [
                [op, len(v), f"{statistics.mean(v):,.0f}", f"{min(v):,}", f"{max(v):,}"]
                for op, v in gas.items()
            ],
        )
    )
    print()
    print(
        _table(
            ["model version", "accuracy on held-out data"], [[label, f"{acc:.1%}"] for label, acc in accuracy]
        )
    )
    print()
    print(f"{head} blocks, {time.perf_counter() - started:.1f} s wall time")
    return 0


def _one_hot(samples: list[Any], n_features: int) -> Any:
    import numpy as np

    out = np.zeros((len(samples), n_features))
    for row, indices in enumerate(samples):
        out[row, list(indices)] = 1.0
    return out


def _usage(message: str) -> Exception:
    from node.options import UsageError

    return UsageError(message)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        padded = (
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append("  ".join(padded))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
