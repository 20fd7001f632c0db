"""Measuring on sumchain: one in-process chain per fork x optimizer setting, every
transaction a :class:`~bench.gas.cases.Row` split into parts from its call trace.

Frameworks are deployed by the SDK's one deployer (``vm_contracts.deploy``) under
:data:`GAS_POLICY`: no gas estimates (estimation runs a transaction ~20 times in a
binary search, which made one 10,000-feature deployment take 450 s), chunks of
``INIT_TX_GAS // INIT_ENTRY_GAS`` entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.currency import denoms
from web3.types import RPCEndpoint

from bench.errors import BenchError
from bench.gas.cases import (
    MARKET_STAGES,
    PERCEPTRONS,
    REFUND_WAIT_S,
    SPARSE_MODELS,
    TABLE_I,
    MarketSetting,
    Row,
    Sweep,
    core_sweep,
    model_state,
    sample,
)
from vm_contracts.deploy import (
    INIT_ENTRY_GAS,
    Deployer,
    DeployStep,
    GasPolicy,
    Sender,
    deploy_instance,
    linked_library_names,
    load_contract,
)
from vm_contracts.fixed_point import SCALE
from vm_contracts.revert import ErrorDecoder

BLOCK_GAS_LIMIT = 30_000_000  # gas per block on the measured chains
INIT_TX_GAS = 12_000_000  # gas an initialisation transaction may use (SSTOREs from zero)
RECEIPT_TIMEOUT_S = 900  # py-evm runs a 30 Mgas transaction in minutes, not seconds
# Every transaction is given the block gas limit; chunks of INIT_TX_GAS // INIT_ENTRY_GAS entries.
GAS_POLICY = GasPolicy(
    estimate=False,
    init_gas_budget=INIT_TX_GAS,
    entry_gas=INIT_ENTRY_GAS,
    gas_price=denoms.gwei,
    receipt_timeout_s=RECEIPT_TIMEOUT_S,
    write_zeros=True,  # SparseNearestCentroid's sums start at zero and are written all the same
)


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


class ChainBench:
    """Sends the transactions of one chain and turns each into a Row."""

    def __init__(self, fork: str, optimizer: str, gas_limit: int) -> None:
        from chain.config import ChainConfig
        from chain.vm import EVM_VERSIONS
        from node.provider import InProcessNode

        self.fork = fork
        # the artifacts solc built for the fork (Prague runs Cancun's: the same code)
        self.evm_version = EVM_VERSIONS[fork]
        self.optimizer = optimizer
        self.node = InProcessNode.create(config=ChainConfig(fork=fork, gas_limit=gas_limit))
        self.w3 = self.node.w3
        self.chain = self.node.backend.chain
        self.accounts: list[str] = [str(a) for a in self.w3.eth.accounts]
        self.gas_limit = gas_limit
        self.sender = Sender(self.w3, ErrorDecoder([]), [], GAS_POLICY)
        self.rows: list[Row] = []
        self.replay_until: int | None = None

    # -- sending

    def send(self, built: Any, sender: str, value: int = 0) -> Any:
        """Send under :data:`GAS_POLICY` and wait; a failed transaction raises."""
        return self.sender.send(built, sender, "bench", value=value)

    def travel(self, seconds: int) -> None:
        self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

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
                        transactions=[self._raw_transaction(tx.hash) for tx in block.transactions],
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

    def _raw_transaction(self, tx_hash: bytes) -> bytes:
        raw = self.node.backend.raw_transaction(tx_hash)
        if raw is None:
            raise BenchError(f"{self.fork}: transaction 0x{tx_hash.hex()} is not in the chain")
        return bytes(raw)

    # -- recording

    def record(self, receipt: Any, roles: dict[bytes, str], **labels: Any) -> Row:
        from chain.tracing import (
            CREATE_TRANSACTION_BASE_GAS,
            TRANSACTION_BASE_GAS,
            trace_transaction,
        )

        trace = trace_transaction(self.chain, bytes(receipt["transactionHash"]))
        parts: dict[str, Any] = dict.fromkeys(
            ("trainer", "incentive_gas", "data_handler", "model_gas", "other"), 0
        )
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


class Deployed:
    """A framework deployed by ChainBench.deploy_framework (contracts and their roles)."""

    def __init__(
        self,
        bench: ChainBench,
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


# The Row step of each deployment transaction, by the deployer's action.
STEP_NAMES: dict[str, Callable[[DeployStep], str]] = {
    "deploy": lambda step: f"deploy {step.contract}",
    "initialize": lambda step: f"initialize {step.detail}",
    "initialize call": lambda step: step.detail,
    "finish": lambda step: "finishInitialization",
    "transferOwnership": lambda step: "transferOwnership",
}
ROLES = {  # a framework component -> the Row field its gas goes to
    "model": "model_gas",
    "incentive": "incentive_gas",
    "data_handler": "data_handler",
    "trainer": "trainer",
}


def deploy_framework(bench: ChainBench, model: str, incentive: str, features: int) -> Deployed:
    """Deploy and initialise ``model`` with ``features`` features under ``incentive``
    through the SDK's deployer, recording every transaction and the total."""
    from vm_contracts.client import Framework

    instance = deploy_instance(
        bench.w3,
        model,
        incentive,
        model_state(model, features),
        bench.accounts[0],
        evm_version=bench.evm_version,
        optimized=bench.optimizer == "on",
        policy=GAS_POLICY,
    )
    roles = {bytes.fromhex(instance.addresses[c][2:]): ROLES[c] for c in ROLES}
    labels: dict[str, Any] = dict(
        operation="deploy", model=model, incentive=incentive, features=features, words=0, agreement="-"
    )
    rows: list[Row] = []
    for step in instance.steps:
        deployed_role = {"_deployed_role": ROLES[step.component]} if step.action == "deploy" else {}
        step_name = STEP_NAMES[step.action](step)
        rows.append(bench.record(step.receipt, roles, step=step_name, **deployed_role, **labels))
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
    return Deployed(bench, model, incentive, features, Framework.from_instance(instance), roles)


