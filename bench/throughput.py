"""Throughput: transactions per second and store bytes per transaction.

Runs one contract-calling workload — the same signed transactions, byte for byte — on
sumchain in-process (memory store; LMDB store with and without fsync) and on
eth-tester's py-evm backend, side by side in one process and one environment, in
automine mode (a block per transaction), and reports the ratios (wall time and this
process's CPU time: on a shared machine the CPU figure is the steadier one). A cProfile
of the sumchain run is grouped into where the time goes.

With ``--market-imdb``, one small prediction-market round (``bench.market``, IMDB
reviews) is run in-process and its reward phase (``advance``: the market scoring every
model h(t) on the test set) is reported in Mgas per CPU second of this process.

Then the same Python client (web3 over HTTP and the framework SDK) adds data to a
deployed SparsePerceptron/Stakeable trainer on a ``sumchain devnet`` subprocess and on
an ``anvil`` subprocess, both on loopback, in turn, and reports add-data calls per
second, each node's CPU per call and the client's time per JSON-RPC method.

    python -m bench.throughput --txs 400 --rpc-adds 40 --out bench/results/throughput

eth-tester (a dev dependency) and anvil are found as ``bench.tools`` says; a missing
one is refused in one line before anything runs. Without ``--out`` the report goes to
a new ``./sumchain-throughput-<UTC time>``.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from bench.nodes import NodeProcess, start_anvil, start_devnet
from bench.outputs import default_out, out_help, write_rows
from bench.provenance import command_line, commit, machine_line, package_versions
from bench.tools import ToolMissing, find_anvil, require_eth_tester
from chain.chain import Chain
from chain.config import ChainConfig
from chain.producer import BlockProducer
from node.assemble import assemble

KEY = bytes(31) + b"\x01"  # eth-tester's first funded account; funded in sumchain's genesis too
SENDER = Account.from_key(KEY).address
CHAIN_ID = 131277322940537  # eth-tester's chain id, so both chains accept the same bytes
GENESIS_TIME = 1_700_000_000
# A contract whose every call writes a storage slot and emits a log:
# SSTORE(CALLDATALOAD(0), CALLDATALOAD(32)); LOG1(0, 0, 0xaa..aa); STOP
WORKLOAD_RUNTIME = bytes.fromhex("602035600035557f" + "aa" * 32 + "60006000a100")


def init_code(runtime: bytes) -> bytes:
    return bytes.fromhex(f"60{len(runtime):02x}600c60003960{len(runtime):02x}6000f3") + runtime


def contract_address(sender: bytes, nonce: int) -> bytes:
    """Where a CREATE from ``sender`` at ``nonce`` puts its contract (the yellow paper's rule)."""
    return keccak(rlp.encode([sender, nonce]))[12:]


def workload(count: int) -> list[bytes]:
    """A deployment then ``count`` calls, each to a new slot (cold storage, like a model
    update writing fresh parameters)."""
    contract = to_checksum_address(contract_address(bytes.fromhex(SENDER[2:]), 0))
    txs = [_sign(0, None, init_code(WORKLOAD_RUNTIME), 200_000)]
    for i in range(count):
        data = (i + 1).to_bytes(32, "big") + (i * 7 + 3).to_bytes(32, "big")
        txs.append(_sign(i + 1, contract, data, 100_000))
    return txs


REAL_FEATURES = 1_000  # SparsePerceptron features, as in the paper's IMDB setting
REAL_WORDS = 90  # distinct words per sample (the IMDB reviews' median is about this)
REAL_UPDATE_SHARE = 0.52  # share of samples the model gets wrong (and so updates on), Fig. 3
REAL_DEPOSIT = 10**15  # wei: Stakeable's cost weight, the most a deposit can cost; excess returned
REAL_ADD_GAS = 1_500_000  # gas limit of each addData (a 90-word update uses about 700,000)
BLOCK_GAS = 150_000_000  # block gas limit on both chains: room for 100 addData calls
REAL_INIT_GAS = 5_000_000  # gas per weight-initialisation transaction (within eth-tester's limit)


@dataclass
class Workload:
    """Signed transactions: ``setup`` ones (untimed) then the timed ones."""

    name: str
    txs: list[bytes]
    setup: int
    updates: int = 0  # timed addData calls whose sample the model got wrong (it trains)


def micro_workload(count: int) -> Workload:
    return Workload("micro: one SSTORE and one LOG per call", workload(count), 1)


def realistic_workload(count: int, seed: int = 1) -> Workload:
    """The framework deployed as Fig. 3 runs it (SparsePerceptron with 1,000 features and
    non-zero weights, Stakeable), then ``count`` distinct ~90-word samples added with the
    label the model gets wrong for about 52% of them. Recorded once on an in-process
    sumchain with the sender's key (re-signed with this module's fixed fees, so that
    eth-tester accepts the same bytes), then replayed by every runner."""
    import random

    from web3.middleware import SignAndSendRawMiddlewareBuilder

    from node.provider import InProcessNode
    from vm_contracts.client import deploy_framework
    from vm_contracts.encoding import SCALE

    rng = random.Random(seed)
    config = ChainConfig(chain_id=CHAIN_ID, genesis_timestamp=GENESIS_TIME, alloc={SENDER: 10**24})
    node = InProcessNode.create(config=config)
    try:
        w3 = node.w3
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(KEY), layer=0)
        weights = [rng.randrange(-SCALE, SCALE) for _ in range(REAL_FEATURES)]
        framework = deploy_framework(
            w3,
            model="SparsePerceptron",
            incentive="Stakeable",
            params={"num_features": REAL_FEATURES, "learning_rate": SCALE},
            initial={"weights": weights},
            account=SENDER,
            init_gas_budget=REAL_INIT_GAS,
        )
        chain = node.backend.chain
        txs: list[bytes] = []
        for number in range(1, chain.head.block_number + 1):
            for tx in chain.block(number).transactions:
                to = to_checksum_address(tx.to) if tx.to else None
                txs.append(_sign(len(txs), to, bytes(tx.data), int(tx.gas), int(tx.value)))
        setup = len(txs)
        trainer = framework.trainer
        updates = 0
        for _ in range(count):
            sample = sorted(rng.sample(range(REAL_FEATURES), REAL_WORDS))
            predicted = framework.predict(sample)
            wrong = rng.random() < REAL_UPDATE_SHARE
            updates += wrong
            data = bytes.fromhex(
                trainer.encode_abi("addData", args=[sample, 1 - predicted if wrong else predicted])[2:]
            )
            raw = _sign(len(txs), trainer.address, data, REAL_ADD_GAS, REAL_DEPOSIT)
            receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
            if receipt["status"] != 1:
                raise RuntimeError("a recorded addData failed")
            txs.append(raw)
    finally:
        node.close()
    return Workload(
        f"realistic add-data: SparsePerceptron {REAL_FEATURES} features, {REAL_WORDS}-word "
        f"samples, Stakeable, {updates}/{count} updating",
        txs,
        setup,
        updates,
    )


