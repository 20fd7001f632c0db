"""The ``eth_`` namespace. Handlers decode nothing themselves (see ``params``) and
keep no state (see ``node.backend``); they pick the block, ask the backend, shape
the answer."""

from __future__ import annotations

from typing import Any

from eth_typing import Address

from node.rpc import format as fmt
from node.rpc import params as p
from node.rpc.errors import InvalidParams, MethodNotSupported
from node.rpc.registry import Context, rpc
from node.simulate import SimulationRequest, run_simulation, simulation_request

LATEST = "latest"
PENDING = "pending"  # eth_estimateGas's default, as Hardhat's: the block the transaction is meant for
MAX_FEE_HISTORY_BLOCKS = 1024  # blocks one eth_feeHistory may cover
MAX_REWARD_PERCENTILES = 100


def _percentiles(value: Any, what: str) -> list[float]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list of numbers")
    if len(value) > MAX_REWARD_PERCENTILES:
        raise InvalidParams(f"{what}: at most {MAX_REWARD_PERCENTILES} percentiles")
    out: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 <= item <= 100:
            raise InvalidParams(f"{what}: each percentile must be a number from 0 to 100")
        if out and item < out[-1]:
            raise InvalidParams(f"{what}: percentiles must be ascending")
        out.append(float(item))
    return out


