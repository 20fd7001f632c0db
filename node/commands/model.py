"""``sumchain model show | history | diff | revert``: a model's versions, block by block.

Every parameter of a model at any block is read from the archive state (``eth_call``
of the model's getters at that block: no block is re-executed), either through a
node over HTTP (``--rpc URL``, any Ethereum node) or in this process on a data
directory that no node holds open (``--datadir DIR``).

* ``show TRAINER --block N`` prints every parameter at block N, fixed point as reals
  (``--raw``: as the contract stores them; ``--json``, for scripts, is always as stored:
  the state ``deploy_framework`` accepts).
* ``history TRAINER`` lists every block where the model changed (an accepted update,
  a replacement, the deployment), who changed it and with which data; with
  ``--test-set`` the accuracy of each version, as a table, a CSV (``--csv``) and a PNG
  plot of accuracy over blocks (``--plot``); ``--best`` names the best version.
* ``diff TRAINER --from-block A --to-block B`` says which parameters changed and by how much.
* ``revert TRAINER --block N`` deploys a fresh model initialised with block N's
  parameters and points the trainer at it (owner only, ``replaceModel``): the chain's
  history stays whole and the later updates no longer count.

The logic lives in the SDK (:mod:`vm_contracts.versions`, which the dashboard calls
too); this module parses flags and prints. The trainer's model type and incentive
mechanism are recognised from the deployed code.

Test sets (``--test-set``) are JSON Lines, optionally gzip-compressed (``.jsonl`` or
``.jsonl.gz``), one sample per line: ``{"data": [...], "label": 0}`` where ``data`` is
in the model's on-chain encoding (feature indices for sparse models, fixed-point
integers scaled by 10^9 for dense ones). Accuracy is computed off-chain with the
models' integer twins (``vm_contracts.reference``), which match the contracts exactly.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node import options
from node.options import UsageError
from vm_contracts.versions import (
    Version,
    attach_trainer,
    best_version,
    diff_blocks,
    load_test_set,
    model_versions,
    owner_of,
    parameters,
    read_model_at,
    resolve_block,
    revert_model,
    score_versions,
)
from vm_contracts.views import human_units

# --- connecting -------------------------------------------------------------------------------


@contextmanager
def connect(rpc: str | None, datadir: Path | None) -> Iterator[Any]:
    """A ``Web3`` on a node at ``rpc`` or on the chain in ``datadir`` (in this process)."""
    from node.provider import InProcessNode
    from vm_contracts.deploy import connect as connect_url
    from vm_contracts.errors import NodeUnreachable

    if (rpc is None) == (datadir is None):
        raise UsageError("give exactly one of --rpc URL (a running node) or --datadir DIR")
    if rpc is not None:
        try:
            w3 = connect_url(rpc)
        except NodeUnreachable as exc:
            raise UsageError(str(exc)) from None
        yield w3
        return
    assert datadir is not None
    if not (datadir / "sumchain.json").is_file():
        raise UsageError(f"{datadir} is not a sumchain data directory (no sumchain.json)")
    from chain.errors import DataDirError

    try:
        node = InProcessNode.create(data_dir=datadir)
    except DataDirError as exc:
        raise UsageError(f"{exc}; while a node runs on it, use --rpc URL") from None
    try:
        yield node.w3
    finally:
        node.close()


# --- commands ---------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trainer", help="address of the CollaborativeTrainer")
    options.add_rpc(parser, "JSON-RPC URL of a running node")
    options.add_datadir(
        parser, "data directory of a stopped sumchain node (read in this process)", metavar="DIR"
    )


T = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # a trainer's address, in the examples
RPC = "--rpc http://127.0.0.1:8545"


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "model",
        help="a model's versions: show, history, diff, revert",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=options.examples(
            f"sumchain model show {T} --block 12 {RPC}",
            f"sumchain model history {T} --test-set test.jsonl --best {RPC}",
            f"sumchain model diff {T} --from-block 12 --to-block latest --datadir ./data",
            f"sumchain model revert {T} --block 12 {RPC}",
        ),
    )
    commands = parser.add_subparsers(dest="model_command", metavar="ACTION")
    commands.required = True

    show = commands.add_parser(
        "show",
        help="every parameter at a block",
        epilog=options.examples(
            f"sumchain model show {T} --block 12 {RPC}",
            f"sumchain model show {T} --raw --datadir ./data    # the head's, fixed point as stored",
            f"sumchain model show {T} --json --datadir ./data   # as JSON",
        ),
    )
    _common(show)
    show.add_argument("--block", default="latest", help="number or tag (default latest)")
    show.add_argument("--raw", action="store_true", help="fixed-point parameters as stored (x 10^9)")
    show.add_argument(
        "--json", action="store_true", help="print JSON (as stored: what deploy_framework accepts)"
    )
    show.set_defaults(func=run_show)

    history = commands.add_parser(
        "history",
        help="every block where the model changed",
        epilog=options.examples(
            f"sumchain model history {T} {RPC}",
            f"sumchain model history {T} --test-set test.jsonl --best --csv v.csv --plot v.png {RPC}",
            f"sumchain model history {T} --to-block 100 --json --datadir ./data",
        ),
    )
    _common(history)
    history.add_argument("--to-block", default="latest", metavar="N", help="last block to look at")
    history.add_argument(
        "--test-set",
        type=Path,
        metavar="PATH",
        help='.jsonl(.gz) of {"data": [...], "label": n} to score each version',
    )
    history.add_argument("--best", action="store_true", help="name the most accurate version")
    history.add_argument("--csv", type=Path, metavar="FILE", help="write the versions as CSV")
    history.add_argument("--plot", type=Path, metavar="FILE", help="write accuracy over blocks as PNG")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(func=run_history)

    diff = commands.add_parser(
        "diff",
        help="which parameters changed between two blocks",
        epilog=options.examples(
            f"sumchain model diff {T} --from-block 12 --to-block latest {RPC}",
            f"sumchain model diff {T} --from-block 12 --to-block 40 --json --datadir ./data",
        ),
    )
    _common(diff)
    diff.add_argument("--from-block", metavar="A", help="block A (number or tag)")
    diff.add_argument("--to-block", metavar="B", help="block B (number or tag)")
    options.add_deprecated(diff, "--from", "--from-block", "from_block")
    options.add_deprecated(diff, "--to", "--to-block", "to_block")
    diff.add_argument("--json", action="store_true", help="print JSON")
    diff.set_defaults(func=run_diff)

    revert = commands.add_parser(
        "revert",
        help="point the trainer at a fresh copy of block N's model",
        epilog=options.examples(
            f"sumchain model revert {T} --block 12 {RPC}                # the owner is a dev account",
            f"sumchain model revert {T} --block 12 --private-key-file owner.key {RPC}",
        ),
    )
    _common(revert)
    revert.add_argument("--block", help="the block whose model to restore (number or tag)")
    options.add_deprecated(revert, "--to-block", "--block", "block")
    revert.add_argument(
        "--from",
        dest="sender",
        metavar="ADDRESS",
        help="owner account the node signs for (default: the trainer's owner)",
    )
    revert.add_argument(
        "--private-key-file",
        type=Path,
        metavar="FILE",
        help="file holding the owner's private key as hex (signs locally)",
    )
    revert.set_defaults(func=run_revert)


def run_show(args: argparse.Namespace) -> int:
    with connect(args.rpc, args.datadir) as w3:
        number = resolve_block(w3, args.block)
        framework = attach_trainer(w3, args.trainer, number)
        state = read_model_at(framework, number)
    if args.json:
        print(json.dumps(state, indent=1))
        return 0
    print(f"{state['model']} at {state['address']}, block {number}")
    shown = state if args.raw else human_units(state)
    for name, value in parameters(shown).items():
        print(f"  {name}: {_short(value)}")
    return 0


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 12 and not isinstance(value[0], list):
        return f"[{', '.join(str(v) for v in value[:12])}, ... ({len(value)} values)]"
    if isinstance(value, list) and value and isinstance(value[0], list):
        return "[" + ", ".join(_short(row) for row in value) + "]"
    return str(value)


def run_history(args: argparse.Namespace) -> int:
    test_set = load_test_set(args.test_set) if args.test_set else None
    if args.best and test_set is None:
        raise UsageError("--best needs --test-set")
    with connect(args.rpc, args.datadir) as w3:
        to_block = resolve_block(w3, args.to_block)
        framework = attach_trainer(w3, args.trainer, to_block)
        versions = model_versions(framework, to_block)
        if test_set is not None:
            score_versions(framework, versions, test_set)
    if args.json:
        print(json.dumps([_version_json(v) for v in versions], indent=1))
    else:
        _print_versions(versions)
    if args.csv:
        _write_csv(args.csv, versions)
        print(f"wrote {args.csv}")
    if args.plot:
        if test_set is None:
            raise UsageError("--plot needs --test-set (it plots accuracy over blocks)")
        _write_plot(args.plot, versions, framework.address)
        print(f"wrote {args.plot}")
    if args.best:
        best = best_version(versions)
        print(f"best: block {best.block} (accuracy {best.accuracy:.4f})")
    return 0


def _version_json(version: Version) -> dict[str, Any]:
    return {
        "block": version.block,
        "kind": version.kind,
        "accuracy": version.accuracy,
        "changes": [
            {"by": who, "label": label, "data": data, "transaction": tx}
            for who, label, data, tx in version.changes
        ],
    }


def _print_versions(versions: Sequence[Version]) -> None:
    print(f"{'block':>8}  {'kind':<9} {'accuracy':>8}  changed by (label: data)")
    for v in versions:
        score = f"{v.accuracy:.4f}" if v.accuracy is not None else "-"
        who = (
            "; ".join(
                f"{c[0]}" + (f" ({c[1]}: {_short(c[2])})" if c[2] is not None else "") for c in v.changes
            )
            or "-"
        )
        print(f"{v.block:>8}  {v.kind:<9} {score:>8}  {who}")


def _write_csv(path: Path, versions: Sequence[Version]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["block", "kind", "accuracy", "changed_by", "labels", "data", "transactions"])
        for v in versions:
            writer.writerow(
                [
                    v.block,
                    v.kind,
                    "" if v.accuracy is None else f"{v.accuracy:.6f}",
                    " ".join(c[0] for c in v.changes),
                    " ".join("" if c[1] is None else str(c[1]) for c in v.changes),
                    " | ".join("" if c[2] is None else " ".join(map(str, c[2])) for c in v.changes),
                    " ".join(c[3] for c in v.changes),
                ]
            )


def _write_plot(path: Path, versions: Sequence[Version], trainer: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = [v.block for v in versions]
    scores = [v.accuracy if v.accuracy is not None else float("nan") for v in versions]
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.step(blocks, scores, where="post", marker="o", markersize=3)
    for v in versions:
        if v.kind == "replaced":
            axes.axvline(v.block, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("block")
    axes.set_ylabel("accuracy on the test set")
    axes.set_title(f"model of trainer {trainer[:10]}…, version by version")
    axes.set_ylim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_diff(args: argparse.Namespace) -> int:
    options.require(args, from_block="--from-block", to_block="--to-block")
    with connect(args.rpc, args.datadir) as w3:
        a = resolve_block(w3, args.from_block)
        b = resolve_block(w3, args.to_block)
        framework = attach_trainer(w3, args.trainer, max(a, b))
        changes = diff_blocks(framework, a, b)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "parameter": c.name,
                        "changed": c.changed,
                        "size": c.size,
                        "max_abs_delta": c.max_abs_delta,
                        "l1_delta": c.l1_delta,
                        "top": [{"index": list(i), "before": x, "after": y} for i, x, y in c.top],
                    }
                    for c in changes
                ],
                indent=1,
            )
        )
        return 0
    if not changes:
        print(f"no parameter changed between block {a} and block {b}")
        return 0
    print(f"{'parameter':<16} {'changed':>9} {'max |delta|':>14} {'sum |delta|':>14}  largest changes")
    for c in changes:
        top = ", ".join(f"{list(i) if i else ''}{x}->{y}" for i, x, y in c.top)
        print(f"{c.name:<16} {c.changed:>4}/{c.size:<4} {c.max_abs_delta:>14} {c.l1_delta:>14}  {top}")
    return 0


def run_revert(args: argparse.Namespace) -> int:
    options.require(args, block="--block")
    with connect(args.rpc, args.datadir) as w3:
        number = resolve_block(w3, args.block)
        framework = attach_trainer(w3, args.trainer)
        account = _owner_account(w3, framework, args)
        reverted = revert_model(framework, number, account)
    print(
        f"trainer {reverted.trainer} now uses model {reverted.new_model} (block {reverted.block}), "
        f"a copy of the model at block {reverted.from_block}"
    )
    return 0


def _owner_account(w3: Any, framework: Any, args: argparse.Namespace) -> Any:
    if args.private_key_file is not None:
        from eth_account import Account

        return Account.from_key(options.read_key(args.private_key_file))
    owner = owner_of(framework)
    sender = args.sender or owner
    if sender.lower() != owner.lower():
        raise UsageError(f"only the trainer's owner {owner} may replace its model, not {sender}")
    managed = {a.lower() for a in w3.eth.accounts}
    if sender.lower() not in managed:
        raise UsageError(f"the node does not sign for the owner {owner}; give --private-key-file")
    return owner
