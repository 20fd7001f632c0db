"""The dev controls from the clients users bring: viem's test client and a Hardhat 2
script (Hardhat's ethers provider on the devnet as an http network), both from
node_modules, against a running `sumchain devnet`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.node.conftest import REPO, Devnet

HERE = Path(__file__).parent
VIEM_SCRIPT = HERE / "viem_check.mjs"
HARDHAT_PROJECT = HERE / "hardhat_devnet"
CLIENT_S = 180  # seconds a client script may take (Hardhat loads slowly on a busy machine)


def _node_and(package: str) -> str:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / package).is_dir():
        pytest.fail(f"node and node_modules/{package} are needed (run `make node_modules/.installed`)")
    return node


def _last_json(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("mode", ["anvil", "hardhat"])
def test_viems_test_client_sets_state_and_impersonates(devnet: Devnet, mode: str) -> None:
    node = _node_and("viem")
    done = subprocess.run(
        [node, str(VIEM_SCRIPT), devnet.url, mode], cwd=REPO, capture_output=True, text=True, timeout=CLIENT_S
    )
    seen = _last_json(done)
    whale = (
        "0x00000000000000000000000000000000000000a7"
        if mode == "anvil"
        else "0x00000000000000000000000000000000000000a8"
    )
    assert seen["balance"] == str(5 * 10**18)
    assert seen["nonce"] == 9 and seen["txNonce"] == 9
    assert seen["code"] == "0x602035600035556000355460005260206000f3"
    assert seen["slot1"] == "0x" + f"{11:064x}"
    assert seen["status"] == "success" and str(seen["from"]).lower() == whale
    assert seen["slot3"] == "0x" + f"{42:064x}"
    assert seen["refusedAfterStop"] is True


def test_a_hardhat_script_sets_balance_and_impersonates(devnet: Devnet, tmp_path: Path) -> None:
    node = _node_and("hardhat")
    env = {
        **os.environ,
        "DEVNET_URL": devnet.url,
        "HARDHAT_SCRATCH": str(tmp_path),
        "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
    }
    hardhat = REPO / "node_modules" / "hardhat" / "internal" / "cli" / "cli.js"
    done = subprocess.run(
        [node, str(hardhat), "run", "--no-compile", "--network", "devnet", "impersonate.js"],
        cwd=HARDHAT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_S,
    )
    seen = _last_json(done)
    assert seen["chainId"] == "31337"
    assert seen["status"] == 1 and str(seen["from"]).lower() == "0x00000000000000000000000000000000000000b9"
    assert (
        seen["backStatus"] == 1
        and str(seen["backFrom"]).lower() == "0x00000000000000000000000000000000000000ba"
    )
    assert 0 < int(str(seen["whaleBalance"])) < 3 * 10**18
    assert 0 < int(str(seen["receiverBalance"])) < 10**18
    assert not (HARDHAT_PROJECT / "cache").exists() and not (HARDHAT_PROJECT / "artifacts").exists()
