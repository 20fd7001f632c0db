"""The Python SDK for the framework on chain, on web3.py.

It works against any ``web3.Web3``: HTTP to any node (sumchain, anvil, geth; see
:func:`connect`, which adds web3's proof-of-authority middleware when the chain needs
it, and :func:`async_connect` for ``AsyncWeb3``), or a provider running sumchain
in-process. It only uses standard JSON-RPC calls. A plain ``Web3`` on a
proof-of-authority chain works too: the SDK adds the middleware before its first
transaction (:func:`accept_proof_of_authority`).

* :func:`deploy_framework` deploys a model, an incentive mechanism, a data handler
  and the ``CollaborativeTrainer`` that owns all three, initialising the model's
  parameters in as many transactions as the block gas limit needs (the deployer is
  ``vm_contracts.deploy``).
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from web3 import Web3
from web3.logs import DISCARD

from vm_contracts.deploy import (
    DEFAULT_EVM_VERSION,
    INCENTIVES,
    POINTS_DEFAULTS,
    STAKEABLE_DEFAULTS,
    Account,
    Artifact,
    ArtifactLoader,
    BlockId,
    Deployer,
    GasPolicy,
    Instance,
    Sender,
    accept_proof_of_authority,
    address_of,
    artifact_from_json,
    async_accept_proof_of_authority,
    async_connect,
    connect,
    deploy_instance,
    framework_artifacts,
    load_artifact_file,
    load_contract,
    new_heads,
)
from vm_contracts.errors import ClientError, ProofOfAuthorityChain
from vm_contracts.fixed_point import SCALE
from vm_contracts.models import MODEL_ADAPTERS, MODELS, SPARSE_MODELS, ModelAdapter, model_adapter
from vm_contracts.revert import ErrorDecoder

__all__ = [  # the SDK's names, wherever they are defined
    "DEFAULT_EVM_VERSION",
    "INCENTIVES",
    "MODELS",
    "MODEL_ADAPTERS",
    "POINTS_DEFAULTS",
    "SPARSE_MODELS",
    "STAKEABLE_DEFAULTS",
    "Account",
    "Artifact",
    "ArtifactLoader",
    "BlockId",
    "Contribution",
    "ErrorDecoder",
    "Framework",
    "ModelAdapter",
    "ProofOfAuthorityChain",
    "accept_proof_of_authority",
    "artifact_from_json",
    "async_accept_proof_of_authority",
    "async_connect",
    "connect",
    "deploy_framework",
    "load_artifact_file",
    "load_contract",
    "new_heads",
    "reference_twin",
    "state_from_sklearn",
]

# The names vm_contracts/market.py imported before the deployer had its own module.
_Sender = Sender
_address_of = address_of


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
        self._sender = Sender(w3, self.decoder, self.receipts)
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
        artifacts = framework_artifacts(model, incentive, evm_version, artifact_loader)
        return cls(
            w3,
            model,
            incentive,
            Web3.to_checksum_address(trainer_address),
            artifacts,
            deployed_block,
        )

    @classmethod
    def from_instance(cls, instance: Instance) -> Framework:
        """The :class:`Framework` of an instance :func:`~vm_contracts.deploy.deploy_instance`
        deployed; its receipts list is the deployment's, continued."""
        return cls(
            instance.w3,
            instance.model,
            instance.incentive,
            instance.trainer,
            instance.artifacts,
            instance.deployed_block,
            instance.receipts,
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
        state = model_adapter(self.model_name).read(self._model_at(address), number)
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
            policy = GasPolicy(init_gas_budget=init_gas_budget)
            deployer = Deployer(self.w3, account, policy, self.decoder, self.receipts)
            contract = deployer.model(self.artifacts[self.model_name], self.model_name, state)
            deployer.transfer_ownership(contract, self.model_name, self.address, "model")
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
    policy: GasPolicy | None = None,
    libraries: Mapping[str, str] | None = None,
) -> Framework:
    """Deploy a model, an incentive mechanism, a data handler and the trainer owning them
    (:func:`vm_contracts.deploy.deploy_instance`), as a :class:`Framework`.

    ``params`` are the model's constructor parameters (``num_features``, and per model
    ``learning_rate`` / ``num_classes`` / ``smoothing``, all fixed point where they are
    reals) and ``initial`` its starting parameters (see :func:`state_from_sklearn`, or a
    dict from :meth:`Framework.read_model`); both may be given in one dict. Arrays are
    written in as many transactions as ``init_gas_budget`` (default: 80% of the block gas
    limit) needs; ``policy`` (default: estimate every transaction) says how gas is
    chosen. ``incentive_params`` override ``STAKEABLE_DEFAULTS`` / ``POINTS_DEFAULTS``.
    ``account`` (default: the node's first account) deploys and becomes the trainer's
    owner. ``libraries`` (name -> address) are linked where the bytecode references them.
    """
    if policy is None:
        policy = GasPolicy(init_gas_budget=init_gas_budget)
    elif init_gas_budget is not None:
        raise ClientError("give init_gas_budget inside the policy, not beside it")
    instance = deploy_instance(
        w3,
        model,
        incentive,
        {**(initial or {}), **(params or {})},
        account,
        incentive_params,
        name,
        description,
        encoder,
        evm_version,
        optimized,
        policy,
        artifact_loader,
        libraries,
    )
    return Framework.from_instance(instance)
