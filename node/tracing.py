"""debug_traceTransaction and debug_traceCall: geth's struct logger and callTracer
(``chain.tracing``) shaped as geth answers, within the node's step limit."""

from __future__ import annotations

from typing import Any

from eth_utils import ValidationError

from chain.chain import Chain
from node.calls import Calls
from node.rpc import errors
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
    """The struct logs (``returnValue`` without 0x, as geth) or the call tree."""
    if options.tracer is None:
        result: dict[str, Any] = trace.struct_logs()
        result["returnValue"] = result["returnValue"].removeprefix("0x")
        return result
    call: dict[str, Any] = trace.to_geth()
    if options.only_top_call:
        call.pop("calls", None)
    return call
