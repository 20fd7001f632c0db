"""``sumchain model show | history | diff | revert``: a model's versions, block by block.

Every parameter of a model at any block is read from the archive state (``eth_call``
of the model's getters at that block: no block is re-executed), either through a
node over HTTP (``--rpc URL``, any Ethereum node) or in this process on a data
directory that no node holds open (``--datadir DIR``).

* ``show TRAINER --block N`` prints every parameter at block N (``--json`` for scripts).
* ``history TRAINER`` lists every block where the model changed (an accepted update,
  a replacement, the deployment), who changed it and with which data; with
  ``--test-set`` the accuracy of each version, as a table, a CSV (``--csv``) and a PNG
  plot of accuracy over blocks (``--plot``); ``--best`` names the best version.
* ``diff TRAINER --from A --to B`` says which parameters changed and by how much.
* ``revert TRAINER --to-block N`` deploys a fresh model initialised with block N's
  parameters and points the trainer at it (owner only, ``replaceModel``): the chain's
  history stays whole and the later updates no longer count.

The trainer's model type and incentive mechanism are recognised from the deployed
code, compared against the committed artifacts of every EVM version.

Test sets (``--test-set``) are JSON Lines, optionally gzip-compressed (``.jsonl`` or
``.jsonl.gz``), one sample per line: ``{"data": [...], "label": 0}`` where ``data`` is
in the model's on-chain encoding (feature indices for sparse models, fixed-point
integers scaled by 10^9 for dense ones). Accuracy is computed off-chain with the
models' integer twins (``vm_contracts.reference``), which match the contracts exactly.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.cli import UsageError

TAGS = ("latest", "earliest", "pending", "safe", "finalized")
ZERO_BYTE = 0
MODEL_UPDATED_SIGNATURE = "ModelUpdated(uint64)"
MODEL_REPLACED_SIGNATURE = "ModelReplaced(address,address)"
DATA_ADDED_SIGNATURE = "DataAdded(address,uint64,uint256,uint256,int64[])"
META_KEYS = ("model", "address", "block")  # keys read_model adds beside the parameters
DIFF_TOP = 5  # entries listed per changed array in a diff


# --- connecting -------------------------------------------------------------------------------


@contextmanager
def connect(rpc: str | None, datadir: Path | None) -> Iterator[Any]:
    """A ``Web3`` on a node at ``rpc`` or on the chain in ``datadir`` (in this process)."""
    from node.provider import InProcessNode, poa_web3

    if (rpc is None) == (datadir is None):
        raise UsageError("give exactly one of --rpc URL (a running node) or --datadir DIR")
    if rpc is not None:
        from web3 import HTTPProvider

        w3 = poa_web3(HTTPProvider(rpc))
        try:
            _ = w3.eth.block_number
        except Exception as exc:  # noqa: BLE001 - connection errors come in many kinds
            raise UsageError(f"cannot reach a node at {rpc} ({type(exc).__name__})") from None
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


def resolve_block(w3: Any, block: str | int) -> int:
    """A block number from a number or tag, refusing one beyond the head."""
    head = int(w3.eth.block_number)
    if isinstance(block, str):
        if block in ("latest", "pending", "safe", "finalized"):
            return head
        if block == "earliest":
            return 0
        try:
            block = int(block, 0)
        except ValueError:
            raise UsageError(
                f"not a block number or tag: {block!r} (tags: {', '.join(TAGS)})"
            ) from None
    if block < 0:
        raise UsageError(f"block {block} is negative")
    if block > head:
        raise UsageError(f"block {block} is beyond the head (block {head})")
    return block


# --- recognising a trainer ---------------------------------------------------------------------


def _code_matches(code: bytes, deployed_hex: str) -> bool:
    """Deployed code equals an artifact's runtime code, where immutables (zero
    placeholders in the artifact) may hold any value."""
    expected = bytes.fromhex(deployed_hex[2:] if deployed_hex.startswith("0x") else deployed_hex)
    if len(code) != len(expected):
        return False
    return all(a == b or b == ZERO_BYTE for a, b in zip(code, expected, strict=True))


def _which(
    code: bytes, names: Sequence[str], builds: Sequence[tuple[str, bool]]
) -> tuple[str, str, bool] | None:
    from vm_contracts.build import load_artifact

    for evm, optimized in builds:
        for name in names:
            if _code_matches(code, load_artifact(name, evm, optimized)["deployedBytecode"]):
                return name, evm, optimized
    return None


def attach_trainer(w3: Any, trainer: str, block: int | None = None) -> Any:
    """A :class:`vm_contracts.client.Framework` for the trainer at ``trainer``, its model
    and mechanism recognised from their code; a clear error when there is no trainer."""
    from web3 import Web3

    from vm_contracts.build import EVM_VERSIONS
    from vm_contracts.client import INCENTIVES, MODELS, Framework, artifact_from_json

    if not Web3.is_address(trainer):
        raise UsageError(f"not an address: {trainer!r}")
    address = Web3.to_checksum_address(trainer)
    at = "latest" if block is None else block
    code = bytes(w3.eth.get_code(address, block_identifier=at))
    if not code:
        raise UsageError(
            f"no contract at {address}" + (f" at block {block}" if block is not None else "")
        )
    builds = [(evm, opt) for evm in reversed(EVM_VERSIONS) for opt in (True, False)]
    found = _which(code, ["CollaborativeTrainer"], builds)
    if found is None:
        raise UsageError(f"the contract at {address} is not a CollaborativeTrainer")
    _, evm, optimized = found
    probe = w3.eth.contract(address=address, abi=_trainer_abi(evm, optimized))
    model_address = probe.functions.model().call(block_identifier=at)
    incentive_address = probe.functions.incentiveMechanism().call(block_identifier=at)
    model = _which(
        bytes(w3.eth.get_code(model_address, block_identifier=at)), MODELS, [(evm, optimized)]
    )
    incentive = _which(
        bytes(w3.eth.get_code(incentive_address, block_identifier=at)),
        INCENTIVES,
        [(evm, optimized)],
    )
    if model is None or incentive is None:
        raise UsageError(
            f"the trainer at {address} uses a model or incentive mechanism "
            "this sumchain does not know"
        )

    def loader(name: str) -> Any:
        from vm_contracts.build import load_artifact

        return artifact_from_json(name, load_artifact(name, evm, optimized))

    return Framework.attach(
        w3, address, model[0], incentive[0], evm_version=evm, artifact_loader=loader
    )


def _trainer_abi(evm: str, optimized: bool) -> list[dict[str, Any]]:
    from vm_contracts.build import load_artifact

    return load_artifact("CollaborativeTrainer", evm, optimized)["abi"]


def first_block_with_code(w3: Any, address: str, head: int) -> int:
    """The block that deployed ``address`` (the first with code), by bisection over the
    archive: about log2(head) reads."""
    low, high = 0, head
    while low < high:
        mid = (low + high) // 2
        if w3.eth.get_code(address, block_identifier=mid):
            high = mid
        else:
            low = mid + 1
    return low


# --- parameters -----------------------------------------------------------------------------


def parameters(state: Mapping[str, Any]) -> dict[str, Any]:
    """The model's parameters from a ``read_model`` dict (without model/address/block)."""
    return {k: v for k, v in state.items() if k not in META_KEYS}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def reference_model(state: Mapping[str, Any]) -> Any:
    """The off-chain integer twin of a model read at some block."""
    from vm_contracts import reference

    twin = getattr(reference, state["model"])
    return twin.from_parameters({_camel(k): v for k, v in parameters(state).items()})


