"""The Python SDK for the framework on chain, on web3.py.

It works against any ``web3.Web3``: HTTP to any node (sumchain, anvil, geth), or a
provider running sumchain in-process. It only uses standard JSON-RPC calls.

* :func:`deploy_framework` deploys a model, an incentive mechanism, a data handler
  and the ``CollaborativeTrainer`` that owns all three, initialising the model's
  parameters in as many transactions as the block gas limit needs.
* :class:`Framework` adds data, predicts, refunds, reports, reads every parameter of
  the model at any block, and rebuilds the dataset from the trainer's events.
* Reverts surface as :class:`~vm_contracts.errors.ContractRevert` naming the
  contract's custom error, e.g. ``DepositTooLow(required=1000, sent=1)``.
* Every transaction's receipt is returned and also kept in ``Framework.receipts``
  (label, receipt), so benchmarks can read ``gasUsed``.

Model state is one dict format both ways: what :meth:`Framework.read_model` returns is
what :func:`deploy_framework` and :meth:`Framework.replace_model` accept, so a model
read at an earlier block can be redeployed to revert a corrupted one.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eth_abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.logs import DISCARD

from vm_contracts.encoding import SCALE
from vm_contracts.errors import (
    ClientError,
    ContractRevert,
    DeploymentError,
    TransactionFailed,
    VmContractsError,
)

DEFAULT_EVM_VERSION = "cancun"

GAS_ESTIMATE_MARGIN = 1.25  # multiply gas estimates by this before sending
GAS_ESTIMATE_EXTRA = 10_000  # gas added on top of the margin
INIT_GAS_SHARE = 0.8  # share of the block gas limit one initialisation transaction may use
INIT_PROBE_ENTRIES = 32  # entries in the first chunk, used to measure gas per entry
INIT_MAX_ENTRIES = 4096  # entries per initialisation transaction at most
READ_PAGE_ENTRIES = 1024  # entries per paged getter call

MODELS = (
    "SparsePerceptron",
    "DensePerceptron",
    "NaiveBayes",
    "NearestCentroid",
    "SparseNearestCentroid",
)
INCENTIVES = ("Stakeable", "Points")
SPARSE_MODELS = frozenset({"SparsePerceptron", "NaiveBayes", "SparseNearestCentroid"})

# Defaults for the incentive mechanisms (the paper's demo settings, in seconds and wei).
STAKEABLE_DEFAULTS: dict[str, int] = {
    "refund_wait_s": 86_400,  # one day before a refund or report
    "owner_claim_wait_s": 9 * 86_400,  # the model owner takes the rest after nine days
    "any_address_claim_wait_s": 10 * 86_400,  # anyone takes the rest after ten days
    "cost_weight": 10**15,  # wei * s: adding data 1 s after the last costs 10^15 wei
    "min_deposit": 10**12,  # wei
    "sqrt_deposit_law": 0,  # 1: cost_weight / isqrt(elapsed s) (the original's law); 0: / elapsed
}
POINTS_DEFAULTS: dict[str, int] = {"refund_wait_s": 86_400}

SOLIDITY_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
SOLIDITY_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

Account = Any  # an address string the node signs for, or an eth_account LocalAccount
BlockId = int | str


# --- artifacts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what the SDK needs from ``vm_contracts/artifacts``.

    Fields:
        name: contract name, e.g. ``"SparsePerceptron"``.
        abi: the JSON ABI (list of entries).
        bytecode: creation bytecode, hex with ``0x``.
    """

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


ArtifactLoader = Callable[[str], Artifact]


def load_contract(name: str, evm_version: str = DEFAULT_EVM_VERSION, optimized: bool = True) -> Artifact:
    """The committed artifact of contract ``name`` (see ``vm_contracts.build``)."""
    from vm_contracts.build import load_artifact

    try:
        raw = load_artifact(name, evm_version, optimized)
    except Exception as exc:  # the loader's own errors become one clear line
        raise ClientError(f"cannot load artifact {name} ({evm_version}): {exc}") from exc
    return artifact_from_json(name, raw)


