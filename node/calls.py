"""Calls on committed state: eth_call, eth_estimateGas, eth_createAccessList, with state
overrides, capped at the node's gas cap (geth's RPCGasCap)."""

from __future__ import annotations

from typing import Any

from eth_utils import ValidationError

from chain.chain import CallResult, Chain
from chain.errors import CallReverted
from node.headers import resolve_header
from node.limits import Limits
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import AccountOverride, BlockId, TxRequest
from vm_contracts.revert import revert_reason


def raise_failed(result: CallResult) -> None:
    """The JSON-RPC error of a failed call: 3 with the revert data, or -32000."""
    if result.error == "execution reverted":
        data = result.revert_data or b""
        raise errors.ExecutionReverted(data, revert_reason(data))
    raise errors.ServerError(result.error or "execution failed")


def chain_overrides(overrides: dict[bytes, AccountOverride] | None) -> dict[bytes, dict[str, Any]]:
    """State overrides as the chain applies them (slots and values as 32-byte words)."""
    out: dict[bytes, dict[str, Any]] = {}
    for account, change in (overrides or {}).items():
        entry: dict[str, Any] = {
            "balance": change.balance,
            "nonce": change.nonce,
            "code": change.code,
        }
        if change.state is not None:
            entry["state"] = {k.to_bytes(32, "big"): v.to_bytes(32, "big") for k, v in change.state.items()}
        if change.state_diff:
            entry["stateDiff"] = {
                k.to_bytes(32, "big"): v.to_bytes(32, "big") for k, v in change.state_diff.items()
            }
        out[account] = entry
    return out


class Calls:
    """Runs requests on ``chain``'s committed state without changing it."""

    def __init__(self, chain: Chain, limits: Limits) -> None:
        self.chain = chain
        self.limits = limits
        """What one request may cost (set again when a dispatcher takes the backend)."""

    def call_dict(self, request: TxRequest) -> dict[str, Any]:
        """The call as the chain runs it: without a gas limit it gets the block's, and
        never more than the gas cap or the block gas limit, whichever is larger (geth's
        RPCGasCap: a request for more is capped, not refused)."""
        gas_limit = self.chain.config.gas_limit
        gas = request.gas if request.gas is not None else gas_limit
        cap = max(self.limits.gas_cap, gas_limit)
        call: dict[str, Any] = {
            "from": request.sender,
            "to": request.to,
            "gas": min(gas, cap),
            "value": request.value,
            "data": request.data or b"",
        }
        if request.authorization_list:  # a set-code call (EIP-7702): ethers estimates one so
            call["authorization_list"] = request.authorization_list
        return call

    def call(
        self, request: TxRequest, block: BlockId, overrides: dict[bytes, AccountOverride] | None
    ) -> bytes:
        header = resolve_header(self.chain, block)
        try:
            result = self.chain.call(self.call_dict(request), header, chain_overrides(overrides))
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None
        if result.reverted:
            raise_failed(result)
        return bytes(result.output)

    def estimate_gas(
        self, request: TxRequest, block: BlockId, overrides: dict[bytes, AccountOverride] | None
    ) -> int:
        header = resolve_header(self.chain, block)
        try:
            return self.chain.estimate_gas(self.call_dict(request), header, chain_overrides(overrides))
        except CallReverted as exc:
            raise_failed(exc.result)
            raise  # unreachable: raise_failed always raises
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None

    def create_access_list(self, request: TxRequest, block: BlockId) -> dict[str, Any]:
        from chain.access_list import create_access_list

        header = resolve_header(self.chain, block)
        try:
            result = create_access_list(self.chain, self.call_dict(request), header)
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
