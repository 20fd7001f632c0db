"""The adapter between the JSON-RPC methods and the chain.

:class:`Backend` owns the :class:`chain.chain.Chain`, its :class:`TxPool` and its
:class:`BlockProducer`, plus what only the RPC needs: the dev accounts' keys (for
``eth_sendTransaction`` and signing), polling filters and WebSocket subscriptions.
Every method of the live backend runs on the node's single chain worker thread (see
``node.rpc.dispatcher``); nothing here is thread-safe, by design. Reads and calls run
on *readers* instead (:meth:`Backend.reader`): backends of their own over a view of the
store that sees only committed data, one per thread, sharing nothing mutable with the
live chain but the pool (which locks).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, StateAPI
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_typing import Address
from eth_utils import ValidationError, to_canonical_address, to_checksum_address

from chain.chain import CallResult, Chain, LogInfo, ReceiptInfo
from chain.config import ChainConfig
from chain.errors import CallReverted, ChainError, TraceError, TraceTooLarge, UnknownBlock, UnknownSnapshot
from chain.journal import StoreJournal
from chain.mempool import TxPool
from chain.producer import MAX_TIMESTAMP, BlockProducer
from chain.store import Store
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.dispatcher import Connection, Limits
from node.rpc.params import AccountOverride, BlockId, LogFilter, TxRequest
from vm_contracts.revert import revert_reason

log = logging.getLogger("sumchain.backend")

GWEI = 10**9  # wei
DEFAULT_TIP = 1 * GWEI  # wei per gas suggested as priority fee (eth_maxPriorityFeePerGas)
LEGACY_GAS_PRICE = 1 * GWEI  # wei per gas suggested before London
MIN_BLOB_BASE_FEE = 1  # wei per blob gas
MAX_LOG_RANGE = 100_000  # blocks one eth_getLogs may scan (a long simulation automines many)
MAX_LOGS = 20_000  # logs one eth_getLogs may return
FILTER_TIMEOUT = 300.0  # seconds a filter lives without being polled, as geth
MAX_FILTERS = 10_000  # filters installed at once, over all clients
MAX_FILTERS_PER_CLIENT = 100  # filters one connection may hold, so it cannot lock others out
MAX_FILTER_BUFFER = 10_000  # block or transaction hashes a filter keeps between polls
MAX_SUBSCRIPTIONS_PER_CONNECTION = 100
MAX_PROOF_SLOTS = 1024  # storage keys one eth_getProof may ask for


def _new_id() -> str:
    return hex(secrets.randbits(128) | 1 << 127)


def log_json(info: LogInfo, timestamp: int, removed: bool = False) -> dict[str, Any]:
    return {
        "address": fmt.addr(info.address),
        "blockHash": fmt.hexb(info.block_hash),
        "blockNumber": fmt.qty(info.block_number),
        "blockTimestamp": fmt.qty(timestamp),
        "data": fmt.hexb(info.data),
        "logIndex": fmt.qty(info.log_index),
        "removed": removed,
        "topics": [fmt.word(t) for t in info.topics],
        "transactionHash": fmt.hexb(info.transaction_hash),
        "transactionIndex": fmt.qty(info.transaction_index),
    }


def receipt_json(info: ReceiptInfo) -> dict[str, Any]:
    tx, header = info.transaction, info.header
    out: dict[str, Any] = {
        "transactionHash": fmt.hexb(tx.hash),
        "transactionIndex": fmt.qty(info.index),
        "blockHash": fmt.hexb(header.hash),
        "blockNumber": fmt.qty(header.block_number),
        "from": fmt.addr(info.sender),
        "to": fmt.addr(tx.to) if tx.to else None,
        "cumulativeGasUsed": fmt.qty(info.cumulative_gas_used),
        "gasUsed": fmt.qty(info.gas_used),
        "contractAddress": fmt.addr(info.contract_address) if info.contract_address else None,
        "logs": [log_json(entry, header.timestamp) for entry in info.logs],
        "logsBloom": fmt.bloom(info.receipt.bloom),
        "type": fmt.qty(fmt.tx_type(tx)),
        "status": fmt.qty(info.status),
        "effectiveGasPrice": fmt.qty(info.effective_gas_price),
    }
    if getattr(tx, "type_id", None) == 3:
        out["blobGasUsed"] = fmt.qty(getattr(tx, "blob_gas_used", 0))
    return out


def matches(info: LogInfo, criteria: LogFilter) -> bool:
    if criteria.addresses and info.address not in criteria.addresses:
        return False
    if len(criteria.topics) > len(info.topics):
        return False
    for position, accepted in enumerate(criteria.topics):
        if accepted is not None and info.topics[position] not in accepted:
            return False
    return True


# --- filters --------------------------------------------------------------------------------


@dataclass
class _Filter:
    kind: str
    """"logs", "blocks" or "pending"."""
    criteria: LogFilter | None = None
    next_block: int = 0
    """Logs filters: the first block number not yet reported."""
    floor: int = 0
    """Logs filters: the filter's own fromBlock number (may be in the future)."""
    hashes: list[str] = field(default_factory=list)
    """Block or transaction hashes seen since the last poll."""
    last_poll: float = field(default_factory=time.monotonic)
    owner: Hashable | None = None
    """The client that installed it (``Context.client``), for the per-client limit."""


