"""The outside tools the benchmarks compare sumchain with, and where they are found.

Hardhat's EDR and anvil come from npm, eth-tester from PyPI; none is needed to run
sumchain itself. A program is looked for where the user points (a flag), then on
``PATH``, then in ``./node_modules`` of the current directory, then in
``node_modules`` of the source checkout when sumchain runs from one (``make test``
installs it there). When a tool is nowhere, :class:`ToolMissing` says in one line how
to install it; an installed wheel never looks inside its own ``site-packages``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from bench.errors import ToolMissing

# The versions the committed results were checked against (package.json pins them).
EDR_PACKAGE = "@nomicfoundation/edr"
EDR_VERSION = "0.22.0"
ANVIL_PACKAGE = "@foundry-rs/anvil"
ANVIL_VERSION = "1.7.1"
ETH_TESTER_REQUIREMENT = "eth-tester[py-evm]==0.14.0b1"
CHECKOUT = Path(__file__).resolve().parents[1]  # the source tree, if this is one


def node_modules_dirs() -> list[Path]:
    """``./node_modules``, then the source checkout's (only when running from one)."""
    dirs = [Path.cwd() / "node_modules"]
    checkout = CHECKOUT / "node_modules"
    if (CHECKOUT / "pyproject.toml").is_file() and checkout not in dirs:
        dirs.append(checkout)
    return dirs


def find_npm_package(name: str) -> Path | None:
    """The folder of npm package ``name`` in the first of :func:`node_modules_dirs` holding it."""
    for folder in node_modules_dirs():
        if (folder / name / "package.json").is_file():
            return folder / name
    return None


def find_anvil(given: Path | None, needed_by: str) -> Path:
    """The anvil program: ``given``, else on PATH, else in ``node_modules/.bin``."""
    if given is not None:
        if not (given.is_file() and shutil.which(str(given))):
            raise ToolMissing("anvil", needed_by, f"--anvil {given} is not an executable file")
        return given
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    for folder in node_modules_dirs():
        if (folder / ".bin" / "anvil").is_file():
            return folder / ".bin" / "anvil"
    raise ToolMissing(
        "anvil",
        needed_by,
        f"run `npm install {ANVIL_PACKAGE}@{ANVIL_VERSION}` here, or pass --anvil PATH",
    )


def find_edr(given: Path | None, needed_by: str) -> Path:
    """The folder of the ``@nomicfoundation/edr`` npm package (run by Node.js)."""
    install = f"run `npm install {EDR_PACKAGE}@{EDR_VERSION}` here, or pass --edr DIR"
    if shutil.which("node") is None:
        raise ToolMissing("Node.js (to run EDR)", needed_by, "install Node.js 20 or newer")
    if given is not None:
        if not (given / "package.json").is_file():
            raise ToolMissing("EDR", needed_by, f"--edr {given} holds no npm package; {install}")
        return given
    found = find_npm_package(EDR_PACKAGE)
    if found is None:
        raise ToolMissing("EDR", needed_by, install)
    return found


def require_eth_tester(needed_by: str) -> None:
    """Refuse early, in one line, when eth-tester (a dev dependency) is not installed."""
    if importlib.util.find_spec("eth_tester") is None:
        raise ToolMissing(
            "eth-tester",
            needed_by,
            f"run `pip install '{ETH_TESTER_REQUIREMENT}'`, or leave it out with --runners",
        )
