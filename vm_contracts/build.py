"""Compile the framework's Solidity sources into committed artifacts, and check them.

``python -m vm_contracts.build`` compiles every source under ``vm_contracts/contracts``
with the npm ``solc`` package (pinned in package.json) for the EVM version of every
supported fork, optimizer on (``artifacts/<evmVersion>/``) and off
(``artifacts/<evmVersion>-noopt/``), and writes one JSON per contract: ABI, bytecode,
deployed bytecode, the link references of linked libraries, compiler version, settings
and the sha256 of every source.

``python -m vm_contracts.build --check`` exits non-zero naming the first stale or
missing artifact: one whose recorded sources, settings or compiler differ from the
tree's. ``--check --recompile`` also recompiles and compares the bytecode.

:func:`load_artifact` reads an artifact; running sumchain never needs the compiler.
An artifact's ``linkReferences`` (solc's; PredictionMarket links MarketLosses and
MarketBalances) are what the SDK's deployer fills in (``vm_contracts.deploy``,
``libraries={name: address}``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from vm_contracts.errors import VmContractsError

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
CONTRACTS_DIR = PACKAGE / "contracts"
ARTIFACTS_DIR = PACKAGE / "artifacts"
SOLC_MODULE = REPO / "node_modules" / "solc"  # in the source checkout (`make` installs it)
SOLC_VERSION = "0.8.37"  # pinned in package.json
OPTIMIZER_RUNS = 200
NOOPT_SUFFIX = "-noopt"  # artifact directory suffix of optimizer-off builds

# EVM version solc targets for each fork sumchain runs (chain.config.FORKS); solc calls
# the merge fork "paris" and has no separate name for it otherwise.
EVM_VERSIONS = ("petersburg", "istanbul", "berlin", "london", "paris", "shanghai", "cancun")
DEFAULT_EVM_VERSION = "cancun"

# Reads {"inputs": [standard-json, ...]} on stdin, writes [output, ...] on stdout, so
# the compiler's WebAssembly is loaded once for every build.
_NODE_DRIVER = """
const solc = require(process.argv[1]);
let raw = '';
process.stdin.on('data', (c) => { raw += c; });
process.stdin.on('end', () => {
  const req = JSON.parse(raw);
  const outs = req.inputs.map((inp) => JSON.parse(solc.compile(JSON.stringify(inp))));
  process.stdout.write(JSON.stringify({version: solc.version(), outputs: outs}));
});
"""


class BuildError(VmContractsError):
    """Raised when the compiler is missing or fails, or an artifact is stale or absent."""


def source_files() -> dict[str, str]:
    """Every Solidity source, keyed by its path relative to ``contracts/`` (POSIX)."""
    return {
        p.relative_to(CONTRACTS_DIR).as_posix(): p.read_text() for p in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }


def sources_sha256(sources: dict[str, str]) -> dict[str, str]:
    return {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sources.items()}


def settings_for(evm_version: str, optimized: bool) -> dict[str, Any]:
    """The solc settings of one artifact set (recorded in every artifact)."""
    settings: dict[str, Any] = {
        "evmVersion": evm_version,
        "optimizer": {"enabled": optimized, "runs": OPTIMIZER_RUNS},
        # No CBOR metadata trailer: 50-odd bytes of deployed code (200 gas each) that
        # nothing here reads; the artifact records sources and settings instead.
        "metadata": {"appendCBOR": False},
        "outputSelection": {
            "*": {
                "*": [
                    "abi",
                    "evm.bytecode.object",
                    "evm.bytecode.linkReferences",
                    "evm.deployedBytecode.object",
                    "evm.deployedBytecode.linkReferences",
                    "devdoc",
                    "userdoc",
                ]
            }
        },
    }
    if optimized:
        # The IR pipeline's optimizer gives 20-30% smaller code (deployment gas) here;
        # the -noopt set stays on the legacy pipeline as the unoptimised baseline.
        settings["viaIR"] = True
    return settings


def artifact_dir(evm_version: str, optimized: bool) -> Path:
    return ARTIFACTS_DIR / (evm_version if optimized else evm_version + NOOPT_SUFFIX)


def solc_module() -> Path:
    """The npm solc package: in ``./node_modules``, else in the source checkout's."""
    for candidate in (Path.cwd() / "node_modules" / "solc", SOLC_MODULE):
        if (candidate / "index.js").is_file():
            return candidate
    raise BuildError(f"solc not found: run `npm install solc@{SOLC_VERSION}` in this directory")


