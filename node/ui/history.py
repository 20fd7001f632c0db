"""A trainer's history for the dashboard: its events read once, then block by block.

The model page and its accuracy chart are drawn again on every new block. Reading the
whole history each time (every ``DataAdded`` and ``ModelUpdated`` since the deployment,
then scoring every version) took tens of seconds on a chain of 10,000 contributions.
Here a :class:`TrainerHistory` reads the events once, in pages of blocks
(``eth_getLogs`` over at most :data:`LOG_PAGE_BLOCKS` blocks, a page halved when a node
refuses it as too large), keeps them, and afterwards reads only the blocks since. The
accuracy on a test set is kept the same way (:class:`ScoredHistory`): each version is
scored once, by replaying the added samples on the model's exact integer twin, and a
sparse perceptron's test-set scores are moved by each update's few weights instead of
predicting the whole test set again.

The head is checked on each refresh: a head that moved back or a block hash that changed
(a rewind, a revert, a reorganisation) starts the history again. Everything goes
through plain JSON-RPC (``eth_getLogs``, ``eth_call``, ``eth_getBlockByNumber``), so it
is the same against sumchain, anvil or geth. ``tests/node/ui/test_history.py`` checks
the versions and the accuracies against the SDK's plain path
(:func:`vm_contracts.versions.model_versions` and :func:`~vm_contracts.versions.score_versions`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3.types import RPCEndpoint

from vm_contracts import reference
from vm_contracts.versions import (
    DATA_ADDED_SIGNATURE,
    MODEL_REPLACED_SIGNATURE,
    MODEL_UPDATED_SIGNATURE,
    TestSet,
    Version,
    deployment_block,
    has_archive,
    read_model_at,
    reference_model,
)

LOG_PAGE_BLOCKS = 5_000  # blocks one eth_getLogs covers at most (nodes cap ranges and counts)
DATA_ADDED_TOPIC = "0x" + keccak(text=DATA_ADDED_SIGNATURE).hex()
MODEL_REPLACED_TOPIC = "0x" + keccak(text=MODEL_REPLACED_SIGNATURE).hex()
MODEL_UPDATED_TOPIC = "0x" + keccak(text=MODEL_UPDATED_SIGNATURE).hex()
DATA_ADDED_TYPES = ["uint64", "uint256", "uint256", "int64[]"]  # the event's unindexed fields
EMPTY: dict[int, int] = {}  # no test sample has the feature


class LogsRefused(Exception):
    """Raised when a node refuses ``eth_getLogs`` even for a single block; the message
    is the node's."""


@dataclass(frozen=True)
class Added:
    """One ``DataAdded`` event: a contribution as the trainer logged it.

    Fields:
        block: the block it was mined in.
        tx: its transaction hash, 0x-hex.
        contributor: the checksummed address that added it.
        label: the class given.
        deposit: wei deposited with it.
        added_time: the block timestamp the trainer recorded, in seconds.
        data: the sample in the model's on-chain encoding.
    """

    block: int
    tx: str
    contributor: str
    label: int
    deposit: int
    added_time: int
    data: tuple[int, ...]


def get_logs_paged(w3: Any, criteria: dict[str, Any], start: int, end: int) -> Iterator[dict[str, Any]]:
    """The raw JSON-RPC logs matching ``criteria`` in blocks ``start..end``, in chain order,
    read a page of blocks at a time; a page the node refuses (too many logs or blocks)
    is read again in halves, down to one block."""
    low = start
    span = LOG_PAGE_BLOCKS
    while low <= end:
        high = min(end, low + span - 1)
        answer = w3.provider.make_request(
            RPCEndpoint("eth_getLogs"), [{**criteria, "fromBlock": hex(low), "toBlock": hex(high)}]
        )
        if "error" in answer:
            if high == low:
                raise LogsRefused(str(answer["error"].get("message", answer["error"])))
            span = max(1, (high - low + 1) // 2)
            continue
        yield from answer["result"]
        low = high + 1


def _block_hash(w3: Any, number: int) -> str | None:
    answer = w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [hex(number), False])
    block = answer.get("result")
    return None if not block else str(block["hash"])


