"""Memory of ``debug_traceTransaction`` on a 29 M-gas transaction: the node's peak RSS.

Starts ``sumchain devnet`` on loopback (with a long call timeout, so the traces are not
stopped), deploys a gas burner, sends one transaction of ``--gas`` gas to it, then traces
it three ways — the struct logger as is (refused past its step cap), the struct logger
with geth's ``limit``, and ``callTracer`` — reading the node's VmHWM (peak RSS) from
/proc after each. Before the step cap the first trace went past 4.2 GB.

    python -m bench.trace_memory --out bench/results/trace_memory
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from bench.nodes import start_devnet
from bench.provenance import command_line, machine_line
from bench.read_latency import BURNER_INITCODE, DEV_ADDRESS

TIMEOUT = 900.0  # seconds one request may take


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _post(url: str, method: str, *params: Any) -> tuple[dict[str, Any], int, float]:
    started = time.perf_counter()
    response = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=TIMEOUT
    )
    return response.json(), len(response.content), time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--gas", type=int, default=29_000_000, help="gas of the traced transaction")
    parser.add_argument("--limit", type=int, default=100_000, help="geth's struct-logger limit to ask for")
    parser.add_argument("--out", type=Path, help="write trace_memory.md here")
    args = parser.parse_args(argv)
    process = start_devnet("--rpc-timeout", str(int(TIMEOUT)))
    url = process.url
    rows = []
    try:
        deployed, _, _ = _post(url, "eth_sendTransaction", {"from": DEV_ADDRESS, "data": BURNER_INITCODE})
        burner = _post(url, "eth_getTransactionReceipt", deployed["result"])[0]["result"]["contractAddress"]
        sent, _, _ = _post(
            url, "eth_sendTransaction", {"from": DEV_ADDRESS, "to": burner, "gas": hex(args.gas)}
        )
        tx_hash = sent["result"]
        used = int(_post(url, "eth_getTransactionReceipt", tx_hash)[0]["result"]["gasUsed"], 16)
        rows.append(("before tracing", "", 0, 0.0, _peak_kib(process.pid)))
        for name, options in (
            ("struct logger", None),
            (f"struct logger, limit {args.limit:,}", {"limit": args.limit}),
            ("callTracer", {"tracer": "callTracer"}),
        ):
            params = [tx_hash] if options is None else [tx_hash, options]
            answer, size, seconds = _post(url, "debug_traceTransaction", *params)
            if "error" in answer:
                outcome = f"error {answer['error']['code']}: {answer['error']['message']}"
            elif "structLogs" in answer["result"]:
                outcome = f"{len(answer['result']['structLogs']):,} steps"
            else:
                outcome = f"call tree, gasUsed {int(answer['result']['gasUsed'], 16):,}"
            rows.append((name, outcome, size, seconds, _peak_kib(process.pid)))
    finally:
        process.stop()
    command = command_line("python -m bench.trace_memory", argv if argv is not None else sys.argv[1:])
    lines = [
        "# debug_traceTransaction memory on one big transaction\n",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
        f"A transaction of {used:,} gas (a loop of JUMPDEST PUSH2 GAS GT PUSH1 JUMPI), traced by the "
        "node; peak RSS (VmHWM) of the node process after each step.\n",
        "| trace | outcome | answer bytes | seconds | node peak RSS MB |",
        "|---|---|---:|---:|---:|",
    ]
    for name, outcome, size, seconds, peak in rows:
        lines.append(f"| {name} | {outcome} | {size:,} | {seconds:.1f} | {peak / 1024:.0f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "trace_memory.md").write_text(report)
        (args.out / "trace_memory.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