class Filters:
    """Polling filters (eth_newFilter & co), geth semantics: changes since the last poll."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.installed: dict[str, _Filter] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for filter_id in [k for k, f in self.installed.items() if now - f.last_poll > FILTER_TIMEOUT]:
            del self.installed[filter_id]

    def _install(self, entry: _Filter) -> str:
        self._expire()
        if len(self.installed) >= MAX_FILTERS:
            raise errors.LimitExceeded(f"too many filters installed (at most {MAX_FILTERS})")
        if entry.owner is not None:
            mine = sum(1 for f in self.installed.values() if f.owner == entry.owner)
            if mine >= MAX_FILTERS_PER_CLIENT:
                raise errors.LimitExceeded(
                    f"too many filters installed by this connection (at most "
                    f"{MAX_FILTERS_PER_CLIENT}); uninstall some with eth_uninstallFilter"
                )
        filter_id = _new_id()
        self.installed[filter_id] = entry
        return filter_id

    def new_log_filter(self, criteria: LogFilter, owner: Hashable | None = None) -> str:
        if criteria.block_hash is not None:
            raise errors.InvalidParams("filter: eth_newFilter takes no blockHash (use eth_getLogs)")
        start = self.backend.range_start(criteria)
        floor = criteria.from_block.number if criteria.from_block is not None else None
        return self._install(_Filter("logs", criteria, next_block=start, floor=floor or 0, owner=owner))

    def new_block_filter(self, owner: Hashable | None = None) -> str:
        return self._install(_Filter("blocks", owner=owner))

    def new_pending_filter(self, owner: Hashable | None = None) -> str:
        return self._install(_Filter("pending", owner=owner))

    def _get(self, filter_id: str) -> _Filter:
        self._expire()
        entry = self.installed.get(filter_id)
        if entry is None:
            raise errors.ResourceNotFound("filter not found")
        entry.last_poll = time.monotonic()
        return entry

    def changes(self, filter_id: str) -> list[Any]:
        entry = self._get(filter_id)
        if entry.kind != "logs":
            out, entry.hashes = entry.hashes, []
            return out
        assert entry.criteria is not None
        head = int(self.backend.head().block_number)
        end = head
        if entry.criteria.to_block is not None:
            end = min(end, self.backend.resolve_number(entry.criteria.to_block, head))
        # after a rewind, continue from the new head, but never before the filter's fromBlock
        start = max(entry.floor, min(entry.next_block, head + 1))
        if start > end:
            entry.next_block = start
            return []
        logs = self.backend.logs_between(start, end, entry.criteria)
        entry.next_block = end + 1
        return logs

    def all_logs(self, filter_id: str) -> list[dict[str, Any]]:
        entry = self._get(filter_id)
        if entry.kind != "logs" or entry.criteria is None:
            raise errors.InvalidParams("filter is not a logs filter")
        return self.backend.get_logs(entry.criteria)

    def uninstall(self, filter_id: str) -> bool:
        return self.installed.pop(filter_id, None) is not None

    def on_block(self, block: BlockAPI) -> None:
        for entry in self.installed.values():
            if entry.kind == "blocks" and len(entry.hashes) < MAX_FILTER_BUFFER:
                entry.hashes.append(fmt.hexb(block.header.hash))

    def on_pending(self, tx_hash: bytes) -> None:
        for entry in self.installed.values():
            if entry.kind == "pending" and len(entry.hashes) < MAX_FILTER_BUFFER:
                entry.hashes.append(fmt.hexb(tx_hash))


# --- subscriptions --------------------------------------------------------------------------


@dataclass
class _Subscription:
    connection: Connection
    kind: str
    criteria: LogFilter | None
    full_transactions: bool


class Subscriptions:
    """eth_subscribe over WebSocket: newHeads, logs, newPendingTransactions, syncing."""

    def __init__(self) -> None:
        self.active: dict[str, _Subscription] = {}

    def subscribe(self, connection: Connection, kind: str, criteria: LogFilter | None, full: bool) -> str:
        mine = sum(1 for s in self.active.values() if s.connection is connection)
        if mine >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise errors.LimitExceeded(
                f"too many subscriptions on this connection (at most {MAX_SUBSCRIPTIONS_PER_CONNECTION})"
            )
        sub_id = _new_id()
        self.active[sub_id] = _Subscription(connection, kind, criteria, full)
        return sub_id

    def unsubscribe(self, connection: Connection, sub_id: str) -> bool:
        sub = self.active.get(sub_id)
        if sub is None or sub.connection is not connection:
            return False
        del self.active[sub_id]
        return True

    def drop_connection(self, connection: Connection) -> None:
        for sub_id in [k for k, s in self.active.items() if s.connection is connection]:
            del self.active[sub_id]

    def _send(self, sub_id: str, sub: _Subscription, result: Any) -> None:
        sub.connection.notify(
            {
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": sub_id, "result": result},
            }
        )

    def on_block(self, block: BlockAPI, logs: list[LogInfo]) -> None:
        if not self.active:
            return
        head = fmt.header_json(block.header)
        for sub_id, sub in list(self.active.items()):
            if sub.connection.closed:
                del self.active[sub_id]
                continue
            if sub.kind == "newHeads":
                self._send(sub_id, sub, head)
            elif sub.kind == "logs":
                assert sub.criteria is not None
                for info in logs:
                    if matches(info, sub.criteria):
                        self._send(sub_id, sub, log_json(info, block.header.timestamp))

    def on_pending(self, pooled: Any) -> None:
        for sub_id, sub in list(self.active.items()):
            if sub.kind != "newPendingTransactions" or sub.connection.closed:
                continue
            if sub.full_transactions:
                self._send(sub_id, sub, dict(fmt.transaction_json(pooled.tx)))
            else:
                self._send(sub_id, sub, fmt.hexb(pooled.hash))


# --- the backend ------------------------------------------------------------------------------


class Backend:
    """Everything the RPC methods ask of the chain, in RPC terms (bytes in, JSON-able out)."""

    def __init__(
        self, chain: Chain, producer: BlockProducer, limits: Limits | None = None, listen: bool = True
    ) -> None:
        self.chain = chain
        self.producer = producer
        self.limits = limits or Limits()
        """What one request may cost (gas cap, call timeout, ...); the dispatcher's."""
        self.accounts: dict[bytes, bytes] = {
            to_canonical_address(address): key for address, key in chain.config.dev_accounts
        }
        self.filters = Filters(self)
        self.subscriptions = Subscriptions()
        self.dispatcher: Any = None
        """The one Dispatcher (and so the one worker thread) serving this backend."""
        self._last_tick_error: str | None = None
        self._listeners: list[Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None]] = []
        if listen:
            chain.on_block(self._on_block)
            if chain.pool is not None:
                chain.pool.subscribe(self._on_pending)

    def reader(self) -> Backend:
        """A backend for one thread other than the worker: it reads the committed blocks
        and state of this backend's store (never a block still being built), and looks
        transactions up in the live pool (which locks). It neither mines nor sends.

        Its chain is a second :class:`Chain` on the same store backend, without the fast
        paths, whose caches belong to the live chain's thread.
        """
        view = Chain(self.config, Store(self.chain.store.backend), fast_paths=False)
        reader = Backend(view, self.producer, self.limits, listen=False)
        view.pool = self.chain.pool
        return reader

    @classmethod
    def open(
        cls,
        config: ChainConfig | None = None,
        data_dir: str | Path | None = None,
        signer_key: bytes | None = None,
        block_time: float | None = None,
    ) -> Backend:
        """Open (or create) the chain, its pool (journalled in ``data_dir``) and producer.

        ``block_time`` > 0 mines a block every that many seconds; 0 automines; None
        follows the chain's ``block_period``.
        """
        chain = Chain.open(config, data_dir=data_dir, signer_key=signer_key)
        try:
            return cls.from_chain(chain, block_time)
        except BaseException:
            chain.close()
            raise

    @classmethod
    def from_chain(cls, chain: Chain, block_time: float | None = None) -> Backend:
        """Serve an already open chain; gives it a pool if it has none."""
        if chain.pool is None:
            journal = StoreJournal(chain.store) if chain.data_dir else None
            chain.pool = TxPool(chain, journal=journal)  # type: ignore[arg-type]  # Chain is a PoolState
        if block_time is None:
            block_time = float(chain.config.block_period)
        mode = "interval" if block_time > 0 else "automine"
        return cls(chain, BlockProducer(chain, mode=mode, interval=block_time))

    def close(self) -> None:
        journal = getattr(self.chain.pool, "journal", None)
        if journal is not None and hasattr(journal, "close"):
            journal.close()
        self.chain.close()

    @property
    def config(self) -> ChainConfig:
        return self.chain.config

    @property
    def pool(self) -> TxPool:
        assert self.chain.pool is not None, "Backend.from_chain gives every chain a pool"
        return self.chain.pool

    def on_block(self, callback: Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None]) -> None:
        """Call ``callback(block, receipts)`` on the worker thread after every new block."""
        self._listeners.append(callback)

    def _on_block(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        try:
            self.filters.on_block(block)
            if self.subscriptions.active:
                logs = [entry for info in self.chain.receipts(block.header) for entry in info.logs]
                self.subscriptions.on_block(block, logs)
            for listener in self._listeners:
                listener(block, receipts)
        except Exception:  # a notification failure must not undo or hide a sealed block
            log.exception("notifying block %d failed", block.header.block_number)

    def _on_pending(self, pooled: Any) -> None:
        try:
            self.filters.on_pending(pooled.hash)
            self.subscriptions.on_pending(pooled)
        except Exception:
            log.exception("notifying a pending transaction failed")

    def drop_connection(self, connection: Connection) -> None:
        self.subscriptions.drop_connection(connection)

    # --- blocks -----------------------------------------------------------------------------

    def head(self) -> BlockHeaderAPI:
        return self.chain.head

    def header(self, block: BlockId) -> BlockHeaderAPI:
        """The header ``block`` names; -32000 "header not found" when there is none."""
        try:
            header = self.chain.resolve(block.key)
        except UnknownBlock as exc:
            raise errors.ServerError(f"header not found: {exc}") from None
        if block.require_canonical and not self.chain.is_canonical(header):
            raise errors.ServerError(f"block 0x{header.hash.hex()} is not canonical")
        return header

    def block_or_none(self, block: BlockId) -> BlockAPI | None:
        try:
            header = self.chain.resolve(block.key)
        except UnknownBlock:
            return None
        return self.chain.block(header)

    def state(self, block: BlockId) -> StateAPI:
        return self.chain.state_at(self.header(block))

    def nonce(self, account: bytes, block: BlockId) -> int:
        if block.tag == "pending":
            return self.pool.pending_nonce(account)
        return self.state(block).get_nonce(Address(account))

    def coinbase(self) -> bytes:
        return self.chain.signer or b"\0" * 20

    # --- fees ----------------------------------------------------------------------------------

    def suggested_tip(self) -> int:
        return DEFAULT_TIP

    def gas_price(self) -> int:
        base_fee = self.chain.next_base_fee()
        return LEGACY_GAS_PRICE if base_fee is None else base_fee + self.suggested_tip()

    def blob_base_fee(self) -> int:
        if not self.config.fork_at_least("cancun"):
            raise errors.MethodNotSupported("blobs need the Cancun fork")
        from eth.vm.forks.cancun.constants import BLOB_BASE_FEE_UPDATE_FRACTION
        from eth.vm.forks.cancun.state import fake_exponential

        excess = getattr(self.head(), "excess_blob_gas", 0) or 0
        return int(fake_exponential(MIN_BLOB_BASE_FEE, excess, BLOB_BASE_FEE_UPDATE_FRACTION))

    def fee_history(self, count: int, newest: BlockId, percentiles: list[float] | None) -> dict[str, Any]:
        last = self.header(newest).block_number
        first = max(0, last - count + 1)
        base_fees: list[str] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        header = None
        for number in range(first, last + 1):
            header = self.chain.header(number)
            base_fees.append(fmt.qty(getattr(header, "base_fee_per_gas", 0) or 0))
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
            if percentiles is not None:
                rewards.append([fmt.qty(r) for r in self._rewards(header, percentiles)])
        next_base = 0
        if header is not None and getattr(header, "base_fee_per_gas", None) is not None:
            from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas

            next_base = calculate_expected_base_fee_per_gas(header)
        base_fees.append(fmt.qty(next_base))
        out: dict[str, Any] = {
            "oldestBlock": fmt.qty(first),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
        }
        if self.config.fork_at_least("cancun"):
            out["baseFeePerBlobGas"] = [fmt.qty(MIN_BLOB_BASE_FEE)] * len(base_fees)
            out["blobGasUsedRatio"] = [0.0] * len(ratios)
        if percentiles is not None:
            out["reward"] = rewards
        return out

    def _rewards(self, header: BlockHeaderAPI, percentiles: list[float]) -> list[int]:
        """Tips at the given gas-weighted percentiles of the block, as geth computes them."""
        if not percentiles:
            return []
        infos = self.chain.receipts(header) if header.gas_used else []
        if not infos:
            return [0] * len(percentiles)
        base_fee = getattr(header, "base_fee_per_gas", 0) or 0
        tips = sorted((info.effective_gas_price - base_fee, info.gas_used) for info in infos)
        out = []
        for percentile in percentiles:
            threshold = header.gas_used * percentile / 100
            total = 0
            chosen = tips[-1][0]
            for tip, gas in tips:
                total += gas
                if total >= threshold:
                    chosen = tip
                    break
            out.append(max(0, chosen))
        return out

    # --- calls ----------------------------------------------------------------------------------

    def _call_dict(self, request: TxRequest) -> dict[str, Any]:
        """The call as the chain runs it: without a gas limit it gets the block's, and
        never more than the gas cap or the block gas limit, whichever is larger (geth's
        RPCGasCap: a request for more is capped, not refused)."""
        gas = request.gas if request.gas is not None else self.config.gas_limit
        cap = max(self.limits.gas_cap, self.config.gas_limit)
        return {
            "from": request.sender,
            "to": request.to,
            "gas": min(gas, cap),
            "value": request.value,
            "data": request.data or b"",
        }

    @staticmethod
    def _overrides(overrides: dict[bytes, AccountOverride] | None) -> dict[bytes, dict[str, Any]]:
        out: dict[bytes, dict[str, Any]] = {}
        for account, change in (overrides or {}).items():
            entry: dict[str, Any] = {
                "balance": change.balance,
                "nonce": change.nonce,
                "code": change.code,
            }
            if change.state is not None:
                entry["state"] = {
                    k.to_bytes(32, "big"): v.to_bytes(32, "big") for k, v in change.state.items()
                }
            if change.state_diff:
                entry["stateDiff"] = {
                    k.to_bytes(32, "big"): v.to_bytes(32, "big") for k, v in change.state_diff.items()
                }
            out[account] = entry
        return out

    @staticmethod
    def _raise_failed(result: CallResult) -> None:
        if result.error == "execution reverted":
            data = result.revert_data or b""
            raise errors.ExecutionReverted(data, revert_reason(data))
        raise errors.ServerError(result.error or "execution failed")

    def call(
        self, request: TxRequest, block: BlockId, overrides: dict[bytes, AccountOverride] | None
    ) -> bytes:
        header = self.header(block)
        try:
            result = self.chain.call(self._call_dict(request), header, self._overrides(overrides))
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None
        if result.reverted:
            self._raise_failed(result)
        return bytes(result.output)

    def estimate_gas(
        self, request: TxRequest, block: BlockId, overrides: dict[bytes, AccountOverride] | None
    ) -> int:
        header = self.header(block)
        try:
            return self.chain.estimate_gas(self._call_dict(request), header, self._overrides(overrides))
        except CallReverted as exc:
            self._raise_failed(exc.result)
            raise  # unreachable: _raise_failed always raises
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None

    # --- sending --------------------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        pooled = self.pool.add(raw)
        self.producer.transaction_added()
        return bytes(pooled.hash)

    def _key_for(self, account: bytes | None) -> bytes:
        if account is None:
            raise errors.InvalidParams("transaction: from is required")
        key = self.accounts.get(account)
        if key is None:
            raise errors.ServerError(
                f"unknown account {to_checksum_address(account)} (this node signs only for its dev accounts)"
            )
        return key

    def sign_transaction(self, request: TxRequest) -> bytes:
        key = self._key_for(request.sender)
        assert request.sender is not None
        tx: dict[str, Any] = {
            "chainId": self.config.chain_id if request.chain_id is None else request.chain_id,
            "nonce": self.pool.pending_nonce(request.sender) if request.nonce is None else request.nonce,
            "value": request.value or 0,
            "data": request.data or b"",
        }
        if request.to is not None:
            tx["to"] = to_checksum_address(request.to)
        london = self.config.fork_at_least("london")
        legacy = request.gas_price is not None or not london or request.type in (0, 1)
        if legacy:
            tx["gasPrice"] = request.gas_price if request.gas_price is not None else self.gas_price()
            if request.access_list is not None or request.type == 1:
                tx["type"] = 1
        else:
            tip = (
                request.max_priority_fee_per_gas
                if request.max_priority_fee_per_gas is not None
                else self.suggested_tip()
            )
            base_fee = self.chain.next_base_fee() or 0
            max_fee = request.max_fee_per_gas if request.max_fee_per_gas is not None else 2 * base_fee + tip
            tx.update(type=2, maxFeePerGas=max_fee, maxPriorityFeePerGas=min(tip, max_fee))
        if request.access_list is not None:
            tx["accessList"] = [
                {"address": to_checksum_address(a), "storageKeys": [fmt.word(s) for s in slots]}
                for a, slots in request.access_list
            ]
        if request.gas is not None:
            tx["gas"] = request.gas
        else:
            estimate = TxRequest(sender=request.sender, to=request.to, value=request.value, data=request.data)
            tx["gas"] = self._estimate_for_sending(estimate)
        signed = Account.sign_transaction(tx, key)
        return bytes(signed.raw_transaction)

    def _estimate_for_sending(self, request: TxRequest) -> int:
        """The gas estimate eth_sendTransaction fills in, under the call timeout (on a
        reader, while this worker waits: the head it reads is the one it would)."""
        latest = BlockId(tag="latest")
        if self.dispatcher is None:
            return self.estimate_gas(request, latest, None)
        result: int = self.dispatcher.run_call(lambda reader: reader.estimate_gas(request, latest, None))
        return result

    def send_transaction(self, request: TxRequest) -> bytes:
        return self.send_raw_transaction(self.sign_transaction(request))

    def sign_message(self, account: bytes, message: bytes) -> bytes:
        signed = Account.sign_message(encode_defunct(primitive=message), self._key_for(account))
        return bytes(signed.signature)

    def sign_typed_data(self, account: bytes, typed: dict[str, Any]) -> bytes:
        try:
            message = encode_typed_data(full_message=typed)
        except Exception as exc:  # noqa: BLE001 - eth_account raises many kinds on bad input
            raise errors.InvalidParams(f"typedData: {exc}") from None
        return bytes(Account.sign_message(message, self._key_for(account)).signature)

    # --- transactions and receipts ------------------------------------------------------------

    def transaction_json(self, tx_hash: bytes) -> dict[str, Any] | None:
        found = self.chain.transaction(tx_hash)
        if found is not None:
            tx, header, index = found
            return dict(fmt.transaction_json(tx, header, index))
        pooled = self.pool.get(tx_hash)
        if pooled is not None:
            return dict(fmt.transaction_json(pooled.tx))
        return None

    def receipt_json(self, tx_hash: bytes) -> dict[str, Any] | None:
        info = self.chain.receipt(tx_hash)
        return None if info is None else receipt_json(info)

    def block_receipts_json(self, block: BlockId) -> list[dict[str, Any]] | None:
        try:
            header = self.chain.resolve(block.key)
        except UnknownBlock:
            return None
        return [receipt_json(info) for info in self.chain.receipts(header)]

    # --- logs ---------------------------------------------------------------------------------

    def range_start(self, criteria: LogFilter) -> int:
        if criteria.from_block is None:
            return self.head().block_number + 1 if criteria.to_block is None else 0
        if criteria.from_block.tag in ("latest", "pending", "safe", "finalized"):
            return self.head().block_number + 1  # as geth: only blocks after installation
        if criteria.from_block.number is not None:
            return criteria.from_block.number  # a future block is fine: nothing until it comes
        return self.header(criteria.from_block).block_number

    def resolve_number(self, block: BlockId | None, default: int) -> int:
        if block is None:
            return default
        if block.number is not None:
            return block.number  # may be beyond the head: the range is clipped below
        return self.header(block).block_number

    def logs_between(self, start: int, end: int, criteria: LogFilter) -> list[dict[str, Any]]:
        if end - start + 1 > MAX_LOG_RANGE:
            raise errors.LimitExceeded(
                f"block range of {end - start + 1} blocks is too large (at most {MAX_LOG_RANGE})"
            )
        timestamps: dict[int, int] = {}
        out: list[dict[str, Any]] = []
        for info in self.chain.logs(start, end, criteria.addresses, criteria.topics):
            if info.block_number not in timestamps:
                timestamps[info.block_number] = self.chain.header(info.block_number).timestamp
            out.append(log_json(info, timestamps[info.block_number]))
            if len(out) > MAX_LOGS:
                raise errors.LimitExceeded(f"query returned more than {MAX_LOGS} logs")
        return out

    def get_logs(self, criteria: LogFilter) -> list[dict[str, Any]]:
        if criteria.block_hash is not None:
            header = self.header(BlockId(hash=criteria.block_hash))
            return [
                log_json(entry, header.timestamp)
                for info in self.chain.receipts(header)
                for entry in info.logs
                if matches(entry, criteria)
            ]
        head = self.head().block_number
        start = self.resolve_number(criteria.from_block, head)
        end = self.resolve_number(criteria.to_block, head)
        if start > end:
            raise errors.InvalidParams(f"filter: fromBlock {start} is after toBlock {end}")
        if start > head:
            return []
        return self.logs_between(start, min(end, head), criteria)

    # --- proofs ---------------------------------------------------------------------------------

    def proof(self, account: bytes, slots: list[int], block: BlockId) -> dict[str, Any]:
        """Merkle-Patricia proofs of an account and some of its storage slots at a block,
        read straight from the archive's trie nodes (EIP-1186)."""
        from eth.rlp.accounts import Account as AccountRlp
        from eth_utils import keccak
        from trie import HexaryTrie

        if len(slots) > MAX_PROOF_SLOTS:
            raise errors.InvalidParams(f"storageKeys: at most {MAX_PROOF_SLOTS} keys")
        header = self.header(block)
        db = self.chain.evm.chaindb.db
        state_trie = HexaryTrie(db, header.state_root)
        account_key = keccak(account)
        encoded = state_trie.get(account_key)
        found = rlp.decode(encoded, sedes=AccountRlp) if encoded else AccountRlp()
        storage_trie = HexaryTrie(db, found.storage_root)
        storage_proofs = []
        for slot in slots:
            slot_key = keccak(slot.to_bytes(32, "big"))
            raw_value = storage_trie.get(slot_key)
            storage_proofs.append(
                {
                    "key": fmt.word(slot),
                    "value": fmt.qty(
                        rlp.decode(raw_value, sedes=rlp.sedes.big_endian_int) if raw_value else 0
                    ),
                    "proof": [fmt.hexb(rlp.encode(node)) for node in storage_trie.get_proof(slot_key)],
                }
            )
        return {
            "address": fmt.addr(account),
            "accountProof": [fmt.hexb(rlp.encode(node)) for node in state_trie.get_proof(account_key)],
            "balance": fmt.qty(found.balance),
            "codeHash": fmt.hexb(found.code_hash),
            "nonce": fmt.qty(found.nonce),
            "storageHash": fmt.hexb(found.storage_root),
            "storageProof": storage_proofs,
        }

    # --- raw data -------------------------------------------------------------------------------

    def raw_block(self, block: BlockId) -> bytes:
        return bytes(rlp.encode(self.chain.block(self.header(block))))

    def raw_header(self, block: BlockId) -> bytes:
        return bytes(rlp.encode(self.header(block)))

    def create_access_list(self, request: TxRequest, block: BlockId) -> dict[str, Any]:
        from chain.access_list import create_access_list

        header = self.header(block)
        try:
            result = create_access_list(self.chain, self._call_dict(request), header)
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None
        out: dict[str, Any] = {
            "accessList": [
                {
                    "address": fmt.addr(address),
                    "storageKeys": [fmt.word(slot.to_bytes(32, "big")) for slot in slots],
                }
                for address, slots in result.access_list
            ],
            "gasUsed": fmt.qty(result.gas_used),
        }
        if result.error:
            out["error"] = result.error
        return out

    # --- tracing (debug_traceTransaction, debug_traceCall) ---------------------------------

    def trace_transaction(self, tx_hash: bytes, options: Any) -> dict[str, Any]:
        from chain.tracing import trace_transaction

        try:
            trace = trace_transaction(
                self.chain,
                tx_hash,
                steps=options.tracer is None,
                step_limit=options.limit,
                max_steps=self.limits.trace_steps,
            )
        except TraceTooLarge as exc:
            raise errors.LimitExceeded(str(exc)) from None
        except TraceError as exc:
            raise errors.ResourceNotFound(str(exc)) from None
        return self._trace_result(trace, options)

    def trace_call(self, request: TxRequest, block: BlockId, options: Any) -> dict[str, Any]:
        from chain.tracing import trace_call

        header = self.header(block)
        try:
            trace = trace_call(
                self.chain,
                self._call_dict(request),
                header,
                steps=options.tracer is None,
                step_limit=options.limit,
                max_steps=self.limits.trace_steps,
            )
        except TraceTooLarge as exc:
            raise errors.LimitExceeded(str(exc)) from None
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None
        return self._trace_result(trace, options)

    @staticmethod
    def _trace_result(trace: Any, options: Any) -> dict[str, Any]:
        if options.tracer is None:
            result = trace.struct_logs()
            result["returnValue"] = result["returnValue"].removeprefix("0x")
            return result
        call = trace.to_geth()
        if options.only_top_call:
            call.pop("calls", None)
        return call

    def raw_transaction(self, tx_hash: bytes) -> bytes | None:
        found = self.chain.transaction(tx_hash)
        if found is not None:
            tx = found[0]
            return bytes(tx.encode()) if hasattr(tx, "encode") else bytes(rlp.encode(tx))
        pooled = self.pool.get(tx_hash)
        return None if pooled is None else bytes(pooled.raw)

    def raw_receipts(self, block: BlockId) -> list[bytes]:
        out = []
        for receipt in self.chain.receipts_of(self.header(block)):
            out.append(bytes(receipt.encode()) if hasattr(receipt, "encode") else bytes(rlp.encode(receipt)))
        return out

    def set_head(self, number: int) -> None:
        head = self.head().block_number
        if number > head:
            raise errors.ServerError(f"block {number} is after the head {head}")
        self.chain.set_head(number)

    # --- mining and the clock ---------------------------------------------------------------

    def mine(self, count: int, timestamp: int | None = None, interval: int | None = None) -> None:
        if timestamp is not None:
            self._check_time(timestamp)
        if interval is not None:
            self._check_time(self.head().timestamp + interval * count)
        if interval is None or count == 1:
            self.producer.mine(count, timestamp=timestamp)
            return
        for _ in range(count):  # anvil_mine's interval: seconds between the mined blocks
            ts = self.producer.clock.now()
            floor = self.head().timestamp + max(1, interval)
            self.producer.mine(1, timestamp=max(ts, floor) if interval else None)

    def automine(self) -> bool:
        return self.producer.automine

    def set_automine(self, enabled: bool) -> None:
        if enabled:
            self.producer.set_mode("automine")
            if self.pool.pending():
                self.producer.mine()
        elif self.producer.automine:
            self.producer.set_mode("manual")

    def set_interval(self, seconds: float) -> None:
        if seconds > 0:
            self.producer.set_mode("interval", seconds)
        elif self.producer.mode == "interval":
            self.producer.set_mode("manual")

    def interval_due(self, _now: float) -> bool:
        """Read from the event loop thread: only plain attributes, no chain objects."""
        due = self.producer.next_due()
        return due is not None and due <= 0

    def mine_interval_block(self) -> None:
        """Seal the interval block if due; a failure is logged once per distinct cause
        (the timer keeps firing, and a log line every tick would bury everything)."""
        try:
            self.producer.tick()
        except ChainError as exc:
            if str(exc) != self._last_tick_error:
                log.warning("interval block not sealed: %s", exc)
            self._last_tick_error = str(exc)
        else:
            self._last_tick_error = None

    def _check_time(self, timestamp: int) -> None:
        if timestamp > MAX_TIMESTAMP:
            raise errors.InvalidParams(
                f"timestamp {timestamp} is beyond the largest block timestamp ({MAX_TIMESTAMP}, unix seconds)"
            )

    def increase_time(self, seconds: int) -> int:
        self._check_time(max(self.producer.clock.now(), self.head().timestamp) + seconds)
        return self.producer.increase_time(seconds)

    def set_next_timestamp(self, timestamp: int) -> None:
        self._check_time(timestamp)
        self.producer.set_next_timestamp(timestamp)

    def snapshot(self) -> int:
        return self.producer.snapshot()

    def revert(self, snapshot_id: int) -> bool:
        try:
            self.producer.revert(snapshot_id)
        except UnknownSnapshot:
            return False
        return True
