"""Gas per model update: what deploying and training a shared model costs, and where it goes.

Every figure is a real transaction on sumchain (in-process, one chain per hard fork
and compiler setting), read from its receipt, and split into parts from a call trace
(``chain.tracing``): intrinsic gas (of which call data), the trainer's own code, the
incentive mechanism, the data handler, the model, minus the end-of-transaction refund.
The parts add up to the receipt's ``gasUsed`` exactly (checked for every row).

Measured, per fork x optimizer setting:

* deployment and initialisation of each model by number of features (each
  transaction, and the total), with the mechanism, data handler and trainer;
* ``addData`` by model, words per sample (sparse models) or features (dense models),
  incentive mechanism, and for the perceptrons where the model agrees and disagrees;
* ``refund`` (after the waiting time) and ``report`` (Stakeable only; Points has none).

``--verify`` replays every block of every measured chain on an independent node with
the same hard fork — Hardhat's EDR for every fork, and anvil as well for Cancun — and
fails if any transaction's gas differs. anvil is not a reference before Berlin: it
misprices SSTORE under Petersburg and Istanbul rules (see
``tests/conformance/test_anvil_sstore.py``). The reference nodes are found as
``bench.tools`` says (``--edr``/``--anvil``, PATH, ``./node_modules``); a missing one
refuses before anything is measured. Without ``--out`` the results go to a new
``./sumchain-gas-<UTC time>``.

    sumchain bench gas --out bench/results/gas --verify
    python -m bench.gas --quick --out /tmp/gas

Transactions are sent with an explicit gas limit rather than through the SDK's
``eth_estimateGas`` path: estimation runs a transaction ~20 times in a binary search,
which made one 10,000-feature deployment take 450 s. Contracts, constructor arguments,
initialisation arrays and samples come from the SDK (``vm_contracts.client``).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.outputs import default_out
from bench.tools import ANVIL_PACKAGE, EDR_PACKAGE, find_anvil, find_edr, find_npm_package
from chain.errors import ChainError

FORKS = ("petersburg", "istanbul", "berlin", "london", "shanghai", "cancun")
MODELS = ("SparsePerceptron", "DensePerceptron", "NaiveBayes", "NearestCentroid", "SparseNearestCentroid")
SPARSE_MODELS = ("SparsePerceptron", "NaiveBayes", "SparseNearestCentroid")
PERCEPTRONS = ("SparsePerceptron", "DensePerceptron")
INCENTIVES = ("Stakeable", "Points")
FEATURE_COUNTS = (100, 1_000, 10_000)  # features of deployed models
WORDS_PER_SAMPLE = (1, 15, 20, 50, 100, 500)  # distinct words in one sparse sample
UPDATE_FEATURES = 1_000  # features of the models that addData is measured on
TABLE_I = {"model": "SparsePerceptron", "incentive": "Stakeable", "features": 100, "words": 15}
PAPER_TABLE_I = {"addData agree": 177_693, "addData disagree": 249_037, "deployment": 3_845_840}
ORIGINAL_PY_EVM = {  # the original framework's figures measured on py-evm
    "petersburg": {"addData agree": 188_681, "addData disagree": 278_870, "deployment": 4_344_076},
    "cancun": {"addData agree": 238_389, "addData disagree": 295_326, "deployment": 4_015_980},
}
BLOCK_GAS_LIMIT = 30_000_000  # gas per block on the measured chains
INIT_TX_GAS = 12_000_000  # gas an initialisation transaction may use (SSTOREs from zero)
INIT_ENTRY_GAS = 25_000  # gas budgeted per initialised entry (a fresh SSTORE and its share)
WEIGHT = 10**9  # fixed point one (the paper's 10^9 scale)
SCALE = 10**9
REFUND_WAIT_S = 2 * 86_400  # s waited before refunds and reports (Stakeable needs a day)
GWEI = 10**9  # wei
REFERENCE_PORT_BASE = 18_545
REFERENCE_START_TIMEOUT_S = 60
ANVIL_FORKS = ("cancun",)  # where anvil is a reference (it misprices SSTORE before Berlin)
PART_COLUMNS = ("intrinsic", "calldata", "trainer", "incentive", "data_handler", "model", "other", "refund")
# Shipped in the wheel as package data (pyproject.toml), so --check-snapshot works anywhere.
SNAPSHOT_FILE = Path(__file__).resolve().parent / "results" / "gas" / "snapshot.json"


class BenchError(ChainError):
    """Raised when the benchmark cannot run or a check fails (bad flag, reference node
    missing, a gas figure that differs on the reference node)."""


@dataclass
class Row:
    """One measured transaction (or a deployment's total) and where its gas went.

    Fields:
        fork: hard fork of the chain (py-evm / solc evmVersion name).
        optimizer: "on" or "off" (the solc optimizer setting of the artifacts).
        operation: "deploy", "deploy total", "addData", "refund" or "report".
        step: for deployments, which transaction ("deploy SparsePerceptron",
            "initialize weights", ...); for the rest, the operation again.
        model: model contract name.
        incentive: incentive mechanism contract name.
        features: the model's number of features.
        words: distinct words in the sample (sparse) or values (dense); 0 for deployments.
        agreement: "agree" / "disagree" (perceptrons), "-" where it does not apply.
        gas: the receipt's gasUsed (gas).
        intrinsic..refund: the parts (gas); intrinsic includes calldata; refund is
            subtracted: gas = intrinsic + trainer + incentive + data_handler + model +
            other - refund.
        block: block number of the transaction (0 for totals).
        tx: transaction hash, hex ("" for totals).
    """

    fork: str
    optimizer: str
    operation: str
    step: str
    model: str
    incentive: str
    features: int
    words: int
    agreement: str
    gas: int
    intrinsic: int = 0
    calldata: int = 0
    trainer: int = 0
    incentive_gas: int = 0
    data_handler: int = 0
    model_gas: int = 0
    other: int = 0
    refund: int = 0
    block: int = 0
    tx: str = ""
    opcodes: dict[str, int] = field(default_factory=dict)  # "role:OPCODE" -> gas


CSV_FIELDS = [f.name for f in fields(Row) if f.name != "opcodes"]


@dataclass(frozen=True)
class MarketSetting:
    """The prediction-market round the grid chains measure, phase by phase: the
    setting of ``sumchain simulate-market`` (1,000 words, 1,000 test samples in 10
    parts, one revealed first, samples of about 90 distinct words as IMDB reviews are,
    bounty 100,000 stakes) with fewer contributions, since a phase's gas per
    transaction hardly depends on their number (the full round's totals are in
    bench/results/simulation/market_gas.csv).

    Fields:
        features, words: model features; distinct feature indices per sample.
        test_samples, parts, initial_parts: D, K and k.
        contributions: T.
        bounty_units: B; stake_wei: wei per stake.
        advance_steps: steps per ``advance`` transaction in each stage, small enough
            for the block gas limit on every fork (before Istanbul every SSTORE to a
            written slot costs 5,000 gas, so indexing 50 reviews of 90 words is ~40 M).
    """

    features: int = 1_000
    words: int = 90
    test_samples: int = 1_000
    parts: int = 10
    initial_parts: int = 1
    contributions: int = 40
    bounty_units: int = 100_000
    stake_wei: int = 10**12
    advance_steps: tuple[tuple[str, int], ...] = (
        ("Index", 10),
        ("Losses", 40),
        ("Balances", 200),
        ("Credit", 500),
    )


@dataclass(frozen=True)
class Sweep:
    """What a run measures.

    Fields:
        forks: hard forks, each on its own chain.
        optimizer: solc optimizer settings ("on", "off").
        models, incentives: contracts to measure.
        feature_counts: features of the deployments measured.
        words: words per sparse sample for addData.
        update_features: features of the models addData is measured on.
        large_features, large_feature_models: deployments with ``large_features`` or
            more are measured only for these models: initialising 10,000 weights is
            ~250 Mgas, minutes of py-evm time per array.
        grid_chains: (fork, optimizer) chains that measure the whole grid above; the
            others measure the core: the paper's Table I setting (deployment, addData
            agree and disagree, refund, report). None: the whole grid everywhere.
        dense_features: features of dense models' deployments (a dense update reads and
            writes every weight, so the block gas limit bounds them).
        dense_update_features: features of dense models' addData.
        refund_report: also measure refund and report.
    """

    forks: tuple[str, ...] = FORKS
    optimizer: tuple[str, ...] = ("on", "off")
    models: tuple[str, ...] = MODELS
    incentives: tuple[str, ...] = INCENTIVES
    feature_counts: tuple[int, ...] = FEATURE_COUNTS
    words: tuple[int, ...] = WORDS_PER_SAMPLE
    update_features: int = UPDATE_FEATURES
    dense_features: tuple[int, ...] = (100, 1_000)
    dense_update_features: tuple[int, ...] = (100,)
    refund_report: bool = True
    large_features: int = 10_000
    large_feature_models: tuple[str, ...] = ("SparsePerceptron",)
    grid_chains: tuple[tuple[str, str], ...] | None = (("cancun", "on"),)
    market: MarketSetting | None = MarketSetting()


QUICK = Sweep(
    forks=("petersburg", "cancun"),
    optimizer=("on",),
    models=("SparsePerceptron", "DensePerceptron"),
    incentives=("Stakeable",),
    feature_counts=(100,),
    words=(15,),
    update_features=100,
    dense_features=(100,),
    grid_chains=None,
    market=None,
)
MARKET_STAGES = ("Index", "Losses", "Balances", "Credit", "Done")  # PredictionMarket.Stage
RECEIPT_TIMEOUT_S = 900  # py-evm runs a 30 Mgas transaction in minutes, not seconds


# --- one chain ------------------------------------------------------------------------------


@dataclass
class ReplayBlock:
    """One block of a measured chain, as a reference node needs it to replay it.

    Fields:
        number: block number on sumchain.
        timestamp: Unix seconds.
        transactions: signed raw transactions, in block order.
        gas_used: each transaction's gas used on sumchain, same order.
    """

    number: int
    timestamp: int
    transactions: list[bytes]
    gas_used: list[int]


@dataclass
class Measured:
    """A measured chain: its rows and its blocks (to replay on reference nodes).

    Fields:
        fork, optimizer: what the chain ran and how its contracts were compiled.
        rows: the measurements.
        blocks: every block after genesis.
        genesis_timestamp: Unix seconds of sumchain's genesis.
        base_fee: genesis base fee (wei; 0 before London).
        gas_limit: block gas limit (gas).
        seconds: wall time of the measurement (s).
        replay_until: blocks from this number on are not replayed on reference nodes
            (None: all are). The prediction market draws its first test parts from a
            block hash, and block hashes differ between chains (sumchain's headers
            carry Clique seals), so a reference node would draw other parts and refuse
            the reveal; its round is replayed up to and including the draw.
    """

    fork: str
    optimizer: str
    rows: list[Row]
    blocks: list[ReplayBlock]
    genesis_timestamp: int
    base_fee: int
    gas_limit: int
    seconds: float = 0.0
    replay_until: int | None = None

    def replayable(self) -> list[ReplayBlock]:
        """The blocks a reference node can replay (see ``replay_until``)."""
        return [b for b in self.blocks if self.replay_until is None or b.number < self.replay_until]


class _Bench:
    """Sends the transactions of one chain and turns each into a Row."""

    def __init__(self, fork: str, optimizer: str, gas_limit: int) -> None:
        from chain.config import ChainConfig
        from node.provider import InProcessNode

        self.fork = fork
        self.optimizer = optimizer
        self.node = InProcessNode.create(config=ChainConfig(fork=fork, gas_limit=gas_limit))
        self.w3 = self.node.w3
        self.chain = self.node.backend.chain
        self.accounts = self.w3.eth.accounts
        self.gas_limit = gas_limit
        self.legacy = "baseFeePerGas" not in self.w3.eth.get_block("latest")
        self.rows: list[Row] = []
        self.replay_until: int | None = None

    # -- sending

    def send(self, built: Any, sender: str, value: int = 0) -> Any:
        params: dict[str, Any] = {"from": sender, "gas": self.gas_limit, "value": value}
        if self.legacy:
            params["gasPrice"] = GWEI
        tx_hash = built.transact(params)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        if receipt["status"] != 1:
            raise BenchError(f"{self.fork}: transaction {tx_hash.hex()} failed")
        return receipt

    def deploy(self, artifact: Any, args: Sequence[Any], sender: str) -> tuple[Any, Any]:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor(*args), sender)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi), receipt

    def travel(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def finish(self) -> Measured:
        """Close the node and return the rows with the chain's blocks."""
        from chain.chain import Chain

        chain: Chain = self.chain
        blocks = []
        try:
            genesis = chain.header(0)
            for number in range(1, chain.head.block_number + 1):
                header = chain.header(number)
                block = chain.block(header)
                receipts = chain.receipts(header)
                blocks.append(
                    ReplayBlock(
                        number=number,
                        timestamp=int(header.timestamp),
                        transactions=[
                            bytes(self.node.backend.raw_transaction(tx.hash)) for tx in block.transactions
                        ],
                        gas_used=[info.gas_used for info in receipts],
                    )
                )
            base_fee = int(getattr(genesis, "base_fee_per_gas", 0) or 0)
        finally:
            self.node.close()
        return Measured(
            self.fork,
            self.optimizer,
            self.rows,
            blocks,
            int(genesis.timestamp),
            base_fee,
            self.gas_limit,
            replay_until=self.replay_until,
        )

    # -- recording

    def record(self, receipt: Any, roles: dict[bytes, str], **labels: Any) -> Row:
        from chain.tracing import (
            CREATE_TRANSACTION_BASE_GAS,
            TRANSACTION_BASE_GAS,
            trace_transaction,
        )

        trace = trace_transaction(self.chain, bytes(receipt["transactionHash"]))
        parts = dict.fromkeys(("trainer", "incentive_gas", "data_handler", "model_gas", "other"), 0)
        opcodes: dict[str, int] = {}
        created = receipt.get("contractAddress")
        for frame in trace.root.walk():
            address = frame.to
            role = roles.get(address, "other")
            if frame.depth == 0 and created is not None:
                role = labels.pop("_deployed_role", "other")
            parts[role] += frame.self_gas
            for opcode, gas in frame.opcode_gas.items():
                key = f"{_ROLE_NAMES[role]}:{opcode}"
                opcodes[key] = opcodes.get(key, 0) + gas
        labels.pop("_deployed_role", None)
        base = CREATE_TRANSACTION_BASE_GAS if created is not None else TRANSACTION_BASE_GAS
        row = Row(
            fork=self.fork,
            optimizer=self.optimizer,
            gas=int(receipt["gasUsed"]),
            intrinsic=trace.intrinsic_gas,
            calldata=trace.intrinsic_gas - base,
            refund=trace.refund,
            block=int(receipt["blockNumber"]),
            tx="0x" + bytes(receipt["transactionHash"]).hex(),
            opcodes=opcodes,
            **parts,
            **labels,
        )
        total = (
            row.intrinsic
            + row.trainer
            + row.incentive_gas
            + row.data_handler
            + row.model_gas
            + row.other
            - row.refund
        )
        if total != row.gas:
            raise BenchError(
                f"{row.step} in block {row.block}: parts add up to {total}, receipt says {row.gas}"
            )
        self.rows.append(row)
        return row


