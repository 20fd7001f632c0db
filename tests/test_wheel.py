"""An installed wheel works anywhere: built from a copy of the sources, installed into a
fresh venv (no editable install, no source tree on the path), and run from an empty
directory outside the checkout.

The dependencies come from the package registry through pip's cache, as for any user;
the venv is made from the base interpreter without ``--system-site-packages``, so it
cannot see this checkout's editable install. Building and installing take about a
minute here. ``sumchain demo`` runs with fewer samples than its default (the same code
paths, a quarter of the time).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "chain", "vm_contracts", "node", "bench")
STEP_TIMEOUT_S = 600  # seconds for one build, install or command
READY_TIMEOUT_S = 60  # seconds the devnet may take to print its URL
STOP_TIMEOUT_S = 15  # seconds the devnet may take to exit after SIGTERM
DEV_CHAIN_ID = 31337

pytestmark = pytest.mark.slow


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )
    return done


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (
        f"{done.args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


Installed = tuple[Path, Path, dict[str, str]]  # venv bin folder, working directory, environment


def install_wheel(root: Path) -> Installed:
    """Build the wheel from a copy of the sources and install it into a fresh venv."""
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    own_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    _ok(
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", source], root, env
        )
    )
    (wheel,) = (root / "dist").glob("sumchain-*.whl")
    _ok(_run([sys.executable, "-m", "venv", root / "venv"], root, env))
    venv_bin = root / "venv" / "bin"
    _ok(
        _run(
            [venv_bin / "pip", "install", "-q", "--no-compile", "--disable-pip-version-check", wheel],
            root,
            env,
        )
    )
    work = root / "work"
    work.mkdir()
    return venv_bin, work, env


def check_the_wheel_runs_from_its_own_site_packages(installed: Installed) -> None:
    venv_bin, work, env = installed
    where = _ok(
        _run([venv_bin / "python", "-c", "import bench, chain, node; print(bench.__file__)"], work, env)
    )
    assert Path(where.strip()).is_relative_to(venv_bin.parent), where
    assert not Path(where.strip()).is_relative_to(REPO), where


def check_demo_runs_from_the_wheel(installed: Installed) -> None:
    venv_bin, work, env = installed
    out = _ok(_run([venv_bin / "sumchain", "demo", "--good", "10", "--bad", "5"], work, env))
    assert "malicious samples" in out and "blocks" in out, out


def check_devnet_from_the_wheel_answers_and_stops_on_sigterm(installed: Installed) -> None:
    venv_bin, work, env = installed
    process = subprocess.Popen(
        [str(venv_bin / "sumchain"), "devnet", "--port", "0", "--datadir", "data"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        url = None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("Listening on "):
                url = line.split()[2]
        assert url is not None, "the devnet did not print its URL"
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        request = urllib.request.Request(url, body, {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert int(json.loads(response.read())["result"], 16) == DEV_CHAIN_ID
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT_S) == 0
        assert "sumchain devnet stopped" in process.stdout.read()
        assert (work / "data").is_dir()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def check_gas_snapshot_check_works_from_the_wheel(installed: Installed) -> None:
    venv_bin, work, env = installed
    out = _ok(_run([venv_bin / "sumchain", "bench", "gas", "--quick", "--check-snapshot", "-q"], work, env))
    written = Path(out.strip().splitlines()[-1].removeprefix("results in "))
    assert written.parent == work and written.name.startswith("sumchain-gas-"), out
    assert (written / "gas.csv").is_file() and (written / "run.json").is_file()


def check_missing_outside_tools_are_refused_in_one_line(installed: Installed) -> None:
    """The wheel has neither node_modules nor eth-tester: each command says how to get them."""
    venv_bin, work, env = installed
    refusals = {
        "npm install @nomicfoundation/edr": [venv_bin / "sumchain", "bench", "gas", "--quick", "--verify"],
        "npm install @foundry-rs/anvil": [venv_bin / "python", "-m", "bench.throughput"],
        "pip install 'eth-tester": [venv_bin / "python", "-m", "bench.throughput", "--rpc-adds", "0"],
    }
    if shutil.which("node", path=env["PATH"]) is None:
        refusals.pop("npm install @nomicfoundation/edr")  # then Node.js itself is what is missing
    if shutil.which("anvil", path=env["PATH"]) is not None:
        refusals.pop("npm install @foundry-rs/anvil")  # found on PATH: nothing to refuse
    for how, argv in refusals.items():
        done = _run(argv, work, env)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and how in done.stderr, done.stderr


def test_the_installed_wheel_works_outside_the_checkout(tmp_path: Path) -> None:
    """One test, so that the wheel is built and installed once, whatever the scheduling."""
    installed = install_wheel(tmp_path)
    check_the_wheel_runs_from_its_own_site_packages(installed)
    check_demo_runs_from_the_wheel(installed)
    check_devnet_from_the_wheel_answers_and_stops_on_sigterm(installed)
    check_gas_snapshot_check_works_from_the_wheel(installed)
    check_missing_outside_tools_are_refused_in_one_line(installed)
