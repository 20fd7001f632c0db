"""A model's versions through history: find, show, list, score, diff and revert.

Public SDK functions that the CLI (``sumchain model show | history | diff | revert``)
and the dashboard (``sumchain ui``) both call. They take any ``web3.Web3`` (HTTP to any
node, or sumchain in-process), return typed results and print nothing; bad input
raises an error of :mod:`vm_contracts.errors` with a message written for a user.

Every parameter of a model at any block is read from the archive state (the model's
storage words at that block, fetched in one request by :mod:`vm_contracts.storage`: no
block is re-executed). A node that keeps no archive answers only for recent blocks;
:func:`has_archive` says which kind it is.

The trainer's model type and incentive mechanism are recognised from the deployed code,
compared against the committed artifacts of every EVM version; :func:`find_trainers`
finds every trainer on a chain from its components' ``OwnershipTransferred`` events
(each component is handed to its trainer when the framework is deployed).

Test sets are JSON Lines, optionally gzip-compressed (``.jsonl`` or ``.jsonl.gz``), one
sample per line: ``{"data": [...], "label": 0}`` where ``data`` is in the model's
on-chain encoding (feature indices for sparse models, fixed-point integers scaled by
10^9 for dense ones). Accuracy is computed off-chain with the models' integer twins
(:mod:`vm_contracts.reference`), which match the contracts exactly.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import HexStr
from eth_utils import keccak
from web3 import Web3

from vm_contracts.errors import BlockOutOfRange, ClientError, NoArchive, NotATrainer, TestSetError

TAGS = ("latest", "earliest", "pending", "safe", "finalized")
HEAD_TAGS = frozenset({"latest", "pending", "safe", "finalized"})
ZERO_BYTE = 0  # artifacts hold zero bytes where immutables go
ZERO_ADDRESS = Web3.to_checksum_address("0x" + "00" * 20)
MODEL_UPDATED_SIGNATURE = "ModelUpdated(uint64)"
MODEL_REPLACED_SIGNATURE = "ModelReplaced(address,address)"
DATA_ADDED_SIGNATURE = "DataAdded(address,uint64,uint256,uint256,int64[])"
OWNERSHIP_SIGNATURE = "OwnershipTransferred(address,address)"
META_KEYS = ("model", "address", "block")  # keys read_model adds beside the parameters
DIFF_TOP = 5  # entries listed per changed array in a diff


# --- blocks and archives ----------------------------------------------------------------------


def resolve_block(w3: Web3, block: str | int) -> int:
    """A block number from a number or tag, refusing one beyond the head."""
    head = int(w3.eth.block_number)
    if isinstance(block, str):
        if block in HEAD_TAGS:
            return head
        if block == "earliest":
            return 0
        try:
            block = int(block, 0)
        except ValueError:
            raise BlockOutOfRange(
                f"not a block number or tag: {block!r} (tags: {', '.join(TAGS)})", block
            ) from None
    if block < 0:
        raise BlockOutOfRange(f"block {block} is negative", block, head)
    if block > head:
        raise BlockOutOfRange(f"block {block} is beyond the head (block {head})", block, head)
    return block


def has_archive(w3: Web3, block: int = 0) -> bool:
    """Whether the node answers state queries at ``block`` (default genesis): an archive
    node does for every block; a pruning one (anvil ``--prune-history``, a full geth) only
    for recent ones."""
    try:
        w3.eth.get_balance(ZERO_ADDRESS, block_identifier=block)
    except Exception:  # noqa: BLE001 - nodes word "state not available" in many ways
        return False
    return True


def _archived_call(w3: Web3, block: int, read: Any) -> Any:
    try:
        return read()
    except Exception as exc:
        if not has_archive(w3, block):
            raise NoArchive(
                f"the node keeps no state for block {block} (no archive); "
                "history needs an archive node such as sumchain",
                block,
            ) from exc
        raise


# --- recognising a trainer -------------------------------------------------------------------


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


def _trainer_builds() -> list[tuple[str, bool]]:
    from vm_contracts.build import EVM_VERSIONS

    return [(evm, opt) for evm in reversed(EVM_VERSIONS) for opt in (True, False)]


def is_trainer_code(code: bytes) -> bool:
    """Whether ``code`` is the runtime code of a ``CollaborativeTrainer`` of any build."""
    return bool(code) and _which(code, ["CollaborativeTrainer"], _trainer_builds()) is not None


def attach_trainer(w3: Web3, trainer: str, block: int | None = None) -> Any:
    """A :class:`vm_contracts.client.Framework` for the trainer at ``trainer``, its model
    and mechanism recognised from their code; :class:`NotATrainer` when there is none."""
    from vm_contracts.build import load_artifact
    from vm_contracts.client import INCENTIVES, MODELS, Framework, artifact_from_json

    if not Web3.is_address(trainer):
        raise NotATrainer(f"not an address: {trainer!r}", trainer)
    address = Web3.to_checksum_address(trainer)
    at: Any = "latest" if block is None else block
    code = bytes(w3.eth.get_code(address, block_identifier=at))
    if not code:
        raise NotATrainer(
            f"no contract at {address}" + (f" at block {block}" if block is not None else ""),
            trainer,
        )
    found = _which(code, ["CollaborativeTrainer"], _trainer_builds())
    if found is None:
        raise NotATrainer(f"the contract at {address} is not a CollaborativeTrainer", trainer)
    _, evm, optimized = found
    abi = load_artifact("CollaborativeTrainer", evm, optimized)["abi"]
    probe = w3.eth.contract(address=address, abi=abi)
    model_address = probe.functions.model().call(block_identifier=at)
    incentive_address = probe.functions.incentiveMechanism().call(block_identifier=at)
    model = _which(bytes(w3.eth.get_code(model_address, block_identifier=at)), MODELS, [(evm, optimized)])
    incentive = _which(
        bytes(w3.eth.get_code(incentive_address, block_identifier=at)),
        INCENTIVES,
        [(evm, optimized)],
    )
    if model is None or incentive is None:
        raise NotATrainer(
            f"the trainer at {address} uses a model or incentive mechanism this sumchain does not know",
            trainer,
        )

    def loader(name: str) -> Any:
        return artifact_from_json(name, load_artifact(name, evm, optimized))

    return Framework.attach(w3, address, model[0], incentive[0], evm_version=evm, artifact_loader=loader)


def first_block_with_code(w3: Web3, address: str, head: int) -> int:
    """The block that deployed ``address`` (the first with code), by bisection over the
    archive: about log2(head) reads."""
    low, high = 0, head
    while low < high:
        mid = (low + high) // 2
        if w3.eth.get_code(Web3.to_checksum_address(address), block_identifier=mid):
            high = mid
        else:
            low = mid + 1
    return low


def deployment_block(w3: Web3, address: str, head: int) -> int:
    """The block that deployed the trainer at ``address``: :func:`first_block_with_code` on
    an archive node; on one without archive, the first block where a component was handed
    to the trainer (its ``OwnershipTransferred`` event, a few blocks after the deployment
    at most, and before any data could be added)."""
    if has_archive(w3, 0):
        return first_block_with_code(w3, address, head)
    topic = "0x" + keccak(text=OWNERSHIP_SIGNATURE).hex()
    owner_topic = "0x" + "00" * 12 + bytes.fromhex(Web3.to_checksum_address(address)[2:]).hex()
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": head, "topics": [topic, None, owner_topic]})
    return min((int(log["blockNumber"]) for log in logs), default=0)


def find_trainers(w3: Web3, from_block: int = 0, to_block: int | None = None) -> list[str]:
    """Every ``CollaborativeTrainer`` on the chain, in order of first appearance: the new
    owners in the components' ``OwnershipTransferred`` events whose code is a trainer's."""
    end = int(w3.eth.block_number) if to_block is None else to_block
    topic = "0x" + keccak(text=OWNERSHIP_SIGNATURE).hex()
    logs = w3.eth.get_logs({"fromBlock": from_block, "toBlock": end, "topics": [topic]})
    seen: dict[str, None] = {}
    for log in logs:
        if len(log["topics"]) < 3:
            continue
        owner = Web3.to_checksum_address(bytes(log["topics"][2])[-20:])
        seen.setdefault(owner, None)
    return [
        a
        for a in seen
        if is_trainer_code(bytes(w3.eth.get_code(Web3.to_checksum_address(a), block_identifier=end)))
    ]


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


def read_model_at(framework: Any, block: int) -> dict[str, Any]:
    """``framework.read_model(block)``, with :class:`NoArchive` when the node has no state
    for that block."""
    return _archived_call(framework.w3, block, lambda: framework.read_model(block=block))


@dataclass(frozen=True)
class TestSet:
    """Samples in the model's on-chain encoding with their labels.

    Fields:
        path: where they were read from (a name only, for sets built in memory).
        data: one list of int64 values per sample (feature indices or fixed point).
        labels: the class of each sample.
    """

    __test__ = False  # not a pytest test class, despite the name

    path: Path
    data: list[list[int]]
    labels: list[int]


def parse_test_set(lines: Iterator[str] | Sequence[str], path: str | Path) -> TestSet:
    """A test set from JSON Lines text of ``{"data": [...], "label": int}``."""
    data: list[list[int]] = []
    labels: list[int] = []
    for line_number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            sample = [int(v) for v in row["data"]]
            label = int(row["label"])
        except (ValueError, KeyError, TypeError):
            raise TestSetError(
                f'{path}:{line_number}: expected {{"data": [integers], "label": integer}}',
                str(path),
                line_number,
            ) from None
        data.append(sample)
        labels.append(label)
    if not labels:
        raise TestSetError(f"test set {path}: no samples", str(path))
    return TestSet(Path(path), data, labels)


def load_test_set(path: str | Path) -> TestSet:
    """Read a ``.jsonl`` / ``.jsonl.gz`` test set of ``{"data": [...], "label": int}``."""
    path = Path(path)
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as stream:
            return parse_test_set(stream, path)
    except OSError as exc:
        raise TestSetError(f"test set {path}: cannot read ({exc.strerror or exc})", str(path)) from None


def accuracy(state: Mapping[str, Any], test_set: TestSet) -> float:
    """Share of the test set the model of ``state`` classifies correctly."""
    model = reference_model(state)
    right = sum(1 for x, y in zip(test_set.data, test_set.labels, strict=True) if model.predict(x) == y)
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


def data_added_events(framework: Any, from_block: int, to_block: int) -> list[Any]:
    """The trainer's ``DataAdded`` events (decoded, in chain order): every contribution."""
    return list(framework.trainer.events.DataAdded.get_logs(from_block=from_block, to_block=to_block))