@dataclass(frozen=True)
class TestSet:
    """Samples in the model's on-chain encoding with their labels, from a JSON Lines file."""

    __test__ = False  # not a pytest test class, despite the name

    path: Path
    data: list[list[int]]
    labels: list[int]


def load_test_set(path: str | Path) -> TestSet:
    """Read a ``.jsonl`` / ``.jsonl.gz`` test set of ``{"data": [...], "label": int}``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    data: list[list[int]] = []
    labels: list[int] = []
    try:
        with opener(path, "rt") as stream:  # type: ignore[operator]
            for line_number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    sample = [int(v) for v in row["data"]]
                    label = int(row["label"])
                except (ValueError, KeyError, TypeError):
                    raise UsageError(
                        f'{path}:{line_number}: expected {{"data": [integers], "label": integer}}'
                    ) from None
                data.append(sample)
                labels.append(label)
    except OSError as exc:
        raise UsageError(f"test set {path}: cannot read ({exc.strerror or exc})") from None
    if not labels:
        raise UsageError(f"test set {path}: no samples")
    return TestSet(path, data, labels)


def accuracy(state: Mapping[str, Any], test_set: TestSet) -> float:
    """Share of the test set the model of ``state`` classifies correctly."""
    model = reference_model(state)
    right = sum(
        1 for x, y in zip(test_set.data, test_set.labels, strict=True) if model.predict(x) == y
    )
    return right / len(test_set.labels)


# --- versions ---------------------------------------------------------------------------------


@dataclass
class Version:
    """One version of a model: the state after ``block``.

    Fields:
        block: the block whose state this version is.
        kind: "deployed", "update" (accepted samples changed it) or "replaced".
        changes: per change in the block, (contributor or owner address, label or None,
            data or None, transaction hash hex).
        accuracy: share of the test set classified right, when a test set was given.
    """

    block: int
    kind: str
    changes: list[tuple[str, int | None, list[int] | None, str]] = field(default_factory=list)
    accuracy: float | None = None


def model_versions(framework: Any, to_block: int) -> list[Version]:
    """Every block up to ``to_block`` where the trainer's model changed, from events alone."""
    from eth_utils import keccak

    w3 = framework.w3
    trainer = framework.address
    deployed = first_block_with_code(w3, trainer, to_block)
    versions: dict[int, Version] = {deployed: Version(deployed, "deployed")}
    data_added: dict[bytes, list[tuple[str, int | None, list[int] | None]]] = {}
    for event in framework.trainer.events.DataAdded.get_logs(
        from_block=deployed, to_block=to_block
    ):
        args = event["args"]
        data_added.setdefault(bytes(event["transactionHash"]), []).append(
            (args["contributor"], int(args["label"]), [int(v) for v in args["data"]])
        )
    models = {framework.trainer.functions.model().call(block_identifier=deployed)}
    for event in framework.trainer.events.ModelReplaced.get_logs(
        from_block=deployed, to_block=to_block
    ):
        number = int(event["blockNumber"])
        version = versions.setdefault(number, Version(number, "replaced"))
        version.kind = "replaced"
        tx = w3.eth.get_transaction(event["transactionHash"])
        version.changes.append(
            (tx["from"], None, None, "0x" + bytes(event["transactionHash"]).hex())
        )
        models.add(event["args"]["newModel"])
    topic = "0x" + keccak(text=MODEL_UPDATED_SIGNATURE).hex()
    logs = w3.eth.get_logs(
        {"fromBlock": deployed, "toBlock": to_block, "address": sorted(models), "topics": [topic]}
    )
    for log in logs:
        number = int(log["blockNumber"])
        tx_hash = bytes(log["transactionHash"])
        version = versions.setdefault(number, Version(number, "update"))
        for contributor, label, data in data_added.get(tx_hash, [("?", None, None)]):
            change = (contributor, label, data, "0x" + tx_hash.hex())
            if change not in version.changes:
                version.changes.append(change)
    return [versions[n] for n in sorted(versions)]