_ROLE_NAMES = {
    "trainer": "trainer",
    "incentive_gas": "incentive",
    "data_handler": "data_handler",
    "model_gas": "model",
    "other": "other",
}


def _model_state(model: str, features: int) -> dict[str, Any]:
    """Constructor parameters and non-zero starting parameters of a realistic model."""
    state: dict[str, Any] = {"num_features": features}
    if model in PERCEPTRONS:
        state["learning_rate"] = WEIGHT
        state["weights"] = [(-1) ** i * WEIGHT // (1 + i % 7) for i in range(features)]
    elif model == "NaiveBayes":
        state.update(num_classes=2, smoothing=WEIGHT)
        state["feature_counts"] = [[1 + (i + c) % 3 for i in range(features)] for c in range(2)]
        state["sample_counts"] = [5, 5]
    else:
        state["num_classes"] = 2
        state["centroids"] = [[(i * (c + 1)) % 5 * WEIGHT // 5 for i in range(features)] for c in range(2)]
        state["sample_counts"] = [5, 5]
    return state


class _Deployment:
    """A framework deployed by _Bench.deploy_framework (contracts and their roles)."""

    def __init__(
        self,
        bench: _Bench,
        model: str,
        incentive: str,
        features: int,
        framework: Any,
        roles: dict[bytes, str],
    ) -> None:
        self.bench = bench
        self.model = model
        self.incentive = incentive
        self.features = features
        self.framework = framework
        self.roles = roles


def deploy_framework(bench: _Bench, model: str, incentive: str, features: int) -> _Deployment:
    """Deploy and initialise ``model`` with ``features`` features under ``incentive``,
    recording every transaction and the total."""
    from vm_contracts import client

    optimized = bench.optimizer == "on"
    artifacts = {
        name: client.load_contract(name, bench.fork, optimized)
        for name in (model, incentive, "DataHandler", "CollaborativeTrainer")
    }
    adapter = client._adapter(model)
    state = _model_state(model, features)
    owner = bench.accounts[0]
    labels = dict(
        operation="deploy", model=model, incentive=incentive, features=features, words=0, agreement="-"
    )
    roles: dict[bytes, str] = {}
    rows: list[Row] = []

    def deploy(name: str, args: Sequence[Any], role: str) -> Any:
        contract, receipt = bench.deploy(artifacts[name], args, owner)
        roles[bytes.fromhex(contract.address[2:])] = role
        rows.append(bench.record(receipt, roles, step=f"deploy {name}", _deployed_role=role, **labels))
        return contract

    model_contract = deploy(model, adapter.constructor_args(state), "model_gas")
    chunk = max(1, INIT_TX_GAS // INIT_ENTRY_GAS)
    for array in adapter.init_arrays(state):
        function = getattr(model_contract.functions, array.function)
        for start in range(0, len(array.values), chunk):
            values = array.values[start : start + chunk]
            receipt = bench.send(function(*array.prefix, start, values), owner)
            rows.append(bench.record(receipt, roles, step=f"initialize {array.part}", **labels))
    for function_name, args in adapter.init_single_calls(state):
        receipt = bench.send(getattr(model_contract.functions, function_name)(*args), owner)
        rows.append(bench.record(receipt, roles, step=f"{function_name}", **labels))
    receipt = bench.send(model_contract.functions.finishInitialization(), owner)
    rows.append(bench.record(receipt, roles, step="finishInitialization", **labels))
    incentive_args = client._incentive_args(incentive, None)
    mechanism = deploy(incentive, incentive_args, "incentive_gas")
    handler = deploy("DataHandler", [], "data_handler")
    trainer = deploy(
        "CollaborativeTrainer",
        [model, "", "", handler.address, mechanism.address, model_contract.address],
        "trainer",
    )
    for contract in (model_contract, mechanism, handler):
        receipt = bench.send(contract.functions.transferOwnership(trainer.address), owner)
        rows.append(bench.record(receipt, roles, step="transferOwnership", **labels))
    total = Row(
        fork=bench.fork,
        optimizer=bench.optimizer,
        step="deploy total",
        gas=sum(r.gas for r in rows),
        **{**labels, "operation": "deploy total"},
    )
    for name in (
        "intrinsic",
        "calldata",
        "trainer",
        "incentive_gas",
        "data_handler",
        "model_gas",
        "other",
        "refund",
    ):
        setattr(total, name, sum(getattr(r, name) for r in rows))
    bench.rows.append(total)
    framework = client.Framework(
        bench.w3, model, incentive, trainer.address, artifacts, deployed_block=int(receipt["blockNumber"])
    )
    return _Deployment(bench, model, incentive, features, framework, roles)


def _sample(model: str, features: int, words: int, offset: int) -> list[int]:
    """A sample: ``words`` distinct feature indices (sparse) or ``features`` values (dense)."""
    if model in SPARSE_MODELS:
        return sorted((offset + 7 * i) % features for i in range(words))
    return [((i + offset) % 11 - 5) * SCALE // 5 for i in range(features)]


def add_data(
    deployment: _Deployment, data: list[int], label: int, sender: str, agreement: str
) -> tuple[Row, Any]:
    framework = deployment.framework
    bench = deployment.bench
    deposit = framework.required_deposit() if deployment.incentive == "Stakeable" else 0
    built = framework.trainer.functions.addData(data, label)
    receipt = bench.send(built, sender, value=deposit)
    row = bench.record(
        receipt,
        deployment.roles,
        operation="addData",
        step="addData",
        model=deployment.model,
        incentive=deployment.incentive,
        features=deployment.features,
        words=len(data),
        agreement=agreement,
    )
    return row, receipt


def measure_updates(deployment: _Deployment, words_list: Sequence[int]) -> None:
    """addData for each sample size, agreeing and (perceptrons) disagreeing; then refund
    and report when asked."""
    framework = deployment.framework
    bench = deployment.bench
    sizes = words_list if deployment.model in SPARSE_MODELS else (deployment.features,)
    for index, words in enumerate(sizes):
        if words > deployment.features:
            continue
        data = _sample(deployment.model, deployment.features, words, index)
        predicted = framework.predict(data)
        if deployment.model in PERCEPTRONS:
            add_data(deployment, data, predicted, bench.accounts[1], "agree")
            bench.travel(60)  # Stakeable's deposit falls with the time since the last add
            add_data(deployment, data, 1 - predicted, bench.accounts[1], "disagree")
        else:
            add_data(deployment, data, predicted, bench.accounts[1], "-")
        bench.travel(60)


def measure_refund_report(deployment: _Deployment, words: int) -> None:
    """Refund a sample the model agrees with; report (Stakeable) one it disagrees with."""
    framework = deployment.framework
    bench = deployment.bench
    words = min(words, deployment.features)
    data = _sample(deployment.model, deployment.features, words, 101)
    good_label = framework.predict(data)
    row, good = add_data(deployment, data, good_label, bench.accounts[2], _agreement(deployment))
    row.step = "addData (to refund)"
    bad_data = _sample(deployment.model, deployment.features, words, 202)
    bad_label = 1 - framework.predict(bad_data)
    bench.travel(60)
    row, bad = add_data(deployment, bad_data, bad_label, bench.accounts[3], _disagreement(deployment))
    row.step = "addData (to report)"
    for _ in range(8):  # train the model back until it disagrees with the bad sample
        if framework.predict(bad_data) != bad_label:
            break
        bench.travel(60)
        row, _ = add_data(deployment, bad_data, 1 - bad_label, bench.accounts[4], "-")
        row.step = "addData (setting up a report)"
    bench.travel(REFUND_WAIT_S)
    labels = dict(
        model=deployment.model, incentive=deployment.incentive, features=deployment.features, words=words
    )
    if framework.predict(data) == good_label:
        contribution = framework.contributions_in(good)[0]
        receipt = bench.send(
            framework.trainer.functions.refund(
                contribution.contributor, contribution.data, contribution.label, contribution.added_time
            ),
            contribution.contributor,
        )
        bench.record(
            receipt, deployment.roles, operation="refund", step="refund", agreement="agree", **labels
        )
    if deployment.incentive == "Stakeable" and framework.predict(bad_data) != bad_label:
        contribution = framework.contributions_in(bad)[0]
        receipt = bench.send(
            framework.trainer.functions.report(
                contribution.contributor, contribution.data, contribution.label, contribution.added_time
            ),
            bench.accounts[2],
        )  # reporters need a refunded sample
        bench.record(
            receipt, deployment.roles, operation="report", step="report", agreement="disagree", **labels
        )


def _agreement(deployment: _Deployment) -> str:
    return "agree" if deployment.model in PERCEPTRONS else "-"


def _disagreement(deployment: _Deployment) -> str:
    return "disagree" if deployment.model in PERCEPTRONS else "-"


def core_sweep(sweep: Sweep) -> Sweep:
    """The Table I setting alone: what every fork x optimizer chain measures."""
    from dataclasses import replace

    return replace(
        sweep,
        models=(TABLE_I["model"],),
        incentives=(TABLE_I["incentive"],),
        feature_counts=(TABLE_I["features"],),
        words=(TABLE_I["words"],),
        update_features=TABLE_I["features"],
    )


def measure_chain(
    fork: str, optimizer: str, sweep: Sweep, progress: Callable[[str], None] = lambda _: None
) -> Measured:
    """Every measurement of ``sweep`` on one new chain running ``fork`` (the core only
    unless the chain is one of ``sweep.grid_chains``)."""
    if sweep.grid_chains is not None and (fork, optimizer) not in sweep.grid_chains:
        sweep = core_sweep(sweep)
    bench = _Bench(fork, optimizer, BLOCK_GAS_LIMIT)
    deployed: dict[tuple[str, str, int], _Deployment] = {}

    def deployment(model: str, incentive: str, features: int) -> _Deployment:
        key = (model, incentive, features)
        if key not in deployed:
            progress(f"{fork}/{optimizer}: deploy {model} / {incentive} ({features} features)")
            deployed[key] = deploy_framework(bench, model, incentive, features)
        return deployed[key]

    for model in sweep.models:
        dense = model not in SPARSE_MODELS
        for features in sweep.feature_counts:
            if dense and features > max(sweep.dense_features):
                continue
            if features >= sweep.large_features and model not in sweep.large_feature_models:
                continue
            deployment(model, sweep.incentives[0], features)
        for incentive in sweep.incentives:
            feature_set = {sweep.update_features}
            if model == TABLE_I["model"] and incentive == TABLE_I["incentive"]:
                feature_set.add(TABLE_I["features"])
            if dense:
                feature_set = set(sweep.dense_update_features)
            for features in sorted(feature_set):
                progress(f"{fork}/{optimizer}: addData {model} / {incentive} ({features} features)")
                target = deployment(model, incentive, features)
                words = sweep.words
                if model == TABLE_I["model"] and features == TABLE_I["features"]:
                    words = (TABLE_I["words"],)
                measure_updates(target, words)
                if sweep.refund_report and features == max(feature_set):
                    measure_refund_report(target, TABLE_I["words"])
    # The market is measured on optimized chains only (as before its reward stages became
    # linked libraries, when its unoptimized code was over EIP-170's limit).
    grid_chain = sweep.grid_chains is None or (fork, optimizer) in sweep.grid_chains
    if sweep.market is not None and grid_chain and optimizer == "on":
        progress(f"{fork}/{optimizer}: a prediction-market round")
        measure_market(bench, sweep.market)
    measured = bench.finish()
    return measured


def measure_market(bench: _Bench, setting: MarketSetting) -> None:
    """One round of PredictionMarket, every transaction a row (operation "market
    <phase>"): deploy, commit, draw, reveal (initial), contribute (agreement "disagree"
    when the sample changed the model), reveal (remaining), advance (step names the
    stage it started in, and the one it ended in if another; words = its step count),
    withdraw."""
    import random
    from dataclasses import replace

    from vm_contracts import client
    from vm_contracts.build import link_bytecode, load_artifact
    from vm_contracts.market import LIBRARIES
    from vm_contracts.reference import SparsePerceptron
    from vm_contracts.reference_market import MarketTerms, pack_sample, split_test_set

    artifact = client.load_contract("PredictionMarket", bench.fork, bench.optimizer == "on")
    owner, pusher = bench.accounts[0], bench.accounts[6]
    contributors = bench.accounts[1:6]
    labels = dict(model="PredictionMarket", incentive="PredictionMarket", features=setting.features)
    libraries, library_receipts = {}, []
    for name in LIBRARIES:  # the reward stages, linked libraries deployed before the market
        library, library_receipt = bench.deploy(
            client.load_contract(name, bench.fork, bench.optimizer == "on"), [], owner
        )
        libraries[name] = library.address
        library_receipts.append((name, library_receipt))
    raw = load_artifact("PredictionMarket", bench.fork, bench.optimizer == "on")
    artifact = replace(artifact, bytecode=link_bytecode(raw["bytecode"], raw["linkReferences"], libraries))
    market, receipt = bench.deploy(artifact, [], owner)
    roles = {bytes.fromhex(a[2:]): "incentive_gas" for a in (market.address, *libraries.values())}

    def record(receipt: Any, operation: str, step: str, words: int = 0, agreement: str = "-") -> None:
        bench.record(
            receipt,
            roles,
            operation=f"market {operation}",
            step=step,
            words=words,
            agreement=agreement,
            **labels,
        )

    for step, deployed in (*library_receipts, ("PredictionMarket", receipt)):
        bench.record(
            deployed,
            roles,
            operation="market deploy",
            step=f"deploy {step}",
            words=0,
            agreement="-",
            _deployed_role="incentive_gas",
            **labels,
        )
    rng = random.Random(0)

    def sample() -> tuple[list[int], int]:
        x = sorted(rng.sample(range(setting.features), setting.words))
        return x, int(sum(i < setting.features // 2 for i in x) * 2 > setting.words)

    test = [sample() for _ in range(setting.test_samples)]
    parts = split_test_set(test, setting.parts, b"gas benchmark")
    terms = MarketTerms(
        stake_unit=setting.stake_wei,
        num_features=setting.features,
        learning_rate=SCALE,
        intercept=0,
        initial_parts=setting.initial_parts,
        max_contributions=setting.contributions,
        reveal_window_s=86_400,
    )
    receipt = bench.send(
        market.functions.commit(terms.as_tuple(), [p.hash for p in parts]),
        owner,
        value=setting.bounty_units * setting.stake_wei,
    )
    record(receipt, "commit", f"commit ({setting.parts} part hashes)")
    bench.w3.provider.make_request("evm_mine", [])
    receipt = bench.send(market.functions.drawTestParts(), pusher)
    record(receipt, "draw", "drawTestParts")
    if bench.replay_until is None:
        bench.replay_until = int(receipt["blockNumber"]) + 1  # see Measured.replay_until
    drawn = [int(i) for i in market.events.TestPartsDrawn().process_receipt(receipt)[0]["args"]["parts"]]

    def reveal(index: int, when: str) -> None:
        part = parts[index]
        built = market.functions.revealTestPart(
            index, part.salt, [pack_sample(x) for x in part.data], list(part.labels)
        )
        record(bench.send(built, owner), "reveal", f"revealTestPart ({when})", len(part.data))

    for index in drawn:
        reveal(index, "initial")
    twin = SparsePerceptron(setting.features, SCALE, 0)
    for t in range(setting.contributions):
        x, y = sample()
        changed = twin.update(x, y)
        receipt = bench.send(
            market.functions.contribute(x, y), contributors[t % len(contributors)], value=setting.stake_wei
        )
        record(receipt, "contribute", "contribute", len(x), "disagree" if changed else "agree")
    for index in range(setting.parts):
        if index not in drawn:
            reveal(index, "remaining")
    steps = dict(setting.advance_steps)
    for _ in range(10_000):
        stage = MARKET_STAGES[market.functions.progress(1).call()[0]]
        if stage == "Done":
            break
        receipt = bench.send(market.functions.advance(steps[stage]), pusher)
        after = MARKET_STAGES[market.functions.progress(1).call()[0]]
        # steps left at the end of a stage go on into the next one
        span = stage if after == stage else f"{stage} to {after}"
        record(receipt, "advance", f"advance ({span})", steps[stage])
    else:
        raise BenchError(f"{bench.fork}: the market's reward computation did not finish")
    for account in contributors:
        owed, _ = market.functions.owedTo(1, account).call()
        if owed:
            record(bench.send(market.functions.withdraw(1), account), "withdraw", "withdraw")


# --- the reference nodes ----------------------------------------------------------------------

EDR_SERVER = r"""
// A JSON-RPC server over HTTP around one EDR provider (Hardhat's node), for one hard fork.
const http = require("http");
const edr = require(process.env.EDR_PATH);
const config = JSON.parse(process.env.EDR_CONFIG);
const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/^0x/, ""), "hex"));
(async () => {
  const context = new edr.EdrContext();
  await context.registerProviderFactory(edr.L1_CHAIN_TYPE, edr.l1ProviderFactory());
  const hardfork = edr.l1HardforkToString(edr.l1HardforkFromString(config.hardfork));
  const genesis = edr.l1GenesisState(edr.l1HardforkFromString(config.hardfork));
  for (const account of config.accounts) {
    genesis.push({ address: hex(account.address), balance: BigInt(account.balance),
                   code: new Uint8Array() });
  }
  const provider = await context.createProvider(edr.L1_CHAIN_TYPE, {
    allowBlocksWithSameTimestamp: true, allowUnlimitedContractSize: false,
    bailOnCallFailure: false, bailOnTransactionFailure: false,
    chainId: BigInt(config.chainId), coinbase: hex("0x" + "00".repeat(19) + "01"),
    defaultTransactionGasLimit: BigInt(config.gasLimit), genesisState: genesis, hardfork,
    initialBaseFeePerGas: config.baseFee === null ? undefined : BigInt(config.baseFee),
    minGasPrice: 0n,
    mining: { autoMine: true, blockGasLimit: BigInt(config.gasLimit),
              memPool: { order: edr.MineOrdering.Priority } },
    network: { genesisBlockGasLimit: BigInt(config.gasLimit),
               genesisBlockTime: BigInt(config.genesisTime) },
    networkId: BigInt(config.chainId), observability: {}, ownedAccounts: [],
    precompileOverrides: [],
  }, { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => {} },
     { subscriptionCallback: () => {} }, await edr.ContractDecoder.withContracts({}));
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", async () => {
      try {
        const response = await provider.handleRequest(body);
        const data = typeof response.data === "string"
          ? response.data : JSON.stringify(response.data);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(data);
      } catch (err) {
        res.writeHead(500); res.end(String(err));
      }
    });
  });
  server.listen(config.port, "127.0.0.1", () => console.log("listening " + config.port));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise BenchError(f"reference node: {method} failed: {reply['error']}")
    return reply["result"]


@dataclass(frozen=True)
class References:
    """The reference nodes ``--verify`` replays on, found before anything is measured.

    Fields:
        edr: folder of the ``@nomicfoundation/edr`` npm package (run with Node.js).
        anvil: the anvil program, or None when no measured fork needs it.
    """

    edr: Path | None
    anvil: Path | None

    @classmethod
    def find(cls, forks: Sequence[str], edr: Path | None = None, anvil: Path | None = None) -> References:
        """Locate EDR and (for forks in ``ANVIL_FORKS``) anvil, or raise ``ToolMissing``."""
        return cls(
            edr=find_edr(edr, "--verify"),
            anvil=find_anvil(anvil, "--verify") if set(forks) & set(ANVIL_FORKS) else None,
        )


@contextmanager
def _reference_node(kind: str, measured: Measured, references: References) -> Iterator[str]:
    """Start an EDR ("edr") or anvil ("anvil") node with the chain's fork and genesis."""
    from chain.config import ChainConfig

    config = ChainConfig(fork=measured.fork)
    port = _free_port()
    base_fee = measured.base_fee if measured.base_fee else None
    if kind == "edr":
        edr_path = references.edr
        if edr_path is None:
            raise BenchError("no EDR given to replay on")
        script = Path(tempfile.mkdtemp(prefix="sumchain-edr-")) / "edr_node.cjs"
        script.write_text(EDR_SERVER)
        env = {
            **os.environ,
            "EDR_PATH": str(edr_path),
            "EDR_CONFIG": json.dumps(
                {
                    "hardfork": measured.fork,
                    "chainId": config.chain_id,
                    "gasLimit": measured.gas_limit,
                    "baseFee": base_fee,
                    "genesisTime": measured.genesis_timestamp,
                    "port": port,
                    "accounts": [
                        {"address": address, "balance": str(balance)}
                        for address, balance in config.genesis_alloc.items()
                    ],
                }
            ),
        }
        command = ["node", str(script)]
    else:
        if references.anvil is None:
            raise BenchError("no anvil given to replay on")
        env = dict(os.environ)
        command = [
            str(references.anvil),
            "--port",
            str(port),
            "--hardfork",
            measured.fork,
            "--chain-id",
            str(config.chain_id),
            "--gas-limit",
            str(measured.gas_limit),
            "--timestamp",
            str(measured.genesis_timestamp),
            "--accounts",
            str(config.accounts),
            "--balance",
            str(config.account_balance // 10**18),
            "--base-fee",
            str(base_fee or 0),
            "--silent",
        ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + REFERENCE_START_TIMEOUT_S
        while True:
            try:
                _rpc(url, "eth_chainId", [])
                break
            except (OSError, BenchError):
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise BenchError(f"{kind} node did not start: {error.strip()[-500:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Mismatch:
    """A transaction whose gas differs on a reference node."""

    reference: str
    fork: str
    optimizer: str
    block: int
    index: int
    sumchain: int
    other: int


def replay(kind: str, measured: Measured, references: References) -> tuple[int, list[Mismatch]]:
    """Replay every block of ``measured`` on a ``kind`` node; (transactions, mismatches)."""
    mismatches: list[Mismatch] = []
    count = 0
    with _reference_node(kind, measured, references) as url:
        for block in measured.replayable():
            _rpc(url, "evm_setNextBlockTimestamp", [hex(block.timestamp)])
            if not block.transactions:
                _rpc(url, "evm_mine", [])
                continue
            for index, (raw, gas) in enumerate(zip(block.transactions, block.gas_used, strict=True)):
                tx_hash = _rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()])
                receipt = _receipt(url, tx_hash)
                if receipt is None:
                    raise BenchError(f"{kind}: transaction of block {block.number} not mined")
                count += 1
                other = int(receipt["gasUsed"], 16)
                if other != gas:
                    mismatches.append(
                        Mismatch(kind, measured.fork, measured.optimizer, block.number, index, gas, other)
                    )
    return count, mismatches


def _receipt(url: str, tx_hash: str) -> Any:
    deadline = time.monotonic() + REFERENCE_START_TIMEOUT_S
    while True:
        receipt = _rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None or time.monotonic() > deadline:
            return receipt
        time.sleep(0.01)


def verify(
    measured: Measured,
    references: References | None = None,
) -> tuple[dict[str, int], list[Mismatch]]:
    """Replay on EDR (every fork) and anvil (where it is a reference); ``references``
    defaults to the tools found on PATH or in node_modules."""
    if references is None:
        references = References.find([measured.fork])
    counts: dict[str, int] = {}
    mismatches: list[Mismatch] = []
    kinds = ["edr"] + (["anvil"] if measured.fork in ANVIL_FORKS else [])
    for kind in kinds:
        count, found = replay(kind, measured, references)
        counts[kind] = count
        mismatches.extend(found)
    return counts, mismatches


# --- a whole run --------------------------------------------------------------------------------


@dataclass
class ChainResult:
    """What one fork x optimizer chain produced, measured and (optionally) verified."""

    measured: Measured
    replayed: dict[str, int] = field(default_factory=dict)  # reference -> transactions
    mismatches: list[Mismatch] = field(default_factory=list)
    verify_error: str | None = None  # why the replay could not run (results are kept)


def _measure_and_verify(
    fork: str, optimizer: str, sweep: Sweep, references: References | None, verbose: bool
) -> ChainResult:
    def progress(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    measured = measure_chain(fork, optimizer, sweep, progress)
    measured.seconds = time.perf_counter() - started
    result = ChainResult(measured)
    if references is not None:
        progress(f"{fork}/{optimizer}: replaying {len(measured.replayable())} blocks on reference nodes")
        try:
            result.replayed, result.mismatches = verify(measured, references)
        except BenchError as exc:  # keep the measurements; the run fails at the end
            result.verify_error = str(exc)
    return result


def run(
    sweep: Sweep,
    check: bool = False,
    jobs: int = 1,
    verbose: bool = False,
    references: References | None = None,
) -> list[ChainResult]:
    """Measure every fork x optimizer chain of ``sweep`` (``jobs`` in parallel); with
    ``check``, replay each on the ``references`` (default: found on PATH / node_modules)."""
    for fork in sweep.forks:
        if fork not in FORKS:
            raise BenchError(f"unknown fork {fork!r}; choose from {', '.join(FORKS)}")
    if check and references is None:
        references = References.find(sweep.forks)
    if not check:
        references = None
    configs = [(fork, optimizer) for fork in sweep.forks for optimizer in sweep.optimizer]
    grid = sweep.grid_chains or ()
    configs.sort(key=lambda config: config not in grid)  # the long chains start first
    if jobs <= 1:
        return [_measure_and_verify(f, o, sweep, references, verbose) for f, o in configs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_measure_and_verify, f, o, sweep, references, verbose) for f, o in configs]
        return [future.result() for future in futures]


# --- money, summaries, snapshot -------------------------------------------------------------------


def money(gas: int, gas_price_gwei: float | None, eth_usd: float | None) -> dict[str, float]:
    """What ``gas`` costs at ``gas_price_gwei``: ether, and US dollars at ``eth_usd``."""
    if gas_price_gwei is None:
        return {}
    ether = gas * gas_price_gwei * GWEI / 10**18
    out = {"eth": ether}
    if eth_usd is not None:
        out["usd"] = ether * eth_usd
    return out


def table_i(rows: Sequence[Row], fork: str, optimizer: str = "on") -> dict[str, int]:
    """The paper's Table I setting measured on ``fork``: addData agree / disagree (100
    features, 15 words, SparsePerceptron, Stakeable) and the deployment total."""
    out: dict[str, int] = {}
    for row in rows:
        if (row.fork, row.optimizer, row.model, row.incentive, row.features) != (
            fork,
            optimizer,
            TABLE_I["model"],
            TABLE_I["incentive"],
            TABLE_I["features"],
        ):
            continue
        if row.operation == "addData" and row.step == "addData" and row.words == TABLE_I["words"]:
            out.setdefault(f"addData {row.agreement}", row.gas)
        if row.operation == "deploy total":
            out["deployment"] = row.gas
    return out


def snapshot_figures(rows: Sequence[Row]) -> dict[str, int]:
    """The figures the regression guard pins: the Table I setting on every measured chain."""
    figures: dict[str, int] = {}
    for fork in dict.fromkeys(r.fork for r in rows):
        for optimizer in dict.fromkeys(r.optimizer for r in rows if r.fork == fork):
            for name, gas in table_i(rows, fork, optimizer).items():
                figures[f"{fork}/{optimizer} Table I {name}"] = gas
    return figures


@dataclass(frozen=True)
class SnapshotChange:
    """A pinned figure that moved (or appeared / disappeared: old or new is None)."""

    name: str
    old: int | None
    new: int | None

    def __str__(self) -> str:
        if self.old is None or self.new is None:
            return f"{self.name}: old {self.old}, new {self.new}"
        diff = self.new - self.old
        return (
            f"{self.name}: old {self.old:,}, new {self.new:,}, difference {diff:+,} ({diff / self.old:+.2%})"
        )


def check_snapshot(current: dict[str, int], committed: dict[str, int]) -> list[SnapshotChange]:
    """Every figure in ``committed`` that ``current`` does not reproduce exactly."""
    changes = []
    for name, old in sorted(committed.items()):
        new = current.get(name)
        if new != old:
            changes.append(SnapshotChange(name, old, new))
    return changes


HINTS = {  # (role, opcode prefix) -> what would cut it
    ("model", "SSTORE"): "write fewer slots: pack several int64 weights per 32-byte slot, "
    "or skip writing weights whose value does not change",
    ("data_handler", "SSTORE"): "store one hash of (contributor, data, label, time) "
    "instead of the fields; the data is public in calldata/events",
    ("incentive", "SSTORE"): "keep the mechanism's per-update bookkeeping in fewer slots",
    ("trainer", "LOG"): "emit the sample once (it is already in calldata) or emit its hash",
    ("model", "SLOAD"): "read packed weights (fewer slots); from Berlin on, repeat reads are warm",
    ("trainer", "CALL"): "fewer cross-contract calls: the trainer calls three contracts per "
    "update; merging handler and mechanism saves a call and its cold access",
    ("intrinsic", "base"): "every transaction pays 21,000: a batched addData taking several "
    "samples would share it",
    ("intrinsic", "calldata"): "encode features as packed uint16/uint32 instead of ABI int64 "
    "words padded to 32 bytes",
}


def hint(part: str) -> str:
    role, _, opcode = part.partition(":")
    for (hint_role, prefix), text in HINTS.items():
        if role == hint_role and opcode.startswith(prefix):
            return text
    return "look at the contract's code path for this opcode"


def expensive_parts(row: Row, count: int = 5) -> list[tuple[str, int, str]]:
    """The ``count`` largest (part, gas, what would cut it) of one transaction: gas per
    contract role and opcode from the trace, plus the call data."""
    parts = dict(row.opcodes)
    parts["intrinsic:calldata"] = row.calldata
    parts["intrinsic:base"] = row.intrinsic - row.calldata
    ranked = sorted(parts.items(), key=lambda item: -item[1])[:count]
    return [(name, gas, hint(name)) for name, gas in ranked]


# --- output -------------------------------------------------------------------------------------


def write_csv(rows: Sequence[Row], path: Path, gas_price: float | None, eth_usd: float | None) -> None:
    extra = [] if gas_price is None else ["eth"] + ([] if eth_usd is None else ["usd"])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS + extra)
        for row in rows:
            values = asdict(row)
            cost = money(row.gas, gas_price, eth_usd)
            writer.writerow(
                [values[name] for name in CSV_FIELDS]
                + [f"{cost[k]:.8f}" if k == "eth" else f"{cost[k]:.4f}" for k in extra]
            )


def _md_table(header: Sequence[str], lines: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:,}" if isinstance(value, int) else str(value)

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def table_i_markdown(rows: Sequence[Row]) -> str:
    """The paper's Table I beside our figures (and the original framework's on py-evm)."""
    forks = [f for f in ("petersburg", "cancun") if any(r.fork == f for r in rows)]
    header = ["figure", "paper (Table I)"]
    for fork in forks:
        header += [f"original on py-evm, {fork}", f"sumchain, {fork}", "vs paper"]
    lines = []
    for name, paper in PAPER_TABLE_I.items():
        line: list[Any] = [name, paper]
        for fork in forks:
            ours = table_i(rows, fork).get(name)
            line += [
                ORIGINAL_PY_EVM.get(fork, {}).get(name, "-"),
                ours if ours else "-",
                f"{(ours - paper) / paper:+.1%}" if ours else "-",
            ]
        lines.append(line)
    return (
        "SparsePerceptron, 100 features, 15 words per sample, Stakeable, optimizer on. "
        '"deployment" is every transaction: the model with 100 non-zero weights and '
        "their initialisation, the mechanism, the data handler, the trainer, and the three "
        "ownership transfers.\n\n" + _md_table(header, lines)
    )


def table_i_by_optimizer_markdown(figures: dict[str, int], fork: str = "petersburg") -> str:
    """The paper's Table I beside our optimizer-off figures (the original's truffle build ran
    solc without the optimizer, so these are the like-for-like ones) and our optimized ones,
    from pinned figures (``snapshot_figures``; the committed snapshot by default)."""
    header = [
        "figure",
        "paper (Table I)",
        f"sumchain, {fork}, optimizer off",
        "vs paper",
        f"sumchain, {fork}, optimizer on",
        "vs paper",
    ]
    lines = []
    for name, paper in PAPER_TABLE_I.items():
        line: list[Any] = [name, paper]
        for optimizer in ("off", "on"):
            ours = figures.get(f"{fork}/{optimizer} Table I {name}")
            line += [ours if ours else "-", f"{(ours - paper) / paper:+.1%}" if ours else "-"]
        lines.append(line)
    return (
        f"# The paper's Table I under {fork.capitalize()} rules, optimizer off and on\n\n"
        "SparsePerceptron, 100 features, 15 words per sample, Stakeable (linear deposit law). "
        "The paper's figures came from the original's truffle build, which ran solc without "
        "the optimizer: the optimizer-off column is the like-for-like comparison; the "
        'optimized one is our own result. "deployment" is every transaction (model and its '
        "initialisation, mechanism, data handler, trainer, three ownership transfers). "
        f"Source: `{SNAPSHOT_FILE.relative_to(SNAPSHOT_FILE.parents[3])}` "
        "(`python -m bench.gas --table-i-from-snapshot OUT`).\n\n" + _md_table(header, lines)
    )


def markdown(results: Sequence[ChainResult], gas_price: float | None, eth_usd: float | None) -> str:
    rows = [row for result in results for row in result.measured.rows]
    text = ["# Gas per model update on sumchain\n\n"]
    text.append("## The paper's Table I setting\n\n")
    text.append(table_i_markdown(rows))
    for fork in dict.fromkeys(r.fork for r in rows):
        update = next(
            (
                r
                for r in rows
                if r.fork == fork
                and r.optimizer == "on"
                and r.operation == "addData"
                and r.step == "addData"
                and r.model == TABLE_I["model"]
                and r.incentive == TABLE_I["incentive"]
                and r.features == TABLE_I["features"]
                and r.words == TABLE_I["words"]
                and r.agreement == "disagree"
            ),
            None,
        )
        if update is None or fork not in ("petersburg", "cancun"):
            continue
        text.append(
            f"\n## The five most expensive parts of an update ({fork})\n\n`addData` of "
            f"{update.model} / {update.incentive}, {update.features} features, "
            f"{update.words} words, model disagrees, {update.fork} "
            f"(optimizer {update.optimizer}): {update.gas:,} gas.\n\n"
        )
        text.append(
            _md_table(["part (contract:opcode)", "gas", "what would cut it"], expensive_parts(update))
        )
    text.append("\n## Gas per fork (Table I setting)\n\n")
    fork_lines = []
    for result in results:
        m = result.measured
        figures = table_i(m.rows, m.fork, m.optimizer)
        if figures:
            fork_lines.append(
                [
                    m.fork,
                    m.optimizer,
                    figures.get("addData agree", "-"),
                    figures.get("addData disagree", "-"),
                    figures.get("deployment", "-"),
                ]
            )
    text.append(
        _md_table(["fork", "optimizer", "addData agree", "addData disagree", "deployment"], fork_lines)
    )
    money_header = (
        []
        if gas_price is None
        else [f"ETH at {gas_price:g} gwei"] + ([] if eth_usd is None else [f"USD at {eth_usd:g}/ETH"])
    )

    def cost(gas: int) -> list[str]:
        values = money(gas, gas_price, eth_usd)
        return ([f"{values['eth']:.6f}"] if "eth" in values else []) + (
            [f"{values['usd']:.2f}"] if "usd" in values else []
        )

    text.append("\n## Deployment and initialisation (totals)\n\n")
    text.append(
        _md_table(
            [
                "fork",
                "optimizer",
                "model",
                "incentive",
                "features",
                "gas",
                "intrinsic",
                "trainer",
                "incentive",
                "data handler",
                "model",
            ]
            + money_header,
            [
                [
                    r.fork,
                    r.optimizer,
                    r.model,
                    r.incentive,
                    r.features,
                    r.gas,
                    r.intrinsic,
                    r.trainer,
                    r.incentive_gas,
                    r.data_handler,
                    r.model_gas,
                ]
                + cost(r.gas)
                for r in rows
                if r.operation == "deploy total"
            ],
        )
    )
    text.append(
        "\n## addData, refund and report\n\nParts from the call trace; they add up to "
        "the gas used (gas = intrinsic + trainer + incentive + data handler + model "
        "- refund).\n\n"
    )
    text.append(
        _md_table(
            [
                "fork",
                "optimizer",
                "operation",
                "model",
                "incentive",
                "features",
                "words",
                "agreement",
                "gas",
                "intrinsic (calldata)",
                "trainer",
                "incentive",
                "data handler",
                "model",
                "refund",
            ]
            + money_header,
            [
                [
                    r.fork,
                    r.optimizer,
                    r.step,
                    r.model,
                    r.incentive,
                    r.features,
                    r.words,
                    r.agreement,
                    r.gas,
                    f"{r.intrinsic:,} ({r.calldata:,})",
                    r.trainer,
                    r.incentive_gas,
                    r.data_handler,
                    r.model_gas,
                    r.refund,
                ]
                + cost(r.gas)
                for r in rows
                if r.operation in ("addData", "refund", "report")
            ],
        )
    )
    market_rows = [r for r in rows if r.operation.startswith("market ")]
    if market_rows:
        text.append("\n## Prediction market, phase by phase\n\n" + market_markdown(market_rows))
    return "".join(text)


def market_markdown(rows: Sequence[Row]) -> str:
    """Per fork and phase: transactions, total, mean and largest gas (market rows)."""
    groups: dict[tuple[str, str, str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.fork, r.optimizer, r.step, r.agreement), []).append(r)
    setting = next(iter(rows))
    intro = (
        f"One round of PredictionMarket with {setting.features:,} features (see "
        f'`MarketSetting`); contribute "disagree" = the sample changed the model; an '
        f"advance row's words = its steps.\n\n"
    )
    return intro + _md_table(
        [
            "fork",
            "optimizer",
            "phase",
            "model changed",
            "transactions",
            "total gas",
            "mean gas",
            "max gas",
            "mean intrinsic (calldata)",
        ],
        [
            [
                fork,
                optimizer,
                step,
                {"disagree": "yes", "agree": "no"}.get(agreement, "-"),
                len(group),
                sum(r.gas for r in group),
                sum(r.gas for r in group) // len(group),
                max(r.gas for r in group),
                f"{sum(r.intrinsic for r in group) // len(group):,} "
                f"({sum(r.calldata for r in group) // len(group):,})",
            ]
            for (fork, optimizer, step, agreement), group in groups.items()
        ],
    )


def plot(rows: Sequence[Row], out: Path) -> list[Path]:
    """gas_vs_words.png (addData by words per sample, per model) and gas_per_fork.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    reference_fork = "cancun" if any(r.fork == "cancun" for r in rows) else rows[0].fork
    figure, axis = plt.subplots(figsize=(8, 5))
    for model in MODELS:
        for agreement in ("agree", "disagree", "-"):
            points = sorted(
                (r.words, r.gas)
                for r in rows
                if r.operation == "addData"
                and r.step == "addData"
                and r.model == model
                and r.agreement == agreement
                and r.fork == reference_fork
                and r.optimizer == "on"
                and r.incentive == "Stakeable"
                and model in SPARSE_MODELS
                and r.features == UPDATE_FEATURES
            )
            if points:
                label = model if agreement == "-" else f"{model} ({agreement})"
                axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axis.set_xscale("log")
    axis.set_xlabel("words per sample")
    axis.set_ylabel("gas per addData")
    axis.set_title(f"addData gas, Stakeable, {UPDATE_FEATURES} features, {reference_fork}")
    if axis.lines:
        axis.legend(fontsize=8)
    else:
        axis.text(0.5, 0.5, "no sparse addData rows in this run", ha="center", transform=axis.transAxes)
    axis.grid(True, alpha=0.3)
    path = out / "gas_vs_words.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)

    figure, axis = plt.subplots(figsize=(8, 5))
    forks = [f for f in FORKS if any(r.fork == f for r in rows)]
    for optimizer in ("on", "off"):
        for name in ("addData agree", "addData disagree"):
            values = [table_i(rows, fork, optimizer).get(name) for fork in forks]
            if any(values):
                axis.plot(
                    forks,
                    [v or float("nan") for v in values],
                    marker="o",
                    linestyle="-" if optimizer == "on" else "--",
                    label=f"{name}, optimizer {optimizer}",
                )
    axis.set_ylabel("gas")
    axis.set_title("Table I setting per fork (SparsePerceptron, 100 features, 15 words)")
    axis.legend(fontsize=8)
    axis.grid(True, alpha=0.3)
    path = out / "gas_per_fork.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)
    return written


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("py-evm", "web3"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    for package in (EDR_PACKAGE, ANVIL_PACKAGE, "solc"):
        folder = find_npm_package(package)
        if folder is not None:
            out[package] = json.loads((folder / "package.json").read_text()).get("version", "?")
    try:
        out["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        out["node"] = "not found"
    return out


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def write_outputs(
    results: Sequence[ChainResult],
    out: Path,
    command: str,
    seconds: float,
    gas_price: float | None,
    eth_usd: float | None,
) -> list[Path]:
    """CSV, Markdown, Table I, PNG plots and run.json (command, versions, machine)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [row for result in results for row in result.measured.rows]
    if not rows:
        raise BenchError("nothing was measured")
    written = [out / "gas.csv", out / "gas.md", out / "table_i.md", out / "run.json"]
    write_csv(rows, written[0], gas_price, eth_usd)
    written[1].write_text(markdown(results, gas_price, eth_usd))
    written[2].write_text("# The paper's Table I setting under Petersburg rules\n\n" + table_i_markdown(rows))
    written[3].write_text(
        json.dumps(
            {
                "command": command,
                "wall_time_s": round(seconds, 1),
                "versions": _versions(),
                "machine": _machine(),
                "gas_price_gwei": gas_price,
                "eth_usd": eth_usd,
                "chains": [
                    {
                        "fork": r.measured.fork,
                        "optimizer": r.measured.optimizer,
                        "transactions": sum(len(b.transactions) for b in r.measured.blocks),
                        "replayable_transactions": sum(len(b.transactions) for b in r.measured.replayable()),
                        "measure_s": round(r.measured.seconds, 1),
                        "replayed": r.replayed,
                        "mismatches": [asdict(m) for m in r.mismatches],
                        "verify_error": r.verify_error,
                    }
                    for r in results
                ],
                "snapshot": snapshot_figures(rows),
            },
            indent=2,
        )
        + "\n"
    )
    written += plot(rows, out)
    return written


# --- command line ---------------------------------------------------------------------------------


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BenchError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise BenchError(f"expected positive integers, got {text!r}")
    return values


def _csv_names(text: str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise BenchError(f"unknown {what} {unknown or text!r}; choose from {', '.join(allowed)}")
    return values


def _grid_chains(text: str) -> tuple[tuple[str, str], ...] | None:
    if text.strip() == "all":
        return None
    chains = []
    for item in text.split(","):
        fork, _, optimizer = item.strip().partition("/")
        if fork not in FORKS or optimizer not in ("on", "off"):
            raise BenchError(f"--grid: expected fork/on or fork/off (or 'all'), got {item!r}")
        chains.append((fork, optimizer))
    return tuple(chains)


def add_arguments(parser: Any) -> None:
    """The flags of ``sumchain bench gas`` (and ``python -m bench.gas``)."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for CSV, Markdown and PNG (default: a new "
        "./sumchain-gas-<UTC time> in the current directory)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="replay every transaction on EDR (and anvil for Cancun); fail if any gas figure differs",
    )
    parser.add_argument(
        "--edr",
        type=Path,
        metavar="DIR",
        help=f"the {EDR_PACKAGE} npm package for --verify "
        "(default: ./node_modules, or the source checkout's)",
    )
    parser.add_argument(
        "--anvil",
        type=Path,
        metavar="PATH",
        help="the anvil program for --verify (default: on PATH, or in node_modules)",
    )
    parser.add_argument("--quick", action="store_true", help="a small sweep (two forks)")
    parser.add_argument("--forks", help=f"comma-separated, from {','.join(FORKS)}")
    parser.add_argument("--optimizer", choices=("on", "off", "both"), default=None)
    parser.add_argument("--models", help=f"comma-separated, from {','.join(MODELS)}")
    parser.add_argument("--incentives", help="comma-separated: Stakeable,Points")
    parser.add_argument("--features", help="feature counts of deployments, e.g. 100,1000,10000")
    parser.add_argument("--words", help="words per sparse sample, e.g. 1,15,20,50,100,500")
    parser.add_argument("--gas-price", type=float, default=None, help="gwei per gas")
    parser.add_argument("--eth-usd", type=float, default=None, help="US dollars per ether")
    parser.add_argument(
        "--grid",
        default="cancun/on",
        help="fork/optimizer chains measuring the whole grid, comma-separated, "
        "or 'all'; the others measure the Table I setting only",
    )
    parser.add_argument("--jobs", type=int, default=1, help="chains measured in parallel")
    parser.add_argument(
        "--check-snapshot", action="store_true", help=f"fail if a figure pinned in {SNAPSHOT_FILE.name} moved"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--table-i-from-snapshot",
        metavar="FILE",
        default=None,
        help=f"only write Table I, optimizer off and on, from {SNAPSHOT_FILE.name}",
    )


def sweep_from_args(args: Any) -> Sweep:
    from dataclasses import replace

    sweep = QUICK if args.quick else Sweep()
    changes: dict[str, Any] = {}
    if args.forks:
        changes["forks"] = _csv_names(args.forks, FORKS, "fork")
    if args.optimizer:
        changes["optimizer"] = ("on", "off") if args.optimizer == "both" else (args.optimizer,)
    if args.models:
        changes["models"] = _csv_names(args.models, MODELS, "model")
    if args.incentives:
        changes["incentives"] = _csv_names(args.incentives, INCENTIVES, "incentive mechanism")
    if args.features:
        changes["feature_counts"] = _csv_ints(args.features)
    if args.words:
        changes["words"] = _csv_ints(args.words)
    if not args.quick:
        changes["grid_chains"] = _grid_chains(args.grid)
    return replace(sweep, **changes)


def main_with_args(args: Any, command: str) -> int:
    """Run the benchmark as the flags say; 0 if every check passed, 1 otherwise."""
    if getattr(args, "table_i_from_snapshot", None):
        text = table_i_by_optimizer_markdown(json.loads(SNAPSHOT_FILE.read_text()))
        Path(args.table_i_from_snapshot).write_text(text + "\n")
        print(text)
        return 0
    if args.gas_price is not None and not args.gas_price > 0:
        raise BenchError("--gas-price must be a positive number of gwei")
    if args.eth_usd is not None and args.gas_price is None:
        raise BenchError("--eth-usd needs --gas-price")
    if args.jobs < 1:
        raise BenchError("--jobs must be at least 1")
    sweep = sweep_from_args(args)
    # found before anything is measured: a missing tool refuses at once, not after the run
    references = References.find(sweep.forks, args.edr, args.anvil) if args.verify else None
    out = args.out if args.out is not None else default_out("gas")
    started = time.perf_counter()
    results = run(sweep, check=args.verify, jobs=args.jobs, verbose=not args.quiet, references=references)
    seconds = time.perf_counter() - started
    written = write_outputs(results, out, command, seconds, args.gas_price, args.eth_usd)
    rows = [row for result in results for row in result.measured.rows]
    print(table_i_markdown(rows))
    print(f"{len(rows)} rows in {seconds:.0f} s; wrote {', '.join(str(p) for p in written)}")
    print(f"results in {out.resolve()}")
    failed = False
    if args.verify:
        total = sum(sum(r.replayed.values()) for r in results)
        mismatches = [m for r in results for m in r.mismatches]
        for m in mismatches:
            print(
                f"MISMATCH {m.reference} {m.fork}/{m.optimizer} block {m.block} tx {m.index}: "
                f"sumchain {m.sumchain:,}, {m.reference} {m.other:,}",
                file=sys.stderr,
            )
        errors = [r for r in results if r.verify_error]
        for r in errors:
            print(
                f"VERIFY FAILED {r.measured.fork}/{r.measured.optimizer}: {r.verify_error}", file=sys.stderr
            )
        print(
            f"verify: {total} replayed transactions, {len(mismatches)} gas differences, "
            f"{len(errors)} chains not replayed"
        )
        failed |= bool(mismatches) or bool(errors)
    if args.check_snapshot:
        if not SNAPSHOT_FILE.is_file():
            raise BenchError(
                f"--check-snapshot: {SNAPSHOT_FILE} is missing; reinstall sumchain, or "
                "take bench/results/gas/snapshot.json from its source repository"
            )
        committed = json.loads(SNAPSHOT_FILE.read_text())
        current = snapshot_figures(rows)
        changes = check_snapshot(current, {k: v for k, v in committed.items() if k in current})
        for change in changes:
            print(f"SNAPSHOT {change}", file=sys.stderr)
        failed |= bool(changes)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.gas", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return main_with_args(args, "python -m bench.gas " + " ".join(sys.argv[1:] if argv is None else argv))
    except ChainError as exc:  # BenchError, ToolMissing
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
