"""Fixtures for the node tests: a real `sumchain devnet` subprocess on a free loopback
port, JSON-RPC helpers, the spec's result schemas, and the test contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from tests.testdata import OPENRPC_SPEC

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0  # seconds for a devnet to print its URL
STOP_TIMEOUT = 15.0  # seconds for a devnet to exit after SIGTERM

# Counter.sol, compiled once with solc 0.8.37 --optimize (cancun); kept as hex so the
# tests need no compiler:
#   uint256 public count; event Incremented(address indexed by, uint256 count);
#   error TooBig(uint256 value);
#   function add(uint256 amount) external { if (amount > 100) revert TooBig(amount);
#       count += amount; emit Incremented(msg.sender, count); }
#   function fail() external pure { require(false, "nope"); }
COUNTER_BYTECODE = (
    "0x6080604052348015600e575f5ffd5b506101968061001c5f395ff3fe608060405234801561000f575f5ffd5b50"
    "6004361061003f575f3560e01c806306661abd146100435780631003e2d21461005d578063a9cc471814610072"
    "575b5f5ffd5b61004b5f5481565b60405190815260200160405180910390f35b61007061006b366004610124565b"
    "61007a565b005b6100706100f3565b60648111156100a4576040516370544d1d60e11b8152600481018290526024"
    "015b60405180910390fd5b805f5f8282546100b4919061013b565b90915550505f5460405190815233907f38ac78"
    "9ed44572701765277c4d0970f2db1c1a571ed39e84358095ae4eaa54209060200160405180910390a250565b6040"
    "5162461bcd60e51b815260040161009b906020808252600490820152636e6f706560e01b604082015260600190"
    "565b5f60208284031215610134575f5ffd5b5035919050565b8082018082111561015a57634e487b7160e01b5f52"
    "601160045260245ffd5b9291505056fea26469706673582212203a27270ede26291c2cac9a86bf613d0f48ed3b46"
    "f2e079dfa9edaf1274c9bdf564736f6c63430008250033"
)
COUNTER_ABI = json.loads(
    '[{"inputs":[{"internalType":"uint256","name":"value","type":"uint256"}],"name":"TooBig",'
    '"type":"error"},{"anonymous":false,"inputs":[{"indexed":true,"internalType":"address",'
    '"name":"by","type":"address"},{"indexed":false,"internalType":"uint256","name":"count",'
    '"type":"uint256"}],"name":"Incremented","type":"event"},{"inputs":[{"internalType":"uint256",'
    '"name":"amount","type":"uint256"}],"name":"add","outputs":[],"stateMutability":"nonpayable",'
    '"type":"function"},{"inputs":[],"name":"count","outputs":[{"internalType":"uint256","name":"",'
    '"type":"uint256"}],"stateMutability":"view","type":"function"},{"inputs":[],"name":"fail",'
    '"outputs":[],"stateMutability":"pure","type":"function"}]'
)
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OTHER_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@dataclass
class Devnet:
    """A running `sumchain devnet` subprocess. Its stdout after the banner is read by a
    thread into ``lines`` (so a node printing a line per transaction never fills the pipe)."""

    process: subprocess.Popen[str]
    url: str
    banner: str
    lines: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None

    def output(self, timeout: float = STOP_TIMEOUT) -> str:
        """Everything printed after the banner, once the process has closed its stdout."""
        if self.drain is not None:
            self.drain.join(timeout)
        return "\n".join(self.lines)

    def wait_for_line(self, fragment: str, timeout: float = 30.0) -> str:
        """The first line after the banner holding ``fragment`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if fragment in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line with {fragment!r} in {self.lines}")

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:]

    def post(self, payload: Any, raw: bytes | None = None) -> requests.Response:
        body = raw if raw is not None else json.dumps(payload).encode()
        return requests.post(self.url, data=body, headers={"Content-Type": "application/json"}, timeout=30)

    def rpc(self, method: str, *params: Any) -> Any:
        """The result of one call; fails the test on an error response."""
        answer = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, method: str, *params: Any) -> dict[str, Any]:
        answer = self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
        assert "error" in answer, answer
        return answer["error"]


def start_devnet(*args: str, cwd: Path = REPO) -> Devnet:
    """Start `sumchain devnet --port 0 ...` and wait until it prints its URL."""
    command = [sys.executable, "-m", "node.cli", "devnet", "--port", "0", *args]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            stop_devnet(process)
            stderr = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"devnet exited before it was ready:\n{''.join(lines)}\n{stderr}")
        lines.append(line)
        if line.startswith("Listening on "):
            url = line.split()[2]
            devnet = Devnet(process, url, "".join(lines))
            devnet.drain = threading.Thread(target=_drain, args=(process, devnet.lines), daemon=True)
            devnet.drain.start()
            return devnet
    stop_devnet(process)
    raise RuntimeError("devnet did not print its URL in time")


def _drain(process: subprocess.Popen[str], into: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        into.append(line.rstrip("\n"))


def stop_devnet(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    """One devnet shared by the tests that only add to the chain (never rewind it)."""
    node = start_devnet()
    try:
        yield node
    finally:
        stop_devnet(node.process)


@pytest.fixture(scope="session")
def openrpc() -> dict[str, Any]:
    document = json.loads(OPENRPC_SPEC.read_text())
    return {method["name"]: method for method in document["methods"]}


@pytest.fixture(scope="session")
def check_result(openrpc: dict[str, Any]):  # type: ignore[no-untyped-def]
    """check_result(method, result): validate against the spec's result schema."""

    def check(method: str, result: Any) -> None:
        schema = openrpc[method]["result"]["schema"]
        jsonschema.Draft201909Validator(schema).validate(result)

    return check


@pytest.fixture
def in_process():  # type: ignore[no-untyped-def]
    """A fresh in-memory node with a web3 on the in-process provider."""
    from node.provider import InProcessNode

    node = InProcessNode.create()
    try:
        yield node
    finally:
        node.close()