def best_version(versions: Sequence[Version]) -> Version:
    """The most accurate version; the earliest of equals."""
    scored = [v for v in versions if v.accuracy is not None]
    if not scored:
        raise UsageError("--best needs --test-set")
    return max(scored, key=lambda v: (v.accuracy, -v.block))


# --- diff ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterChange:
    """How one parameter differs between two versions.

    Fields:
        name: the parameter (``weights``, ``feature_counts``, ...).
        changed: entries that differ (1 for a scalar).
        size: entries in total (1 for a scalar).
        max_abs_delta: the largest absolute change (raw integers, fixed point where the
            model uses it).
        l1_delta: sum of the absolute changes.
        top: up to ``DIFF_TOP`` (index, before, after) of the largest changes; index is
            a tuple for nested arrays, () for a scalar.
    """

    name: str
    changed: int
    size: int
    max_abs_delta: int
    l1_delta: int
    top: tuple[tuple[tuple[int, ...], int, int], ...]


def _flatten(value: Any, prefix: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], int]]:
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _flatten(item, (*prefix, index))
    else:
        yield prefix, int(value)


def diff_states(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[ParameterChange]:
    """The parameters that differ between two model states, largest changes first."""
    if before.get("model") != after.get("model"):
        raise UsageError(f"cannot compare a {before.get('model')} with a {after.get('model')}")
    out = []
    for name in sorted(set(parameters(before)) | set(parameters(after))):
        old = dict(_flatten(before.get(name, 0)))
        new = dict(_flatten(after.get(name, 0)))
        deltas = [
            (index, old.get(index, 0), new.get(index, 0))
            for index in sorted(set(old) | set(new))
            if old.get(index, 0) != new.get(index, 0)
        ]
        if not deltas:
            continue
        deltas.sort(key=lambda d: -abs(d[2] - d[1]))
        out.append(
            ParameterChange(
                name=name,
                changed=len(deltas),
                size=max(len(old), len(new)),
                max_abs_delta=abs(deltas[0][2] - deltas[0][1]),
                l1_delta=sum(abs(b - a) for _, a, b in deltas),
                top=tuple(deltas[:DIFF_TOP]),
            )
        )
    return out


# --- commands ---------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trainer", help="address of the CollaborativeTrainer")
    parser.add_argument("--rpc", metavar="URL", help="JSON-RPC URL of a running node")
    parser.add_argument(
        "--datadir",
        type=Path,
        metavar="DIR",
        help="data directory of a stopped sumchain node (read in this process)",
    )


def add(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "model",
        help="a model's versions: show, history, diff, revert",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    commands = parser.add_subparsers(dest="model_command", metavar="ACTION")
    commands.required = True

    show = commands.add_parser("show", help="every parameter at a block")
    _common(show)
    show.add_argument("--block", default="latest", help="number or tag (default latest)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)

    history = commands.add_parser("history", help="every block where the model changed")
    _common(history)
    history.add_argument("--to-block", default="latest", help="last block to look at")
    history.add_argument(
        "--test-set",
        type=Path,
        metavar="PATH",
        help='.jsonl(.gz) of {"data": [...], "label": n} to score each version',
    )
    history.add_argument("--best", action="store_true", help="name the most accurate version")
    history.add_argument("--csv", type=Path, metavar="FILE", help="write the versions as CSV")
    history.add_argument(
        "--plot", type=Path, metavar="FILE", help="write accuracy over blocks as PNG"
    )
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(func=run_history)

    diff = commands.add_parser("diff", help="which parameters changed between two blocks")
    _common(diff)
    diff.add_argument("--from", dest="from_block", required=True, help="block A")
    diff.add_argument("--to", dest="to_block", required=True, help="block B")
    diff.add_argument("--json", action="store_true", help="print JSON")
    diff.set_defaults(func=run_diff)

    revert = commands.add_parser(
        "revert", help="point the trainer at a fresh copy of block N's model"
    )
    _common(revert)
    revert.add_argument("--to-block", required=True, help="the block whose model to restore")
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
        state = framework.read_model(block=number)
    if args.json:
        print(json.dumps(state, indent=1))
        return 0
    print(f"{state['model']} at {state['address']}, block {number}")
    for name, value in parameters(state).items():
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
            for version in versions:
                version.accuracy = accuracy(framework.read_model(block=version.block), test_set)
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
                f"{c[0]}" + (f" ({c[1]}: {_short(c[2])})" if c[2] is not None else "")
                for c in v.changes
            )
            or "-"
        )
        print(f"{v.block:>8}  {v.kind:<9} {score:>8}  {who}")


def _write_csv(path: Path, versions: Sequence[Version]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["block", "kind", "accuracy", "changed_by", "labels", "data", "transactions"]
        )
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
    with connect(args.rpc, args.datadir) as w3:
        a = resolve_block(w3, args.from_block)
        b = resolve_block(w3, args.to_block)
        framework = attach_trainer(w3, args.trainer, max(a, b))
        before = framework.read_model(block=a)
        after = framework.read_model(block=b)
    changes = diff_states(before, after)
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
    print(
        f"{'parameter':<16} {'changed':>9} {'max |delta|':>14} {'sum |delta|':>14}  largest changes"
    )
    for c in changes:
        top = ", ".join(f"{list(i) if i else ''}{x}->{y}" for i, x, y in c.top)
        print(
            f"{c.name:<16} {c.changed:>4}/{c.size:<4} {c.max_abs_delta:>14} {c.l1_delta:>14}  {top}"
        )
    return 0


def run_revert(args: argparse.Namespace) -> int:
    with connect(args.rpc, args.datadir) as w3:
        number = resolve_block(w3, args.to_block)
        framework = attach_trainer(w3, args.trainer)
        account = _owner_account(w3, framework, args)
        state = framework.read_model(block=number)
        receipt = framework.replace_model(state, account)
        head = int(receipt["blockNumber"])
        new_address = framework.model.address
    print(
        f"trainer {framework.address} now uses model {new_address} (block {head}), "
        f"a copy of the model at block {number}"
    )
    return 0


def _owner_account(w3: Any, framework: Any, args: argparse.Namespace) -> Any:
    if args.private_key_file is not None:
        from eth_account import Account

        from node.cli import _read_key

        return Account.from_key(_read_key(args.private_key_file))
    owner = framework.trainer.functions.owner().call()
    sender = args.sender or owner
    if sender.lower() != owner.lower():
        raise UsageError(f"only the trainer's owner {owner} may replace its model, not {sender}")
    managed = {a.lower() for a in w3.eth.accounts}
    if sender.lower() not in managed:
        raise UsageError(f"the node does not sign for the owner {owner}; give --private-key-file")
    return owner