def model_versions(
    framework: Any, to_block: int, data_added_logs: Sequence[Any] | None = None
) -> list[Version]:
    """Every block up to ``to_block`` where the trainer's model changed, from events alone.
    ``data_added_logs`` are the trainer's ``DataAdded`` events if already read (from its
    deployment on, :func:`data_added_events`), so a caller reads a long history once."""
    w3 = framework.w3
    trainer = framework.address
    archive = has_archive(w3, 0)
    deployed = deployment_block(w3, trainer, to_block)
    versions: dict[int, Version] = {deployed: Version(deployed, "deployed")}
    data_added: dict[bytes, list[tuple[str, int | None, list[int] | None]]] = {}
    if data_added_logs is None:
        data_added_logs = data_added_events(framework, deployed, to_block)
    for event in data_added_logs:
        if not deployed <= int(event["blockNumber"]) <= to_block:
            continue
        args = event["args"]
        data_added.setdefault(bytes(event["transactionHash"]), []).append(
            (args["contributor"], int(args["label"]), [int(v) for v in args["data"]])
        )
    replaced = framework.trainer.events.ModelReplaced.get_logs(from_block=deployed, to_block=to_block)
    if archive:
        models = {framework.trainer.functions.model().call(block_identifier=deployed)}
    elif replaced:  # no state at the deployment: the first replacement names the first model
        models = {replaced[0]["args"]["oldModel"]}
    else:
        models = {framework.trainer.functions.model().call(block_identifier=to_block)}
    for event in replaced:
        number = int(event["blockNumber"])
        version = versions.setdefault(number, Version(number, "replaced"))
        version.kind = "replaced"
        tx = w3.eth.get_transaction(event["transactionHash"])
        version.changes.append((tx["from"], None, None, "0x" + bytes(event["transactionHash"]).hex()))
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