def _block_count(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    else:
        count = p.uint64(value, what)
    if not 1 <= count <= MAX_FEE_HISTORY_BLOCKS:
        raise InvalidParams(f"{what}: must be from 1 to {MAX_FEE_HISTORY_BLOCKS}")
    return count


# --- chain facts --------------------------------------------------------------------------


@rpc("eth_chainId", on_worker=False)
def eth_chainId(ctx: Context) -> str:
    return fmt.qty(ctx.backend.config.chain_id)


@rpc("eth_blockNumber", lane="read")
def eth_blockNumber(ctx: Context) -> str:
    return fmt.qty(ctx.backend.head().block_number)


@rpc("eth_syncing", on_worker=False)
def eth_syncing(ctx: Context) -> bool:
    return False  # a single authority node is always at its own head


@rpc("eth_accounts", on_worker=False)
def eth_accounts(ctx: Context) -> list[str]:
    return [fmt.addr(a) for a in ctx.backend.accounts]


@rpc("eth_coinbase")
def eth_coinbase(ctx: Context) -> str:
    return fmt.addr(ctx.backend.coinbase())


@rpc("eth_mining", on_worker=False)
def eth_mining(ctx: Context) -> bool:
    return True


@rpc("eth_hashrate", on_worker=False)
def eth_hashrate(ctx: Context) -> str:
    return "0x0"


@rpc("eth_gasPrice", lane="read")
def eth_gasPrice(ctx: Context) -> str:
    return fmt.qty(ctx.backend.fees.gas_price())


@rpc("eth_maxPriorityFeePerGas", lane="read")
def eth_maxPriorityFeePerGas(ctx: Context) -> str:
    return fmt.qty(ctx.backend.fees.suggested_tip())


@rpc("eth_blobBaseFee", lane="read")
def eth_blobBaseFee(ctx: Context) -> str:
    return fmt.qty(ctx.backend.fees.blob_base_fee())


@rpc(
    "eth_feeHistory",
    p.Param("blockCount", _block_count),
    p.Param("newestBlock", p.block_number_or_tag),
    p.optional("rewardPercentiles", _percentiles),
    lane="read",
)
def eth_feeHistory(
    ctx: Context, count: int, newest: p.BlockId, percentiles: list[float] | None
) -> dict[str, Any]:
    return ctx.backend.fees.fee_history(count, newest, percentiles)


# --- state ----------------------------------------------------------------------------------


@rpc(
    "eth_getBalance",
    p.Param("address", p.address),
    p.optional("block", p.block_id, LATEST),
    lane="read",
)
def eth_getBalance(ctx: Context, account: bytes, block: p.BlockId) -> str:
    return fmt.qty(ctx.backend.state(block).get_balance(Address(account)))


@rpc(
    "eth_getCode",
    p.Param("address", p.address),
    p.optional("block", p.block_id, LATEST),
    lane="read",
)
def eth_getCode(ctx: Context, account: bytes, block: p.BlockId) -> str:
    return fmt.hexb(ctx.backend.state(block).get_code(Address(account)))


@rpc(
    "eth_getStorageAt",
    p.Param("address", p.address),
    p.Param("slot", p.storage_slot),
    p.optional("block", p.block_id, LATEST),
    lane="read",
)
def eth_getStorageAt(ctx: Context, account: bytes, slot: int, block: p.BlockId) -> str:
    return fmt.word(ctx.backend.state(block).get_storage(Address(account), slot))


@rpc(
    "eth_getTransactionCount",
    p.Param("address", p.address),
    p.optional("block", p.block_id, LATEST),
)
def eth_getTransactionCount(ctx: Context, account: bytes, block: p.BlockId) -> str:
    return fmt.qty(ctx.backend.nonce(account, block))


@rpc(
    "eth_call",
    p.Param("transaction", p.tx_request),
    p.optional("block", p.block_id, LATEST),
    p.optional("stateOverrides", p.state_overrides),
    lane="exec",
)
def eth_call(
    ctx: Context,
    request: p.TxRequest,
    block: p.BlockId,
    overrides: dict[bytes, p.AccountOverride] | None,
) -> str:
    return fmt.hexb(ctx.backend.calls.call(request, block, overrides))


@rpc(
    "eth_estimateGas",
    p.Param("transaction", p.tx_request),
    p.optional("block", p.block_id, PENDING),
    p.optional("stateOverrides", p.state_overrides),
    lane="exec",
)
def eth_estimateGas(
    ctx: Context,
    request: p.TxRequest,
    block: p.BlockId,
    overrides: dict[bytes, p.AccountOverride] | None,
) -> str:
    return fmt.qty(ctx.backend.calls.estimate_gas(request, block, overrides))


def _slot_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list of storage keys")
    return [p.storage_slot(item, what) for item in value]


@rpc(
    "eth_getProof",
    p.Param("address", p.address),
    p.Param("storageKeys", _slot_list),
    p.optional("block", p.block_id, LATEST),
    lane="read",
)
def eth_getProof(ctx: Context, account: bytes, slots: list[int], block: p.BlockId) -> dict[str, Any]:
    return ctx.backend.proof(account, slots, block)


# --- transactions -----------------------------------------------------------------------------


@rpc("eth_sendRawTransaction", p.Param("transaction", p.data))
def eth_sendRawTransaction(ctx: Context, raw: bytes) -> str:
    return fmt.hexb(ctx.backend.send_raw_transaction(raw))


@rpc("eth_sendTransaction", p.Param("transaction", p.tx_request))
def eth_sendTransaction(ctx: Context, request: p.TxRequest) -> str:
    return fmt.hexb(ctx.backend.send_transaction(request))


#: Fields of an RPC transaction object that geth's signed-transaction JSON leaves out:
#: it is in no block, and its sender is implied by the signature.
UNSIGNED_CONTEXT_FIELDS = ("blockHash", "blockNumber", "blockTimestamp", "transactionIndex", "from")


@rpc("eth_signTransaction", p.Param("transaction", p.tx_request))
def eth_signTransaction(ctx: Context, request: p.TxRequest) -> dict[str, Any]:
    """geth's ``SignTransactionResult``: ``raw`` (the bytes to send) and ``tx`` (the
    transaction as geth's ``types.Transaction`` marshals it), as web3.py expects."""
    raw = ctx.backend.sign_transaction(request)
    tx = dict(fmt.transaction_json(ctx.backend.chain.decode_transaction(raw)))
    for key in UNSIGNED_CONTEXT_FIELDS:
        tx.pop(key, None)
    return {"raw": fmt.hexb(raw), "tx": tx}


@rpc("eth_sign", p.Param("address", p.address), p.Param("message", p.data))
def eth_sign(ctx: Context, account: bytes, message: bytes) -> str:
    return fmt.hexb(ctx.backend.signer.sign_message(account, message))


@rpc("personal_sign", p.Param("message", p.data), p.Param("address", p.address))
def personal_sign(ctx: Context, message: bytes, account: bytes) -> str:
    return fmt.hexb(ctx.backend.signer.sign_message(account, message))


def _typed_data(value: Any, what: str) -> dict[str, Any]:
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidParams(f"{what}: not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an EIP-712 typed data object")
    return value


@rpc(
    "eth_signTypedData_v4",
    p.Param("address", p.address),
    p.Param("typedData", _typed_data),
    aliases=("eth_signTypedData",),
)
def eth_signTypedData_v4(ctx: Context, account: bytes, typed: dict[str, Any]) -> str:
    return fmt.hexb(ctx.backend.signer.sign_typed_data(account, typed))


# --- blocks and transactions by id ------------------------------------------------------------


@rpc(
    "eth_getBlockByNumber",
    p.Param("block", p.block_number_or_tag),
    p.Param("fullTransactions", p.boolean),
    lane="read",
)
def eth_getBlockByNumber(ctx: Context, block: p.BlockId, full: bool) -> dict[str, Any] | None:
    found = ctx.backend.block_or_none(block)
    return None if found is None else dict(fmt.block_json(found, full))


@rpc(
    "eth_getBlockByHash",
    p.Param("blockHash", p.hash32),
    p.Param("fullTransactions", p.boolean),
    lane="read",
)
def eth_getBlockByHash(ctx: Context, block_hash: bytes, full: bool) -> dict[str, Any] | None:
    found = ctx.backend.block_or_none(p.BlockId(hash=block_hash))
    return None if found is None else dict(fmt.block_json(found, full))


@rpc("eth_getBlockTransactionCountByNumber", p.Param("block", p.block_number_or_tag), lane="read")
def eth_getBlockTransactionCountByNumber(ctx: Context, block: p.BlockId) -> str | None:
    found = ctx.backend.block_or_none(block)
    return None if found is None else fmt.qty(len(found.transactions))


@rpc("eth_getBlockTransactionCountByHash", p.Param("blockHash", p.hash32), lane="read")
def eth_getBlockTransactionCountByHash(ctx: Context, block_hash: bytes) -> str | None:
    found = ctx.backend.block_or_none(p.BlockId(hash=block_hash))
    return None if found is None else fmt.qty(len(found.transactions))


@rpc("eth_getUncleCountByBlockNumber", p.Param("block", p.block_number_or_tag), lane="read")
def eth_getUncleCountByBlockNumber(ctx: Context, block: p.BlockId) -> str | None:
    found = ctx.backend.block_or_none(block)
    return None if found is None else fmt.qty(len(found.uncles))


@rpc("eth_getUncleCountByBlockHash", p.Param("blockHash", p.hash32), lane="read")
def eth_getUncleCountByBlockHash(ctx: Context, block_hash: bytes) -> str | None:
    found = ctx.backend.block_or_none(p.BlockId(hash=block_hash))
    return None if found is None else fmt.qty(len(found.uncles))


def _tx_in_block(ctx: Context, block: p.BlockId, index: int) -> dict[str, Any] | None:
    found = ctx.backend.block_or_none(block)
    if found is None or index >= len(found.transactions):
        return None
    return dict(fmt.transaction_json(found.transactions[index], found.header, index))


@rpc(
    "eth_getTransactionByBlockNumberAndIndex",
    p.Param("block", p.block_number_or_tag),
    p.Param("index", p.uint64),
    lane="read",
)
def eth_getTransactionByBlockNumberAndIndex(
    ctx: Context, block: p.BlockId, index: int
) -> dict[str, Any] | None:
    return _tx_in_block(ctx, block, index)


@rpc(
    "eth_getTransactionByBlockHashAndIndex",
    p.Param("blockHash", p.hash32),
    p.Param("index", p.uint64),
    lane="read",
)
def eth_getTransactionByBlockHashAndIndex(
    ctx: Context, block_hash: bytes, index: int
) -> dict[str, Any] | None:
    return _tx_in_block(ctx, p.BlockId(hash=block_hash), index)


@rpc("eth_getTransactionByHash", p.Param("hash", p.hash32), lane="read")
def eth_getTransactionByHash(ctx: Context, tx_hash: bytes) -> dict[str, Any] | None:
    return ctx.backend.transaction_json(tx_hash)


@rpc("eth_getRawTransactionByHash", p.Param("hash", p.hash32), lane="read")
def eth_getRawTransactionByHash(ctx: Context, tx_hash: bytes) -> str | None:
    """The signed transaction's bytes (EIP-2718 envelope for typed ones), mined or pooled;
    null when unknown, as geth and anvil answer."""
    raw = ctx.backend.raw_transaction(tx_hash)
    return None if raw is None else fmt.hexb(raw)


@rpc(
    "eth_getRawTransactionByBlockNumberAndIndex",
    p.Param("block", p.block_number_or_tag),
    p.Param("index", p.uint64),
    lane="read",
)
def eth_getRawTransactionByBlockNumberAndIndex(ctx: Context, block: p.BlockId, index: int) -> str | None:
    raw = ctx.backend.raw_transaction_in_block(block, index)
    return None if raw is None else fmt.hexb(raw)


@rpc(
    "eth_getRawTransactionByBlockHashAndIndex",
    p.Param("blockHash", p.hash32),
    p.Param("index", p.uint64),
    lane="read",
)
def eth_getRawTransactionByBlockHashAndIndex(ctx: Context, block_hash: bytes, index: int) -> str | None:
    raw = ctx.backend.raw_transaction_in_block(p.BlockId(hash=block_hash), index)
    return None if raw is None else fmt.hexb(raw)


@rpc("eth_getTransactionReceipt", p.Param("hash", p.hash32), lane="read")
def eth_getTransactionReceipt(ctx: Context, tx_hash: bytes) -> dict[str, Any] | None:
    return ctx.backend.receipt_json(tx_hash)


@rpc("eth_getBlockReceipts", p.Param("block", p.block_id), lane="read")
def eth_getBlockReceipts(ctx: Context, block: p.BlockId) -> list[dict[str, Any]] | None:
    return ctx.backend.block_receipts_json(block)


# --- logs and filters ------------------------------------------------------------------------


@rpc("eth_getLogs", p.Param("filter", p.log_filter), lane="read")
def eth_getLogs(ctx: Context, criteria: p.LogFilter) -> list[dict[str, Any]]:
    return ctx.backend.logs.get_logs(criteria)


@rpc("eth_newFilter", p.Param("filter", p.log_filter))
def eth_newFilter(ctx: Context, criteria: p.LogFilter) -> str:
    return ctx.backend.filters.new_log_filter(criteria, ctx.client)


@rpc("eth_newBlockFilter")
def eth_newBlockFilter(ctx: Context) -> str:
    return ctx.backend.filters.new_block_filter(ctx.client)


@rpc("eth_newPendingTransactionFilter")
def eth_newPendingTransactionFilter(ctx: Context) -> str:
    return ctx.backend.filters.new_pending_filter(ctx.client)


def _filter_id(value: Any, what: str) -> str:
    p.quantity(value, what)  # ids are quantities; refuse anything else early
    return str(value).lower()


@rpc("eth_getFilterChanges", p.Param("filterId", _filter_id))
def eth_getFilterChanges(ctx: Context, filter_id: str) -> list[Any]:
    return ctx.backend.filters.changes(filter_id)


@rpc("eth_getFilterLogs", p.Param("filterId", _filter_id))
def eth_getFilterLogs(ctx: Context, filter_id: str) -> list[dict[str, Any]]:
    return ctx.backend.filters.all_logs(filter_id)


@rpc("eth_uninstallFilter", p.Param("filterId", _filter_id))
def eth_uninstallFilter(ctx: Context, filter_id: str) -> bool:
    return ctx.backend.filters.uninstall(filter_id)


# --- subscriptions (WebSocket only) -----------------------------------------------------------


def _subscription_kind(value: Any, what: str) -> str:
    kind = p.string(value, what)
    if kind not in ("newHeads", "logs", "newPendingTransactions", "syncing"):
        raise InvalidParams(
            f"{what}: unknown subscription {kind[:64]!r} (newHeads, logs, newPendingTransactions, syncing)"
        )
    return kind


def _subscription_options(value: Any, what: str) -> Any:
    return value


@rpc(
    "eth_subscribe",
    p.Param("subscription", _subscription_kind),
    p.optional("options", _subscription_options),
)
def eth_subscribe(ctx: Context, kind: str, options: Any) -> str:
    if ctx.connection is None:
        raise MethodNotSupported("notifications not supported: subscribe over a WebSocket")
    criteria = None
    full = False
    if kind == "logs":
        criteria = p.log_filter(options if options is not None else {}, "options")
        if criteria.block_hash is not None:
            raise InvalidParams("options: a logs subscription takes no blockHash")
    elif kind == "newPendingTransactions" and options is not None:
        full = p.boolean(options, "options")
    elif options is not None:
        raise InvalidParams(f"{kind}: takes no options")
    return ctx.backend.subscriptions.subscribe(ctx.connection, kind, criteria, full)


@rpc("eth_unsubscribe", p.Param("subscriptionId", _filter_id))
def eth_unsubscribe(ctx: Context, subscription_id: str) -> bool:
    if ctx.connection is None:
        raise MethodNotSupported("notifications not supported: subscriptions live on a WebSocket")
    return ctx.backend.subscriptions.unsubscribe(ctx.connection, subscription_id)


@rpc(
    "eth_createAccessList",
    p.Param("transaction", p.tx_request),
    p.optional("block", p.block_id, LATEST),
    lane="exec",
)
def eth_createAccessList(ctx: Context, request: p.TxRequest, block: p.BlockId) -> dict:
    """The accounts and storage slots the call touches, and its gas with that list."""
    return ctx.backend.calls.create_access_list(request, block)


@rpc(
    "eth_simulateV1",
    p.Param("payload", simulation_request),
    p.optional("block", p.block_id, LATEST),
    lane="exec",
)
def eth_simulateV1(ctx: Context, request: SimulationRequest, block: p.BlockId) -> list[dict[str, Any]]:
    """Calls simulated as the transactions of one or more blocks on top of ``block``, with
    state and block overrides (execution-apis ``eth_simulateV1``); nothing is mined."""
    backend = ctx.backend
    return run_simulation(backend.chain, backend.blocks, request, block, backend.limits.gas_cap)
