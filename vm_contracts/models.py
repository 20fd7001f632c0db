"""How the SDK constructs, initialises and reads each model contract.

One :class:`ModelAdapter` per model in ``contracts/models/``: its constructor
arguments, the parameter arrays written chunk by chunk after deployment
(:class:`InitArray`, see ``vm_contracts.deploy``), the single initialisation calls,
and how :meth:`~vm_contracts.client.Framework.read_model` reads every parameter back
at one block through the paged getters. A model state is one dict both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vm_contracts.errors import ClientError

READ_PAGE_ENTRIES = 1024  # entries per paged getter call

MODELS = (
    "SparsePerceptron",
    "DensePerceptron",
    "NaiveBayes",
    "NearestCentroid",
    "SparseNearestCentroid",
)
SPARSE_MODELS = frozenset({"SparsePerceptron", "NaiveBayes", "SparseNearestCentroid"})


@dataclass(frozen=True)
class InitArray:
    """One parameter array to write during initialisation, chunk by chunk.

    ``function(*prefix, start, values[start:start+k])`` writes a chunk; ``part`` names
    the array in progress messages.
    """

    function: str
    prefix: tuple[int, ...]
    values: list[int]
    part: str


class ModelAdapter:
    """How the SDK constructs, initialises and reads one model contract.

    ``hyper`` are the constructor parameters (``num_features``, ``learning_rate``,
    ``num_classes``, ``smoothing``) and ``state`` the parameter arrays; both use the
    keys that :meth:`read` returns.
    """

    name: str = ""
    hyper_keys: tuple[str, ...] = ()

    def constructor_args(self, state: Mapping[str, Any]) -> list[Any]:
        raise NotImplementedError

    def init_arrays(self, state: Mapping[str, Any]) -> list[InitArray]:
        raise NotImplementedError

    def init_single_calls(self, state: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
        return []

    def read(self, contract: Any, block: int) -> dict[str, Any]:
        raise NotImplementedError

    def check_state(self, state: Mapping[str, Any]) -> None:
        missing = [key for key in self.hyper_keys if key not in state]
        if missing:
            raise ClientError(f"{self.name} needs parameters {missing}")


def _paged(function: Callable[..., Any], prefix: tuple[int, ...], size: int, block: int) -> list[int]:
    values: list[int] = []
    for start in range(0, size, READ_PAGE_ENTRIES):
        count = min(READ_PAGE_ENTRIES, size - start)
        values.extend(function(*prefix, start, count).call(block_identifier=block))
    return [int(v) for v in values]


def _vector(state: Mapping[str, Any], key: str, length: int, model: str) -> list[int]:
    values = state.get(key)
    if values is None:
        return [0] * length
    values = [int(v) for v in values]
    if len(values) != length:
        raise ClientError(f"{model}: {key} has {len(values)} entries, expected {length}")
    return values


def _matrix(state: Mapping[str, Any], key: str, rows: int, columns: int, model: str) -> list[list[int]]:
    values = state.get(key)
    if values is None:
        return [[0] * columns for _ in range(rows)]
    if len(values) != rows:
        raise ClientError(f"{model}: {key} has {len(values)} rows, expected {rows}")
    return [_vector({key: row}, key, columns, model) for row in values]


class _Perceptron(ModelAdapter):
    hyper_keys = ("num_features", "learning_rate")

    def constructor_args(self, state: Mapping[str, Any]) -> list[Any]:
        return [
            int(state["num_features"]),
            int(state["learning_rate"]),
            int(state.get("intercept", 0)),
        ]

    def init_arrays(self, state: Mapping[str, Any]) -> list[InitArray]:
        weights = _vector(state, "weights", int(state["num_features"]), self.name)
        return [InitArray("initializeWeights", (), weights, "weights")]

    def read(self, contract: Any, block: int) -> dict[str, Any]:
        f = contract.functions
        n = int(f.numFeatures().call(block_identifier=block))
        return {
            "num_features": n,
            "learning_rate": int(f.learningRate().call(block_identifier=block)),
            "intercept": int(f.intercept().call(block_identifier=block)),
            "weights": _paged(f.getWeights, (), n, block),
        }


class _SparsePerceptron(_Perceptron):
    name = "SparsePerceptron"


class _DensePerceptron(_Perceptron):
    name = "DensePerceptron"


class _NaiveBayes(ModelAdapter):
    name = "NaiveBayes"
    hyper_keys = ("num_classes", "num_features", "smoothing")

    def constructor_args(self, state: Mapping[str, Any]) -> list[Any]:
        return [int(state["num_classes"]), int(state["num_features"]), int(state["smoothing"])]

    def init_arrays(self, state: Mapping[str, Any]) -> list[InitArray]:
        k, n = int(state["num_classes"]), int(state["num_features"])
        counts = _matrix(state, "feature_counts", k, n, self.name)
        return [
            InitArray("initializeFeatureCounts", (c,), counts[c], f"feature_counts[{c}]") for c in range(k)
        ]

    def init_single_calls(self, state: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
        k = int(state["num_classes"])
        return [("initializeSampleCounts", [_vector(state, "sample_counts", k, self.name)])]

    def read(self, contract: Any, block: int) -> dict[str, Any]:
        f = contract.functions
        k = int(f.numClasses().call(block_identifier=block))
        n = int(f.numFeatures().call(block_identifier=block))
        classes = [f.getClassCounts(c).call(block_identifier=block) for c in range(k)]
        return {
            "num_classes": k,
            "num_features": n,
            "smoothing": int(f.smoothing().call(block_identifier=block)),
            "feature_counts": [_paged(f.getFeatureCounts, (c,), n, block) for c in range(k)],
            "sample_counts": [int(samples) for samples, _ in classes],
            "total_counts": [int(total) for _, total in classes],
        }


class _NearestCentroid(ModelAdapter):
    name = "NearestCentroid"
    hyper_keys = ("num_classes", "num_features")

    def constructor_args(self, state: Mapping[str, Any]) -> list[Any]:
        return [int(state["num_classes"]), int(state["num_features"])]

    def init_arrays(self, state: Mapping[str, Any]) -> list[InitArray]:
        k, n = int(state["num_classes"]), int(state["num_features"])
        centroids = _matrix(state, "centroids", k, n, self.name)
        return [InitArray("initializeCentroid", (c,), centroids[c], f"centroids[{c}]") for c in range(k)]

    def init_single_calls(self, state: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
        k = int(state["num_classes"])
        return [("initializeSampleCounts", [_vector(state, "sample_counts", k, self.name)])]

    def read(self, contract: Any, block: int) -> dict[str, Any]:
        f = contract.functions
        k = int(f.numClasses().call(block_identifier=block))
        n = int(f.numFeatures().call(block_identifier=block))
        return {
            "num_classes": k,
            "num_features": n,
            "centroids": [_paged(f.getCentroid, (c,), n, block) for c in range(k)],
            "sample_counts": [int(f.sampleCounts(c).call(block_identifier=block)) for c in range(k)],
        }


class _SparseNearestCentroid(ModelAdapter):
    name = "SparseNearestCentroid"
    hyper_keys = ("num_classes", "num_features")

    def constructor_args(self, state: Mapping[str, Any]) -> list[Any]:
        return [int(state["num_classes"]), int(state["num_features"])]

    def init_arrays(self, state: Mapping[str, Any]) -> list[InitArray]:
        k, n = int(state["num_classes"]), int(state["num_features"])
        sums = _matrix(state, "sums", k, n, self.name)
        return [InitArray("initializeSums", (c,), sums[c], f"sums[{c}]") for c in range(k)]

    def init_single_calls(self, state: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
        k = int(state["num_classes"])
        return [("initializeSampleCounts", [_vector(state, "sample_counts", k, self.name)])]

    def read(self, contract: Any, block: int) -> dict[str, Any]:
        f = contract.functions
        k = int(f.numClasses().call(block_identifier=block))
        n = int(f.numFeatures().call(block_identifier=block))
        classes = [f.getClass(c).call(block_identifier=block) for c in range(k)]
        return {
            "num_classes": k,
            "num_features": n,
            "sums": [_paged(f.getSums, (c,), n, block) for c in range(k)],
            "sample_counts": [int(count) for count, _ in classes],
            "squared_norms": [int(norm) for _, norm in classes],
        }


MODEL_ADAPTERS: dict[str, ModelAdapter] = {
    adapter.name: adapter
    for adapter in (
        _SparsePerceptron(),
        _DensePerceptron(),
        _NaiveBayes(),
        _NearestCentroid(),
        _SparseNearestCentroid(),
    )
}


def model_adapter(model: str) -> ModelAdapter:
    """The adapter of model contract ``model``, or ClientError naming the known ones."""
    if model not in MODEL_ADAPTERS:
        raise ClientError(f"unknown model {model!r}; choose one of {MODELS}")
    return MODEL_ADAPTERS[model]
