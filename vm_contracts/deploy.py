"""The one deployer of the framework on chain, and the way to reach a node.

* :func:`connect` returns a ready ``Web3`` for a node at a URL (sumchain, anvil, geth),
  with web3's proof-of-authority middleware when the chain needs it;
  :func:`async_connect` the same as an ``AsyncWeb3`` (HTTP or WebSocket). :func:`poa_web3`
  wraps any provider so proof-of-authority blocks are accepted, and
  :func:`accept_proof_of_authority` adds the middleware to a web3 the caller made (every
  :class:`Sender` calls it, so ``deploy_framework`` works on a plain ``Web3``).
  :func:`new_heads` follows the chain's new blocks over a WebSocket (``AsyncWeb3``).
* :func:`deploy_instance` deploys a model, an incentive mechanism, a data handler and
  the ``CollaborativeTrainer`` owning them, writing the model's parameters in as many
  transactions as the gas limit needs. :class:`Deployer` is the same machinery one
  contract at a time (libraries, single contracts, a model), for callers that wire
  contracts themselves (the contract tests).
* One :class:`GasPolicy` decides every transaction's gas and the size of every
  initialisation chunk: estimated (the default, for any node) or fixed (no estimate,
  for benchmarks: ``eth_estimateGas`` runs a transaction ~20 times in a binary search).
* Contracts that call linked libraries are deployed with ``libraries={name: address}``
  filled into solc's ``linkReferences``.

The CLI and the SDK (``vm_contracts.client.deploy_framework``), the gas benchmark
(``bench.gas``) and the tests all deploy through here.
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import AsyncWeb3, Web3
from web3.exceptions import MethodUnavailable, Web3RPCError
from web3.providers.base import BaseProvider

from vm_contracts.errors import (
    ClientError,
    ContractRevert,
    DeploymentError,
    NodeUnreachable,
    ProofOfAuthorityChain,
    TransactionFailed,
    VmContractsError,
)
from vm_contracts.models import MODELS, InitArray, model_adapter
from vm_contracts.revert import ErrorDecoder

DEFAULT_EVM_VERSION = "cancun"
CONNECT_TIMEOUT_S = 30  # seconds an HTTP request to the node may take

GAS_ESTIMATE_MARGIN = 1.25  # multiply gas estimates by this before sending
GAS_ESTIMATE_EXTRA = 10_000  # gas added on top of the margin
ESTIMATE_CACHE_ENTRIES = 256  # estimates a Sender keeps (GasPolicy.estimate_cache)
INIT_GAS_SHARE = 0.8  # share of the block gas limit one initialisation transaction may use
INIT_PROBE_ENTRIES = 32  # entries in the first chunk, used to measure gas per entry
INIT_MAX_ENTRIES = 4096  # entries per initialisation transaction at most
INIT_ENTRY_GAS = 25_000  # gas budgeted per entry without estimates (a fresh SSTORE and its share)
RECEIPT_TIMEOUT_S = 120  # seconds to wait for a receipt (web3's default)

INCENTIVES = ("Stakeable", "Points")
COMPONENTS = ("model", "incentive", "data_handler", "trainer")  # a framework instance's parts

# Defaults for the incentive mechanisms (the paper's demo settings, in seconds and wei).
STAKEABLE_DEFAULTS: dict[str, int] = {
    "refund_wait_s": 86_400,  # one day before a refund or report
    "owner_claim_wait_s": 9 * 86_400,  # the model owner takes the rest after nine days
    "any_address_claim_wait_s": 10 * 86_400,  # anyone takes the rest after ten days
    "cost_weight": 10**15,  # wei * s: adding data 1 s after the last costs 10^15 wei
    "min_deposit": 10**12,  # wei
    "sqrt_deposit_law": 0,  # 1: cost_weight / isqrt(elapsed s) (the original's law); 0: / elapsed
    "cost_unit_wei": 1,  # wei per cost unit (cost_weight and min_deposit count these)
}
POINTS_DEFAULTS: dict[str, int] = {"refund_wait_s": 86_400}

Account = Any  # an address string the node signs for, or an eth_account LocalAccount
BlockId = int | str


# --- reaching a node ---------------------------------------------------------------------------


VANITY_BYTES = 32  # what web3 accepts in extraData without the proof-of-authority middleware
_CHECKED: weakref.WeakSet[Any] = weakref.WeakSet()  # web3 objects accept_proof_of_authority has seen


def poa_web3(provider: BaseProvider) -> Web3:
    """A ``Web3`` that accepts proof-of-authority blocks (whose extraData is longer than
    32 bytes: vanity + signers + seal), for any provider: HTTP to any node, or sumchain
    in-process."""
    from web3.middleware import ExtraDataToPOAMiddleware

    w3 = Web3(provider)
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def _extra_data_bytes(block: Any) -> int:
    """Bytes of a raw (unformatted) block's ``extraData``; 0 when there is no block."""
    if not isinstance(block, Mapping):
        return 0
    extra = block.get("extraData") or "0x"
    return len(extra) // 2 - 1 if isinstance(extra, str) else len(extra)


