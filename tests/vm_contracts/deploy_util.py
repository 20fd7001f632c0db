"""Deploy the framework's contracts one by one, and move a test chain's clock.

Used by the contract tests, which wire contracts with raw constructor arguments and
initialisation calls: they deploy through the SDK's one deployer
(``vm_contracts.deploy.Deployer``) under a fixed gas policy, so a revert is never a gas
shortage. `time_travel` is the single place that knows how to advance a test chain's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from vm_contracts.build import ARTIFACTS_DIR, load_artifact
from vm_contracts.deploy import Deployer, GasPolicy, Sender, load_contract
from vm_contracts.revert import ErrorDecoder, error_selector, revert_data

GAS = 12_000_000  # per transaction in tests: generous, so a revert is never a gas shortage
GAS_PRICE = 10**9  # wei, on pre-London chains
POLICY = GasPolicy(estimate=False, gas=GAS, gas_price=GAS_PRICE)


def tx_params(w3: Web3, sender: str | None = None, value: int = 0) -> dict[str, Any]:
    """Transaction fields for a test transaction; legacy pricing on pre-London chains."""
    params: dict[str, Any] = {"from": sender or w3.eth.accounts[0], "gas": GAS}
    if value:
        params["value"] = value
    if "baseFeePerGas" not in w3.eth.get_block("latest"):
        params["gasPrice"] = GAS_PRICE
    return params


def deploy(
    w3: Web3,
    name: str,
    *args: Any,
    sender: str | None = None,
    evm_version: str = "cancun",
    optimized: bool = True,
) -> tuple[Contract, int]:
    """Deploy contract `name` with constructor `args`; return it and the gas used."""
    deployer = Deployer(w3, sender, POLICY)
    contract = deployer.contract(load_contract(name, evm_version, optimized), args)
    return contract, int(deployer.steps[-1].receipt["gasUsed"])


def transact(w3: Web3, fn: Any, sender: str | None = None, value: int = 0) -> Any:
    """Send `fn` (a bound contract function) and return the receipt (status 1 required)."""
    return Sender(w3, ErrorDecoder([]), [], POLICY).send(fn, sender or w3.eth.accounts[0], "test", value)


def now(w3: Web3) -> int:
    """Timestamp of the latest block (s)."""
    return int(w3.eth.get_block("latest")["timestamp"])


def time_travel(w3: Web3, seconds: int) -> None:
    """Make the next block's timestamp at least `seconds` later than the latest one."""
    target = now(w3) + seconds
    try:
        w3.provider.make_request("evm_increaseTime", [seconds])
        w3.provider.make_request("evm_mine", [])
        if now(w3) >= target:
            return
    except Exception:  # eth-tester has no evm_* methods; its own API below
        pass
    w3.testing.timeTravel(target)
    w3.testing.mine()


@dataclass
class Deployment:
    """A trainer with its three components, all owned by the trainer."""

    trainer: Contract
    handler: Contract
    incentive: Contract
    model: Contract
    gas: dict[str, int]
    """Gas used per deployment/initialisation step (name -> gas)."""


def deploy_model(
    w3: Web3,
    model: str,
    model_args: tuple,
    init: list[tuple[str, tuple]] | None = None,
    owner: str | None = None,
    evm_version: str = "cancun",
    optimized: bool = True,
    gas: dict[str, int] | None = None,
    deployer: Deployer | None = None,
) -> Contract:
    """Deploy a model, run its initialisation calls (function name, args) and finish it."""
    gas = gas if gas is not None else {}
    deployer = deployer or Deployer(w3, owner, POLICY)
    contract = deployer.contract(load_contract(model, evm_version, optimized), model_args, "model")
    gas[model] = int(deployer.steps[-1].receipt["gasUsed"])
    for i, (fn, args) in enumerate(init or []):
        built = getattr(contract.functions, fn)(*args)
        receipt = deployer.send(built, f"initialize {model}", "initialize call", "model", model, fn)
        gas[f"{fn}#{i}"] = int(receipt["gasUsed"])
    receipt = deployer.send(
        contract.functions.finishInitialization(), f"initialize {model}", "finish", "model", model
    )
    gas["finishInitialization"] = int(receipt["gasUsed"])
    return contract


def deploy_trainer(
    w3: Web3,
    model: str,
    model_args: tuple,
    incentive: str,
    incentive_args: tuple,
    init: list[tuple[str, tuple]] | None = None,
    owner: str | None = None,
    evm_version: str = "cancun",
    optimized: bool = True,
    metadata: tuple[str, str, str] = ("m", "d", "e"),
) -> Deployment:
    """Deploy and wire a whole CollaborativeTrainer; the deployer (`owner`) owns the trainer."""
    deployer = Deployer(w3, owner, POLICY)
    gas: dict[str, int] = {}

    def deploy_one(name: str, args: tuple, component: str) -> Contract:
        contract = deployer.contract(load_contract(name, evm_version, optimized), args, component)
        gas[name] = int(deployer.steps[-1].receipt["gasUsed"])
        return contract

    handler = deploy_one("DataHandler", (), "data_handler")
    im = deploy_one(incentive, incentive_args, "incentive")
    mdl = deploy_model(w3, model, model_args, init, owner, evm_version, optimized, gas, deployer)
    trainer = deploy_one(
        "CollaborativeTrainer", (*metadata, handler.address, im.address, mdl.address), "trainer"
    )
    for label, c in (("handler", handler), ("incentive", im), ("model", mdl)):
        receipt = deployer.transfer_ownership(c, label, trainer.address, label)
        gas[f"transferOwnership:{label}"] = int(receipt["gasUsed"])
    return Deployment(trainer, handler, im, mdl, gas)


def _error_selectors() -> dict[str, set[bytes]]:
    selectors: dict[str, set[bytes]] = {}
    for path in (ARTIFACTS_DIR / "cancun").glob("*.json"):
        for item in load_artifact(path.stem)["abi"]:
            if item["type"] == "error":
                selectors.setdefault(item["name"], set()).add(error_selector(item))
    return selectors


def assert_reverts(w3: Web3, fn: Any, error: str, sender: str | None = None, value: int = 0) -> bytes:
    """Assert calling `fn` reverts with custom error `error`; return the revert data."""
    selectors = _error_selectors()
    assert error in selectors, f"no custom error named {error} in any artifact"
    params = tx_params(w3, sender, value)
    params.pop("gas")
    try:
        if hasattr(fn, "call"):
            fn.call(params)
        else:  # a constructor: simulate the creation
            w3.eth.call({**params, "data": fn.data_in_transaction})
    except Exception as exc:  # web3 raises a ContractCustomError (or a subclass of Web3Exception)
        data = revert_data(exc) or b""
        assert data[:4] in selectors[error], f"expected {error}, reverted with {data.hex() or exc!r}"
        return data
    raise AssertionError(f"expected revert {error}, but the call succeeded")
