"""Nodes run as subprocesses on loopback: anvil, Hardhat's EDR and a sumchain devnet.

The one place that starts and stops them, for the benchmarks, the experiments and the
tests that compare sumchain with a reference node. Each node runs in a process group of
its own (the npm ``anvil`` launcher is a Node.js script with the real binary as its
child), answers JSON-RPC at :attr:`NodeProcess.url` once :func:`start` returns, and is
stopped as a group. The programs are found through :mod:`bench.tools`.

    with start_anvil(fork="cancun") as anvil:
        web3 = Web3(Web3.HTTPProvider(anvil.url))
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from bench.errors import NodeFailed
from bench.tools import find_anvil, find_edr

LOOPBACK = "127.0.0.1"
READY_S = 60.0  # seconds a node may take to answer its first request
STOP_S = 15.0  # seconds a node may take to exit after SIGTERM
POLL_S = 0.2  # seconds between readiness probes
REQUEST_S = 120.0  # seconds one JSON-RPC request may take
STDERR_TAIL = 500  # characters of a failed node's stderr quoted in the error
EDR_SERVER = Path(__file__).with_name("edr_node.cjs")  # JSON-RPC over HTTP around one EDR provider


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def rpc(url: str, method: str, params: Sequence[Any] = (), timeout: float = REQUEST_S) -> Any:
    """The result of one JSON-RPC request to ``url``; an error object raises :class:`NodeFailed`."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise NodeFailed(url, f"{method} failed: {reply['error']}")
    return reply["result"]


@dataclass
class NodeProcess:
    """A node running in a subprocess, in a process group of its own.

    Fields:
        name: what it is ("anvil", "edr", "sumchain", ...), for messages.
        url: where it answers (``http://127.0.0.1:PORT/``).
        process: the subprocess (the group leader).
    """

    name: str
    url: str
    process: subprocess.Popen[bytes]
    _stderr: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        return rpc(self.url, method, params)

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-STDERR_TAIL:]

    def stop(self) -> int | None:
        """SIGTERM the node's process group, SIGKILL what is left after :data:`STOP_S`;
        the leader's exit code."""
        stop_group(self.process)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return self.process.returncode

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session=True``, its children too."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            try:  # a child that outlived its launcher
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        break
    if process.poll() is None:
        process.wait()


def start(
    name: str,
    command: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ready_path: str | None = None,
    ready_s: float = READY_S,
) -> NodeProcess:
    """Run ``command`` (a node listening on ``port``) and wait until it answers: to
    ``eth_chainId``, or, with ``ready_path``, to an HTTP GET of that path (a web page the
    process serves). A node that exits or stays silent raises :class:`NodeFailed`."""
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    node = NodeProcess(name, f"http://{LOOPBACK}:{port}/", process, stderr)
    deadline = time.monotonic() + ready_s
    while True:
        try:
            if ready_path is None:
                rpc(node.url, "eth_chainId", timeout=5)
            else:
                urllib.request.urlopen(node.url + ready_path.lstrip("/"), timeout=5).read()
            return node
        except (OSError, NodeFailed, ValueError):
            if process.poll() is not None or time.monotonic() > deadline:
                detail = node.stderr_tail()
                code = process.poll()
                node.stop()
                state = f"exited with {code}" if code is not None else f"did not answer in {ready_s:g} s"
                raise NodeFailed(name, f"{state}{': ' + detail if detail else ''}") from None
            time.sleep(POLL_S)


# --- anvil -----------------------------------------------------------------------------------


def start_anvil(
    anvil: Path | None = None,
    *,
    needed_by: str = "this run",
    fork: str | None = None,
    chain_id: int | None = None,
    gas_limit: int | None = None,
    timestamp: int | None = None,
    accounts: int | None = None,
    balance_ether: int | None = None,
    base_fee: int | None = None,
    prune_history: bool = False,
    port: int | None = None,
) -> NodeProcess:
    """anvil on loopback (found as :func:`bench.tools.find_anvil` says). Options left at
    None are anvil's own defaults; ``prune_history`` turns its archive off."""
    program = find_anvil(anvil, needed_by)
    port = port or free_port()
    command = [str(program), "--host", LOOPBACK, "--port", str(port), "--silent"]
    for flag, value in (
        ("--hardfork", fork),
        ("--chain-id", chain_id),
        ("--gas-limit", gas_limit),
        ("--timestamp", timestamp),
        ("--accounts", accounts),
        ("--balance", balance_ether),
        ("--base-fee", base_fee),
    ):
        if value is not None:
            command += [flag, str(value)]
    if prune_history:
        command.append("--prune-history")
    return start("anvil", command, port)


# --- EDR (Hardhat's node) --------------------------------------------------------------------


def start_edr(
    edr: Path | None = None,
    *,
    needed_by: str = "this run",
    fork: str,
    chain_id: int,
    gas_limit: int,
    genesis_time: int,
    accounts: Mapping[str, int],
    base_fee: int | None = None,
    port: int | None = None,
) -> NodeProcess:
    """Hardhat's EDR provider behind a small HTTP server (``bench/edr_node.cjs``, run by
    Node.js), automining, with ``accounts`` (address to wei) funded at genesis."""
    package = find_edr(edr, needed_by)
    port = port or free_port()
    config = {
        "hardfork": fork,
        "chainId": chain_id,
        "gasLimit": gas_limit,
        "baseFee": base_fee,
        "genesisTime": genesis_time,
        "port": port,
        "accounts": [{"address": a, "balance": str(b)} for a, b in accounts.items()],
    }
    env = {**os.environ, "EDR_PATH": str(package), "EDR_CONFIG": json.dumps(config)}
    return start("edr", ["node", str(EDR_SERVER)], port, env=env)


# --- sumchain --------------------------------------------------------------------------------


def start_devnet(
    *args: str,
    port: int | None = None,
    cwd: Path | None = None,
    ready_path: str | None = None,
    ready_s: float = READY_S,
) -> NodeProcess:
    """``sumchain devnet --host 127.0.0.1 --port PORT ARGS...`` in this Python."""
    port = port or free_port()
    command = [sys.executable, "-m", "node.cli", "devnet", "--host", LOOPBACK, "--port", str(port), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return start("sumchain", command, port, env=env, cwd=cwd, ready_path=ready_path, ready_s=ready_s)


def start_sumchain(
    subcommand: str,
    *args: str,
    port: int | None = None,
    cwd: Path | None = None,
    ready_path: str = "",
) -> NodeProcess:
    """Another long-running ``sumchain SUBCOMMAND --port PORT ARGS...`` (the dashboard,
    ``sumchain ui``), ready once a GET of ``ready_path`` answers."""
    port = port or free_port()
    command = [sys.executable, "-m", "node.cli", subcommand, "--port", str(port), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return start(f"sumchain {subcommand}", command, port, env=env, cwd=cwd, ready_path=ready_path)
