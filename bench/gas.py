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
``tests/conformance/test_anvil_sstore.py``).

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
import shutil
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

from chain.errors import ChainError

FORKS = ("petersburg", "istanbul", "berlin", "london", "shanghai", "cancun")
MODELS = ("SparsePerceptron", "DensePerceptron", "NaiveBayes", "NearestCentroid",
          "SparseNearestCentroid")
SPARSE_MODELS = ("SparsePerceptron", "NaiveBayes", "SparseNearestCentroid")
PERCEPTRONS = ("SparsePerceptron", "DensePerceptron")
INCENTIVES = ("Stakeable", "Points")
FEATURE_COUNTS = (100, 1_000, 10_000)  # features of deployed models
WORDS_PER_SAMPLE = (1, 15, 20, 50, 100, 500)  # distinct words in one sparse sample
UPDATE_FEATURES = 1_000  # features of the models that addData is measured on
TABLE_I = {"model": "SparsePerceptron", "incentive": "Stakeable", "features": 100, "words": 15}
PAPER_TABLE_I = {"addData agree": 177_693, "addData disagree": 249_037, "deployment": 3_845_840}
ORIGINAL_PY_EVM = {  # the original framework's figures measured on py-evm
    "petersburg": {"addData agree": 188_681, "addData disagree": 278_870,
                   "deployment": 4_344_076},
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
ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
EDR_PACKAGE = "@nomicfoundation/edr"
ANVIL = NODE_MODULES / ".bin" / "anvil"
ANVIL_FORKS = ("cancun",)  # where anvil is a reference (it misprices SSTORE before Berlin)
PART_COLUMNS = ("intrinsic", "calldata", "trainer", "incentive", "data_handler", "model",
                "other", "refund")
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
class Sweep:
    """What a run measures.

    Fields:
        forks: hard forks, each on its own chain.
        optimizer: solc optimizer settings ("on", "off").
        models, incentives: contracts to measure.
        feature_counts: features of the deployments measured.
        words: words per sparse sample for addData.
        update_features: features of the models addData is measured on.
        dense_features: features of dense models' addData (limited by the block gas limit).
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
    refund_report: bool = True


QUICK = Sweep(forks=("petersburg", "cancun"), optimizer=("on",),
              models=("SparsePerceptron", "DensePerceptron"), incentives=("Stakeable",),
              feature_counts=(100,), words=(15,), update_features=100, dense_features=(100,))


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
    """

    fork: str
    optimizer: str
    rows: list[Row]
    blocks: list[ReplayBlock]
    genesis_timestamp: int
    base_fee: int
    gas_limit: int
    seconds: float = 0.0


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

    # -- sending

    def send(self, built: Any, sender: str, value: int = 0) -> Any:
        params: dict[str, Any] = {"from": sender, "gas": self.gas_limit, "value": value}
        if self.legacy:
            params["gasPrice"] = GWEI
        tx_hash = built.transact(params)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
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
                blocks.append(ReplayBlock(
                    number=number, timestamp=int(header.timestamp),
                    transactions=[bytes(self.node.backend.raw_transaction(tx.hash))
                                  for tx in block.transactions],
                    gas_used=[info.gas_used for info in receipts]))
            base_fee = int(getattr(genesis, "base_fee_per_gas", 0) or 0)
        finally:
            self.node.close()
        return Measured(self.fork, self.optimizer, self.rows, blocks,
                        int(genesis.timestamp), base_fee, self.gas_limit)

    # -- recording

    def record(self, receipt: Any, roles: dict[bytes, str], **labels: Any) -> Row:
        from chain.tracing import CREATE_TRANSACTION_BASE_GAS, TRANSACTION_BASE_GAS, trace_transaction

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
        row = Row(fork=self.fork, optimizer=self.optimizer, gas=int(receipt["gasUsed"]),
                  intrinsic=trace.intrinsic_gas, calldata=trace.intrinsic_gas - base,
                  refund=trace.refund, block=int(receipt["blockNumber"]),
                  tx="0x" + bytes(receipt["transactionHash"]).hex(), opcodes=opcodes,
                  **parts, **labels)
        total = (row.intrinsic + row.trainer + row.incentive_gas + row.data_handler
                 + row.model_gas + row.other - row.refund)
        if total != row.gas:
            raise BenchError(f"{row.step} in block {row.block}: parts add up to {total}, "
                             f"receipt says {row.gas}")
        self.rows.append(row)
        return row


_ROLE_NAMES = {"trainer": "trainer", "incentive_gas": "incentive",
               "data_handler": "data_handler", "model_gas": "model", "other": "other"}


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
        state["centroids"] = [[(i * (c + 1)) % 5 * WEIGHT // 5 for i in range(features)]
                              for c in range(2)]
        state["sample_counts"] = [5, 5]
    return state


class _Deployment:
    """A framework deployed by _Bench.deploy_framework (contracts and their roles)."""

    def __init__(self, bench: _Bench, model: str, incentive: str, features: int,
                 framework: Any, roles: dict[bytes, str]) -> None:
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
    artifacts = {name: client.load_contract(name, bench.fork, optimized)
                 for name in (model, incentive, "DataHandler", "CollaborativeTrainer")}
    adapter = client._adapter(model)
    state = _model_state(model, features)
    owner = bench.accounts[0]
    labels = dict(operation="deploy", model=model, incentive=incentive, features=features,
                  words=0, agreement="-")
    roles: dict[bytes, str] = {}
    rows: list[Row] = []

    def deploy(name: str, args: Sequence[Any], role: str) -> Any:
        contract, receipt = bench.deploy(artifacts[name], args, owner)
        roles[bytes.fromhex(contract.address[2:])] = role
        rows.append(bench.record(receipt, roles, step=f"deploy {name}", _deployed_role=role,
                                 **labels))
        return contract

    model_contract = deploy(model, adapter.constructor_args(state), "model_gas")
    chunk = max(1, INIT_TX_GAS // INIT_ENTRY_GAS)
    for array in adapter.init_arrays(state):
        function = getattr(model_contract.functions, array.function)
        for start in range(0, len(array.values), chunk):
            values = array.values[start:start + chunk]
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
    trainer = deploy("CollaborativeTrainer",
                     [model, "", "", handler.address, mechanism.address, model_contract.address],
                     "trainer")
    for contract in (model_contract, mechanism, handler):
        receipt = bench.send(contract.functions.transferOwnership(trainer.address), owner)
        rows.append(bench.record(receipt, roles, step="transferOwnership", **labels))
    total = Row(fork=bench.fork, optimizer=bench.optimizer, step="deploy total",
                gas=sum(r.gas for r in rows), **{**labels, "operation": "deploy total"})
    for name in ("intrinsic", "calldata", "trainer", "incentive_gas", "data_handler",
                 "model_gas", "other", "refund"):
        setattr(total, name, sum(getattr(r, name) for r in rows))
    bench.rows.append(total)
    framework = client.Framework(bench.w3, model, incentive, trainer.address, artifacts,
                                 deployed_block=int(receipt["blockNumber"]))
    return _Deployment(bench, model, incentive, features, framework, roles)


def _sample(model: str, features: int, words: int, offset: int) -> list[int]:
    """A sample: ``words`` distinct feature indices (sparse) or ``features`` values (dense)."""
    if model in SPARSE_MODELS:
        return sorted((offset + 7 * i) % features for i in range(words))
    return [((i + offset) % 11 - 5) * SCALE // 5 for i in range(features)]


def add_data(deployment: _Deployment, data: list[int], label: int, sender: str,
             agreement: str) -> tuple[Row, Any]:
    framework = deployment.framework
    bench = deployment.bench
    deposit = framework.required_deposit() if deployment.incentive == "Stakeable" else 0
    built = framework.trainer.functions.addData(data, label)
    receipt = bench.send(built, sender, value=deposit)
    row = bench.record(receipt, deployment.roles, operation="addData", step="addData",
                       model=deployment.model, incentive=deployment.incentive,
                       features=deployment.features, words=len(data), agreement=agreement)
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
    row, bad = add_data(deployment, bad_data, bad_label, bench.accounts[3],
                        _disagreement(deployment))
    row.step = "addData (to report)"
    for _ in range(8):  # train the model back until it disagrees with the bad sample
        if framework.predict(bad_data) != bad_label:
            break
        bench.travel(60)
        row, _ = add_data(deployment, bad_data, 1 - bad_label, bench.accounts[4], "-")
        row.step = "addData (setting up a report)"
    bench.travel(REFUND_WAIT_S)
    labels = dict(model=deployment.model, incentive=deployment.incentive,
                  features=deployment.features, words=words)
    if framework.predict(data) == good_label:
        contribution = framework.contributions_in(good)[0]
        receipt = bench.send(framework.trainer.functions.refund(
            contribution.contributor, contribution.data, contribution.label,
            contribution.added_time), contribution.contributor)
        bench.record(receipt, deployment.roles, operation="refund", step="refund",
                     agreement="agree", **labels)
    if deployment.incentive == "Stakeable" and framework.predict(bad_data) != bad_label:
        contribution = framework.contributions_in(bad)[0]
        receipt = bench.send(framework.trainer.functions.report(
            contribution.contributor, contribution.data, contribution.label,
            contribution.added_time), bench.accounts[2])  # reporters need a refunded sample
        bench.record(receipt, deployment.roles, operation="report", step="report",
                     agreement="disagree", **labels)


def _agreement(deployment: _Deployment) -> str:
    return "agree" if deployment.model in PERCEPTRONS else "-"


def _disagreement(deployment: _Deployment) -> str:
    return "disagree" if deployment.model in PERCEPTRONS else "-"


def measure_chain(fork: str, optimizer: str, sweep: Sweep,
                  progress: Callable[[str], None] = lambda _: None) -> Measured:
    """Every measurement of ``sweep`` on one new chain running ``fork``."""
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
            if not (dense and features > max(sweep.dense_features)):
                deployment(model, sweep.incentives[0], features)
        for incentive in sweep.incentives:
            feature_set = {sweep.update_features}
            if model == TABLE_I["model"] and incentive == TABLE_I["incentive"]:
                feature_set.add(TABLE_I["features"])
            if dense:
                feature_set = set(sweep.dense_features)
            for features in sorted(feature_set):
                progress(f"{fork}/{optimizer}: addData {model} / {incentive} ({features} features)")
                target = deployment(model, incentive, features)
                words = sweep.words
                if model == TABLE_I["model"] and features == TABLE_I["features"]:
                    words = (TABLE_I["words"],)
                measure_updates(target, words)
                if sweep.refund_report and features == max(feature_set):
                    measure_refund_report(target, TABLE_I["words"])
    measured = bench.finish()
    return measured


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
        const data = typeof response.data === "string" ? response.data : JSON.stringify(response.data);
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


@contextmanager
def _reference_node(kind: str, measured: Measured) -> Iterator[str]:
    """Start an EDR ("edr") or anvil ("anvil") node with the chain's fork and genesis."""
    from chain.config import ChainConfig

    config = ChainConfig(fork=measured.fork)
    port = _free_port()
    base_fee = measured.base_fee if measured.base_fee else None
    if kind == "edr":
        edr_path = NODE_MODULES / EDR_PACKAGE
        if not edr_path.exists():
            raise BenchError(f"--verify needs the npm package {EDR_PACKAGE} (from `npm install`)")
        script = Path(tempfile.mkdtemp(prefix="sumchain-edr-")) / "edr_node.cjs"
        script.write_text(EDR_SERVER)
        env = {**os.environ, "EDR_PATH": str(edr_path), "EDR_CONFIG": json.dumps({
            "hardfork": measured.fork, "chainId": config.chain_id, "gasLimit": measured.gas_limit,
            "baseFee": base_fee, "genesisTime": measured.genesis_timestamp, "port": port,
            "accounts": [{"address": address, "balance": str(balance)}
                         for address, balance in config.genesis_alloc.items()]})}
        command = ["node", str(script)]
    else:
        if not ANVIL.exists():
            raise BenchError(f"--verify needs anvil at {ANVIL} (from `npm install`)")
        env = dict(os.environ)
        command = [str(ANVIL), "--port", str(port), "--hardfork", measured.fork,
                   "--chain-id", str(config.chain_id), "--gas-limit", str(measured.gas_limit),
                   "--timestamp", str(measured.genesis_timestamp), "--accounts",
                   str(config.accounts), "--balance", str(config.account_balance // 10**18),
                   "--base-fee", str(base_fee or 0), "--silent"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
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


def replay(kind: str, measured: Measured) -> tuple[int, list[Mismatch]]:
    """Replay every block of ``measured`` on a ``kind`` node; (transactions, mismatches)."""
    mismatches: list[Mismatch] = []
    count = 0
    with _reference_node(kind, measured) as url:
        for block in measured.blocks:
            _rpc(url, "evm_setNextBlockTimestamp", [hex(block.timestamp)])
            if not block.transactions:
                _rpc(url, "evm_mine", [])
                continue
            for index, (raw, gas) in enumerate(zip(block.transactions, block.gas_used,
                                                   strict=True)):
                tx_hash = _rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()])
                receipt = _receipt(url, tx_hash)
                if receipt is None:
                    raise BenchError(f"{kind}: transaction of block {block.number} not mined")
                count += 1
                other = int(receipt["gasUsed"], 16)
                if other != gas:
                    mismatches.append(Mismatch(kind, measured.fork, measured.optimizer,
                                               block.number, index, gas, other))
    return count, mismatches


def _receipt(url: str, tx_hash: str) -> Any:
    deadline = time.monotonic() + REFERENCE_START_TIMEOUT_S
    while True:
        receipt = _rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None or time.monotonic() > deadline:
            return receipt
        time.sleep(0.01)


def verify(measured: Measured) -> tuple[dict[str, int], list[Mismatch]]:
    """Replay on EDR (every fork) and anvil (where it is a reference)."""
    counts: dict[str, int] = {}
    mismatches: list[Mismatch] = []
    kinds = ["edr"] + (["anvil"] if measured.fork in ANVIL_FORKS else [])
    for kind in kinds:
        count, found = replay(kind, measured)
        counts[kind] = count
        mismatches.extend(found)
    return counts, mismatches
