"""``eth_simulateV1`` in RPC terms: the payload decoded (blocks, their overrides and
calls, ``validation``, ``traceTransfers``, ``returnFullTransactions``), the simulation
run by ``chain.simulation`` on the block the tag names, and the answer shaped as the
execution-apis specification shapes it, with its error codes (-38010 ... -38026)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chain import errors as chain_errors
from chain.chain import Chain
from chain.simulation import MAX_SIMULATED_BLOCKS, BlockSpec, SimulatedBlock, SimulatedCall, simulate
from node.calls import chain_overrides
from node.headers import BlockNames
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc import params as p
from vm_contracts.revert import revert_reason

# The specification's error codes (execution-apis, eth_simulateV1).
NONCE_TOO_LOW = -38010
NONCE_TOO_HIGH = -38011
BASE_FEE_TOO_LOW = -38012
INTRINSIC_GAS_TOO_LOW = -38013
INSUFFICIENT_FUNDS = -38014
BLOCK_GAS_LIMIT_EXCEEDED = -38015
BLOCK_NUMBER_NOT_INCREASING = -38020
BLOCK_TIME_NOT_INCREASING = -38021
MAX_INIT_CODE_SIZE_EXCEEDED = -38025
CLIENT_LIMIT_EXCEEDED = -38026
EXECUTION_ERROR = -32015  # a call's own failure other than a revert (in its result)

PAYLOAD_FIELDS = {"blockStateCalls", "traceTransfers", "validation", "returnFullTransactions"}
BLOCK_FIELDS = {"blockOverrides", "stateOverrides", "calls"}
OVERRIDE_FIELDS = {
    "number": "number",
    "time": "time",
    "gasLimit": "gas_limit",
    "feeRecipient": "coinbase",
    "prevRandao": "prev_randao",
    "baseFeePerGas": "base_fee",
}
UNSUPPORTED_OVERRIDES = ("blobBaseFee", "withdrawals")  # not bent into py-evm's headers here
MOVE_PRECOMPILE = "movePrecompileToAddress"

_TYPED_CODES: tuple[tuple[type[chain_errors.ChainError], int], ...] = (
    (chain_errors.NonceTooLow, NONCE_TOO_LOW),
    (chain_errors.NonceGap, NONCE_TOO_HIGH),
    (chain_errors.FeeCapTooLow, BASE_FEE_TOO_LOW),
    (chain_errors.IntrinsicGasTooLow, INTRINSIC_GAS_TOO_LOW),
    (chain_errors.InsufficientFunds, INSUFFICIENT_FUNDS),
    (chain_errors.BlockGasExhausted, BLOCK_GAS_LIMIT_EXCEEDED),
    (chain_errors.InitcodeTooLarge, MAX_INIT_CODE_SIZE_EXCEEDED),
)
_ORDER_CODES = {
    "number": BLOCK_NUMBER_NOT_INCREASING,
    "time": BLOCK_TIME_NOT_INCREASING,
    "count": CLIENT_LIMIT_EXCEEDED,
}


@dataclass
class SimulationRequest:
    """The decoded payload of one eth_simulateV1."""

    blocks: list[BlockSpec] = field(default_factory=list)
    trace_transfers: bool = False
    validation: bool = False
    full_transactions: bool = False


def simulation_request(value: Any, what: str = "payload") -> SimulationRequest:
    """Decode eth_simulateV1's first parameter (-32602 on anything malformed)."""
    if not isinstance(value, dict):
        raise errors.InvalidParams(f"{what}: expected an object with blockStateCalls")
    unknown = set(value) - PAYLOAD_FIELDS
    if unknown:
        raise errors.InvalidParams(f"{what}: unknown field {sorted(unknown)[0]!r}")
    raw_blocks = value.get("blockStateCalls")
    if not isinstance(raw_blocks, list):
        raise errors.InvalidParams(f"{what}.blockStateCalls: expected a list of blocks")
    if len(raw_blocks) > MAX_SIMULATED_BLOCKS:
        raise errors.RpcError(
            f"too many blocks: at most {MAX_SIMULATED_BLOCKS} per simulation", code=CLIENT_LIMIT_EXCEEDED
        )
    request = SimulationRequest(
        trace_transfers=_flag(value, "traceTransfers", what),
        validation=_flag(value, "validation", what),
        full_transactions=_flag(value, "returnFullTransactions", what),
    )
    for index, raw in enumerate(raw_blocks):
        request.blocks.append(_block(raw, f"{what}.blockStateCalls[{index}]"))
    return request


def _flag(value: dict[str, Any], name: str, what: str) -> bool:
    raw = value.get(name)
    return False if raw is None else p.boolean(raw, f"{what}.{name}")


