"""Where a result came from: the machine, the package and tool versions, the command line
and the commit, written beside every result in ``bench/results/``.

    run = run_info("python -m bench.throughput", sys.argv[1:])
    # {"command": ..., "commit": ..., "machine": {...}, "versions": {...}}
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.tools import ANVIL_PACKAGE, CHECKOUT, EDR_PACKAGE, find_npm_package

PACKAGES = ("py-evm", "web3")  # the Python packages every result names
NPM_TOOLS = (EDR_PACKAGE, ANVIL_PACKAGE, "solc")  # the reference nodes and the compiler
TOOL_TIMEOUT_S = 10  # seconds a `--version` may take


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine a run used: platform, CPU count and CPU model."""
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu_model()}


def machine_line() -> str:
    """:func:`machine` in one line, for a Markdown report."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """The installed version of each Python distribution ("not installed" when absent)."""
    out = {}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def tool_versions() -> dict[str, str]:
    """The npm tools found as :mod:`bench.tools` finds them, and Node.js."""
    out = {}
    for package in NPM_TOOLS:
        folder = find_npm_package(package)
        if folder is not None:
            out[package] = json.loads((folder / "package.json").read_text()).get("version", "?")
    try:
        out["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out["node"] = "not found"
    return out


def versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Python, ``packages`` and the outside tools, by name."""
    return {"python": platform.python_version(), **package_versions(packages), **tool_versions()}


def command_line(program: str, argv: Sequence[str]) -> str:
    """The command as a user would type it again: ``program`` then the quoted arguments."""
    return " ".join([program, *(shlex.quote(arg) for arg in argv)])


def commit() -> str:
    """The short commit of the source checkout, or "unknown" outside one."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=CHECKOUT,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        found = ""
    return found or "unknown"


def run_info(program: str, argv: Sequence[str], packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """Everything above in one dict: command, commit, machine and versions."""
    return {
        "command": command_line(program, argv),
        "commit": commit(),
        "machine": machine(),
        "versions": versions(packages),
    }