def load_artifact_file(path: str | Path, name: str | None = None) -> Artifact:
    """An artifact from a JSON file holding ``abi`` and ``bytecode``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClientError(f"{path}: not a readable contract artifact ({exc})") from exc
    return artifact_from_json(name or path.stem, raw)


def artifact_from_json(name: str, raw: Any) -> Artifact:
    """Accept the usual artifact shapes: ``bytecode`` as hex or as ``{"object": hex}``."""
    if isinstance(raw, Artifact):
        return raw
    if not isinstance(raw, Mapping) or "abi" not in raw:
        raise ClientError(f"artifact {name}: expected an object with 'abi' and 'bytecode'")
    bytecode = raw.get("bytecode")
    if isinstance(bytecode, Mapping):
        bytecode = bytecode.get("object")
    if not isinstance(bytecode, str) or not bytecode.strip("0x"):
        raise ClientError(f"artifact {name}: no creation bytecode")
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    return Artifact(name=name, abi=list(raw["abi"]), bytecode=bytecode)


# --- revert decoding -----------------------------------------------------------------------


class ErrorDecoder:
    """Maps revert data to the custom error it encodes, over a set of ABIs."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {
            SOLIDITY_ERROR_SELECTOR: ("Error", ["string"], ["message"]),
            SOLIDITY_PANIC_SELECTOR: ("Panic", ["uint256"], ["code"]),
        }
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [_abi_type(item) for item in entry.get("inputs", [])]
                names = [item.get("name") or f"arg{i}" for i, item in enumerate(entry["inputs"])]
                selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
                self._errors[selector] = (entry["name"], types, names)

    def decode(self, data: bytes) -> ContractRevert:
        """The :class:`ContractRevert` for ``data`` (``UnknownError`` if no ABI knows it)."""
        known = self._errors.get(data[:4]) if len(data) >= 4 else None
        if known is None:
            return ContractRevert("UnknownError", {"data": data} if data else {}, data)
        name, types, names = known
        try:
            values = abi_decode(types, data[4:])
        except Exception:  # malformed payload: keep the raw data
            return ContractRevert(name, {"data": data[4:]}, data)
        return ContractRevert(name, dict(zip(names, values, strict=True)), data)

    def from_exception(self, exc: BaseException) -> ContractRevert | None:
        """The revert an exception from web3 (any provider) carries, or None if it is
        not a revert (e.g. a connection error)."""
        data = _revert_data(exc)
        if data is not None:
            return self.decode(data)
        reason = _revert_reason(exc)
        if reason is not None:
            return ContractRevert("Error", {"message": reason})
        return None


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(component) for component in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


_BYTES_LITERAL = re.compile(r"(b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\")\s*$", re.S)
_REVERT_PREFIX = "execution reverted"


def _revert_data(exc: BaseException) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str) and re.fullmatch(r"0x(?:[0-9a-fA-F]{2})*", data):
        return bytes.fromhex(data[2:])
    # eth-tester puts the raw revert bytes in the message as a Python literal.
    message = str(exc.args[0]) if exc.args else ""
    match = _BYTES_LITERAL.search(message)
    if match is not None and message.lower().startswith(_REVERT_PREFIX):
        try:
            value = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return None
        return bytes(value)
    return None


def _revert_reason(exc: BaseException) -> str | None:
    message = str(exc.args[0]) if exc.args else ""
    if not message.lower().startswith(_REVERT_PREFIX):
        return None
    reason = message[len(_REVERT_PREFIX) :].lstrip(": ").strip()
    return reason or ""


