"""How the SDK constructs, initialises and reads each model contract.

One :class:`ModelAdapter` per model in ``contracts/models/``: its constructor
arguments, the parameter arrays written chunk by chunk after deployment
(:class:`InitArray`, see ``vm_contracts.deploy``), the single initialisation calls,
and how :meth:`~vm_contracts.client.Framework.read_model` reads every parameter back
at one block. A model state is one dict both ways.

Two ways to read, with the same result (a test checks them against each other on every
model at several blocks): :meth:`ModelAdapter.read`, the plain one, runs the paged
getters (an ``eth_call`` per page, the EVM unpacking every entry); and
:meth:`ModelAdapter.read_storage`, the fast one, calls only the getters of the
immutables (in the code, not in storage) and fetches the storage words of everything
else in one request (:mod:`vm_contracts.storage`), unpacking them here from the
contracts' storage layout (:data:`MAPPING_SLOTS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from vm_contracts.errors import ClientError
from vm_contracts.storage import call_outputs, mapping_slot, read_words

READ_PAGE_ENTRIES = 1024  # entries per paged getter call

# The models' storage layout (solc's storageLayout of contracts/models/*.sol): slot 0 holds
# owner (bytes 0-19), initialized (byte 20) and, in the perceptrons, the int80 intercept
# (bytes 21-30); slots 1 and 2 hold the models' mapping(uint256 => uint256) of packed words.
INTERCEPT_SHIFT = 168  # bits: the intercept's offset in slot 0 (21 bytes)
MAPPING_SLOTS = {
    "SparsePerceptron": {"weights": 1},
    "DensePerceptron": {"weights": 1},
    "NaiveBayes": {"feature_counts": 1, "class_counts": 2},
    "NearestCentroid": {"centroids": 1, "sample_counts": 2},
    "SparseNearestCentroid": {"sums": 1, "classes": 2},
}
INT80_BITS = 80  # lib/Packed.sol: int80 entry i at word i / 3, bits 80 * (i % 3)
UINT32_BITS = 32  # lib/Packed.sol: uint32 entry i at word i / 8, bits 32 * (i % 8)
WORD_BITS = 256

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
        """Every parameter at ``block`` through the paged getters (the plain path)."""
        raise NotImplementedError

    def read_storage(self, w3: Any, address: str, block: int, fetch: str = "auto") -> dict[str, Any]:
        """The same dict as :meth:`read`, from the contract's storage words (``fetch``: how
        :func:`vm_contracts.storage.read_words` gets them)."""
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


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _immutables(w3: Any, address: str, block: int, getters: Sequence[tuple[str, str]]) -> list[int]:
    """The values of argument-less getters ((signature, ABI type) each), in one batch."""
    outputs = call_outputs(w3, address, [_selector(sig) for sig, _ in getters], block)
    if any(len(out) != 32 for out in outputs):
        raise ClientError(f"no model contract at {address} at block {block} (its getters return nothing)")
    return [int(decode([kind], out)[0]) for (_, kind), out in zip(getters, outputs, strict=True)]


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _words_for(count: int, bits: int) -> int:
    """Storage words holding ``count`` packed entries of ``bits`` bits (lib/Packed.sol)."""
    per_word = WORD_BITS // bits
    return -(-count // per_word)


def _unpack(words: Sequence[int], count: int, bits: int, signed: bool) -> list[int]:
    """Entries 0..count of a packed array (lib/Packed.sol) from its words 0..."""
    per_word = WORD_BITS // bits
    mask = (1 << bits) - 1
    out = []
    for i in range(count):
        value = (words[i // per_word] >> (bits * (i % per_word))) & mask
        out.append(_signed(value, bits) if signed else value)
    return out


def _mapping_words(base: int, count: int) -> list[int]:
    """The slots of entries 0..count of the mapping at slot ``base``."""
    return [mapping_slot(key, base) for key in range(count)]


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

    def read_storage(self, w3: Any, address: str, block: int, fetch: str = "auto") -> dict[str, Any]:
        n, rate = _immutables(w3, address, block, [("numFeatures()", "uint64"), ("learningRate()", "int80")])
        count = _words_for(n, INT80_BITS)
        slots = [0, *_mapping_words(MAPPING_SLOTS[self.name]["weights"], count)]
        words = read_words(w3, address, slots, block, fetch)
        return {
            "num_features": n,
            "learning_rate": rate,
            "intercept": _signed(words[0] >> INTERCEPT_SHIFT, INT80_BITS),
            "weights": _unpack(words[1:], n, INT80_BITS, signed=True),
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

    def read_storage(self, w3: Any, address: str, block: int, fetch: str = "auto") -> dict[str, Any]:
        getters = [("numClasses()", "uint64"), ("numFeatures()", "uint64"), ("smoothing()", "uint256")]
        k, n, smoothing = _immutables(w3, address, block, getters)
        layout = MAPPING_SLOTS[self.name]
        count = _words_for(k * n, UINT32_BITS)
        slots = _mapping_words(layout["feature_counts"], count) + _mapping_words(layout["class_counts"], k)
        words = read_words(w3, address, slots, block, fetch)
        counts = _unpack(words[:count], k * n, UINT32_BITS, signed=False)
        classes = words[count:]
        low = (1 << 128) - 1  # _classCounts: samples in the low 128 bits, the total above
        return {
            "num_classes": k,
            "num_features": n,
            "smoothing": smoothing,
            "feature_counts": [counts[c * n : (c + 1) * n] for c in range(k)],
            "sample_counts": [word & low for word in classes],
            "total_counts": [word >> 128 for word in classes],
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

    def read_storage(self, w3: Any, address: str, block: int, fetch: str = "auto") -> dict[str, Any]:
        k, n = _immutables(w3, address, block, [("numClasses()", "uint64"), ("numFeatures()", "uint64")])
        layout = MAPPING_SLOTS[self.name]
        count = _words_for(k * n, INT80_BITS)
        slots = _mapping_words(layout["centroids"], count) + _mapping_words(layout["sample_counts"], k)
        words = read_words(w3, address, slots, block, fetch)
        centroids = _unpack(words[:count], k * n, INT80_BITS, signed=True)
        return {
            "num_classes": k,
            "num_features": n,
            "centroids": [centroids[c * n : (c + 1) * n] for c in range(k)],
            "sample_counts": words[count:],
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

    def read_storage(self, w3: Any, address: str, block: int, fetch: str = "auto") -> dict[str, Any]:
        k, n = _immutables(w3, address, block, [("numClasses()", "uint64"), ("numFeatures()", "uint64")])
        layout = MAPPING_SLOTS[self.name]
        count = _words_for(k * n, UINT32_BITS)
        slots = _mapping_words(layout["sums"], count) + _mapping_words(layout["classes"], k)
        words = read_words(w3, address, slots, block, fetch)
        sums = _unpack(words[:count], k * n, UINT32_BITS, signed=False)
        classes = words[count:]
        low = (1 << 64) - 1  # _classes: the sample count in the low 64 bits, the squared norm above
        return {
            "num_classes": k,
            "num_features": n,
            "sums": [sums[c * n : (c + 1) * n] for c in range(k)],
            "sample_counts": [word & low for word in classes],
            "squared_norms": [word >> 64 for word in classes],
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