def _run_solc(inputs: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    module = solc_module()
    node = shutil.which("node")
    if node is None:
        raise BuildError("node not found on PATH; install Node.js to compile contracts")
    proc = subprocess.run(
        [node, "-e", _NODE_DRIVER, str(module)],
        input=json.dumps({"inputs": inputs}),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"solc failed: {proc.stderr.strip()[:2000]}")
    result = json.loads(proc.stdout)
    return result["version"], result["outputs"]


def compile_sets(sets: list[tuple[str, bool]]) -> dict[tuple[str, bool], dict[str, dict[str, Any]]]:
    """Compile the sources for each (evmVersion, optimized); artifacts by contract name."""
    sources = source_files()
    shas = sources_sha256(sources)
    inputs = [
        {
            "language": "Solidity",
            "sources": {name: {"content": text} for name, text in sources.items()},
            "settings": settings_for(evm, opt),
        }
        for evm, opt in sets
    ]
    version, outputs = _run_solc(inputs)
    if not version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"solc {version} found, {SOLC_VERSION} is pinned; run `npm ci`")
    result: dict[tuple[str, bool], dict[str, dict[str, Any]]] = {}
    for (evm, opt), out in zip(sets, outputs, strict=True):
        errors = [e for e in out.get("errors", []) if e["severity"] == "error"]
        if errors:
            raise BuildError("compilation failed:\n" + "\n".join(e["formattedMessage"] for e in errors))
        artifacts: dict[str, dict[str, Any]] = {}
        for source_name, contracts in out["contracts"].items():
            for name, c in contracts.items():
                if name in artifacts:
                    raise BuildError(f"two contracts named {name}; names must be unique")
                artifacts[name] = {
                    "contractName": name,
                    "sourceName": source_name,
                    "abi": c["abi"],
                    "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                    "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                    # {source: {library: [{"start": byte offset, "length": 20}, ...]}}
                    "linkReferences": c["evm"]["bytecode"].get("linkReferences", {}),
                    "deployedLinkReferences": c["evm"]["deployedBytecode"].get("linkReferences", {}),
                    "devdoc": c.get("devdoc", {}),
                    "userdoc": c.get("userdoc", {}),
                    "compiler": {"name": "solc", "version": version},
                    "settings": {k: v for k, v in settings_for(evm, opt).items() if k != "outputSelection"},
                    "sourcesSha256": shas,
                }
        result[(evm, opt)] = artifacts
    return result


def all_sets() -> list[tuple[str, bool]]:
    return [(evm, opt) for evm in EVM_VERSIONS for opt in (True, False)]


def build(evm_versions: Sequence[str] = EVM_VERSIONS) -> list[Path]:
    """Compile for `evm_versions` and (re)write their artifacts; return the files written."""
    written = []
    sets = [(evm, opt) for evm, opt in all_sets() if evm in evm_versions]
    for (evm, opt), artifacts in compile_sets(sets).items():
        directory = artifact_dir(evm, opt)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for name, artifact in sorted(artifacts.items()):
            path = directory / f"{name}.json"
            path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
            written.append(path)
    return written


def check(recompile: bool = False) -> None:
    """Raise BuildError naming the first artifact that does not match the sources."""
    shas = sources_sha256(source_files())
    for evm, opt in all_sets():
        directory = artifact_dir(evm, opt)
        files = sorted(directory.glob("*.json")) if directory.is_dir() else []
        if not files:
            raise BuildError(f"{directory}: no artifacts; run `python -m vm_contracts.build`")
        expected_settings = {k: v for k, v in settings_for(evm, opt).items() if k != "outputSelection"}
        for path in files:
            artifact = json.loads(path.read_text())
            if artifact.get("sourcesSha256") != shas:
                raise BuildError(f"{path}: stale (sources changed); run `python -m vm_contracts.build`")
            if artifact.get("settings") != expected_settings:
                raise BuildError(f"{path}: stale (settings changed); run `python -m vm_contracts.build`")
            if not artifact["compiler"]["version"].startswith(SOLC_VERSION + "+"):
                raise BuildError(f"{path}: built with another solc; run `python -m vm_contracts.build`")
    if not recompile:
        return
    for (evm, opt), artifacts in compile_sets(all_sets()).items():
        directory = artifact_dir(evm, opt)
        on_disk = {p.stem for p in directory.glob("*.json")}
        for name in sorted(set(artifacts) | on_disk):
            path = directory / f"{name}.json"
            if name not in artifacts or not path.is_file():
                raise BuildError(f"{path}: artifact set differs from the sources' contracts")
            stored = json.loads(path.read_text())
            fresh = artifacts[name]
            for key in ("abi", "bytecode", "deployedBytecode", "linkReferences"):
                if stored[key] != fresh[key]:
                    raise BuildError(f"{path}: {key} differs from a fresh compile")


@lru_cache(maxsize=256)
def _load(name: str, evm_version: str, optimized: bool) -> str:
    path = artifact_dir(evm_version, optimized) / f"{name}.json"
    if evm_version not in EVM_VERSIONS:
        raise BuildError(f"unknown evm version {evm_version!r}; one of {', '.join(EVM_VERSIONS)}")
    if not path.is_file():
        raise BuildError(f"no artifact {path}; run `python -m vm_contracts.build`")
    return path.read_text()


def load_artifact(
    name: str, evm_version: str = DEFAULT_EVM_VERSION, optimized: bool = True
) -> dict[str, Any]:
    """The artifact of contract ``name`` (a fresh dict: abi, bytecode, deployedBytecode, ...)."""
    return json.loads(_load(name, evm_version, optimized))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vm_contracts.build", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify committed artifacts match the sources")
    parser.add_argument("--recompile", action="store_true", help="with --check: also compare fresh bytecode")
    parser.add_argument(
        "--evm-version",
        action="append",
        choices=EVM_VERSIONS,
        help="build only this EVM version (repeatable); default all",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            check(recompile=args.recompile)
            print("artifacts up to date")
        else:
            written = build(args.evm_version or EVM_VERSIONS)
            print(f"wrote {len(written)} artifacts under {ARTIFACTS_DIR}")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