def _has_poa_middleware(w3: Web3 | AsyncWeb3[Any]) -> bool:
    from web3.middleware import ExtraDataToPOAMiddleware

    return ExtraDataToPOAMiddleware in w3.middleware_onion


def _poa_error(url: str, size: int) -> ProofOfAuthorityChain:
    return ProofOfAuthorityChain(
        f"the chain at {url} is proof of authority: its blocks' extraData is {size} bytes "
        f"(Clique's vanity, signer list and seal), web3 reads at most {VANITY_BYTES} without "
        "web3.middleware.ExtraDataToPOAMiddleware; inject it at layer 0, or connect with "
        "vm_contracts.client.connect / async_connect",
        url,
        size,
    )


def _url(w3: Web3 | AsyncWeb3[Any]) -> str:
    return str(getattr(w3.provider, "endpoint_uri", None) or type(w3.provider).__name__)


def accept_proof_of_authority(w3: Web3, inject: bool = True) -> Web3:
    """Make ``w3`` read the node's blocks: when the chain is proof of authority (its
    latest block's extraData is longer than 32 bytes) and ``w3`` lacks web3's
    ``ExtraDataToPOAMiddleware``, inject it (``inject=False``: raise
    :class:`ProofOfAuthorityChain` instead). Asks the node once per ``w3``."""
    if w3 in _CHECKED or _has_poa_middleware(w3):
        return w3
    from web3.types import RPCEndpoint

    response = w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), ["latest", False])
    size = _extra_data_bytes(response.get("result"))
    if size > VANITY_BYTES:
        if not inject:
            raise _poa_error(_url(w3), size)
        from web3.middleware import ExtraDataToPOAMiddleware

        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    _CHECKED.add(w3)
    return w3


async def async_accept_proof_of_authority(w3: AsyncWeb3[Any], inject: bool = True) -> AsyncWeb3[Any]:
    """:func:`accept_proof_of_authority` for an ``AsyncWeb3`` (HTTP or WebSocket)."""
    if w3 in _CHECKED or _has_poa_middleware(w3):
        return w3
    from web3.types import RPCEndpoint

    response = await w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), ["latest", False])
    size = _extra_data_bytes(response.get("result"))
    if size > VANITY_BYTES:
        if not inject:
            raise _poa_error(_url(w3), size)
        from web3.middleware import ExtraDataToPOAMiddleware

        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    _CHECKED.add(w3)
    return w3