@dataclass
class TrainerHistory:
    """What a trainer's events say up to ``scanned_to``: its contributions and versions.

    Fields:
        framework: the SDK's framework object of the trainer (its web3 and contracts).
        deployed: the trainer's deployment block (its first version).
        scanned_to: the last block read; -1 before the first read.
        scanned_hash: that block's hash when read, to notice a rewind or reorganisation.
        added: every contribution, in chain order.
        versions: every block where the model changed, in order (the SDK's ``Version``).
        models: every model address the trainer used (ModelUpdated comes from these).
        gas: gasUsed of transactions already looked up, by hash.
        states: the model's parameters read from the archive at a deployment or
            replacement block (where scoring starts its replay), by block.
        scores: each test set's :class:`ScoredHistory`, by the test set's content.
    """

    framework: Any
    deployed: int = 0
    scanned_to: int = -1
    scanned_hash: str | None = None
    added: list[Added] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    models: set[str] = field(default_factory=set)
    gas: dict[str, int] = field(default_factory=dict)
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    scores: dict[tuple[Any, ...], ScoredHistory] = field(default_factory=dict)
    _by_block: dict[int, Version] = field(default_factory=dict)
    _added_by_tx: dict[str, list[Added]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    states_lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, head: int) -> None:
        """Read the blocks after ``scanned_to`` up to ``head``; start again if the chain
        under the last read block changed."""
        w3 = self.framework.w3
        if self.scanned_to >= 0 and (
            head < self.scanned_to or _block_hash(w3, self.scanned_to) != self.scanned_hash
        ):
            self._reset()
        if self.scanned_to < 0:
            self._start(head)
        if head > self.scanned_to:
            self._read(self.scanned_to + 1, head)
            self.scanned_to = head
        self.scanned_hash = _block_hash(w3, self.scanned_to)

    def _reset(self) -> None:
        keep = {"framework": self.framework, "lock": self.lock, "states_lock": self.states_lock}
        fresh = TrainerHistory(self.framework)
        with self.states_lock:  # a prefetch under way finishes first, into the old states
            for name in self.__dataclass_fields__:
                setattr(self, name, keep.get(name, getattr(fresh, name)))

    def _start(self, head: int) -> None:
        framework, w3 = self.framework, self.framework.w3
        self.deployed = deployment_block(w3, framework.address, head)
        if has_archive(w3, self.deployed):
            first = framework.trainer.functions.model().call(block_identifier=self.deployed)
        else:  # no state there: the first replacement (read below) names the first model
            first = None
        if first is not None:
            self.models.add(to_checksum_address(first))
        self._version(self.deployed, "deployed")
        self.scanned_to = self.deployed - 1

    def _version(self, block: int, kind: str) -> Version:
        version = self._by_block.get(block)
        if version is None:
            version = self._by_block[block] = Version(block, kind)
            self.versions.append(version)
            if len(self.versions) > 1 and self.versions[-2].block > block:
                self.versions.sort(key=lambda v: v.block)
        return version

    def _read(self, start: int, end: int) -> None:
        framework = self.framework
        trainer_criteria = {
            "address": framework.address,
            "topics": [[DATA_ADDED_TOPIC, MODEL_REPLACED_TOPIC]],
        }
        for log in get_logs_paged(framework.w3, trainer_criteria, start, end):
            number = int(log["blockNumber"], 16)
            tx = str(log["transactionHash"]).lower()
            topics = log["topics"]
            if topics[0] == DATA_ADDED_TOPIC:
                label, deposit, added_time, data = decode(DATA_ADDED_TYPES, bytes.fromhex(log["data"][2:]))
                added = Added(
                    number,
                    tx,
                    to_checksum_address("0x" + topics[1][-40:]),
                    int(label),
                    int(deposit),
                    int(added_time),
                    tuple(int(v) for v in data),
                )
                self.added.append(added)
                self._added_by_tx.setdefault(tx, []).append(added)
            elif topics[0] == MODEL_REPLACED_TOPIC:
                old, new = (to_checksum_address("0x" + t[-40:]) for t in topics[1:3])
                if not self.models:
                    self.models.add(old)
                self.models.add(new)
                sender = framework.w3.eth.get_transaction(tx)["from"]
                version = self._version(number, "replaced")
                version.kind = "replaced"
                version.changes.append((sender, None, None, tx))
        if not self.models:  # no archive and never replaced: the model now is the only one
            self.models.add(to_checksum_address(framework.trainer.functions.model().call()))
        model_criteria = {"address": sorted(self.models), "topics": [MODEL_UPDATED_TOPIC]}
        for log in get_logs_paged(framework.w3, model_criteria, start, end):
            number = int(log["blockNumber"], 16)
            tx = str(log["transactionHash"]).lower()
            version = self._by_block.get(number) or self._version(number, "update")
            found: list[Added | None] = list(self._added_by_tx.get(tx, [])) or [None]
            for entry in found:
                change = (
                    (entry.contributor, entry.label, list(entry.data), tx)
                    if entry is not None
                    else ("?", None, None, tx)
                )
                if change not in version.changes:
                    version.changes.append(change)

    def state_at(self, block: int) -> dict[str, Any]:
        """The model's parameters after ``block``, read from the archive once (a read
        under way in the prefetch is waited for, not repeated)."""
        with self.states_lock:
            state = self.states.get(block)
            if state is None:
                state = self.states[block] = read_model_at(self.framework, block)
            return state

    def prefetch_states(self) -> None:
        """Read, in the background, the states the accuracy chart starts its replays from
        (deployment and replacements), so that a click on "draw" finds them read."""
        blocks = [v.block for v in self.versions if v.kind in ("deployed", "replaced")]
        missing = [b for b in blocks if b not in self.states]
        if not missing or not has_archive(self.framework.w3, missing[0]):
            return

        states = self.states

        def read() -> None:
            for block in missing:
                if self.states is not states:
                    return  # the history started again (a rewind): these blocks are stale
                try:
                    self.state_at(block)
                except Exception:  # noqa: BLE001 - a prefetch only; the click reads again and says why
                    return

        threading.Thread(target=read, name="dashboard-prefetch", daemon=True).start()

    def transaction_gas(self, transactions: Sequence[str]) -> dict[str, int]:
        """``gasUsed`` of each transaction, from its block's receipts (one
        ``eth_getBlockReceipts`` per block where the node has it), kept once read."""
        w3 = self.framework.w3
        missing = [tx for tx in transactions if tx not in self.gas]
        wanted = set(missing)
        blocks = sorted({v.block for v in self.versions for c in v.changes if c[3] in wanted})
        for number in blocks:
            answer = w3.provider.make_request(RPCEndpoint("eth_getBlockReceipts"), [hex(number)])
            for receipt in answer.get("result") or []:
                self.gas[str(receipt["transactionHash"]).lower()] = int(receipt["gasUsed"], 16)
        for tx in missing:
            if tx not in self.gas:  # a node without eth_getBlockReceipts
                self.gas[tx] = int(w3.eth.get_transaction_receipt(tx)["gasUsed"])
        return {tx: self.gas[tx] for tx in transactions}

    def accuracies(self, test_set: TestSet, key: tuple[Any, ...]) -> list[float | None]:
        """The accuracy of every version on ``test_set`` (same order as ``versions``),
        scoring only the versions not scored before under ``key``."""
        scored = self.scores.get(key)
        if scored is None:
            scored = self.scores[key] = ScoredHistory(test_set)
        scored.extend(self)
        return [scored.accuracy.get(v.block) for v in self.versions]


