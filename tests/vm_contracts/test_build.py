"""The committed artifacts match the Solidity sources, and the loader serves them."""

from __future__ import annotations

import shutil

import pytest

from chain.vm import MAX_CODE_SIZE
from vm_contracts import build

HAS_SOLC = (build.SOLC_MODULE / "index.js").is_file() and shutil.which("node") is not None
CONTRACTS = (
    "CollaborativeTrainer",
    "DataHandler",
    "Points",
    "Stakeable",
    "SparsePerceptron",
    "DensePerceptron",
    "NaiveBayes",
    "NearestCentroid",
    "SparseNearestCentroid",
)


def test_committed_artifacts_match_the_sources():
    build.check()


def test_every_contract_has_an_artifact_per_fork_and_optimizer_setting():
    for evm in build.EVM_VERSIONS:
        for optimized in (True, False):
            for name in CONTRACTS:
                art = build.load_artifact(name, evm, optimized)
                assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 100
                assert art["settings"]["evmVersion"] == evm
                assert art["settings"]["optimizer"]["enabled"] is optimized
                assert art["compiler"]["version"].startswith(build.SOLC_VERSION)


def test_pre_shanghai_bytecode_has_no_push0():
    # PUSH0 (0x5f) is invalid before Shanghai; walk the code skipping PUSH immediates
    for evm in ("petersburg", "istanbul", "berlin", "london", "paris"):
        for name in CONTRACTS:
            code = bytes.fromhex(build.load_artifact(name, evm)["deployedBytecode"][2:])
            i = 0
            while i < len(code):
                op = code[i]
                assert op != 0x5F, f"{name} for {evm} uses PUSH0"
                i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


def test_a_changed_source_makes_the_check_name_the_stale_artifact(tmp_path, monkeypatch):
    contracts = tmp_path / "contracts"
    shutil.copytree(build.CONTRACTS_DIR, contracts)
    (contracts / "DataHandler.sol").write_text((contracts / "DataHandler.sol").read_text() + "\n// edit\n")
    monkeypatch.setattr(build, "CONTRACTS_DIR", contracts)
    with pytest.raises(build.BuildError, match="stale"):
        build.check()
    assert build.main(["--check"]) == 1


def test_loading_an_unknown_artifact_says_how_to_build(tmp_path):
    with pytest.raises(build.BuildError, match="vm_contracts.build"):
        build.load_artifact("NoSuchContract")
    with pytest.raises(build.BuildError, match="unknown evm version"):
        build.load_artifact("DataHandler", "frontier")


def test_a_fresh_compile_reproduces_the_committed_bytecode(monkeypatch):
    if not HAS_SOLC:
        pytest.fail("node_modules/solc is not installed: run `make test` (it runs npm install)")
    # one unoptimised set (seconds, where the IR optimizer takes a minute): enough to
    # catch a drifted compiler or hand-edited artifacts
    monkeypatch.setattr(build, "all_sets", lambda: [("cancun", False)])
    build.check(recompile=True)


def test_every_contract_fits_eip170_without_the_optimizer():
    # a real compile of every source for every fork, optimizer off: the largest build
    if not HAS_SOLC:
        pytest.fail("node_modules/solc is not installed: run `make test` (it runs npm install)")
    compiled = build.compile_sets([(evm, False) for evm in build.EVM_VERSIONS])
    for (evm, _), artifacts in compiled.items():
        assert "PredictionMarket" in artifacts and "MarketLosses" in artifacts
        for name, artifact in artifacts.items():
            size = (len(artifact["deployedBytecode"]) - 2) // 2
            assert size <= MAX_CODE_SIZE, f"{name} ({evm}, optimizer off): {size} bytes > EIP-170"


def test_the_market_links_its_reward_stage_libraries():
    from vm_contracts.deploy import DeploymentError, load_contract

    artifact = build.load_artifact("PredictionMarket", "cancun", optimized=False)
    names = sorted({name for libraries in artifact["linkReferences"].values() for name in libraries})
    assert names == ["MarketBalances", "MarketLosses"]
    assert "__$" in artifact["bytecode"]
    addresses = {"MarketLosses": "0x" + "11" * 20, "MarketBalances": "0x" + "22" * 20}
    market = load_contract("PredictionMarket", "cancun", optimized=False)
    linked = market.linked(addresses)
    assert "__$" not in linked and len(linked) == len(artifact["bytecode"])
    assert "11" * 20 in linked and "22" * 20 in linked
    with pytest.raises(DeploymentError, match="MarketLosses"):
        market.linked({"MarketBalances": addresses["MarketBalances"]})
    # the other contracts link nothing
    for name in CONTRACTS:
        assert build.load_artifact(name)["linkReferences"] == {}
