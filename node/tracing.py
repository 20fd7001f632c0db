"""debug_traceTransaction and debug_traceCall: geth's struct logger and callTracer
(``chain.tracing``) shaped as geth answers, within the node's step limit."""

from __future__ import annotations

from typing import Any

from eth_utils import ValidationError

from chain.chain import Chain
from chain.tracing import AccountState
from node.calls import Calls
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import BlockId, TxRequest


class Tracer:
    """Traces of stored transactions and of calls, on ``chain``."""

    def __init__(self, chain: Chain, calls: Calls) -> None:
        self.chain = chain
        self.calls = calls
        """For the gas cap of a traced call, and the node's limits."""

    def _steps(self, options: Any) -> dict[str, Any]:
        """What the struct logger records: steps unless a tracer is named, at most
        ``options.limit`` of them, else at most the node's ``Limits.trace_steps``."""
        return {
            "steps": options.tracer is None,
            "step_limit": options.limit,
            "max_steps": self.calls.limits.trace_steps,
            "prestate": options.tracer == "prestateTracer",
        }

    def trace_transaction(self, tx_hash: bytes, options: Any) -> dict[str, Any]:
        from chain.errors import TraceError, TraceTooLarge
        from chain.tracing import trace_transaction

        try:
            trace = trace_transaction(self.chain, tx_hash, **self._steps(options))
        except TraceTooLarge as exc:
            raise errors.LimitExceeded(str(exc)) from None
        except TraceError as exc:
            raise errors.ResourceNotFound(str(exc)) from None
        return trace_result(trace, options)

    def trace_call(self, request: TxRequest, block: BlockId, options: Any) -> dict[str, Any]:
        from chain.errors import TraceTooLarge
        from chain.tracing import trace_call

        at = self.calls.blocks.locate(block)
        try:
            trace = trace_call(at.chain, self.calls.call_dict(request), at.header, **self._steps(options))
        except TraceTooLarge as exc:
            raise errors.LimitExceeded(str(exc)) from None
        except ValidationError as exc:
            raise errors.ServerError(str(exc)) from None
        return trace_result(trace, options)


def trace_result(trace: Any, options: Any) -> dict[str, Any]:
    """The struct logs (``returnValue`` without 0x, as geth), the call tree, or the
    prestate (with ``diffMode``, ``{pre, post}``)."""
    if options.tracer == "prestateTracer":
        return prestate_result(trace, options.diff_mode)
    if options.tracer is None:
        result: dict[str, Any] = trace.struct_logs()
        result["returnValue"] = result["returnValue"].removeprefix("0x")
        return result
    call: dict[str, Any] = trace.to_geth()
    if options.only_top_call:
        call.pop("calls", None)
    return call


def _account_json(account: AccountState, changes_only: AccountState | None = None) -> dict[str, Any]:
    """geth's prestateTracer account: balance (hex), nonce (a number), code and storage,
    each left out when empty (``changes_only``: only what differs from that state)."""
    out: dict[str, Any] = {}
    if changes_only is None or account.balance != changes_only.balance:
        out["balance"] = hex(account.balance)
    if account.nonce and (changes_only is None or account.nonce != changes_only.nonce):
        out["nonce"] = account.nonce
    if account.code and (changes_only is None or account.code != changes_only.code):
        out["code"] = "0x" + account.code.hex()
    storage = {fmt.word(slot): fmt.word(value) for slot, value in sorted(account.storage.items())}
    if storage:
        out["storage"] = storage
    return out


def prestate_result(trace: Any, diff_mode: bool) -> dict[str, Any]:
    """geth's prestateTracer: the touched accounts as they were before (contracts the
    transaction created left out, having been empty), or with ``diff_mode`` ``{pre,
    post}``: the accounts it changed, before (changed slots only) and after (changed
    fields only; zeroed slots and removed accounts left out)."""
    pre_state: dict[bytes, AccountState] = trace.pre_state or {}
    post_state: dict[bytes, AccountState | None] = trace.post_state or {}
    if not diff_mode:
        return {
            fmt.addr(address): _account_json(account)
            for address, account in pre_state.items()
            if not (address in trace.created and not account.exists())
        }
    pre: dict[str, Any] = {}
    post: dict[str, Any] = {}
    for address, before in pre_state.items():
        after = post_state.get(address)
        if after is None:  # gone: kept in pre only, as geth
            pre[fmt.addr(address)] = _account_json(before)
            continue
        changed_slots = {slot for slot, value in before.storage.items() if after.storage.get(slot) != value}
        modified = (
            before.balance != after.balance or before.nonce != after.nonce or before.code != after.code
        ) or bool(changed_slots)
        if not modified:
            continue
        kept_before = AccountState(
            before.balance,
            before.nonce,
            before.code,
            {slot: value for slot, value in before.storage.items() if slot in changed_slots and value},
        )
        kept_after = AccountState(
            after.balance,
            after.nonce,
            after.code,
            {slot: after.storage[slot] for slot in changed_slots if after.storage.get(slot)},
        )
        if not (address in trace.created and not before.exists()):
            pre[fmt.addr(address)] = _account_json(kept_before)
        post[fmt.addr(address)] = _account_json(kept_after, changes_only=before)
    return {"pre": pre, "post": post}