def _block(raw: Any, what: str) -> BlockSpec:
    if not isinstance(raw, dict):
        raise errors.InvalidParams(f"{what}: expected an object")
    unknown = set(raw) - BLOCK_FIELDS
    if unknown:
        raise errors.InvalidParams(f"{what}: unknown field {sorted(unknown)[0]!r}")
    spec = BlockSpec()
    overrides = raw.get("blockOverrides") or {}
    if not isinstance(overrides, dict):
        raise errors.InvalidParams(f"{what}.blockOverrides: expected an object")
    for name in overrides:
        if name in UNSUPPORTED_OVERRIDES:
            raise errors.InvalidParams(f"{what}.blockOverrides.{name}: not supported by this node")
        if name not in OVERRIDE_FIELDS:
            raise errors.InvalidParams(f"{what}.blockOverrides: unknown field {name!r}")
    for name, attribute in OVERRIDE_FIELDS.items():
        if overrides.get(name) is None:
            continue
        where = f"{what}.blockOverrides.{name}"
        if name == "feeRecipient":
            decoded: Any = p.address(overrides[name], where)
        elif name == "prevRandao":
            decoded = p.quantity(overrides[name], where).to_bytes(32, "big")
        elif name in ("number", "time", "gasLimit"):
            decoded = p.uint64(overrides[name], where)
        else:
            decoded = p.quantity(overrides[name], where)
        setattr(spec, attribute, decoded)
    state = raw.get("stateOverrides")
    if state is not None:
        if isinstance(state, dict):
            for key, entry in state.items():
                if isinstance(entry, dict) and MOVE_PRECOMPILE in entry:
                    raise errors.InvalidParams(
                        f"{what}.stateOverrides[{key}].{MOVE_PRECOMPILE}: not supported by this node"
                    )
        spec.state_overrides = chain_overrides(p.state_overrides(state, f"{what}.stateOverrides"))
    calls = raw.get("calls") or []
    if not isinstance(calls, list):
        raise errors.InvalidParams(f"{what}.calls: expected a list of calls")
    for index, call in enumerate(calls):
        spec.calls.append(_call(p.tx_request(call, f"{what}.calls[{index}]")))
    return spec


def _call(request: p.TxRequest) -> SimulatedCall:
    return SimulatedCall(
        sender=request.sender,
        to=request.to,
        gas=request.gas,
        gas_price=request.gas_price,
        max_fee_per_gas=request.max_fee_per_gas,
        max_priority_fee_per_gas=request.max_priority_fee_per_gas,
        value=request.value or 0,
        data=request.data or b"",
        nonce=request.nonce,
        access_list=request.access_list or (),
    )


def run_simulation(
    chain: Chain, blocks: BlockNames, request: SimulationRequest, block: p.BlockId, gas_cap: int
) -> list[dict[str, Any]]:
    """Simulate on the block ``block`` names; the answer as the specification shapes it."""
    total_gas = sum(call.gas or 0 for spec in request.blocks for call in spec.calls)
    if total_gas > gas_cap:
        raise errors.RpcError(
            f"the calls ask for {total_gas} gas in all, more than the node's gas cap {gas_cap}",
            code=CLIENT_LIMIT_EXCEEDED,
        )
    base = blocks.locate(block, built=True)  # a stored block, or a pending one with its body
    try:
        simulated = simulate(
            base.chain, base.header, request.blocks, request.validation, request.trace_transfers
        )
    except chain_errors.SimulationOutOfOrder as exc:
        raise errors.RpcError(str(exc), code=_ORDER_CODES[exc.rule]) from None
    except chain_errors.InvalidTransaction as exc:
        for kind, code in _TYPED_CODES:
            if isinstance(exc, kind):
                raise errors.RpcError(str(exc), code=code) from None
        raise errors.ServerError(str(exc)) from None
    return [_block_json(item, request.full_transactions) for item in simulated]


def _block_json(simulated: SimulatedBlock, full: bool) -> dict[str, Any]:
    block = simulated.block
    header = block.header
    out: dict[str, Any] = dict(fmt.block_json(block, full))
    log_index = 0
    calls = []
    for index, outcome in enumerate(simulated.outcomes):
        result: dict[str, Any] = {
            "returnData": fmt.hexb(outcome.output),
            "logs": [],
            "gasUsed": fmt.qty(outcome.gas_used),
            "status": "0x1" if outcome.error is None else "0x0",
        }
        if outcome.error is None:
            for address, topics, data in outcome.logs:
                result["logs"].append(
                    {
                        "address": fmt.addr(address),
                        "topics": [fmt.hexb(topic) for topic in topics],
                        "data": fmt.hexb(data),
                        "blockHash": fmt.hexb(header.hash),
                        "blockNumber": fmt.qty(header.block_number),
                        "blockTimestamp": fmt.qty(header.timestamp),
                        "transactionHash": fmt.hexb(outcome.transaction.hash),
                        "transactionIndex": fmt.qty(index),
                        "logIndex": fmt.qty(log_index),
                        "removed": False,
                    }
                )
                log_index += 1
        elif outcome.reverted:
            reason = revert_reason(outcome.output)
            message = "execution reverted" + (f": {reason}" if reason else "")
            result["error"] = {
                "code": errors.EXECUTION_REVERTED,
                "message": message,
                "data": fmt.hexb(outcome.output),
            }
        else:
            result["error"] = {"code": EXECUTION_ERROR, "message": f"vm execution error: {outcome.error}"}
        calls.append(result)
    out["calls"] = calls
    return out