def score_versions(framework: Any, versions: Sequence[Version], test_set: TestSet) -> None:
    """Set each version's ``accuracy`` on ``test_set`` (reads the model at every version's
    block; :class:`NoArchive` when the node has no state there)."""
    for version in versions:
        version.accuracy = accuracy(read_model_at(framework, version.block), test_set)


def score_versions_replayed(
    framework: Any,
    versions: Sequence[Version],
    test_set: TestSet,
    data_added_logs: Sequence[Any] | None = None,
) -> None:
    """The fast path beside :func:`score_versions`, with the same results: the model is read
    from the archive only where it was deployed or replaced; between those blocks every
    added sample (the trainer's ``DataAdded`` events, in chain order) is replayed on the
    model's exact integer twin. About one archive read per replacement instead of one per
    version; a test checks that both paths agree."""
    if not versions:
        return
    if data_added_logs is None:
        data_added_logs = data_added_events(framework, versions[0].block, versions[-1].block)
    events = [e for e in data_added_logs if versions[0].block <= int(e["blockNumber"]) <= versions[-1].block]
    reads = {v.block for v in versions if v.kind in ("deployed", "replaced")}
    by_block: dict[int, list[tuple[list[int], int]]] = {}
    for event in events:
        by_block.setdefault(int(event["blockNumber"]), []).append(
            ([int(v) for v in event["args"]["data"]], int(event["args"]["label"]))
        )
    wanted = {v.block for v in versions}
    scores: dict[int, float] = {}
    twin: Any = None
    for number in sorted(reads | set(by_block)):
        if number > versions[-1].block:
            break
        if number in reads:  # the state after this block, straight from the archive
            twin = reference_model(read_model_at(framework, number))
        elif twin is not None:
            for data, label in by_block[number]:
                twin.update(data, label)
        if number in wanted and twin is not None:
            scores[number] = _twin_accuracy(twin, test_set)
    for version in versions:
        version.accuracy = scores.get(version.block)


