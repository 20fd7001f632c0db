"""Off-chain twins of the on-chain models and of Stakeable's arithmetic.

Each twin keeps exactly the parameters its contract stores and applies exactly the same
integer arithmetic (``vm_contracts.fixed_point``), so after the same updates a twin and
its contract hold identical parameters and predict identically. Twins are built fresh,
or from the parameters read off a contract at any block (``from_parameters``), and give
their parameters back as plain dicts (``parameters()``) with the contract's names.

Also here: the key under which DataHandler records a contribution, so off-chain code
can find a record from a ``DataAdded`` log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from vm_contracts import fixed_point as fp
from vm_contracts.errors import VmContractsError

UINT32_MAX = 2**32 - 1  # packed counts and sums are uint32 on chain


class ReferenceModelError(VmContractsError, ValueError):
    """Raised when a twin is given input its contract would refuse (the message names
    the contract's custom error)."""


def _sparse_indices(data: Sequence[int], num_features: int) -> list[int]:
    out = []
    for position, value in enumerate(data):
        if not 0 <= value < num_features:
            raise ReferenceModelError(f"FeatureIndexOutOfRange: data[{position}] = {value}")
        out.append(int(value))
    return out


def _dense(data: Sequence[int], num_features: int) -> list[int]:
    if len(data) != num_features:
        raise ReferenceModelError(f"WrongDataLength: expected {num_features}, got {len(data)}")
    return [fp.check_int64(int(v), "data element") for v in data]


def _label(label: int, num_classes: int) -> int:
    if not 0 <= label < num_classes:
        raise ReferenceModelError(f"LabelOutOfRange: label {label}, classes 0..{num_classes - 1}")
    return int(label)


def _int80(value: int) -> int:
    if not fp.INT80_MIN <= value <= fp.INT80_MAX:
        raise ReferenceModelError(f"PackedValueOutOfRange: {value} does not fit int80")
    return value


def _uint32(value: int) -> int:
    if not 0 <= value <= UINT32_MAX:
        raise ReferenceModelError(f"PackedValueOutOfRange: {value} does not fit uint32")
    return value


@dataclass
class SparsePerceptron:
    """Twin of SparsePerceptron.sol: binary, data = feature indices, int80 weights."""

    num_features: int
    learning_rate: int  # fixed point
    intercept: int = 0  # fixed point
    weights: list[int] = field(default_factory=list)  # fixed point, one per feature

    def __post_init__(self) -> None:
        if not self.weights:
            self.weights = [0] * self.num_features
        if len(self.weights) != self.num_features:
            raise ReferenceModelError("weights must have num_features entries")

    def score(self, data: Sequence[int]) -> int:
        idx = _sparse_indices(data, self.num_features)
        return self.intercept + sum(self.weights[i] for i in idx)

    def predict(self, data: Sequence[int]) -> int:
        return 1 if self.score(data) > 0 else 0

    def update(self, data: Sequence[int], label: int) -> bool:
        """Learn (data, label); True if the parameters changed (mistake)."""
        _label(label, 2)
        if self.predict(data) == label:
            return False
        step = self.learning_rate if label == 1 else -self.learning_rate
        for i in data:
            self.weights[i] = _int80(self.weights[i] + step)
        self.intercept = _int80(self.intercept + step)
        return True

    def parameters(self) -> dict[str, Any]:
        return {
            "numFeatures": self.num_features,
            "learningRate": self.learning_rate,
            "intercept": self.intercept,
            "weights": list(self.weights),
        }

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> SparsePerceptron:
        return cls(p["numFeatures"], p["learningRate"], p["intercept"], list(p["weights"]))


@dataclass
class DensePerceptron(SparsePerceptron):
    """Twin of DensePerceptron.sol: binary, data = one fixed-point value per feature."""

    def score(self, data: Sequence[int]) -> int:
        x = _dense(data, self.num_features)
        return self.intercept + sum(fp.mul(w, v) for w, v in zip(self.weights, x, strict=True))

    def update(self, data: Sequence[int], label: int) -> bool:
        _label(label, 2)
        if self.predict(data) == label:
            return False
        for j, v in enumerate(data):
            delta = fp.mul(self.learning_rate, v)
            if delta:
                self.weights[j] = _int80(self.weights[j] + delta if label == 1 else self.weights[j] - delta)
        self.intercept = _int80(self.intercept + (self.learning_rate if label == 1 else -self.learning_rate))
        return True

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> DensePerceptron:
        return cls(p["numFeatures"], p["learningRate"], p["intercept"], list(p["weights"]))


@dataclass
class NaiveBayes:
    """Twin of NaiveBayes.sol: multinomial, additive smoothing, FixedPoint.log2 scores."""

    num_classes: int
    num_features: int
    smoothing: int  # fixed point, > 0
    feature_counts: list[list[int]] = field(default_factory=list)  # [class][feature]
    sample_counts: list[int] = field(default_factory=list)  # per class
    total_counts: list[int] = field(default_factory=list)  # per class: sum of feature counts

    def __post_init__(self) -> None:
        if not self.feature_counts:
            self.feature_counts = [[0] * self.num_features for _ in range(self.num_classes)]
        if not self.sample_counts:
            self.sample_counts = [0] * self.num_classes
        if not self.total_counts:
            self.total_counts = [sum(row) for row in self.feature_counts]

    def scores(self, data: Sequence[int]) -> list[int]:
        idx = _sparse_indices(data, self.num_features)
        a, v, s = self.smoothing, self.num_features, fp.SCALE
        out = []
        for c in range(self.num_classes):
            score = fp.log2(self.sample_counts[c] * s + a) - len(idx) * fp.log2(
                self.total_counts[c] * s + a * v
            )
            for i in idx:
                score += fp.log2(self.feature_counts[c][i] * s + a)
            out.append(score)
        return out

    def predict(self, data: Sequence[int]) -> int:
        scores = self.scores(data)
        return scores.index(max(scores))  # first maximum, as the contract's strict '>'

    def update(self, data: Sequence[int], label: int) -> bool:
        _label(label, self.num_classes)
        idx = _sparse_indices(data, self.num_features)
        for i in idx:
            self.feature_counts[label][i] = _uint32(self.feature_counts[label][i] + 1)
        self.sample_counts[label] += 1
        self.total_counts[label] += len(idx)
        return True

    def parameters(self) -> dict[str, Any]:
        return {
            "numClasses": self.num_classes,
            "numFeatures": self.num_features,
            "smoothing": self.smoothing,
            "featureCounts": [list(r) for r in self.feature_counts],
            "sampleCounts": list(self.sample_counts),
            "totalCounts": list(self.total_counts),
        }

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> NaiveBayes:
        return cls(
            p["numClasses"],
            p["numFeatures"],
            p["smoothing"],
            [list(r) for r in p["featureCounts"]],
            list(p["sampleCounts"]),
            list(p["totalCounts"]),
        )


@dataclass
class NearestCentroid:
    """Twin of NearestCentroid.sol: dense fixed-point running means."""

    num_classes: int
    num_features: int
    centroids: list[list[int]] = field(default_factory=list)  # [class][feature], fixed point
    sample_counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.centroids:
            self.centroids = [[0] * self.num_features for _ in range(self.num_classes)]
        if not self.sample_counts:
            self.sample_counts = [0] * self.num_classes

    def distances(self, data: Sequence[int]) -> list[int]:
        x = _dense(data, self.num_features)
        return [sum((xi - ci) ** 2 for xi, ci in zip(x, c, strict=True)) for c in self.centroids]

    def predict(self, data: Sequence[int]) -> int:
        d = self.distances(data)
        return d.index(min(d))

    def update(self, data: Sequence[int], label: int) -> bool:
        _label(label, self.num_classes)
        x = _dense(data, self.num_features)
        divisor = self.sample_counts[label] + 1
        row = self.centroids[label]
        for j, v in enumerate(x):
            row[j] = _int80(row[j] + fp.div_trunc(v - row[j], divisor))
        self.sample_counts[label] += 1
        return True

    def parameters(self) -> dict[str, Any]:
        return {
            "numClasses": self.num_classes,
            "numFeatures": self.num_features,
            "centroids": [list(r) for r in self.centroids],
            "sampleCounts": list(self.sample_counts),
        }

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> NearestCentroid:
        return cls(
            p["numClasses"],
            p["numFeatures"],
            [list(r) for r in p["centroids"]],
            list(p["sampleCounts"]),
        )


@dataclass
class SparseNearestCentroid:
    """Twin of SparseNearestCentroid.sol: per-class exact sums of count vectors."""

    num_classes: int
    num_features: int
    sums: list[list[int]] = field(default_factory=list)  # [class][feature] occurrence sums
    sample_counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sums:
            self.sums = [[0] * self.num_features for _ in range(self.num_classes)]
        if not self.sample_counts:
            self.sample_counts = [0] * self.num_classes

    @property
    def squared_norms(self) -> list[int]:
        return [sum(s * s for s in row) for row in self.sums]

    def predict(self, data: Sequence[int]) -> int:
        idx = _sparse_indices(data, self.num_features)
        best, best_num, best_den = 0, 0, 0
        for c in range(self.num_classes):
            n = self.sample_counts[c]
            if n == 0:
                continue
            dot = sum(self.sums[c][i] for i in idx)
            num = sum(s * s for s in self.sums[c]) - 2 * n * dot
            den = n * n
            if best_den == 0 or num * best_den < best_num * den:
                best, best_num, best_den = c, num, den
        return best

    def centroid(self, c: int) -> list[float]:
        n = self.sample_counts[c]
        return [s / n if n else 0.0 for s in self.sums[c]]

    def update(self, data: Sequence[int], label: int) -> bool:
        _label(label, self.num_classes)
        for i in _sparse_indices(data, self.num_features):
            self.sums[label][i] = _uint32(self.sums[label][i] + 1)
        self.sample_counts[label] += 1
        return True

    def parameters(self) -> dict[str, Any]:
        return {
            "numClasses": self.num_classes,
            "numFeatures": self.num_features,
            "sums": [list(r) for r in self.sums],
            "sampleCounts": list(self.sample_counts),
            "squaredNorms": self.squared_norms,
        }

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> SparseNearestCentroid:
        return cls(p["numClasses"], p["numFeatures"], [list(r) for r in p["sums"]], list(p["sampleCounts"]))


@dataclass(frozen=True)
class StakeableRules:
    """Twin of Stakeable.sol's arithmetic (amounts in wei, times in seconds)."""

    refund_wait_time_s: int
    owner_claim_wait_time_s: int
    any_address_claim_wait_time_s: int
    cost_weight: int  # cost units * s (linear law) or cost units * sqrt(s) (square-root law)
    min_deposit: int = 0  # cost units
    sqrt_deposit_law: bool = False  # Stakeable's sqrtDepositLaw
    cost_unit: int = 1  # wei per cost unit (Stakeable's costUnitWei)

    def add_data_cost(self, now: int, last_update_time_s: int) -> int:
        """required = costUnit * max(minDeposit, costWeight // d) wei, d = elapsed or
        isqrt(elapsed), elapsed = max(1, now - lastUpdate)."""
        elapsed = now - last_update_time_s if now > last_update_time_s else 1
        divisor = math.isqrt(elapsed) if self.sqrt_deposit_law else elapsed
        return self.cost_unit * max(self.cost_weight // divisor, self.min_deposit)

    def refund_amount(self, now: int, added_time: int, claimable: int, model_agrees: bool) -> int:
        if claimable == 0:
            raise ReferenceModelError("NothingToClaim")
        if now < added_time + self.refund_wait_time_s:
            raise ReferenceModelError("TooEarly")
        if not model_agrees:
            raise ReferenceModelError("ModelDisagrees")
        return claimable

    def report_amount(
        self,
        now: int,
        added_time: int,
        initial_deposit: int,
        claimable: int,
        model_agrees: bool,
        reporter_good: int,
        total_good: int,
        reporter_is_owner: bool,
        reporter_is_contributor: bool = False,
        reporter_claimed: bool = False,
    ) -> int:
        """Wei a report takes, checked in the original framework's order: once the claim
        waits have passed the whole remainder goes to anyone (a reporter who already took a
        share and the contributor included); before, one share per reporter."""
        if claimable == 0:
            raise ReferenceModelError("NothingToClaim")
        age = now - added_time
        if age >= self.any_address_claim_wait_time_s:
            return claimable
        if reporter_is_owner and age >= self.owner_claim_wait_time_s:
            return claimable
        if reporter_is_contributor:
            raise ReferenceModelError("CannotReportOwnContribution")
        if reporter_claimed:
            raise ReferenceModelError("AlreadyClaimed")
        if age < self.refund_wait_time_s:
            raise ReferenceModelError("TooEarly")
        if model_agrees:
            raise ReferenceModelError("ModelAgrees")
        if reporter_good == 0:
            raise ReferenceModelError("NoGoodContributions")
        share = initial_deposit * reporter_good // total_good
        return claimable if share == 0 or share > claimable else share


def data_hash(data: Sequence[int]) -> bytes:
    """keccak256(abi.encodePacked(int64[] data)): each element as a 32-byte signed word."""
    return keccak(b"".join(int(v).to_bytes(32, "big", signed=True) for v in data))


def contribution_key(contributor: str, data: Sequence[int], label: int, added_time: int) -> bytes:
    """DataHandler.contributionKey for a sample: keccak256(abi.encode(contributor,
    dataHash, label, addedTime))."""
    return keccak(
        encode(
            ["address", "bytes32", "uint64", "uint256"],
            [to_checksum_address(contributor), data_hash(data), label, added_time],
        )
    )


MODELS = {
    "SparsePerceptron": SparsePerceptron,
    "DensePerceptron": DensePerceptron,
    "NaiveBayes": NaiveBayes,
    "NearestCentroid": NearestCentroid,
    "SparseNearestCentroid": SparseNearestCentroid,
}
"""Twin class per contract name."""