# --- models ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InitArray:
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

    def init_arrays(self, state: Mapping[str, Any]) -> list[_InitArray]:
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

    def init_arrays(self, state: Mapping[str, Any]) -> list[_InitArray]:
        weights = _vector(state, "weights", int(state["num_features"]), self.name)
        return [_InitArray("initializeWeights", (), weights, "weights")]

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

    def init_arrays(self, state: Mapping[str, Any]) -> list[_InitArray]:
        k, n = int(state["num_classes"]), int(state["num_features"])
        counts = _matrix(state, "feature_counts", k, n, self.name)
        return [
            _InitArray("initializeFeatureCounts", (c,), counts[c], f"feature_counts[{c}]") for c in range(k)
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

    def init_arrays(self, state: Mapping[str, Any]) -> list[_InitArray]:
        k, n = int(state["num_classes"]), int(state["num_features"])
        centroids = _matrix(state, "centroids", k, n, self.name)
        return [_InitArray("initializeCentroid", (c,), centroids[c], f"centroids[{c}]") for c in range(k)]

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

    def init_arrays(self, state: Mapping[str, Any]) -> list[_InitArray]:
        k, n = int(state["num_classes"]), int(state["num_features"])
        sums = _matrix(state, "sums", k, n, self.name)
        return [_InitArray("initializeSums", (c,), sums[c], f"sums[{c}]") for c in range(k)]

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


def _adapter(model: str) -> ModelAdapter:
    if model not in MODEL_ADAPTERS:
        raise ClientError(f"unknown model {model!r}; choose one of {MODELS}")
    return MODEL_ADAPTERS[model]


# --- initial states from scikit-learn ------------------------------------------------------------


def state_from_sklearn(
    model: str,
    estimator: Any,
    class_counts: Sequence[int] | None = None,
    learning_rate: float = 1.0,
    smoothing: float | None = None,
) -> dict[str, Any]:
    """A model state (the dict :func:`deploy_framework` takes) from a fitted estimator.

    * ``SparsePerceptron`` / ``DensePerceptron`` from a binary ``Perceptron``: weights and
      intercept as fixed point; ``learning_rate`` is the on-chain step (use ``eta0``).
    * ``NaiveBayes`` from ``MultinomialNB`` fitted on integer counts: the feature and
      class counts; smoothing from ``alpha`` unless given.
    * ``NearestCentroid`` from ``NearestCentroid``: centroids as fixed point; the per-class
      sample counts must be given (scikit-learn does not keep them).
    * ``SparseNearestCentroid`` from ``NearestCentroid`` fitted on counts: the per-class
      sums (centroid x count, rounded), counts given as above.
    """
    import numpy as np

    if model in ("SparsePerceptron", "DensePerceptron"):
        coef = np.asarray(estimator.coef_)
        if coef.shape[0] != 1:
            raise ClientError(f"{model} is binary; the estimator has {coef.shape[0]} classes")
        return {
            "num_features": int(coef.shape[1]),
            "learning_rate": round(learning_rate * SCALE),
            "intercept": round(float(estimator.intercept_[0]) * SCALE),
            "weights": [round(float(w) * SCALE) for w in coef[0]],
        }
    if model == "NaiveBayes":
        counts = np.asarray(estimator.feature_count_)
        if not np.allclose(counts, np.round(counts)):
            raise ClientError("NaiveBayes needs a MultinomialNB fitted on integer counts")
        alpha = float(np.mean(estimator.alpha)) if smoothing is None else smoothing
        return {
            "num_classes": int(counts.shape[0]),
            "num_features": int(counts.shape[1]),
            "smoothing": round(alpha * SCALE),
            "feature_counts": [[int(v) for v in row] for row in np.round(counts)],
            "sample_counts": [int(v) for v in estimator.class_count_],
        }
    if model in ("NearestCentroid", "SparseNearestCentroid"):
        centroids = np.asarray(estimator.centroids_)
        if class_counts is None or len(class_counts) != centroids.shape[0]:
            raise ClientError(f"{model} needs class_counts, one per class")
        state: dict[str, Any] = {
            "num_classes": int(centroids.shape[0]),
            "num_features": int(centroids.shape[1]),
            "sample_counts": [int(v) for v in class_counts],
        }
        if model == "NearestCentroid":
            state["centroids"] = [[round(float(v) * SCALE) for v in row] for row in centroids]
        else:
            state["sums"] = [
                [round(float(v) * count) for v in row]
                for row, count in zip(centroids, class_counts, strict=True)
            ]
        return state
    raise ClientError(f"unknown model {model!r}; choose one of {MODELS}")


# State keys as read_model returns them -> the off-chain twins' parameter names.
_TWIN_KEYS = {
    "num_features": "numFeatures",
    "num_classes": "numClasses",
    "learning_rate": "learningRate",
    "intercept": "intercept",
    "weights": "weights",
    "smoothing": "smoothing",
    "feature_counts": "featureCounts",
    "sample_counts": "sampleCounts",
    "total_counts": "totalCounts",
    "centroids": "centroids",
    "sums": "sums",
}


def reference_twin(model: str, state: Mapping[str, Any]) -> Any:
    """The off-chain twin (``vm_contracts.reference``) of a model in ``state`` (e.g. from
    :meth:`Framework.read_model`): same integer arithmetic, so its predictions equal the
    contract's, computed without a call per sample."""
    from vm_contracts import reference

    if model not in MODELS:
        raise ClientError(f"unknown model {model!r}; choose one of {MODELS}")
    parameters = {_TWIN_KEYS[key]: value for key, value in state.items() if key in _TWIN_KEYS}
    try:
        return getattr(reference, model).from_parameters(parameters)
    except KeyError as exc:
        raise ClientError(f"{model} state lacks {exc.args[0]}") from exc


# --- transactions ----------------------------------------------------------------------------


def _address_of(account: Account) -> ChecksumAddress:
    if isinstance(account, str):
        return Web3.to_checksum_address(account)
    address = getattr(account, "address", None)
    if address is None:
        raise ClientError("an account is an address string or an eth_account LocalAccount")
    return Web3.to_checksum_address(address)


class _Sender:
    """Sends transactions: estimate (a revert raises before anything is sent), send with
    a margin, wait for the receipt, decode a failure, record the receipt."""

    def __init__(self, w3: Web3, decoder: ErrorDecoder, receipts: list[tuple[str, Any]]) -> None:
        self.w3 = w3
        self.decoder = decoder
        self.receipts = receipts

    def revert_or_raise(self, exc: Exception) -> None:
        revert = self.decoder.from_exception(exc)
        if revert is not None:
            raise revert from exc
        if isinstance(exc, Web3RPCError):  # e.g. insufficient funds, nonce too low
            error = (exc.rpc_response or {}).get("error")
            reason = error.get("message") if isinstance(error, Mapping) else None
            raise TransactionFailed(f"the node refused: {reason or exc.message}") from exc
        raise exc

    def estimate(self, built: Any, params: dict[str, Any]) -> int:
        try:
            return int(built.estimate_gas(params))
        except VmContractsError:
            raise
        except Exception as exc:
            self.revert_or_raise(exc)
            raise  # unreachable; keeps type checkers content

    def call(self, built: Any, block: BlockId = "latest", params: dict[str, Any] | None = None) -> Any:
        try:
            return built.call(params or {}, block_identifier=block)
        except Exception as exc:
            self.revert_or_raise(exc)
            raise

    def send(
        self,
        built: Any,
        account: Account,
        label: str,
        value: int = 0,
        gas: int | None = None,
        estimated: int | None = None,
    ) -> Any:
        """Send and wait. ``gas`` is the exact gas limit to use; otherwise the limit is
        ``estimated`` (or a fresh estimate) plus a margin, capped at the block gas limit."""
        sender = _address_of(account)
        params: dict[str, Any] = {"from": sender, "value": int(value)}
        if gas is not None:
            params["gas"] = int(gas)
        else:
            if estimated is None:
                estimated = self.estimate(built, params)
            limit = int(self.w3.eth.get_block("latest")["gasLimit"])
            margin = int(estimated * GAS_ESTIMATE_MARGIN) + GAS_ESTIMATE_EXTRA
            params["gas"] = min(margin, limit)
        try:
            if isinstance(account, str):
                tx_hash = built.transact(params)
            else:
                params["nonce"] = self.w3.eth.get_transaction_count(sender, "pending")
                transaction = built.build_transaction(params)
                signed = account.sign_transaction(transaction)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            self.revert_or_raise(exc)
            raise
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        self.receipts.append((label, receipt))
        if receipt["status"] != 1:
            self._explain_failure(built, params, receipt, label)
        return receipt

    def _explain_failure(self, built: Any, params: dict[str, Any], receipt: Any, label: str) -> None:
        replay = {key: params[key] for key in ("from", "value", "gas")}
        try:
            built.call(replay, block_identifier=int(receipt["blockNumber"]) - 1)
        except Exception as exc:
            revert = self.decoder.from_exception(exc)
            if revert is not None:
                revert.receipt = receipt
                raise revert from exc
        raise TransactionFailed(
            f"{label}: transaction {receipt['transactionHash'].hex()} failed "
            f"(gas used {receipt['gasUsed']} of {params['gas']})",
            receipt,
        )


# --- the framework ------------------------------------------------------------------------------


@dataclass
class Contribution:
    """One sample added through the trainer, rebuilt from its events.

    Fields:
        contributor: checksum address that added it.
        data: the sample as added (int64 values: feature indices or fixed point).
        label: its class.
        deposit: wei held when it was added (0 under Points).
        added_time: timestamp (s) of the block that added it; part of its identity.
        block_number: the block that added it.
        transaction_hash: the ``addData`` transaction, hex.
        refunded: whether the contributor claimed the refund (or point).
        refund_amount: wei paid back by the refund.
        taken: wei taken by reports, per reporter address.
    """

    contributor: str
    data: list[int]
    label: int
    deposit: int
    added_time: int
    block_number: int
    transaction_hash: str
    refunded: bool = False
    refund_amount: int = 0
    taken: dict[str, int] = field(default_factory=dict)

    @property
    def claimable(self) -> int:
        """Wei of the deposit still held by the trainer."""
        return self.deposit - self.refund_amount - sum(self.taken.values())

    def key(self) -> tuple[str, tuple[int, ...], int, int]:
        return (self.contributor, tuple(self.data), self.label, self.added_time)


class Framework:
    """A deployed trainer with its model, incentive mechanism and data handler.

    Fields:
        w3: the web3 every call goes through.
        model_name: which model contract (one of ``MODELS``).
        incentive_name: which mechanism (one of ``INCENTIVES``).
        trainer, model, incentive, data_handler: web3 contract objects.
        receipts: (label, receipt) of every transaction sent through this object, in
            order; ``label`` says what it was ("deploy SparsePerceptron", "addData", ...).
        deployed_block: the block of the trainer's deployment; events are read from it.
    """

    def __init__(
        self,
        w3: Web3,
        model_name: str,
        incentive_name: str,
        trainer_address: str,
        artifacts: Mapping[str, Artifact],
        deployed_block: int = 0,
        receipts: list[tuple[str, Any]] | None = None,
    ) -> None:
        self.w3 = w3
        self.model_name = model_name
        self.incentive_name = incentive_name
        self.artifacts = dict(artifacts)
        self.deployed_block = deployed_block
        self.receipts: list[tuple[str, Any]] = receipts if receipts is not None else []
        self.decoder = ErrorDecoder(artifact.abi for artifact in self.artifacts.values())
        self._sender = _Sender(w3, self.decoder, self.receipts)
        self.trainer = w3.eth.contract(
            address=Web3.to_checksum_address(trainer_address),
            abi=self.artifacts["CollaborativeTrainer"].abi,
        )
        self.data_handler = w3.eth.contract(
            address=self.trainer.functions.dataHandler().call(),
            abi=self.artifacts["DataHandler"].abi,
        )
        self.incentive = w3.eth.contract(
            address=self.trainer.functions.incentiveMechanism().call(),
            abi=self.artifacts[incentive_name].abi,
        )
        self.model = self._model_at(self.trainer.functions.model().call())

    @classmethod
    def attach(
        cls,
        w3: Web3,
        trainer_address: str,
        model: str,
        incentive: str,
        evm_version: str = DEFAULT_EVM_VERSION,
        deployed_block: int = 0,
        artifact_loader: ArtifactLoader | None = None,
    ) -> Framework:
        """A :class:`Framework` for a trainer deployed earlier (e.g. by another process)."""
        artifacts = _load_all(model, incentive, evm_version, artifact_loader)
        return cls(
            w3,
            model,
            incentive,
            Web3.to_checksum_address(trainer_address),
            artifacts,
            deployed_block,
        )

    def _model_at(self, address: str) -> Any:
        checksum = Web3.to_checksum_address(address)
        return self.w3.eth.contract(address=checksum, abi=self.artifacts[self.model_name].abi)

    @property
    def address(self) -> str:
        """The trainer's address: the framework's single entry point."""
        return str(self.trainer.address)

    # -- metadata

    def metadata(self) -> dict[str, str]:
        """The trainer's name, description and encoder strings."""
        f = self.trainer.functions
        return {
            "name": f.name().call(),
            "description": f.description().call(),
            "encoder": f.encoder().call(),
        }

    # -- adding data

    def required_deposit(self, block: BlockId = "latest") -> int:
        """The deposit (wei) an ``addData`` needs if mined after ``block``."""
        return int(self._sender.call(self.incentive.functions.getNextAddDataCost(), block))

    def add_data(
        self,
        data: Sequence[int],
        label: int,
        account: Account,
        deposit: int | None = None,
        gas: int | None = None,
    ) -> Any:
        """Add a labelled sample, training the model; returns the receipt.

        ``deposit`` defaults to the mechanism's required deposit at the latest block
        (Stakeable lowers it as time passes, so that is enough unless another addData
        lands first in the same block). Any excess is returned by the trainer. ``gas``
        skips the gas estimate (a failure is then decoded from the mined receipt).
        """
        vector = _int64_vector(data)
        value = self.required_deposit() if deposit is None else int(deposit)
        built = self.trainer.functions.addData(vector, _label(label))
        return self._sender.send(built, account, "addData", value=value, gas=gas)

    def contributions_in(self, receipt: Any) -> list[Contribution]:
        """The contributions a receipt's ``DataAdded`` events record."""
        events = self.trainer.events.DataAdded().process_receipt(receipt, errors=DISCARD)
        return [_contribution(event) for event in events]

    # -- queries

    def predict(self, data: Sequence[int], block: BlockId = "latest") -> int:
        """The model's class for ``data`` at ``block`` (free: an ``eth_call``)."""
        return int(self._sender.call(self.trainer.functions.predict(_int64_vector(data)), block))

    def read_model(self, block: BlockId = "latest") -> dict[str, Any]:
        """Every parameter of the model the trainer used at ``block``, via paged getters
        at that one block; the dict :func:`deploy_framework` accepts as a state."""
        number = self._block_number(block)
        address = self.trainer.functions.model().call(block_identifier=number)
        state = _adapter(self.model_name).read(self._model_at(address), number)
        state["model"] = self.model_name
        state["address"] = address
        state["block"] = number
        return state

    def points(self, address: str, block: BlockId = "latest") -> int:
        """Points earned by ``address`` (Points mechanism only)."""
        if self.incentive_name != "Points":
            raise ClientError(f"points exist only under Points, not {self.incentive_name}")
        checksum = Web3.to_checksum_address(address)
        return int(self._sender.call(self.incentive.functions.points(checksum), block))

    def contributions(
        self, from_block: int | None = None, to_block: BlockId = "latest"
    ) -> list[Contribution]:
        """Every sample added through the trainer, with its refunds and reports, rebuilt
        from the trainer's events alone."""
        start = self.deployed_block if from_block is None else from_block
        end = self._block_number(to_block)
        events = self.trainer.events
        found: dict[tuple[str, tuple[int, ...], int, int], Contribution] = {}
        ordered: list[Contribution] = []
        for event in events.DataAdded.get_logs(from_block=start, to_block=end):
            contribution = _contribution(event)
            found[contribution.key()] = contribution
            ordered.append(contribution)
        for event in events.Refunded.get_logs(from_block=start, to_block=end):
            args = event["args"]
            key = (args["contributor"], tuple(args["data"]), args["label"], args["addedTime"])
            if key in found:
                found[key].refunded = True
                found[key].refund_amount = int(args["amount"])
        for event in events.Reported.get_logs(from_block=start, to_block=end):
            args = event["args"]
            key = (args["contributor"], tuple(args["data"]), args["label"], args["addedTime"])
            if key in found:
                found[key].taken[args["reporter"]] = int(args["amount"])
        return ordered

    # -- claims

    def refund(
        self, contribution: Contribution, account: Account | None = None, gas: int | None = None
    ) -> Any:
        """Claim back the deposit (Stakeable) or a point (Points) for one's own sample.
        ``gas`` skips the estimate, as for :meth:`add_data`."""
        built = self.trainer.functions.refund(
            contribution.contributor,
            _int64_vector(contribution.data),
            _label(contribution.label),
            int(contribution.added_time),
        )
        return self._sender.send(built, account or contribution.contributor, "refund", gas=gas)

    def report(self, contribution: Contribution, account: Account, gas: int | None = None) -> Any:
        """Take from someone else's deposit for a sample the model disagrees with (or,
        after the claim wait times, the whole remainder). ``gas`` skips the estimate."""
        built = self.trainer.functions.report(
            contribution.contributor,
            _int64_vector(contribution.data),
            _label(contribution.label),
            int(contribution.added_time),
        )
        return self._sender.send(built, account, "report", gas=gas)

    # -- model replacement

    def replace_model(
        self, state: Mapping[str, Any] | str, account: Account, init_gas_budget: int | None = None
    ) -> Any:
        """Swap in a new model: ``state`` is a dict as :meth:`read_model` returns (e.g. an
        earlier block's, to revert a corrupted model), deployed and initialised here, or
        the address of a model already initialised and owned by the trainer. Only the
        trainer's owner may do this. Returns the ``replaceModel`` receipt."""
        if isinstance(state, str):
            address = Web3.to_checksum_address(state)
        else:
            contract = _deploy_model(
                self._sender,
                self.artifacts[self.model_name],
                self.model_name,
                state,
                account,
                init_gas_budget,
            )
            self._sender.send(
                contract.functions.transferOwnership(self.address),
                account,
                f"transferOwnership {self.model_name}",
            )
            address = contract.address
        receipt = self._sender.send(self.trainer.functions.replaceModel(address), account, "replaceModel")
        self.model = self._model_at(address)
        return receipt

    # -- helpers

    def _block_number(self, block: BlockId) -> int:
        if isinstance(block, int):
            return block
        return int(self.w3.eth.get_block(cast(Any, block))["number"])

    def gas_used(self, label: str | None = None) -> list[int]:
        """gasUsed of the recorded receipts (those with ``label`` if given)."""
        return [int(r["gasUsed"]) for name, r in self.receipts if label is None or name == label]


def _contribution(event: Any) -> Contribution:
    args = event["args"]
    return Contribution(
        contributor=args["contributor"],
        data=[int(v) for v in args["data"]],
        label=int(args["label"]),
        deposit=int(args["deposit"]),
        added_time=int(args["addedTime"]),
        block_number=int(event["blockNumber"]),
        transaction_hash="0x" + bytes(event["transactionHash"]).hex(),
    )


def _int64_vector(data: Sequence[int]) -> list[int]:
    try:
        vector = [int(v) for v in data]
    except (TypeError, ValueError) as exc:
        raise ClientError(f"data must be a sequence of integers ({exc})") from exc
    for position, value in enumerate(vector):
        if not -(2**63) <= value < 2**63:
            raise ClientError(f"data[{position}] = {value} does not fit int64")
    return vector


def _label(label: int) -> int:
    value = int(label)
    if not 0 <= value < 2**64:
        raise ClientError(f"label {label} must be a non-negative integer below 2^64")
    return value


# --- deployment -------------------------------------------------------------------------------


def _load_all(
    model: str,
    incentive: str,
    evm_version: str,
    loader: ArtifactLoader | None,
    optimized: bool = True,
) -> dict[str, Artifact]:
    if model not in MODELS:
        raise ClientError(f"unknown model {model!r}; choose one of {MODELS}")
    if incentive not in INCENTIVES:
        raise ClientError(f"unknown incentive mechanism {incentive!r}; choose one of {INCENTIVES}")

    def load(name: str) -> Artifact:
        return loader(name) if loader is not None else load_contract(name, evm_version, optimized)

    return {name: load(name) for name in (model, incentive, "DataHandler", "CollaborativeTrainer")}


def _deploy(sender: _Sender, artifact: Artifact, args: Sequence[Any], account: Account) -> Any:
    factory = sender.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = sender.send(factory.constructor(*args), account, f"deploy {artifact.name}")
    return sender.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def _deploy_model(
    sender: _Sender,
    artifact: Artifact,
    model: str,
    state: Mapping[str, Any],
    account: Account,
    init_gas_budget: int | None,
) -> Any:
    adapter = _adapter(model)
    adapter.check_state(state)
    arrays = adapter.init_arrays(state)  # validates shapes before anything is sent
    contract = _deploy(sender, artifact, adapter.constructor_args(state), account)
    limit = int(sender.w3.eth.get_block("latest")["gasLimit"])
    budget = int(limit * INIT_GAS_SHARE) if init_gas_budget is None else int(init_gas_budget)
    if budget > limit:
        raise DeploymentError(f"initialisation gas budget {budget} exceeds the block gas limit {limit}")
    size = INIT_PROBE_ENTRIES
    for array in arrays:
        size = _write_chunks(sender, contract, array, account, budget, size)
    for function, args in adapter.init_single_calls(state):
        if any(any(v) if isinstance(v, list) else v for v in args):
            sender.send(getattr(contract.functions, function)(*args), account, f"initialize {model}")
    sender.send(contract.functions.finishInitialization(), account, f"initialize {model}")
    return contract


def _write_chunks(
    sender: _Sender,
    contract: Any,
    array: _InitArray,
    account: Account,
    budget: int,
    size: int,
) -> int:
    """Write ``array`` in chunks sized so each transaction's gas stays within ``budget``.

    ``size`` entries are tried first (the probe for the first array); each sent chunk
    measures gas per entry and sizes the next one, shrunk whenever an estimate comes out
    above the budget. All-zero chunks are skipped: unset storage already reads as zero.
    Returns the chunk size to start the next array with.
    """
    function = getattr(contract.functions, array.function)
    sender_address = _address_of(account)
    start = 0
    values = array.values
    while start < len(values):
        chunk = values[start : start + size]
        if not any(chunk):
            start += len(chunk)
            continue
        built = function(*array.prefix, start, chunk)
        try:
            gas = sender.estimate(built, {"from": sender_address})
        except ContractRevert:
            raise
        except Exception as exc:  # e.g. "exceeds block gas limit" from the estimator
            if len(chunk) == 1:
                raise DeploymentError(f"{array.part}[{start}]: cannot estimate gas ({exc})") from exc
            size = max(1, len(chunk) // 2)
            continue
        if gas > budget:
            if len(chunk) == 1:
                raise DeploymentError(
                    f"{array.part}[{start}]: one entry needs {gas} gas, over the budget {budget}"
                )
            size = max(1, min(len(chunk) - 1, len(chunk) * budget // gas * 9 // 10))
            continue
        sender.send(built, account, f"initialize {array.part}", estimated=gas)
        start += len(chunk)
        per_entry = max(1, gas // len(chunk))
        fitting = int(budget / GAS_ESTIMATE_MARGIN) // per_entry
        size = max(1, min(INIT_MAX_ENTRIES, fitting))
    return size


def _incentive_args(incentive: str, params: Mapping[str, int] | None) -> list[int | bool]:
    defaults = STAKEABLE_DEFAULTS if incentive == "Stakeable" else POINTS_DEFAULTS
    unknown = sorted(set(params or {}) - set(defaults))
    if unknown:
        raise ClientError(f"{incentive} has no parameters {unknown}; it takes {sorted(defaults)}")
    merged = {**defaults, **(params or {})}
    return [bool(merged[key]) if key == "sqrt_deposit_law" else int(merged[key]) for key in defaults]


def deploy_framework(
    w3: Web3,
    model: str = "SparsePerceptron",
    incentive: str = "Stakeable",
    params: Mapping[str, Any] | None = None,
    initial: Mapping[str, Any] | None = None,
    account: Account | None = None,
    incentive_params: Mapping[str, int] | None = None,
    name: str = "",
    description: str = "",
    encoder: str = "",
    evm_version: str = DEFAULT_EVM_VERSION,
    optimized: bool = True,
    init_gas_budget: int | None = None,
    artifact_loader: ArtifactLoader | None = None,
) -> Framework:
    """Deploy a model, an incentive mechanism, a data handler and the trainer owning them.

    ``params`` are the model's constructor parameters (``num_features``, and per model
    ``learning_rate`` / ``num_classes`` / ``smoothing``, all fixed point where they are
    reals) and ``initial`` its starting parameters (see :func:`state_from_sklearn`, or a
    dict from :meth:`Framework.read_model`); both may be given in one dict. Arrays are
    written in as many transactions as ``init_gas_budget`` (default: 80% of the block gas
    limit) needs. ``incentive_params`` override ``STAKEABLE_DEFAULTS`` /
    ``POINTS_DEFAULTS``. ``account`` (default: the node's first account) deploys and
    becomes the trainer's owner.
    """
    artifacts = _load_all(model, incentive, evm_version, artifact_loader, optimized)
    state = {**(initial or {}), **(params or {})}
    if account is None:
        accounts = w3.eth.accounts
        if not accounts:
            raise ClientError("no account given and the node manages none")
        account = accounts[0]
    receipts: list[tuple[str, Any]] = []
    decoder = ErrorDecoder(artifact.abi for artifact in artifacts.values())
    sender = _Sender(w3, decoder, receipts)
    model_contract = _deploy_model(sender, artifacts[model], model, state, account, init_gas_budget)
    mechanism = _deploy(sender, artifacts[incentive], _incentive_args(incentive, incentive_params), account)
    handler = _deploy(sender, artifacts["DataHandler"], [], account)
    trainer = _deploy(
        sender,
        artifacts["CollaborativeTrainer"],
        [
            name or model,
            description,
            encoder,
            handler.address,
            mechanism.address,
            model_contract.address,
        ],
        account,
    )
    deployed_block = int(receipts[-1][1]["blockNumber"])
    for component, label in (
        (model_contract, model),
        (mechanism, incentive),
        (handler, "DataHandler"),
    ):
        sender.send(
            component.functions.transferOwnership(trainer.address),
            account,
            f"transferOwnership {label}",
        )
    return Framework(w3, model, incentive, trainer.address, artifacts, deployed_block, receipts)