def _twin_accuracy(model: Any, test_set: TestSet) -> float:
    right = sum(1 for x, y in zip(test_set.data, test_set.labels, strict=True) if model.predict(x) == y)
    return right / len(test_set.labels)


def best_version(versions: Sequence[Version]) -> Version:
    """The most accurate version; the earliest of equals."""
    scored = [v for v in versions if v.accuracy is not None]
    if not scored:
        raise ClientError("the best version needs a test set to score the versions")
    return max(scored, key=lambda v: (v.accuracy or 0.0, -v.block))


def transaction_gas(w3: Web3, transactions: Sequence[str]) -> dict[str, int]:
    """``gasUsed`` of each transaction (hex hash) from its receipt."""
    return {tx: int(w3.eth.get_transaction_receipt(HexStr(tx))["gasUsed"]) for tx in transactions}


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
        raise ClientError(f"cannot compare a {before.get('model')} with a {after.get('model')}")
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


def diff_blocks(framework: Any, a: int, b: int) -> list[ParameterChange]:
    """The parameters that differ between the model at block ``a`` and at block ``b``."""
    return diff_states(read_model_at(framework, a), read_model_at(framework, b))


# --- revert -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reverted:
    """The result of :func:`revert_model`.

    Fields:
        trainer: the trainer's address.
        from_block: the block whose model was copied.
        new_model: address of the fresh model the trainer now uses.
        block: the block of the ``replaceModel`` transaction.
        transaction: its hash, hex.
        gas_used: its gas.
    """

    trainer: str
    from_block: int
    new_model: str
    block: int
    transaction: str
    gas_used: int


def owner_of(framework: Any) -> str:
    """The trainer's owner: the only account that may replace its model."""
    return str(framework.trainer.functions.owner().call())


def revert_model(framework: Any, block: int, account: Any) -> Reverted:
    """Point the trainer at a fresh model initialised with block ``block``'s parameters
    (``replaceModel``, owner only): the chain's history stays whole and the later updates
    no longer count. ``account`` is an address the node signs for or a local account."""
    state = read_model_at(framework, block)
    receipt = framework.replace_model(state, account)
    return Reverted(
        trainer=framework.address,
        from_block=block,
        new_model=str(framework.model.address),
        block=int(receipt["blockNumber"]),
        transaction="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
    )