def _sign(nonce: int, to: str | None, data: bytes, gas: int, value: int = 0) -> bytes:
    tx: dict[str, object] = {
        "nonce": nonce,
        "gas": gas,
        "data": data,
        "value": value,
        "chainId": CHAIN_ID,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    if to:
        tx["to"] = to
    return bytes(Account.sign_transaction(tx, KEY).raw_transaction)


@dataclass
class Result:
    runner: str
    txs: int
    seconds: float  # wall
    store_bytes: int
    cpu_seconds: float = 0.0  # this process's CPU time over the same span

    @property
    def tps(self) -> float:
        return self.txs / self.seconds

    @property
    def bytes_per_tx(self) -> float:
        return self.store_bytes / self.txs


# --- runners ---------------------------------------------------------------------------


def _sumchain(store: str, fast_paths: bool = True) -> Callable[[Workload, int], Result]:
    def run(load: Workload, per_block: int = 1) -> Result:
        tmp = Path(tempfile.mkdtemp(prefix="sumchain-bench-"))
        try:
            config = ChainConfig(
                chain_id=CHAIN_ID,
                genesis_timestamp=GENESIS_TIME,
                alloc={SENDER: 10**24},
                gas_limit=BLOCK_GAS,
            )
            data_dir = None if store == "memory" else tmp / "node"
            node = assemble(
                config, data_dir, sync=(store == "lmdb-fsync"), fast_paths=fast_paths, mode="automine"
            )
            chain, producer = node.chain, node.producer
            _sumchain_send(chain, producer, load.txs[: load.setup], 1)
            before = _store_bytes(chain)
            timed = load.txs[load.setup :]
            cpu, start = time.process_time(), time.perf_counter()
            _sumchain_send(chain, producer, timed, per_block)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            assert chain.nonce(bytes.fromhex(SENDER[2:])) == len(load.txs), "every tx is mined"
            for number in (chain.head.block_number,):
                for tx in chain.block(number).transactions:
                    receipt = chain.receipt(tx.hash)
                    assert receipt is not None and receipt.status == 1
            size = _store_bytes(chain) - before
            chain.close()
            name = f"sumchain ({store})" if fast_paths else f"sumchain ({store}, fast paths off)"
            return Result(name, len(timed), seconds, size, cpu)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return run


def _sumchain_send(chain: Chain, producer: BlockProducer, txs: Sequence[bytes], per_block: int) -> None:
    """Automine (``per_block`` 1: a block per transaction) or ``per_block`` pooled
    transactions sealed in one block."""
    pool = producer.pool
    assert pool is not None, "an assembled node's producer has the pool"
    if per_block == 1:
        for raw in txs:
            pool.add(raw)
            producer.transaction_added()
        return
    for first in range(0, len(txs), per_block):
        for raw in txs[first : first + per_block]:
            pool.add(raw)
        chain.build_block([p.tx for p in pool.pending()], timestamp=chain.next_timestamp())


def replay(load: Workload, fast_paths: bool) -> tuple[int, float]:
    """(gas, CPU seconds) to import the timed blocks of ``load`` (built in automine on a
    chain with fast paths on) into a chain with ``fast_paths``: full validation and
    re-execution, as a node replays history."""
    config = ChainConfig(
        chain_id=CHAIN_ID, genesis_timestamp=GENESIS_TIME, alloc={SENDER: 10**24}, gas_limit=BLOCK_GAS
    )
    source_node = assemble(config, fast_paths=True, mode="automine")
    source, producer = source_node.chain, source_node.producer
    target = Chain.open(config, fast_paths=fast_paths)
    try:
        _sumchain_send(source, producer, load.txs, 1)
        for number in range(1, load.setup + 1):
            target.import_block(source.block(source.header(number)))
        gas, cpu = 0, time.process_time()
        for number in range(load.setup + 1, source.head.block_number + 1):
            block = source.block(source.header(number))
            target.import_block(block)
            gas += block.header.gas_used
        cpu = time.process_time() - cpu
        assert target.head.hash == source.head.hash
        return gas, cpu
    finally:
        source.close()
        target.close()


def _store_bytes(chain: Chain) -> int:
    return chain.store.size_bytes()


def _eth_tester(load: Workload, per_block: int = 1) -> Result:
    from eth.vm.forks import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend

    genesis = PyEVMBackend.generate_genesis_params({"gas_limit": BLOCK_GAS})
    backend = PyEVMBackend(genesis_parameters=genesis, vm_configuration=((0, CancunVM),))
    tester = EthereumTester(backend)
    for raw in load.txs[: load.setup]:
        tester.send_raw_transaction("0x" + raw.hex())
    memory = backend.chain.chaindb.db.wrapped_db
    before = sum(len(k) + len(v) for k, v in memory.kv_store.items())
    timed = load.txs[load.setup :]
    # Without automine, eth-tester runs each sent transaction on a snapshot it then
    # reverts; its backend's own send applies them to the pending block, mined after.
    cpu, start = time.process_time(), time.perf_counter()
    for first in range(0, len(timed), per_block):
        for raw in timed[first : first + per_block]:
            if per_block == 1:
                tester.send_raw_transaction("0x" + raw.hex())
            else:
                backend.send_raw_transaction(raw)
        if per_block > 1:
            tester.mine_blocks(1)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert tester.get_nonce(SENDER) == len(load.txs), "every transaction must be mined"
    head = tester.get_block_by_number("latest")
    for tx_hash in head["transactions"]:
        assert tester.get_transaction_receipt(tx_hash)["status"] == 1
    size = sum(len(k) + len(v) for k, v in memory.kv_store.items()) - before
    return Result("eth-tester (py-evm)", len(timed), seconds, size, cpu)


RUNNERS: dict[str, Callable[[Workload, int], Result]] = {
    "sumchain-memory": _sumchain("memory"),
    "sumchain-lmdb": _sumchain("lmdb"),
    "sumchain-lmdb-fsync": _sumchain("lmdb-fsync"),
    "sumchain-memory-plain": _sumchain("memory", fast_paths=False),
    "sumchain-lmdb-plain": _sumchain("lmdb", fast_paths=False),
    "eth-tester": _eth_tester,
}

# --- JSON-RPC: the same Python client against sumchain and anvil -------------------------

NODE_READY_S = 60.0  # seconds a node may take to answer its first request
RPC_MODEL = "SparsePerceptron"
RPC_INCENTIVE = "Stakeable"
RPC_FEATURES = 1_000  # features of the sparse model; each sample names --rpc-words of them
RPC_WORDS = 2  # words per JSON-RPC sample by default (the benchmark's workload); 90: the realistic one
# Samples must be distinct: on a node that seals several blocks in one second (anvil),
# the same sample from the same contributor at the same timestamp is a DuplicateContribution.


@dataclass
class RpcResult:
    node: str
    adds: int
    seconds: float  # wall, client side
    node_cpu_seconds: float  # CPU of the node's processes over the same span
    client_cpu_seconds: float
    per_method: dict[str, tuple[int, float]]  # method -> (calls, seconds), client side

    @property
    def adds_per_s(self) -> float:
        return self.adds / self.seconds


def _group_cpu(group: int) -> float:
    """CPU seconds (user + system) of the live processes in a process group."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _start_node(node: str, anvil: Path | None) -> NodeProcess:
    if node == "sumchain":
        return start_devnet(ready_s=NODE_READY_S)
    return start_anvil(anvil, needed_by="the JSON-RPC runs")


def rpc_sample(index: int, words: int) -> list[int]:
    """The ``index``-th timed JSON-RPC sample: ``words`` distinct features, no two samples
    alike (a repeated one at a shared timestamp is a DuplicateContribution)."""
    if words == RPC_WORDS:
        return [index % RPC_FEATURES, (index + 1 + index // RPC_FEATURES) % RPC_FEATURES]
    return sorted({(index * 37 + k * 11) % RPC_FEATURES for k in range(words)})


def _rpc_run(node: str, adds: int, anvil: Path | None = None, words: int = RPC_WORDS) -> RpcResult:
    """Start ``node`` on loopback, deploy the trainer, add one sample to warm up, then time
    ``adds`` more of ``words`` words each, each through Framework.add_data (deposit read,
    gas estimate, send, receipt)."""
    from web3 import HTTPProvider

    from node.provider import poa_web3
    from vm_contracts.client import deploy_framework
    from vm_contracts.encoding import SCALE

    calls: dict[str, list[float]] = collections.defaultdict(list)

    class TimedHTTPProvider(HTTPProvider):
        def make_request(self, method, params):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return super().make_request(method, params)
            finally:
                calls[str(method)].append(time.perf_counter() - start)

    running = _start_node(node, anvil)
    try:
        w3 = poa_web3(TimedHTTPProvider(running.url, request_kwargs={"timeout": 120}))
        owner, contributor = list(w3.eth.accounts)[:2]
        framework = deploy_framework(
            w3,
            model=RPC_MODEL,
            incentive=RPC_INCENTIVE,
            account=owner,
            params={"num_features": RPC_FEATURES, "learning_rate": SCALE},
        )
        framework.add_data([0, RPC_FEATURES - 1], 1, contributor)  # unlike any timed sample
        calls.clear()
        node_cpu, client_cpu, start = (
            _group_cpu(running.pid),
            time.process_time(),
            time.perf_counter(),
        )
        for i in range(adds):
            receipt = framework.add_data(rpc_sample(i, words), i % 2, contributor)
            assert receipt["status"] == 1, "every add must succeed"
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        node_cpu = _group_cpu(running.pid) - node_cpu
        per_method = {m: (len(ts), sum(ts)) for m, ts in calls.items()}
        return RpcResult(node, adds, seconds, node_cpu, client_cpu, per_method)
    finally:
        running.stop()


RPC_NODES = ("sumchain", "anvil")

# --- the prediction market's reward phase ------------------------------------------------

MARKET_TEST_SIZE = 100  # test reviews the market scores every h(t) on
MARKET_PARTS = 10
MARKET_BOUNTY_UNITS = 1_000
MARKET_VOCAB = 1_000  # features of the market's sparse perceptron


@dataclass
class MarketAdvance:
    """The ``advance`` phase of one ``bench.market`` round: gas of its transactions, and
    this process's CPU seconds and the wall seconds of ``Market.compute_rewards``."""

    contributions: int
    transactions: int
    gas: int
    cpu_seconds: float
    seconds: float

    @property
    def mgas_per_cpu_s(self) -> float:
        return self.gas / self.cpu_seconds / 1e6


def market_advance(imdb: Path, contributions: int) -> MarketAdvance:
    """Run ``bench.market.run`` (checked against its twin there) with ``contributions``
    training reviews and time its reward phase: ``Market.compute_rewards`` is wrapped
    for the run to read the CPU clock around it (the node runs in this process, so its
    worker thread's CPU counts)."""
    from bench import market
    from vm_contracts.market import Market

    spans: list[tuple[float, float]] = []
    original = Market.compute_rewards

    def timed(self: Market, account: object) -> int:
        cpu, start = time.process_time(), time.perf_counter()
        try:
            return original(self, account)  # type: ignore[arg-type]
        finally:
            spans.append((time.process_time() - cpu, time.perf_counter() - start))

    Market.compute_rewards = timed  # type: ignore[method-assign, assignment]
    try:
        result = market.run(
            imdb,
            train_size=contributions,
            test_size=MARKET_TEST_SIZE,
            parts=MARKET_PARTS,
            initial_parts=1,
            bounty_units=MARKET_BOUNTY_UNITS,
            vocab=MARKET_VOCAB,
        )
    finally:
        Market.compute_rewards = original  # type: ignore[method-assign]
    gas = result.gas["advance"]
    return MarketAdvance(
        contributions, len(gas), sum(gas), sum(c for c, _ in spans), sum(w for _, w in spans)
    )


# --- profile ---------------------------------------------------------------------------

PROFILE_GROUPS = (  # (part, functions heading it as "path/file.py:function" suffixes)
    ("whole block production (build_block)", ("chain/chain.py:build_block",)),
    ("EVM execution (interpreter, per transaction)", ("eth/vm/base.py:apply_transaction",)),
    ("state root (account and storage tries)", ("eth/db/account.py:make_state_root",)),
    ("transaction and receipt tries", ("eth/db/trie.py:make_trie_root_and_nodes",)),
    ("block persistence (header, body, indices)", ("eth/db/chain.py:persist_block",)),
    ("header creation (new_header)", ("chain/vm.py:new_header",)),
    ("seal signing", ("chain/consensus.py:sign_header",)),
    ("after the block (snapshot, pool reset)", ("chain/chain.py:_after_block",)),
    ("pool admission (decode, checks)", ("chain/mempool.py:add",)),
    ("sender signature recovery (pool)", ("chain/validation.py:recover_sender",)),
    ("store commit", ("chain/store.py:commit",)),
)


def profile(load: Workload, store: str = "memory") -> list[tuple[str, float]]:
    """Share of sumchain's time per part, from cProfile cumulative times of the function
    heading each part (parts nest, so shares are not additive; cProfile inflates
    Python-heavy parts relative to C ones)."""
    profiler = cProfile.Profile()
    run = _sumchain(store)
    profiler.enable()
    run(load, 1)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(v[3] for v in stats.values())
    shares = []
    for group, names in PROFILE_GROUPS:
        best = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.items():
            where = f"{filename}:{func}"
            if any(where.endswith(name) for name in names):
                best = max(best, ct)
        shares.append((group, best / total))
    return shares


# --- report --------------------------------------------------------------------------


def versions() -> str:
    from importlib.util import find_spec

    from eth_hash.auto import keccak

    keccak(b"")  # eth-hash picks its backend on the first hash
    backend = type(getattr(keccak.hasher, "__self__", keccak.hasher)).__name__
    packages = package_versions(("py-evm", "eth-tester", "lmdb", "coincurve", "rlp", "eth-hash"))
    listed = ", ".join(f"{p} {v}" for p, v in packages.items())
    rlp_codec = "pure Python"
    if find_spec("rusty_rlp"):
        rlp_codec = f"rusty-rlp {package_versions(('rusty-rlp',))['rusty-rlp']}"
    return (
        f"{listed}; keccak backend {backend}, RLP codec {rlp_codec} "
        "(one process: eth-tester runs on the same keccak and RLP libraries)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=400, help="contract calls per run (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per runner; the median is reported")
    parser.add_argument(
        "--runners",
        default=",".join(RUNNERS),
        help="comma-separated subset of: " + ", ".join(RUNNERS),
    )
    parser.add_argument("--adds", type=int, default=200, help="realistic addData calls per run (0: skip)")
    parser.add_argument(
        "--per-block", type=int, default=100, help="transactions per block in the batched mode"
    )
    parser.add_argument("--out", type=Path, help=out_help("throughput"))
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--rpc-adds",
        type=int,
        default=40,
        help="add-data calls per JSON-RPC run against sumchain and anvil (0: skip)",
    )
    parser.add_argument(
        "--rpc-words",
        type=int,
        default=RPC_WORDS,
        help=f"words per JSON-RPC sample (default {RPC_WORDS}; {REAL_WORDS}: the realistic samples)",
    )
    parser.add_argument(
        "--anvil", type=Path, metavar="PATH", help="the anvil program (default: on PATH, or in node_modules)"
    )
    parser.add_argument(
        "--market-imdb",
        type=Path,
        metavar="PATH",
        help="IMDB (as bench.market takes it): also time a prediction-market round's advance",
    )
    parser.add_argument(
        "--market-contributions", type=int, default=200, help="training reviews of that round (default 200)"
    )
    args = parser.parse_args(argv)
    if args.txs < 1 or args.rounds < 1:
        parser.error("--txs and --rounds must be >= 1")
    if args.rpc_adds < 0:
        parser.error("--rpc-adds must be >= 0")
    if not 2 <= args.rpc_words <= RPC_FEATURES // 11:
        parser.error(f"--rpc-words must be between 2 and {RPC_FEATURES // 11}")
    if args.market_contributions < 1:
        parser.error("--market-contributions must be >= 1")
    if args.market_imdb is not None and not args.market_imdb.exists():
        parser.error(f"--market-imdb: no such file or folder: {args.market_imdb}")
    names = [n.strip() for n in args.runners.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        parser.error(f"unknown runner {unknown[0]!r}")
    try:
        anvil = None
        if args.rpc_adds:
            anvil = find_anvil(args.anvil, "the JSON-RPC runs (--rpc-adds 0 skips them)")
        if "eth-tester" in names:
            require_eth_tester("the eth-tester runner")
    except ToolMissing as exc:  # one line, without argparse's usage text
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    loads = [micro_workload(args.txs)]
    if args.adds:
        loads.append(realistic_workload(args.adds))
    rows = []
    for load in loads:
        for per_block in (1, args.per_block):
            rows += _measure(load, per_block, names, args.rounds)
    replays = []
    for load in loads[1:]:
        for fast in (True, False):
            gas, cpu = replay(load, fast)
            replays.append((load.name, fast, gas, cpu))
    rpc_results: dict[str, list[RpcResult]] = {n: [] for n in RPC_NODES}
    for _round in range(args.rounds if args.rpc_adds else 0):
        for node in RPC_NODES:
            rpc_results[node].append(_rpc_run(node, args.rpc_adds, anvil, args.rpc_words))
    rpc_rows, rpc_methods = _rpc_rows(rpc_results)
    advance = None
    if args.market_imdb:
        from bench.errors import MarketSimulationError
        from vm_contracts.errors import VmContractsError

        try:
            advance = market_advance(args.market_imdb, args.market_contributions)
        except (MarketSimulationError, VmContractsError) as exc:  # e.g. no IMDB at that path
            print(f"{parser.prog}: error: the market round: {exc}", file=sys.stderr)
            return 2
    shares = [] if args.no_profile else profile(loads[-1])
    command = command_line("python -m bench.throughput", argv if argv is not None else sys.argv[1:])
    report = render(rows, shares, command, rpc_rows, rpc_methods, replays, advance, args.rpc_words)
    print(report)
    out = args.out if args.out is not None else default_out("throughput")
    out.mkdir(parents=True, exist_ok=True)
    write_rows(out / "throughput.csv", rows)
    if rpc_rows:
        write_rows(out / "rpc.csv", rpc_rows)
    (out / "throughput.md").write_text(report)
    print(f"results in {out.resolve()}")
    return 0


def _measure(load: Workload, per_block: int, names: Sequence[str], rounds: int) -> list[dict]:
    """Every runner on ``load``, rounds interleaved (drift hits every runner alike); the
    median round per runner, and its ratios to eth-tester's median."""
    results: dict[str, list[Result]] = {n: [] for n in names}
    for _round in range(rounds):
        for name in names:
            results[name].append(RUNNERS[name](load, per_block))
    medians = {n: sorted(rs, key=lambda r: r.seconds)[len(rs) // 2] for n, rs in results.items()}
    cpu_medians = {n: sorted(r.cpu_seconds for r in rs)[len(rs) // 2] for n, rs in results.items()}
    reference = medians.get("eth-tester")
    rows = []
    for name, r in medians.items():
        ratio = r.tps / reference.tps if reference else float("nan")
        cpu_ratio = cpu_medians["eth-tester"] / cpu_medians[name] if reference else float("nan")
        rows.append(
            {
                "workload": load.name,
                "per_block": per_block,
                "runner": r.runner,
                "txs": r.txs,
                "median_seconds": round(r.seconds, 3),
                "tx_per_s": round(r.tps, 1),
                "ratio_vs_eth_tester": round(ratio, 2),
                "median_cpu_seconds": round(cpu_medians[name], 3),
                "cpu_ms_per_tx": round(1000 * cpu_medians[name] / r.txs, 2),
                "cpu_ratio_vs_eth_tester": round(cpu_ratio, 2),
                "store_bytes_per_tx": round(r.bytes_per_tx),
            }
        )
    return rows


def _rpc_rows(results: dict[str, list[RpcResult]]) -> tuple[list[dict], list[dict]]:
    """Median run per node (by wall time), the ratio to anvil, and per-method latencies."""
    medians = {n: sorted(rs, key=lambda r: r.seconds)[len(rs) // 2] for n, rs in results.items() if rs}
    if not medians:
        return [], []
    anvil = medians["anvil"]
    rows = []
    for node, r in medians.items():
        rows.append(
            {
                "node": node,
                "adds": r.adds,
                "median_seconds": round(r.seconds, 3),
                "adds_per_s": round(r.adds_per_s, 2),
                "ratio_vs_anvil": round(r.adds_per_s / anvil.adds_per_s, 2),
                "node_cpu_ms_per_add": round(1000 * r.node_cpu_seconds / r.adds, 1),
                "client_cpu_ms_per_add": round(1000 * r.client_cpu_seconds / r.adds, 1),
            }
        )
    methods = []
    names = sorted(
        {m for r in medians.values() for m in r.per_method},
        key=lambda m: -medians["sumchain"].per_method.get(m, (0, 0.0))[1],
    )
    for method in names:
        row: dict = {"method": method}
        for node, r in medians.items():
            count, seconds = r.per_method.get(method, (0, 0.0))
            row[f"{node}_calls_per_add"] = round(count / r.adds, 2)
            row[f"{node}_ms_per_call"] = round(1000 * seconds / count, 1) if count else None
        methods.append(row)
    return rows, methods


def render(
    rows: list[dict],
    shares: list[tuple[str, float]],
    command: str,
    rpc_rows: Sequence[dict] = (),
    rpc_methods: Sequence[dict] = (),
    replays: Sequence[tuple[str, bool, int, float]] = (),
    advance: MarketAdvance | None = None,
    rpc_words: int = RPC_WORDS,
) -> str:
    out = io.StringIO()
    out.write("# Throughput: contract calls, automine and batched blocks\n\n")
    out.write(f"Command: `{command}`  \nMachine: {machine_line()}  \nVersions: {versions()}  \n")
    out.write(f"Commit: {commit()}; date {time.strftime('%Y-%m-%d')}\n\n")
    out.write(
        "Workloads: the micro one (each call writes a fresh storage slot and emits a log) and\n"
        "realistic add-data; the same signed bytes run on every runner. Median of the rounds;\n"
        "ratio = tx/s over eth-tester's tx/s in the same run\n"
        "(wall), and eth-tester's CPU seconds over the runner's (this process's CPU time for the\n"
        "same span; steadier than wall time when the machine is shared).\n"
        "Store bytes: LMDB pages used (lmdb runners) or key+value bytes held (memory runners).\n\n"
    )
    heading = None
    for r in rows:
        if (r["workload"], r["per_block"]) != heading:
            heading = (r["workload"], r["per_block"])
            mode = "automine" if r["per_block"] == 1 else f"{r['per_block']} transactions per block"
            out.write(f"\n### {r['workload']}; {mode}\n\n")
            out.write(
                "| runner | txs | median s | tx/s | vs eth-tester | CPU ms/tx | vs eth-tester (CPU) "
                "| store bytes/tx |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
            )
        out.write(
            f"| {r['runner']} | {r['txs']} | {r['median_seconds']} | {r['tx_per_s']} | "
            f"{r['ratio_vs_eth_tester']}x | {r['cpu_ms_per_tx']} | "
            f"{r['cpu_ratio_vs_eth_tester']}x | {r['store_bytes_per_tx']} |\n"
        )
    if rpc_rows:
        out.write("\n## Add-data over JSON-RPC: the same Python client against sumchain and anvil\n\n")
        out.write(
            f"web3 HTTP + vm_contracts.client: deploy_framework({RPC_MODEL}, {RPC_INCENTIVE}),\n"
            f"then Framework.add_data of {rpc_words}-word samples from an unlocked dev account\n"
            "(each: deposit eth_call, eth_estimateGas, eth_sendTransaction, receipt). Nodes run\n"
            "as subprocesses on loopback, in turn, a fresh chain per round; median round by wall\n"
            "time. Node CPU: user+system time of the node's processes over the timed span.\n\n"
        )
        out.write(
            "| node | adds | median s | adds/s | vs anvil | node CPU ms/add | client CPU ms/add |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n"
        )
        for r in rpc_rows:
            out.write(
                f"| {r['node']} | {r['adds']} | {r['median_seconds']} | {r['adds_per_s']} | "
                f"{r['ratio_vs_anvil']}x | {r['node_cpu_ms_per_add']} | "
                f"{r['client_cpu_ms_per_add']} |\n"
            )
        out.write("\nClient-side time per JSON-RPC method (median round):\n\n")
        out.write("| method | calls/add | sumchain ms/call | anvil ms/call |\n|---|---:|---:|---:|\n")
        for m in rpc_methods:
            out.write(
                f"| {m['method']} | {m.get('sumchain_calls_per_add')} | "
                f"{m.get('sumchain_ms_per_call')} | {m.get('anvil_ms_per_call')} |\n"
            )
    if replays:
        out.write("\n## Replay: importing the timed blocks (full validation, re-execution)\n\n")
        out.write("| workload | fast paths | gas | CPU s | Mgas/s (CPU) |\n|---|---|---:|---:|---:|\n")
        for name, fast, gas, cpu in replays:
            out.write(f"| {name} | {'on' if fast else 'off'} | {gas} | {cpu:.2f} | {gas / cpu / 1e6:.2f} |\n")
    if advance is not None:
        out.write("\n## The prediction market's reward phase (advance), in-process\n\n")
        out.write(
            f"bench.market round: {advance.contributions} contributions, {MARKET_TEST_SIZE} test reviews "
            f"in {MARKET_PARTS} parts, {MARKET_VOCAB}-word vocabulary.\n\n"
            "| advance transactions | gas | CPU s | wall s | Mgas/s (CPU) |\n|---:|---:|---:|---:|---:|\n"
            f"| {advance.transactions} | {advance.gas} | {advance.cpu_seconds:.2f} | {advance.seconds:.2f} | "
            f"{advance.mgas_per_cpu_s:.2f} |\n"
        )
    if shares:
        out.write("\n## Where sumchain's time goes (memory store, cProfile cumulative share)\n\n")
        out.write("Parts nest (block assembly contains the interpreter), so shares do not add up.\n\n")
        out.write("| part | share of run |\n|---|---:|\n")
        for group, share in shares:
            out.write(f"| {group} | {share:.0%} |\n")
    return out.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
