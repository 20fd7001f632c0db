"""Throughput: transactions per second and store bytes per transaction.

Runs one contract-calling workload — the same signed transactions, byte for byte — on
sumchain in-process (memory store; LMDB store with and without fsync) and on
eth-tester's py-evm backend, side by side in one process and one environment, in
automine mode (a block per transaction), and reports the ratios. A cProfile of the
sumchain run is grouped into where the time goes.

    python -m bench.throughput --txs 400 --out bench/results/throughput
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth._utils.address import generate_contract_address
from eth_account import Account
from eth_utils import to_checksum_address

from chain.chain import Chain
from chain.config import ChainConfig
from chain.producer import BlockProducer

KEY = bytes(31) + b"\x01"  # eth-tester's first funded account; funded in sumchain's genesis too
SENDER = Account.from_key(KEY).address
CHAIN_ID = 131277322940537  # eth-tester's chain id, so both chains accept the same bytes
GENESIS_TIME = 1_700_000_000
# A contract whose every call writes a storage slot and emits a log:
# SSTORE(CALLDATALOAD(0), CALLDATALOAD(32)); LOG1(0, 0, 0xaa..aa); STOP
WORKLOAD_RUNTIME = bytes.fromhex("602035600035557f" + "aa" * 32 + "60006000a100")


def init_code(runtime: bytes) -> bytes:
    return bytes.fromhex(f"60{len(runtime):02x}600c60003960{len(runtime):02x}6000f3") + runtime


def workload(count: int) -> list[bytes]:
    """A deployment then ``count`` calls, each to a new slot (cold storage, like a model
    update writing fresh parameters)."""
    contract = to_checksum_address(generate_contract_address(bytes.fromhex(SENDER[2:]), 0))
    txs = [_sign(0, None, init_code(WORKLOAD_RUNTIME), 200_000)]
    for i in range(count):
        data = (i + 1).to_bytes(32, "big") + (i * 7 + 3).to_bytes(32, "big")
        txs.append(_sign(i + 1, contract, data, 100_000))
    return txs


def _sign(nonce: int, to: str | None, data: bytes, gas: int) -> bytes:
    tx: dict[str, object] = {"nonce": nonce, "gas": gas, "data": data, "value": 0, "chainId": CHAIN_ID,
                             "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9}
    if to:
        tx["to"] = to
    return bytes(Account.sign_transaction(tx, KEY).raw_transaction)


@dataclass
class Result:
    runner: str
    txs: int
    seconds: float
    store_bytes: int

    @property
    def tps(self) -> float:
        return self.txs / self.seconds

    @property
    def bytes_per_tx(self) -> float:
        return self.store_bytes / self.txs


# --- runners ---------------------------------------------------------------------------


def _sumchain(store: str) -> Callable[[Sequence[bytes]], Result]:
    def run(txs: Sequence[bytes]) -> Result:
        tmp = Path(tempfile.mkdtemp(prefix="sumchain-bench-"))
        try:
            config = ChainConfig(chain_id=CHAIN_ID, genesis_timestamp=GENESIS_TIME,
                                 alloc={SENDER: 10**24})
            data_dir = None if store == "memory" else tmp / "node"
            chain = Chain.open(config, data_dir=data_dir, sync=(store == "lmdb-fsync"))
            producer = BlockProducer(chain, mode="automine")
            _sumchain_send(chain, producer, txs[:1])
            before = _store_bytes(chain)
            start = time.perf_counter()
            _sumchain_send(chain, producer, txs[1:])
            seconds = time.perf_counter() - start
            assert chain.head.block_number == len(txs), "every transaction must be mined"
            receipt = chain.receipt(chain.block(chain.head.block_number).transactions[0].hash)
            assert receipt is not None and receipt.status == 1
            size = _store_bytes(chain) - before
            chain.close()
            return Result(f"sumchain ({store})", len(txs) - 1, seconds, size)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return run


def _sumchain_send(chain: Chain, producer: BlockProducer, txs: Sequence[bytes]) -> None:
    for raw in txs:
        chain.add_transaction(raw)
        producer.transaction_added()


def _store_bytes(chain: Chain) -> int:
    backend = chain.store.backend
    if hasattr(backend, "size_bytes"):
        return backend.size_bytes()
    return sum(len(k) + len(v) for table in backend._tables.values() for k, v in table.items())


def _eth_tester(txs: Sequence[bytes]) -> Result:
    from eth.vm.forks import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend

    backend = PyEVMBackend(vm_configuration=((0, CancunVM),))
    tester = EthereumTester(backend)
    tester.send_raw_transaction("0x" + txs[0].hex())
    memory = backend.chain.chaindb.db.wrapped_db
    before = sum(len(k) + len(v) for k, v in memory.kv_store.items())
    start = time.perf_counter()
    for raw in txs[1:]:
        tester.send_raw_transaction("0x" + raw.hex())
    seconds = time.perf_counter() - start
    head = tester.get_block_by_number("latest")
    assert head["number"] == len(txs), "every transaction must be mined"
    size = sum(len(k) + len(v) for k, v in memory.kv_store.items()) - before
    return Result("eth-tester (py-evm)", len(txs) - 1, seconds, size)


RUNNERS: dict[str, Callable[[Sequence[bytes]], Result]] = {
    "sumchain-memory": _sumchain("memory"),
    "sumchain-lmdb": _sumchain("lmdb"),
    "sumchain-lmdb-fsync": _sumchain("lmdb-fsync"),
    "eth-tester": _eth_tester,
}

# --- profile ---------------------------------------------------------------------------

PROFILE_GROUPS = (
    ("signature recovery", ("ecdsa_raw_recover", "recover_public_key", "_recover", "get_sender",
                            "extract_transaction_sender", "recover_signer")),
    ("interpreter (EVM execution)", ("apply_computation", "apply_message", "apply_create_message")),
    ("state root and trie writes", ("make_state_root", "persist", "_make_storage_root",
                                    "make_trie_root_and_nodes")),
    ("store commit", ("commit", "write")),
    ("mempool validation", ("TxPool.add", "_validate")),
    ("block assembly and sealing", ("build_block", "sign_header", "persist_block", "mine_block")),
)


def profile(txs: Sequence[bytes], store: str = "memory") -> list[tuple[str, float]]:
    """Share of sumchain's time per part, from cProfile cumulative times of the functions
    that head each part (parts nest, so shares are not additive)."""
    profiler = cProfile.Profile()
    run = _sumchain(store)
    profiler.enable()
    run(txs)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(v[3] for v in stats.stats.values())  # type: ignore[attr-defined]
    shares = []
    for group, names in PROFILE_GROUPS:
        best = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            qualified = f"{Path(filename).stem}.{func}"
            if any(func == n or qualified.endswith(n) for n in names):
                if "sumchain" in filename or "site-packages" in filename or True:
                    best = max(best, ct)
        shares.append((group, best / total))
    return shares


# --- report --------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = cpu
    import os
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def versions() -> str:
    from importlib.metadata import version
    return ", ".join(f"{p} {version(p)}" for p in ("py-evm", "eth-tester", "lmdb", "coincurve"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=400, help="contract calls per run (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per runner; the median is reported")
    parser.add_argument("--runners", default=",".join(RUNNERS), help="comma-separated subset of: " + ", ".join(RUNNERS))
    parser.add_argument("--out", type=Path, help="directory for throughput.csv and throughput.md")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    if args.txs < 1 or args.rounds < 1:
        parser.error("--txs and --rounds must be >= 1")
    names = [n.strip() for n in args.runners.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        parser.error(f"unknown runner {unknown[0]!r}")
    txs = workload(args.txs)
    results: dict[str, list[Result]] = {n: [] for n in names}
    for _round in range(args.rounds):  # interleaved, so drift hits every runner alike
        for name in names:
            results[name].append(RUNNERS[name](txs))
    medians = {n: sorted(rs, key=lambda r: r.seconds)[len(rs) // 2] for n, rs in results.items()}
    reference = medians.get("eth-tester")
    rows = []
    for name, r in medians.items():
        ratio = r.tps / reference.tps if reference else float("nan")
        rows.append({"runner": r.runner, "txs": r.txs, "median_seconds": round(r.seconds, 3),
                     "tx_per_s": round(r.tps, 1), "ratio_vs_eth_tester": round(ratio, 2),
                     "store_bytes_per_tx": round(r.bytes_per_tx)})
    shares = [] if args.no_profile else profile(txs)
    command = "python -m bench.throughput " + " ".join(argv if argv is not None else sys.argv[1:])
    report = render(rows, shares, command)
    print(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "throughput.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (args.out / "throughput.md").write_text(report)
    return 0


def render(rows: list[dict], shares: list[tuple[str, float]], command: str) -> str:
    out = io.StringIO()
    out.write("# Throughput: contract calls in automine mode (a block per transaction)\n\n")
    out.write(f"Command: `{command}`  \nMachine: {machine()}  \nVersions: {versions()}  \n")
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=False).stdout.strip()
    except OSError:
        rev = ""
    out.write(f"Commit: {rev or 'unknown'}; date {time.strftime('%Y-%m-%d')}\n\n")
    out.write("Each call writes a fresh storage slot and emits a log; the same signed bytes run on\n"
              "every runner. Median of the rounds; ratio = tx/s over eth-tester's tx/s in the same run.\n"
              "Store bytes: LMDB pages used (lmdb runners) or key+value bytes held (memory runners).\n\n")
    out.write("| runner | txs | median s | tx/s | vs eth-tester | store bytes/tx |\n|---|---:|---:|---:|---:|---:|\n")
    for r in rows:
        out.write(f"| {r['runner']} | {r['txs']} | {r['median_seconds']} | {r['tx_per_s']} | "
                  f"{r['ratio_vs_eth_tester']}x | {r['store_bytes_per_tx']} |\n")
    if shares:
        out.write("\n## Where sumchain's time goes (memory store, cProfile cumulative share)\n\n")
        out.write("Parts nest (block assembly contains the interpreter), so shares do not add up.\n\n")
        out.write("| part | share of run |\n|---|---:|\n")
        for group, share in shares:
            out.write(f"| {group} | {share:.0%} |\n")
    return out.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
