"""ethers v6 (from node_modules) drives a devnet: the same node works for JavaScript
clients as for web3.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.node.conftest import COUNTER_BYTECODE, REPO

SCRIPT = Path(__file__).with_name("ethers_check.mjs")
# A dev account no other node test sends from, so nonces do not race.
KEY = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"


def test_ethers_sends_reads_receipts_and_blocks(devnet) -> None:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "ethers").is_dir():
        pytest.fail("node and node_modules/ethers are needed (run npm ci)")
    done = subprocess.run(
        [node, str(SCRIPT), devnet.url, KEY, COUNTER_BYTECODE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["chainId"] == "31337"
    assert seen["status"] == 1 and seen["blockHasTx"] is True
    assert seen["latestNumber"] >= seen["blockNumber"]
    assert seen["balance"] == "1234"
    assert seen["count"] == "41" and seen["eventCount"] == "41"
    assert seen["revertName"] == "TooBig"
    assert int(seen["maxFeePerGas"]) > 0
    receipt = devnet.rpc("eth_getTransactionReceipt", seen["txHash"])
    assert int(receipt["blockNumber"], 16) == seen["blockNumber"]