def add_data(
    deployment: Deployed, data: list[int], label: int, sender: str, agreement: str
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


def measure_updates(deployment: Deployed, words_list: Sequence[int]) -> None:
    """addData for each sample size, agreeing and (perceptrons) disagreeing; then refund
    and report when asked."""
    framework = deployment.framework
    bench = deployment.bench
    sizes = words_list if deployment.model in SPARSE_MODELS else (deployment.features,)
    for index, words in enumerate(sizes):
        if words > deployment.features:
            continue
        data = sample(deployment.model, deployment.features, words, index)
        predicted = framework.predict(data)
        if deployment.model in PERCEPTRONS:
            add_data(deployment, data, predicted, bench.accounts[1], "agree")
            bench.travel(60)  # Stakeable's deposit falls with the time since the last add
            add_data(deployment, data, 1 - predicted, bench.accounts[1], "disagree")
        else:
            add_data(deployment, data, predicted, bench.accounts[1], "-")
        bench.travel(60)


def measure_refund_report(deployment: Deployed, words: int) -> None:
    """Refund a sample the model agrees with; report (Stakeable) one it disagrees with."""
    framework = deployment.framework
    bench = deployment.bench
    words = min(words, deployment.features)
    data = sample(deployment.model, deployment.features, words, 101)
    good_label = framework.predict(data)
    row, good = add_data(deployment, data, good_label, bench.accounts[2], _agreement(deployment))
    row.step = "addData (to refund)"
    bad_data = sample(deployment.model, deployment.features, words, 202)
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
    labels: dict[str, Any] = dict(
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


def _agreement(deployment: Deployed) -> str:
    return "agree" if deployment.model in PERCEPTRONS else "-"


def _disagreement(deployment: Deployed) -> str:
    return "disagree" if deployment.model in PERCEPTRONS else "-"


def measure_chain(
    fork: str, optimizer: str, sweep: Sweep, progress: Callable[[str], None] = lambda _: None
) -> Measured:
    """Every measurement of ``sweep`` on one new chain running ``fork`` (the core only
    unless the chain is one of ``sweep.grid_chains``)."""
    if sweep.grid_chains is not None and (fork, optimizer) not in sweep.grid_chains:
        sweep = core_sweep(sweep)
    bench = ChainBench(fork, optimizer, BLOCK_GAS_LIMIT)
    deployed: dict[tuple[str, str, int], Deployed] = {}

    def deployment(model: str, incentive: str, features: int) -> Deployed:
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
            if model == TABLE_I.model and incentive == TABLE_I.incentive:
                feature_set.add(TABLE_I.features)
            if dense:
                feature_set = set(sweep.dense_update_features)
            for features in sorted(feature_set):
                progress(f"{fork}/{optimizer}: addData {model} / {incentive} ({features} features)")
                target = deployment(model, incentive, features)
                words = sweep.words
                if model == TABLE_I.model and features == TABLE_I.features:
                    words = (TABLE_I.words,)
                measure_updates(target, words)
                if sweep.refund_report and features == max(feature_set):
                    measure_refund_report(target, TABLE_I.words)
    # The market is measured on optimized chains only (as before its reward stages became
    # linked libraries, when its unoptimized code was over EIP-170's limit).
    grid_chain = sweep.grid_chains is None or (fork, optimizer) in sweep.grid_chains
    if sweep.market is not None and grid_chain and optimizer == "on":
        progress(f"{fork}/{optimizer}: a prediction-market round")
        measure_market(bench, sweep.market)
    measured = bench.finish()
    return measured


def measure_market(bench: ChainBench, setting: MarketSetting) -> None:
    """One round of PredictionMarket, every transaction a row (operation "market
    <phase>"): deploy, commit, draw, reveal (initial), contribute (agreement "disagree"
    when the sample changed the model), reveal (remaining), advance (step names the
    stage it started in, and the one it ended in if another; words = its step count),
    withdraw."""
    import random

    from vm_contracts.reference import SparsePerceptron
    from vm_contracts.reference_market import MarketTerms, pack_sample, split_test_set

    optimized = bench.optimizer == "on"
    artifact = load_contract("PredictionMarket", bench.evm_version, optimized)
    owner, pusher = bench.accounts[0], bench.accounts[6]
    contributors = bench.accounts[1:6]
    labels: dict[str, Any] = dict(
        model="PredictionMarket", incentive="PredictionMarket", features=setting.features
    )
    # The libraries the market links (its artifact's linkReferences) are deployed first and
    # counted as the mechanism: the market runs them by DELEGATECALL on its own storage.
    deployer = Deployer(bench.w3, owner, GAS_POLICY)
    for library in linked_library_names(artifact):
        deployer.library(load_contract(library, bench.evm_version, optimized))
    market = deployer.contract(artifact)
    roles = {bytes.fromhex(a[2:]): "incentive_gas" for a in (market.address, *deployer.libraries.values())}

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

    for step in deployer.steps:
        bench.record(
            step.receipt,
            roles,
            operation="market deploy",
            step=step.label,
            words=0,
            agreement="-",
            _deployed_role="incentive_gas",
            **labels,
        )
    rng = random.Random(0)

    def review() -> tuple[list[int], int]:
        x = sorted(rng.sample(range(setting.features), setting.words))
        return x, int(sum(i < setting.features // 2 for i in x) * 2 > setting.words)

    test = [review() for _ in range(setting.test_samples)]
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
        market.functions.commit(terms.as_tuple(), [p.hash for p in parts], []),  # []: zero weights
        owner,
        value=setting.bounty_units * setting.stake_wei,
    )
    record(receipt, "commit", f"commit ({setting.parts} part hashes)")
    bench.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
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
        x, y = review()
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