def connect(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Web3:
    """A ready ``Web3`` on the node at ``url`` (HTTP JSON-RPC): the node answered, and
    proof-of-authority blocks are accepted when the chain has them. Raises
    :class:`NodeUnreachable` if no node answers; a ``ws(s)://`` URL is
    :func:`async_connect`'s (web3 8 has no synchronous WebSocket provider)."""
    from web3 import HTTPProvider

    if url.startswith(("ws://", "wss://")):
        raise ClientError(f"{url}: a WebSocket URL needs AsyncWeb3: use async_connect (or the http:// URL)")
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
    try:
        accept_proof_of_authority(w3)
        _ = w3.eth.block_number
    except Exception as exc:  # noqa: BLE001 - connection errors come in many kinds
        raise NodeUnreachable(f"cannot reach a node at {url} ({type(exc).__name__})", url) from exc
    return w3


async def async_connect(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> AsyncWeb3[Any]:
    """:func:`connect` as an ``AsyncWeb3``: a persistent WebSocket connection for
    ``ws(s)://`` (close it with ``await w3.provider.disconnect()``, or use it as
    ``async with``), HTTP otherwise."""
    from web3 import AsyncHTTPProvider, WebSocketProvider

    try:
        if url.startswith(("ws://", "wss://")):
            w3: AsyncWeb3[Any] = await AsyncWeb3(WebSocketProvider(url, request_timeout=timeout_s))
        else:
            w3 = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        await async_accept_proof_of_authority(w3)
        await w3.eth.block_number
    except Exception as exc:  # noqa: BLE001 - connection errors come in many kinds
        raise NodeUnreachable(f"cannot reach a node at {url} ({type(exc).__name__})", url) from exc
    return w3


async def new_heads(w3: AsyncWeb3[Any]) -> AsyncIterator[Any]:
    """Every new block header of the node, from an ``eth_subscribe("newHeads")`` on a
    WebSocket ``AsyncWeb3``. On a proof-of-authority chain without web3's middleware it
    raises :class:`ProofOfAuthorityChain` saying so (web3 itself would only say that it
    "could not format" the extraData)."""
    if not _has_poa_middleware(w3):
        await async_accept_proof_of_authority(w3, inject=False)
    subscription = await w3.eth.subscribe("newHeads")
    try:
        async for message in w3.socket.process_subscriptions():
            if message.get("subscription") == subscription:
                yield message["result"]
    finally:
        await w3.eth.unsubscribe(subscription)


# --- artifacts ---------------------------------------------------------------------------------


LinkReferences = Mapping[str, Mapping[str, Sequence[Mapping[str, int]]]]  # solc: file -> library -> spans


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what the SDK needs from ``vm_contracts/artifacts``.

    Fields:
        name: contract name, e.g. ``"SparsePerceptron"``.
        abi: the JSON ABI (list of entries).
        bytecode: creation bytecode, hex with ``0x``; unlinked where ``link_references``
            has entries (solc's ``__$...$__`` placeholders).
        link_references: solc's ``linkReferences``: source file -> library name -> the
            byte spans (``start``, ``length``) of ``bytecode`` that hold its address.
    """

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    link_references: LinkReferences = field(default_factory=dict)

    def linked(self, libraries: Mapping[str, str] | None = None) -> str:
        """The creation bytecode with each linked library's address filled in.

        ``libraries`` maps a library's name (``"LossLib"``) or fully qualified name
        (``"contracts/lib/LossLib.sol:LossLib"``) to its address; names this contract
        does not link are ignored. A library it links but that is not given raises
        :class:`DeploymentError`."""
        code = self.bytecode[2:]
        for source, names in self.link_references.items():
            for library, spans in names.items():
                address = (libraries or {}).get(f"{source}:{library}") or (libraries or {}).get(library)
                if address is None:
                    raise DeploymentError(f"{self.name} links library {library} ({source}); give its address")
                hex_address = Web3.to_checksum_address(address)[2:].lower()
                for span in spans:
                    start, length = 2 * int(span["start"]), 2 * int(span["length"])
                    if length != len(hex_address):
                        raise DeploymentError(f"{self.name}: a link reference of {length // 2} bytes")
                    code = code[:start] + hex_address + code[start + length :]
        if "__$" in code:
            raise DeploymentError(f"{self.name}: bytecode has library placeholders no linkReferences name")
        return "0x" + code


def linked_library_names(artifact: Artifact) -> list[str]:
    """The libraries ``artifact`` links, in the order its link references name them."""
    return list(dict.fromkeys(name for names in artifact.link_references.values() for name in names))


ArtifactLoader = Callable[[str], Artifact]


def load_contract(name: str, evm_version: str = DEFAULT_EVM_VERSION, optimized: bool = True) -> Artifact:
    """The committed artifact of contract ``name`` (see ``vm_contracts.build``)."""
    from vm_contracts.build import load_artifact

    try:
        raw = load_artifact(name, evm_version, optimized)
    except Exception as exc:  # the loader's own errors become one clear line
        raise ClientError(f"cannot load artifact {name} ({evm_version}): {exc}") from exc
    return artifact_from_json(name, raw)


def load_artifact_file(path: str | Path, name: str | None = None) -> Artifact:
    """An artifact from a JSON file holding ``abi`` and ``bytecode``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClientError(f"{path}: not a readable contract artifact ({exc})") from exc
    return artifact_from_json(name or path.stem, raw)


def artifact_from_json(name: str, raw: Any) -> Artifact:
    """Accept the usual artifact shapes: ``bytecode`` as hex or as solc's
    ``{"object": hex, "linkReferences": ...}``; ``linkReferences`` also at the top
    (Hardhat's shape)."""
    if isinstance(raw, Artifact):
        return raw
    if not isinstance(raw, Mapping) or "abi" not in raw:
        raise ClientError(f"artifact {name}: expected an object with 'abi' and 'bytecode'")
    bytecode = raw.get("bytecode")
    links = raw.get("linkReferences") or {}
    if isinstance(bytecode, Mapping):
        links = bytecode.get("linkReferences") or links
        bytecode = bytecode.get("object")
    if not isinstance(bytecode, str) or not bytecode.strip("0x"):
        raise ClientError(f"artifact {name}: no creation bytecode")
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    if not isinstance(links, Mapping):
        raise ClientError(f"artifact {name}: linkReferences is not an object")
    return Artifact(name=name, abi=list(raw["abi"]), bytecode=bytecode, link_references=links)


# --- gas and sending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GasPolicy:
    """How every transaction the SDK sends gets its gas, and how large each model
    initialisation chunk is.

    Fields:
        estimate: True: each transaction is estimated (a revert raises before anything
            is sent) and given the estimate x ``GAS_ESTIMATE_MARGIN`` +
            ``GAS_ESTIMATE_EXTRA``, capped at the block gas limit; chunks start at
            ``INIT_PROBE_ENTRIES`` entries and are sized from the gas per entry each one
            measured. False: nothing is estimated; every transaction is given ``gas``
            and a chunk holds ``budget // entry_gas`` entries.
        gas: gas limit of every transaction when not estimating (None: the block gas limit).
        init_gas_budget: gas one initialisation transaction may use (None:
            ``init_gas_share`` of the block gas limit).
        init_gas_share: see ``init_gas_budget``.
        entry_gas: gas budgeted per initialised entry when not estimating.
        gas_price: wei per gas on chains without a base fee (None: the node's choice).
        receipt_timeout_s: seconds to wait for each receipt.
        write_zeros: also send all-zero chunks and single calls (unset storage already
            reads as zero, so they are skipped by default; the gas benchmark pins
            deployments that write every entry).
        estimate_cache: reuse the estimate of a call already estimated at the same head
            block (same function, arguments, sender and value: the node would answer
            the same); False estimates every time.
    """

    estimate: bool = True
    gas: int | None = None
    init_gas_budget: int | None = None
    init_gas_share: float = INIT_GAS_SHARE
    entry_gas: int = INIT_ENTRY_GAS
    gas_price: int | None = None
    receipt_timeout_s: float = RECEIPT_TIMEOUT_S
    write_zeros: bool = False
    estimate_cache: bool = True

    def init_budget(self, block_gas_limit: int) -> int:
        """Gas one initialisation transaction may use on a chain with this block gas limit."""
        if self.init_gas_budget is None:
            return int(block_gas_limit * self.init_gas_share)
        budget = int(self.init_gas_budget)
        if budget > block_gas_limit:
            raise DeploymentError(
                f"initialisation gas budget {budget} exceeds the block gas limit {block_gas_limit}"
            )
        return budget


ESTIMATED = GasPolicy()  # the SDK's default: estimate every transaction


def address_of(account: Account) -> ChecksumAddress:
    """The checksum address of an account (an address string or a LocalAccount)."""
    if isinstance(account, str):
        return Web3.to_checksum_address(account)
    address = getattr(account, "address", None)
    if address is None:
        raise ClientError("an account is an address string or an eth_account LocalAccount")
    return Web3.to_checksum_address(address)


class Sender:
    """Sends transactions under a :class:`GasPolicy`: estimate (a revert raises before
    anything is sent) or not, send, wait for the receipt, decode a failure, record the
    receipt as (label, receipt)."""

    def __init__(
        self,
        w3: Web3,
        decoder: ErrorDecoder,
        receipts: list[tuple[str, Any]],
        policy: GasPolicy = ESTIMATED,
    ) -> None:
        self.w3 = accept_proof_of_authority(w3)
        self.decoder = decoder
        self.receipts = receipts
        self.policy = policy
        self._legacy: bool | None = None  # whether the chain has no base fee (asked once)
        # (head block hash, call) -> estimate, newest last; see GasPolicy.estimate_cache
        self._estimates: OrderedDict[tuple[Any, ...], int] = OrderedDict()

    def revert_or_raise(self, exc: Exception) -> None:
        revert = self.decoder.from_exception(exc)
        if revert is not None:
            raise revert from exc
        if isinstance(exc, Web3RPCError):  # e.g. insufficient funds, nonce too low
            error = (exc.rpc_response or {}).get("error")
            reason = error.get("message") if isinstance(error, Mapping) else None
            raise TransactionFailed(f"the node refused: {reason or exc.message}") from exc
        raise exc

    def estimate(self, built: Any, params: dict[str, Any]) -> int:
        """The node's estimate for the block the transaction is meant for: at ``pending``
        (web3 would ask at latest, which a node runs in the last block's own time: too
        little for time-dependent gas). A provider that cannot estimate at ``pending``
        (eth-tester's) gets its own default block."""
        try:
            return int(built.estimate_gas(params, block_identifier="pending"))
        except VmContractsError:
            raise
        except Exception as exc:
            refused = isinstance(exc, Web3RPCError) and not isinstance(exc, MethodUnavailable)
            if refused or self.decoder.from_exception(exc) is not None:
                self.revert_or_raise(exc)
        try:
            return int(built.estimate_gas(params))
        except VmContractsError:
            raise
        except Exception as exc:
            self.revert_or_raise(exc)
            raise  # unreachable; keeps type checkers content

    def estimate_at(self, built: Any, params: dict[str, Any], block: Mapping[str, Any]) -> int:
        """:meth:`estimate` on top of ``block`` (the head, as ``eth_getBlockByNumber``
        gives it), from the cache when the same call was estimated on that head."""
        key = _call_key(built, params, block["hash"]) if self.policy.estimate_cache else None
        if key is not None and key in self._estimates:
            self._estimates.move_to_end(key)
            return self._estimates[key]
        estimate = self.estimate(built, params)
        if key is not None:
            self._estimates[key] = estimate
            while len(self._estimates) > ESTIMATE_CACHE_ENTRIES:
                self._estimates.popitem(last=False)
        return estimate

    def call(self, built: Any, block: BlockId = "latest", params: dict[str, Any] | None = None) -> Any:
        try:
            return built.call(params or {}, block_identifier=block)
        except Exception as exc:
            self.revert_or_raise(exc)
            raise

    def block_gas_limit(self) -> int:
        return int(self.w3.eth.get_block("latest")["gasLimit"])

    def send(
        self,
        built: Any,
        account: Account,
        label: str,
        value: int = 0,
        gas: int | None = None,
        estimated: int | None = None,
    ) -> Any:
        """Send and wait. ``gas`` is the exact gas limit to use; otherwise the policy
        decides: ``estimated`` (or a fresh estimate) plus a margin, capped at the block
        gas limit, or the policy's fixed gas."""
        sender = address_of(account)
        params: dict[str, Any] = {"from": sender, "value": int(value)}
        if gas is not None:
            params["gas"] = int(gas)
        elif self.policy.estimate or estimated is not None:
            head = self.w3.eth.get_block("latest")  # its gas limit caps the margin
            if estimated is None:
                estimated = self.estimate_at(built, params, head)
            margin = int(estimated * GAS_ESTIMATE_MARGIN) + GAS_ESTIMATE_EXTRA
            params["gas"] = min(margin, int(head["gasLimit"]))
        else:
            params["gas"] = self.policy.gas if self.policy.gas is not None else self.block_gas_limit()
        if self.policy.gas_price is not None:
            if self._legacy is None:
                self._legacy = "baseFeePerGas" not in self.w3.eth.get_block("latest")
            if self._legacy:
                params["gasPrice"] = self.policy.gas_price
        try:
            if isinstance(account, str):
                tx_hash = built.transact(params)
            else:
                params["nonce"] = self.w3.eth.get_transaction_count(sender, "pending")
                transaction = built.build_transaction(params)
                signed = account.sign_transaction(transaction)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Web3RPCError as exc:
            self.revert_or_raise(exc)
            raise
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.policy.receipt_timeout_s)
        self.receipts.append((label, receipt))
        if receipt["status"] != 1:
            self._explain_failure(built, params, receipt, label)
        return receipt

    def _explain_failure(self, built: Any, params: dict[str, Any], receipt: Any, label: str) -> None:
        replay = {key: params[key] for key in ("from", "value", "gas")}
        try:
            built.call(replay, block_identifier=int(receipt["blockNumber"]) - 1)
        except Exception as exc:
            revert = self.decoder.from_exception(exc)
            if revert is not None:
                revert.receipt = receipt
                raise revert from exc
        raise TransactionFailed(
            f"{label}: transaction {receipt['transactionHash'].hex()} failed "
            f"(gas used {receipt['gasUsed']} of {params['gas']})",
            receipt,
        )


def _call_key(built: Any, params: Mapping[str, Any], head: Any) -> tuple[Any, ...] | None:
    """What makes two estimates equal: the head block, the contract function with its
    arguments, sender and value; None for what is not a contract function call (a
    deployment)."""
    address = getattr(built, "address", None)
    signature = getattr(built, "signature", None)
    if address is None or signature is None:
        return None
    arguments = repr((getattr(built, "args", ()), getattr(built, "kwargs", {})))
    return (bytes(head), address, signature, arguments, params.get("from"), params.get("value"))


# --- deploying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployStep:
    """One transaction of a deployment.

    Fields:
        label: what ``Framework.receipts`` calls it ("deploy SparsePerceptron",
            "initialize weights", "transferOwnership Stakeable", ...).
        action: "deploy", "initialize" (one chunk of a parameter array), "initialize
            call" (a single initialisation call), "finish" (``finishInitialization``) or
            "transferOwnership".
        component: the contract's part in the framework (one of ``COMPONENTS``, or ""
            for a library or a contract outside a framework).
        contract: the contract's name.
        detail: the array part ("weights", "feature_counts[1]") or the single call's
            function name ("initializeSampleCounts"); "" for the other actions.
        receipt: the transaction's receipt.
    """

    label: str
    action: str
    component: str
    contract: str
    detail: str
    receipt: Any


class Deployer:
    """Deploys contracts from one account under one :class:`GasPolicy`, recording every
    transaction as a :class:`DeployStep` (and as (label, receipt) in ``receipts``).

    ``libraries`` (name or fully qualified name -> address) are linked into every
    contract deployed; :meth:`library` deploys one and adds it.
    """

    def __init__(
        self,
        w3: Web3,
        account: Account | None = None,
        policy: GasPolicy = ESTIMATED,
        decoder: ErrorDecoder | None = None,
        receipts: list[tuple[str, Any]] | None = None,
        libraries: Mapping[str, str] | None = None,
    ) -> None:
        if account is None:
            accounts = w3.eth.accounts
            if not accounts:
                raise ClientError("no account given and the node manages none")
            account = accounts[0]
        self.w3 = w3
        self.account = account
        self.policy = policy
        self.receipts: list[tuple[str, Any]] = receipts if receipts is not None else []
        self.sender = Sender(w3, decoder or ErrorDecoder([]), self.receipts, policy)
        self.libraries: dict[str, str] = dict(libraries or {})
        self.steps: list[DeployStep] = []

    def send(
        self,
        built: Any,
        label: str,
        action: str,
        component: str = "",
        contract: str = "",
        detail: str = "",
        value: int = 0,
        estimated: int | None = None,
    ) -> Any:
        """Send one deployment transaction and record it; returns the receipt."""
        receipt = self.sender.send(built, self.account, label, value=value, estimated=estimated)
        self.steps.append(DeployStep(label, action, component, contract, detail, receipt))
        return receipt

    def contract(self, artifact: Artifact, args: Sequence[Any] = (), component: str = "") -> Any:
        """Deploy ``artifact`` with constructor ``args``; the web3 contract at its address."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.linked(self.libraries))
        receipt = self.send(
            factory.constructor(*args), f"deploy {artifact.name}", "deploy", component, artifact.name
        )
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

    def library(self, artifact: Artifact) -> str:
        """Deploy a library and link it into every contract deployed after; its address."""
        address = str(self.contract(artifact).address)
        self.libraries[artifact.name] = address
        return address

    def model(self, artifact: Artifact, model: str, state: Mapping[str, Any]) -> Any:
        """Deploy model ``model`` and initialise it to ``state`` (the dict
        ``Framework.read_model`` returns), in as many transactions as the policy's
        initialisation budget needs; then ``finishInitialization``."""
        adapter = model_adapter(model)
        adapter.check_state(state)
        arrays = adapter.init_arrays(state)  # validates shapes before anything is sent
        contract = self.contract(artifact, adapter.constructor_args(state), "model")
        budget = self.policy.init_budget(self.sender.block_gas_limit())
        size = INIT_PROBE_ENTRIES if self.policy.estimate else max(1, budget // self.policy.entry_gas)
        for array in arrays:
            size = self._write_chunks(contract, model, array, budget, size)
        for function, args in adapter.init_single_calls(state):
            if self.policy.write_zeros or any(any(v) if isinstance(v, list) else v for v in args):
                built = getattr(contract.functions, function)(*args)
                self.send(built, f"initialize {model}", "initialize call", "model", model, function)
        built = contract.functions.finishInitialization()
        self.send(built, f"initialize {model}", "finish", "model", model)
        return contract

    def _write_chunks(self, contract: Any, model: str, array: InitArray, budget: int, size: int) -> int:
        """Write ``array`` in chunks of at most ``size`` entries, each transaction's gas
        within ``budget``.

        Estimating, each sent chunk measures gas per entry and sizes the next one,
        shrunk whenever an estimate comes out above the budget; otherwise every chunk
        has ``size`` entries. All-zero chunks are skipped unless the policy says
        ``write_zeros``: unset storage already reads as zero. Returns the chunk size to
        start the next array with.
        """
        function = getattr(contract.functions, array.function)
        start = 0
        values = array.values
        while start < len(values):
            chunk = values[start : start + size]
            if not self.policy.write_zeros and not any(chunk):
                start += len(chunk)
                continue
            built = function(*array.prefix, start, chunk)
            label = f"initialize {array.part}"
            if not self.policy.estimate:
                self.send(built, label, "initialize", "model", model, array.part)
                start += len(chunk)
                continue
            try:
                gas = self.sender.estimate(built, {"from": address_of(self.account)})
            except ContractRevert:
                raise
            except Exception as exc:  # e.g. "exceeds block gas limit" from the estimator
                if len(chunk) == 1:
                    raise DeploymentError(f"{array.part}[{start}]: cannot estimate gas ({exc})") from exc
                size = max(1, len(chunk) // 2)
                continue
            if gas > budget:
                if len(chunk) == 1:
                    raise DeploymentError(
                        f"{array.part}[{start}]: one entry needs {gas} gas, over the budget {budget}"
                    )
                size = max(1, min(len(chunk) - 1, len(chunk) * budget // gas * 9 // 10))
                continue
            self.send(built, label, "initialize", "model", model, array.part, estimated=gas)
            start += len(chunk)
            per_entry = max(1, gas // len(chunk))
            fitting = int(budget / GAS_ESTIMATE_MARGIN) // per_entry
            size = max(1, min(INIT_MAX_ENTRIES, fitting))
        return size

    def transfer_ownership(self, contract: Any, name: str, to: str, component: str = "") -> Any:
        """Make ``to`` (the trainer) the owner of ``contract``; the receipt."""
        built = contract.functions.transferOwnership(to)
        return self.send(built, f"transferOwnership {name}", "transferOwnership", component, name)


def incentive_args(incentive: str, params: Mapping[str, int] | None = None) -> list[int | bool]:
    """Constructor arguments of ``incentive``: its defaults (``STAKEABLE_DEFAULTS``,
    ``POINTS_DEFAULTS``) overridden by ``params``."""
    defaults = STAKEABLE_DEFAULTS if incentive == "Stakeable" else POINTS_DEFAULTS
    unknown = sorted(set(params or {}) - set(defaults))
    if unknown:
        raise ClientError(f"{incentive} has no parameters {unknown}; it takes {sorted(defaults)}")
    merged = {**defaults, **(params or {})}
    return [bool(merged[key]) if key == "sqrt_deposit_law" else int(merged[key]) for key in defaults]


def framework_artifacts(
    model: str,
    incentive: str,
    evm_version: str = DEFAULT_EVM_VERSION,
    loader: ArtifactLoader | None = None,
    optimized: bool = True,
) -> dict[str, Artifact]:
    """The artifacts of a framework instance: model, mechanism, data handler, trainer."""
    if model not in MODELS:
        raise ClientError(f"unknown model {model!r}; choose one of {MODELS}")
    if incentive not in INCENTIVES:
        raise ClientError(f"unknown incentive mechanism {incentive!r}; choose one of {INCENTIVES}")

    def load(name: str) -> Artifact:
        return loader(name) if loader is not None else load_contract(name, evm_version, optimized)

    return {name: load(name) for name in (model, incentive, "DataHandler", "CollaborativeTrainer")}


@dataclass
class Instance:
    """A deployed framework instance: what :func:`deploy_instance` did.

    Fields:
        w3: the web3 it was deployed through.
        model, incentive: contract names of the model and the mechanism.
        trainer: checksum address of the CollaborativeTrainer (the entry point).
        addresses: component ("model", "incentive", "data_handler", "trainer") -> address.
        artifacts: contract name -> artifact, for the four contracts.
        deployed_block: the block of the trainer's deployment (events are read from it).
        steps: every transaction, in order.
        receipts: (label, receipt) of every transaction, in order.
    """

    w3: Web3
    model: str
    incentive: str
    trainer: str
    addresses: dict[str, str]
    artifacts: dict[str, Artifact]
    deployed_block: int
    steps: list[DeployStep]
    receipts: list[tuple[str, Any]]


def deploy_instance(
    w3: Web3,
    model: str = "SparsePerceptron",
    incentive: str = "Stakeable",
    state: Mapping[str, Any] | None = None,
    account: Account | None = None,
    incentive_params: Mapping[str, int] | None = None,
    name: str = "",
    description: str = "",
    encoder: str = "",
    evm_version: str = DEFAULT_EVM_VERSION,
    optimized: bool = True,
    policy: GasPolicy = ESTIMATED,
    artifact_loader: ArtifactLoader | None = None,
    libraries: Mapping[str, str] | None = None,
) -> Instance:
    """Deploy a model (initialised to ``state``), an incentive mechanism, a data handler
    and the trainer owning them, in this order; then hand the three to the trainer.

    ``state`` holds the model's constructor parameters (``num_features``, and per model
    ``learning_rate`` / ``num_classes`` / ``smoothing``, fixed point where they are
    reals) and its starting parameters, as ``Framework.read_model`` returns them.
    ``account`` (default: the node's first account) deploys and owns the trainer.
    ``libraries`` are linked into every contract that references them.
    """
    artifacts = framework_artifacts(model, incentive, evm_version, artifact_loader, optimized)
    decoder = ErrorDecoder(artifact.abi for artifact in artifacts.values())
    deployer = Deployer(w3, account, policy, decoder, libraries=libraries)
    model_contract = deployer.model(artifacts[model], model, state or {})
    mechanism = deployer.contract(
        artifacts[incentive], incentive_args(incentive, incentive_params), "incentive"
    )
    handler = deployer.contract(artifacts["DataHandler"], [], "data_handler")
    trainer = deployer.contract(
        artifacts["CollaborativeTrainer"],
        [name or model, description, encoder, handler.address, mechanism.address, model_contract.address],
        "trainer",
    )
    deployed_block = int(deployer.steps[-1].receipt["blockNumber"])
    parts = (
        (model_contract, model, "model"),
        (mechanism, incentive, "incentive"),
        (handler, "DataHandler", "data_handler"),
    )
    for contract, label, component in parts:
        deployer.transfer_ownership(contract, label, trainer.address, component)
    addresses = {component: str(contract.address) for contract, _, component in parts}
    addresses["trainer"] = str(trainer.address)
    return Instance(
        w3,
        model,
        incentive,
        str(trainer.address),
        addresses,
        artifacts,
        deployed_block,
        deployer.steps,
        deployer.receipts,
    )
