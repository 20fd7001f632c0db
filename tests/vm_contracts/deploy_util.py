"""Deploy the framework's contracts from their artifacts, and move a test chain's clock.

Used by the contract tests only (the SDK, vm_contracts.client, is the user-facing way).
`time_travel` is the single place that knows how to advance a test chain's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from vm_contracts.build import load_artifact

GAS = 12_000_000  # per transaction in tests: generous, so a revert is never a gas shortage


def tx_params(w3: Web3, sender: str | None = None, value: int = 0) -> dict[str, Any]:
    """Transaction fields for a test transaction; legacy pricing on pre-London chains."""
    params: dict[str, Any] = {"from": sender or w3.eth.accounts[0], "gas": GAS}
    if value:
        params["value"] = value
    if "baseFeePerGas" not in w3.eth.get_block("latest"):
        params["gasPrice"] = 10**9
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
    artifact = load_artifact(name, evm_version, optimized)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(*args).transact(tx_params(w3, sender))
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 1, f"deploying {name} failed"
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"]), receipt.gasUsed


def transact(w3: Web3, fn: Any, sender: str | None = None, value: int = 0) -> Any:
    """Send `fn` (a bound contract function) and return the receipt (status 1 required)."""
    tx = fn.transact(tx_params(w3, sender, value))
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 1
    return receipt


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
) -> Contract:
    """Deploy a model, run its initialisation calls (function name, args) and finish it."""
    gas = gas if gas is not None else {}
    contract, gas[model] = deploy(
        w3, model, *model_args, sender=owner, evm_version=evm_version, optimized=optimized
    )
    for i, (fn, args) in enumerate(init or []):
        gas[f"{fn}#{i}"] = transact(w3, getattr(contract.functions, fn)(*args), owner).gasUsed
    gas["finishInitialization"] = transact(w3, contract.functions.finishInitialization(), owner).gasUsed
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
    owner = owner or w3.eth.accounts[0]
    gas: dict[str, int] = {}
    kw = {"sender": owner, "evm_version": evm_version, "optimized": optimized}
    handler, gas["DataHandler"] = deploy(w3, "DataHandler", **kw)
    im, gas[incentive] = deploy(w3, incentive, *incentive_args, **kw)
    mdl = deploy_model(w3, model, model_args, init, owner, evm_version, optimized, gas)
    trainer, gas["CollaborativeTrainer"] = deploy(
        w3, "CollaborativeTrainer", *metadata, handler.address, im.address, mdl.address, **kw
    )
    for label, c in (("handler", handler), ("incentive", im), ("model", mdl)):
        gas[f"transferOwnership:{label}"] = transact(
            w3, c.functions.transferOwnership(trainer.address), owner
        ).gasUsed
    return Deployment(trainer, handler, im, mdl, gas)


def _error_selectors() -> dict[str, set[bytes]]:
    from eth_utils import function_signature_to_4byte_selector

    from vm_contracts.build import ARTIFACTS_DIR

    selectors: dict[str, set[bytes]] = {}
    for path in (ARTIFACTS_DIR / "cancun").glob("*.json"):
        for item in load_artifact(path.stem)["abi"]:
            if item["type"] == "error":
                types = ",".join(_abi_type(i) for i in item["inputs"])
                selectors.setdefault(item["name"], set()).add(
                    function_signature_to_4byte_selector(f"{item['name']}({types})")
                )
    return selectors


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + item["type"][5:]
    return item["type"]


def revert_data(exc: BaseException) -> bytes:
    """The revert data carried by a web3 exception (empty if none)."""
    for candidate in (getattr(exc, "data", None), *getattr(exc, "args", ())):
        if isinstance(candidate, dict):
            candidate = candidate.get("data")
        if isinstance(candidate, str) and candidate.startswith("0x"):
            return bytes.fromhex(candidate[2:])
        if isinstance(candidate, bytes):
            return candidate
    return b""


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
        data = revert_data(exc)
        assert data[:4] in selectors[error], f"expected {error}, reverted with {data.hex() or exc!r}"
        return data
    raise AssertionError(f"expected revert {error}, but the call succeeded")