@dataclass
class ScoredHistory:
    """A test set's accuracy on each version of one trainer, extended as versions come.

    Fields:
        test_set: the samples and labels scored.
        accuracy: share classified right, by version block.
        twin: the integer twin of the model after ``through`` (None before the first read).
        through: the last block whose samples the twin has taken in.
    """

    test_set: TestSet
    accuracy: dict[int, float] = field(default_factory=dict)
    twin: Any = None
    through: int = -1
    _scorer: Any = None

    def extend(self, history: TrainerHistory) -> None:
        reads = {v.block for v in history.versions if v.kind in ("deployed", "replaced")}
        wanted = {v.block for v in history.versions if v.block > self.through}
        if not wanted:
            return
        samples: dict[int, list[Added]] = {}
        for added in reversed(history.added):
            if added.block <= self.through:
                break
            samples.setdefault(added.block, []).append(added)
        for number in sorted(n for n in reads | set(samples) | wanted if n > self.through):
            if number in reads:  # the state after this block, straight from the archive
                self.twin = reference_model(history.state_at(number))
                self._scorer = _scorer_for(self.twin, self.test_set)
            elif self.twin is not None:
                for added in reversed(samples.get(number, [])):
                    self._scorer.learn(added.data, added.label)
            if number in wanted and self._scorer is not None:
                self.accuracy[number] = self._scorer.accuracy()
            self.through = number


