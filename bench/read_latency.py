"""Read latency under load: ``eth_blockNumber`` p50/p99 while 50 clients run ``eth_call``
and blocks of about 29 M gas are built, on sumchain and on anvil side by side.

For each node in turn (on loopback, a fresh process each):

1. deploy a gas burner (code that loops until less than 10,000 gas is left);
2. start the load in a separate process (so its threads do not share the probe's GIL):
   ``--clients`` asyncio clients, each on a connection of its own, each sending one
   ``eth_call`` of ``--call-gas`` gas to the burner after another;
3. build blocks in a thread: automine off, ``--block-txs`` transactions of
   ``--block-gas / --block-txs`` gas each to the burner, then ``evm_mine``, again and again;
4. probe: one ``eth_blockNumber`` every ``PROBE_INTERVAL`` seconds on a connection of its
   own, timing each, for ``--seconds`` seconds; plus an idle probe before the load.

Every loop is bounded by ``--seconds`` and by the per-request timeout; only 127.0.0.1
is contacted. The result is the ratio of sumchain's percentiles to anvil's.

    python -m bench.read_latency --seconds 30 --out bench/results/read_latency
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.nodes import NodeProcess, start_anvil, start_devnet
from bench.provenance import command_line, machine_line
from bench.tools import CHECKOUT as REPO
from bench.tools import find_anvil

DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # dev account 0 of both nodes
BURNER_RUNTIME = "5b6127105a1160005700"  # JUMPDEST PUSH2 10000 GAS GT PUSH1 0 JUMPI STOP
BURNER_INITCODE = "0x69" + BURNER_RUNTIME + "600052600a6016f3"
PROBE_INTERVAL = 0.05  # seconds between two eth_blockNumber probes
IDLE_PROBES = 50
REQUEST_TIMEOUT = 120.0  # seconds one request may take before it counts as failed
NODE_READY_S = 60.0
NODES = ("sumchain", "anvil")


@dataclass
class Run:
    node: str
    idle_ms: list[float] = field(default_factory=list)
    loaded_ms: list[float] = field(default_factory=list)
    probe_failures: int = 0
    calls: int = 0
    call_errors: int = 0
    blocks: int = 0
    block_gas: list[int] = field(default_factory=list)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _rpc(session: requests.Session, url: str, method: str, *params: Any) -> Any:
    answer = session.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        timeout=REQUEST_TIMEOUT,
    ).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def _start(node: str) -> NodeProcess:
    if node == "sumchain":
        return start_devnet(cwd=REPO, ready_s=NODE_READY_S)
    return start_anvil(needed_by="bench.read_latency")


def _probe(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    _rpc(session, url, "eth_blockNumber")
    return (time.perf_counter() - started) * 1000


def _build_blocks(url: str, burner: str, args: argparse.Namespace, stop: threading.Event, run: Run) -> None:
    session = requests.Session()
    gas_each = args.block_gas // args.block_txs
    while not stop.is_set():
        for _ in range(args.block_txs):
            _rpc(
                session, url, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": burner, "gas": hex(gas_each)}
            )
        _rpc(session, url, "evm_mine")
        block = _rpc(session, url, "eth_getBlockByNumber", "latest", False)
        run.blocks += 1
        run.block_gas.append(int(block["gasUsed"], 16))


def measure(node: str, args: argparse.Namespace) -> Run:
    run = Run(node)
    process = _start(node)
    url = process.url
    try:
        session = requests.Session()
        tx_hash = _rpc(session, url, "eth_sendTransaction", {"from": DEV_ADDRESS, "data": BURNER_INITCODE})
        receipt = None
        for _ in range(100):
            receipt = _rpc(session, url, "eth_getTransactionReceipt", tx_hash)
            if receipt:
                break
            time.sleep(0.1)
        assert receipt is not None, "the burner was not deployed"
        burner = receipt["contractAddress"]
        for _ in range(IDLE_PROBES):
            run.idle_ms.append(_probe(session, url))
        _rpc(session, url, "evm_setAutomine", False)
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.read_latency",
                "--load",
                url,
                "--to",
                burner,
                "--clients",
                str(args.clients),
                "--call-gas",
                str(args.call_gas),
                "--seconds",
                str(args.seconds + 5),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        stop = threading.Event()
        builder = threading.Thread(target=_build_blocks, args=(url, burner, args, stop, run), daemon=True)
        time.sleep(2)  # let the clients connect and start calling
        builder.start()
        probe = requests.Session()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            try:
                run.loaded_ms.append(_probe(probe, url))
            except (requests.RequestException, RuntimeError):
                run.probe_failures += 1
            time.sleep(PROBE_INTERVAL)
        stop.set()
        out, _ = load.communicate(timeout=args.seconds + REQUEST_TIMEOUT)
        counts = json.loads(out.strip().splitlines()[-1])
        run.calls, run.call_errors = counts["calls"], counts["errors"]
        builder.join(REQUEST_TIMEOUT)
        return run
    finally:
        process.stop()


# --- the load process ----------------------------------------------------------------------


async def _load(url: str, to: str, clients: int, gas: int, seconds: float) -> dict[str, int]:
    import aiohttp

    counts = {"calls": 0, "errors": 0}
    deadline = time.monotonic() + seconds
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"from": DEV_ADDRESS, "to": to, "gas": hex(gas)}, "latest"],
    }

    async def client() -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() < deadline:
                try:
                    async with session.post(url, json=body) as response:
                        answer = await response.json(content_type=None)
                    counts["calls" if "result" in answer else "errors"] += 1
                except (aiohttp.ClientError, TimeoutError):
                    counts["errors"] += 1
                    await asyncio.sleep(0.1)

    await asyncio.gather(*(client() for _ in range(clients)))
    return counts


# --- report -----------------------------------------------------------------------------------


def _versions() -> str:
    from importlib.metadata import version

    program = find_anvil(None, "bench.read_latency")
    anvil = subprocess.run([str(program), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"py-evm {version('py-evm')}, aiohttp {version('aiohttp')}, {anvil.strip()}"


def render(runs: list[Run], command: str, clients: int, block_gas: int) -> str:
    rows = {r.node: r for r in runs}
    lines = [
        "# Read latency under load: sumchain vs anvil\n",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}  ",
        f"Versions: {_versions()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
        f"`eth_blockNumber` latency (ms, client side) idle and while {clients} clients run "
        f"`eth_call` and blocks of ~{block_gas / 1e6:g} M gas are built.\n",
        "| node | idle p50 | idle p99 | loaded p50 | loaded p99 | probes | probe errors | "
        "eth_calls done | call errors | blocks built | median block gas |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.node} | {_percentile(r.idle_ms, 50):.1f} | {_percentile(r.idle_ms, 99):.1f} | "
            f"{_percentile(r.loaded_ms, 50):.1f} | {_percentile(r.loaded_ms, 99):.1f} | "
            f"{len(r.loaded_ms)} | {r.probe_failures} | {r.calls} | {r.call_errors} | {r.blocks} | "
            f"{int(statistics.median(r.block_gas)) if r.block_gas else 0:,} |"
        )
    if "sumchain" in rows and "anvil" in rows:
        s, a = rows["sumchain"], rows["anvil"]
        lines += [
            "",
            "Ratio sumchain / anvil (loaded): "
            f"p50 {_percentile(s.loaded_ms, 50) / _percentile(a.loaded_ms, 50):.1f}x, "
            f"p99 {_percentile(s.loaded_ms, 99) / _percentile(a.loaded_ms, 99):.1f}x.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="loaded probing per node (default 30)")
    parser.add_argument("--clients", type=int, default=50, help="eth_call clients (default 50)")
    parser.add_argument(
        "--call-gas", type=int, default=200_000, help="gas of each eth_call (default 200,000)"
    )
    parser.add_argument(
        "--block-gas", type=int, default=29_000_000, help="gas per built block (default 29 M)"
    )
    parser.add_argument("--block-txs", type=int, default=10, help="transactions per block (default 10)")
    parser.add_argument("--nodes", default=",".join(NODES), help="nodes to measure, in order")
    parser.add_argument("--out", type=Path, help="write read_latency.md and .json here")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run the clients against URL
    parser.add_argument("--to", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 0 < args.clients <= 200:
        parser.error("--seconds must be in (0, 600] and --clients in (0, 200]")
    if args.load:
        counts = asyncio.run(_load(args.load, args.to, args.clients, args.call_gas, args.seconds))
        print(json.dumps(counts))
        return 0
    runs = [measure(node.strip(), args) for node in args.nodes.split(",")]
    command = command_line("python -m bench.read_latency", argv if argv is not None else sys.argv[1:])
    report = render(runs, command, args.clients, args.block_gas)
    print(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "read_latency.md").write_text(report)
        raw = [dict(r.__dict__) for r in runs]
        (args.out / "read_latency.json").write_text(json.dumps(raw, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