def _scorer_for(twin: Any, test_set: TestSet) -> Any:
    if type(twin) is reference.SparsePerceptron:
        return SparsePerceptronScores(twin, test_set)
    return TwinScores(twin, test_set)


@dataclass
class TwinScores:
    """Any model: the twin predicts the whole test set at each version."""

    twin: Any
    test_set: TestSet

    def learn(self, data: Sequence[int], label: int) -> None:
        self.twin.update(list(data), label)

    def accuracy(self) -> float:
        labels = self.test_set.labels
        right = sum(1 for x, y in zip(self.test_set.data, labels, strict=True) if self.twin.predict(x) == y)
        return right / len(labels)


class SparsePerceptronScores:
    """A sparse perceptron's score of every test sample (intercept apart), kept exact in
    Python integers and moved by each update: an update adds one step to the intercept
    and to the weight of each of its feature indices, so only the test samples sharing a
    feature with it change (found through an index from feature to samples).

    :meth:`learn` is the twin's ``update`` (:class:`vm_contracts.reference.SparsePerceptron`)
    without its input checks: a replayed sample was accepted on chain, so its indices
    are in range and its weights fit int80 (the contract would have reverted otherwise).
    ``tests/node/ui/test_history.py`` checks the result against the twin's own path."""

    def __init__(self, twin: reference.SparsePerceptron, test_set: TestSet) -> None:
        self.twin = twin
        self.labels = test_set.labels
        self.partial = [twin.score(x) - twin.intercept for x in test_set.data]  # checks indices
        self.samples_with: dict[int, dict[int, int]] = {}  # feature -> {sample: occurrences}
        for j, x in enumerate(test_set.data):
            for i in x:
                counts = self.samples_with.setdefault(i, {})
                counts[j] = counts.get(j, 0) + 1

    def learn(self, data: Sequence[int], label: int) -> None:
        twin, weights = self.twin, self.twin.weights
        predicted = 1 if twin.intercept + sum(weights[i] for i in data) > 0 else 0
        if predicted == label:
            return  # no mistake, no change
        step = twin.learning_rate if label == 1 else -twin.learning_rate
        partial, samples_with = self.partial, self.samples_with
        for i in data:
            weights[i] += step
            for j, count in samples_with.get(i, EMPTY).items():
                partial[j] += step * count
        twin.intercept += step

    def accuracy(self) -> float:
        b = self.twin.intercept
        right = sum(1 for s, y in zip(self.partial, self.labels, strict=True) if (1 if s + b > 0 else 0) == y)
        return right / len(self.labels)
