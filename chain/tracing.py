"""Call traces of transactions and calls, in geth's ``callTracer`` shape.

py-evm has no tracer hooks, so tracing extends it the way ``chain.vm`` does: a
computation class that overrides ``apply_message`` and ``apply_create_message`` (to
open and close call frames) and wraps every opcode (to add up the gas each frame's
own opcodes spend), set on a copy of the chain's VM class through ``VM.configure``.
The traced classes only record while a :class:`Recorder` is active in the current
context, so a traced VM that is not tracing behaves exactly like the plain one.

* :func:`trace_transaction` re-executes a mined transaction's block on its parent's
  state, up to and including the transaction, and returns its call tree.
* :func:`trace_call` traces a message call on the state after a block, as
  ``eth_call`` would run it (no transaction is mined).
* :meth:`CallFrame.to_geth` gives geth's ``callTracer`` JSON; the frames also carry
  ``opcode_gas`` (gas spent per opcode by the frame's own code, children excluded),
  which the gas benchmark uses to say where gas goes.

For the node's ``debug_traceTransaction(hash, {"tracer": "callTracer"})`` and
``debug_traceCall``: ``trace_transaction(chain, tx_hash).to_geth()`` and
``trace_call(chain, request, header).to_geth()``; without a tracer (geth's struct
logger): ``trace_transaction(chain, tx_hash, steps=True).struct_logs()``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from eth.abc import (
    BlockHeaderAPI,
    ComputationAPI,
    MessageAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
    VirtualMachineAPI,
)
from eth_utils import ValidationError, to_checksum_address

from chain.errors import TraceError, TraceTooLarge
from chain.vm import call_transaction, stack_values

if TYPE_CHECKING:
    from chain.chain import Chain

REVERT_ERROR = "execution reverted"
TRANSACTION_BASE_GAS = 21_000  # gas every transaction pays before its data
CREATE_TRANSACTION_BASE_GAS = 53_000  # gas a contract-creating transaction pays instead


@dataclass
class CallFrame:
    """One message call or contract creation and the calls it made.

    Fields:
        type: ``CALL``, ``STATICCALL``, ``DELEGATECALL``, ``CALLCODE`` or ``CREATE``
            (``CREATE2`` is reported as ``CREATE``: py-evm's message does not say which).
        sender: 20-byte caller (``from`` in geth's shape).
        to: 20-byte callee; for a creation, the new contract's address.
        input: call data, or init code for a creation.
        value: wei sent with the call.
        gas: gas given to the frame. For the outermost frame, the transaction's gas limit.
        gas_used: gas the frame consumed, its children included. For the outermost frame
            of a traced transaction, the transaction's gas used (intrinsic gas included,
            refund deducted), as geth reports it.
        execution_gas: gas consumed by the frame's execution alone (no intrinsic gas, no
            refund), children included.
        output: return data (for a creation, the deployed code).
        error: why the frame failed (``execution reverted`` for REVERT), or None.
        calls: the frames this one opened, in order.
        opcode_gas: opcode mnemonic -> gas its executions in this frame cost, the gas
            forwarded to child frames excluded (the child's own consumption is in the child).
        depth: 0 for the outermost frame.
    """

    type: str
    sender: bytes
    to: bytes
    input: bytes
    value: int
    gas: int
    gas_used: int = 0
    execution_gas: int = 0
    output: bytes = b""
    error: str | None = None
    calls: list[CallFrame] = field(default_factory=list)
    opcode_gas: dict[str, int] = field(default_factory=dict)
    depth: int = 0

    @property
    def self_gas(self) -> int:
        """Execution gas of this frame minus what its children consumed."""
        return self.execution_gas - sum(child.execution_gas for child in self.calls)

    def walk(self) -> Iterator[CallFrame]:
        """This frame and every frame below it, depth first in call order."""
        yield self
        for child in self.calls:
            yield from child.walk()

    def to_geth(self) -> dict[str, Any]:
        """geth's ``callTracer`` result for this frame (hex quantities, checksum addresses)."""
        out: dict[str, Any] = {
            "type": self.type,
            "from": to_checksum_address(self.sender),
            "to": to_checksum_address(self.to),
            "value": hex(self.value),
            "gas": hex(self.gas),
            "gasUsed": hex(self.gas_used),
            "input": "0x" + self.input.hex(),
            "output": "0x" + self.output.hex(),
        }
        if self.error is not None:
            out["error"] = self.error
        if self.calls:
            out["calls"] = [child.to_geth() for child in self.calls]
        return out


@dataclass
class TransactionTrace:
    """A traced transaction: its call tree and how its gas adds up.

    Fields:
        root: the outermost call frame.
        gas_used: the receipt's gas used.
        intrinsic_gas: gas charged before execution (base cost, call data, access list).
        refund: gas given back at the end (storage clearing), already deducted from
            ``gas_used``: ``gas_used == intrinsic_gas + root.execution_gas - refund``.
        steps: geth ``structLogs`` entries (pc, op, gas, gasCost, depth, stack), one per
            executed opcode, when asked for; gasCost excludes gas a call forwards to its
            child frame.
    """

    root: CallFrame
    gas_used: int
    intrinsic_gas: int
    refund: int
    steps: list[dict[str, Any]] | None = None

    def to_geth(self) -> dict[str, Any]:
        """geth's ``callTracer`` result."""
        return self.root.to_geth()

    def struct_logs(self) -> dict[str, Any]:
        """geth's default (struct logger) result; needs a trace taken with ``steps``."""
        if self.steps is None:
            raise TraceError("this trace was taken without steps")
        return {
            "gas": self.gas_used,
            "failed": self.root.error is not None,
            "returnValue": self.root.output.hex(),
            "structLogs": self.steps,
        }


class Recorder:
    """Collects the call frames of one execution (the open ones on a stack) and, when
    ``steps`` is set, one geth ``structLogs`` entry per executed opcode: the first
    ``step_limit`` only when that is set (geth's ``limit``), else at most ``max_steps``
    (more raises :class:`TraceTooLarge`)."""

    def __init__(
        self, steps: bool = False, step_limit: int | None = None, max_steps: int | None = None
    ) -> None:
        self.stack: list[tuple[MessageAPI, CallFrame]] = []
        self.roots: list[CallFrame] = []
        self.steps: list[dict[str, Any]] | None = [] if steps else None
        self.step_limit = step_limit
        self.max_steps = max_steps

    def wants_step(self) -> bool:
        """Whether the next opcode is recorded; raises TraceTooLarge past ``max_steps``."""
        assert self.steps is not None
        count = len(self.steps)
        if self.step_limit is not None:
            return count < self.step_limit
        if self.max_steps is not None and count >= self.max_steps:
            raise TraceTooLarge(self.max_steps)
        return True

    def open(self, message: MessageAPI, kind: str) -> CallFrame:
        frame = CallFrame(
            type=kind,
            sender=bytes(message.sender),
            to=bytes(message.storage_address),
            input=bytes(message.code if message.is_create else message.data),
            value=int(message.value),
            gas=int(message.gas),
            depth=len(self.stack),
        )
        if self.stack:
            self.stack[-1][1].calls.append(frame)
        else:
            self.roots.append(frame)
        self.stack.append((message, frame))
        return frame

    def close(self, frame: CallFrame, message: MessageAPI, computation: ComputationAPI) -> None:
        self.stack.pop()
        frame.execution_gas = frame.gas_used = message.gas - computation.get_gas_remaining()
        frame.output = bytes(computation.output)
        if computation.is_error:
            error = computation.error
            frame.error = (
                REVERT_ERROR if type(error).__name__ == "Revert" else (str(error) or type(error).__name__)
            )

    def is_open(self, message: MessageAPI) -> bool:
        return bool(self.stack) and self.stack[-1][0] is message

    @property
    def current(self) -> CallFrame | None:
        return self.stack[-1][1] if self.stack else None


_recorder: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "sumchain_trace_recorder", default=None
)


@contextmanager
def recording(
    steps: bool = False, step_limit: int | None = None, max_steps: int | None = None
) -> Iterator[Recorder]:
    """Record the call frames (and with ``steps``, every opcode) of every traced
    execution inside the ``with`` block."""
    recorder = Recorder(steps, step_limit, max_steps)
    token = _recorder.set(recorder)
    try:
        yield recorder
    finally:
        _recorder.reset(token)


def _frame_kind(message: MessageAPI, parent_static: bool) -> str:
    if message.is_create:
        return "CREATE"
    if message.storage_address != message.code_address:
        return "CALLCODE" if message.should_transfer_value else "DELEGATECALL"
    if message.is_static and not parent_static:
        return "STATICCALL"
    return "CALL"


class _CountingOpcode:
    """An opcode that adds the gas it spends to the running frame's ``opcode_gas``."""

    def __init__(self, opcode: Any) -> None:
        self.opcode = opcode
        inner = getattr(opcode, "__wrapped__", opcode)  # some forks wrap opcodes in functions
        self.mnemonic = str(getattr(opcode, "mnemonic", None) or getattr(inner, "mnemonic", "UNKNOWN"))
        self.gas_cost = getattr(inner, "gas_cost", 0)

    def __call__(self, computation: ComputationAPI) -> None:
        recorder = _recorder.get()
        frame = recorder.current if recorder is not None else None
        if recorder is None or frame is None:
            self.opcode(computation=computation)
            return
        before = computation.get_gas_remaining()
        children = len(frame.calls)
        step = None
        if recorder.steps is not None and recorder.wants_step():
            step = {
                "pc": max(0, computation.code.program_counter - 1),
                "op": self.mnemonic,
                "gas": before,
                "gasCost": 0,
                "depth": frame.depth + 1,
                "stack": [hex(value) for value in stack_values(computation)],
            }
            recorder.steps.append(step)
        try:
            self.opcode(computation=computation)
        finally:
            spent = before - computation.get_gas_remaining()
            spent -= sum(child.execution_gas for child in frame.calls[children:])
            frame.opcode_gas[self.mnemonic] = frame.opcode_gas.get(self.mnemonic, 0) + spent
            if step is not None:
                step["gasCost"] = spent


def traced_computation_class(base: type[ComputationAPI]) -> type[ComputationAPI]:
    """``base`` with call frames and per-opcode gas recorded while a recorder is active."""

    class Traced(base):  # type: ignore[valid-type, misc]
        opcodes = {code: _CountingOpcode(op) for code, op in base.opcodes.items()}

        @classmethod
        def apply_message(
            cls,
            state: StateAPI,
            message: MessageAPI,
            transaction_context: TransactionContextAPI,
            parent_computation: ComputationAPI | None = None,
        ) -> ComputationAPI:
            recorder = _recorder.get()
            if recorder is None or recorder.is_open(message):
                return super().apply_message(state, message, transaction_context, parent_computation)
            return cls._traced(
                super().apply_message, recorder, state, message, transaction_context, parent_computation
            )

        @classmethod
        def apply_create_message(
            cls,
            state: StateAPI,
            message: MessageAPI,
            transaction_context: TransactionContextAPI,
            parent_computation: ComputationAPI | None = None,
        ) -> ComputationAPI:
            recorder = _recorder.get()
            if recorder is None:
                return super().apply_create_message(state, message, transaction_context, parent_computation)
            return cls._traced(
                super().apply_create_message,
                recorder,
                state,
                message,
                transaction_context,
                parent_computation,
            )

        @classmethod
        def _traced(
            cls,
            apply: Any,
            recorder: Recorder,
            state: StateAPI,
            message: MessageAPI,
            transaction_context: TransactionContextAPI,
            parent_computation: ComputationAPI | None,
        ) -> ComputationAPI:
            parent_static = bool(recorder.stack and recorder.stack[-1][0].is_static)
            frame = recorder.open(message, _frame_kind(message, parent_static))
            try:
                computation = apply(state, message, transaction_context, parent_computation)
            except Exception as exc:
                recorder.stack.pop()
                frame.error = str(exc) or type(exc).__name__
                frame.execution_gas = frame.gas_used = frame.gas
                raise
            recorder.close(frame, message, computation)
            return computation

    Traced.__name__ = f"Traced{base.__name__}"
    Traced.__qualname__ = Traced.__name__
    return Traced


@lru_cache(maxsize=16)
def traced_vm_class(vm_class: type[VirtualMachineAPI]) -> type[VirtualMachineAPI]:
    """``vm_class`` running a traced computation class (same rules, same gas)."""
    state_class = vm_class.get_state_class()
    computation = traced_computation_class(state_class.computation_class)
    traced_state = state_class.configure(
        __name__=f"Traced{state_class.__name__}", computation_class=computation
    )
    return vm_class.configure(__name__=f"Traced{vm_class.__name__}", _state_class=traced_state)


def _traced_vm(chain: Chain, header: BlockHeaderAPI) -> VirtualMachineAPI:
    plain = chain.evm.get_vm(header)
    return traced_vm_class(type(plain))(
        header=plain.get_header(),  # the head's pending edits included (chain.edits)
        chaindb=plain.chaindb,
        chain_context=plain.chain_context,  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits chain_context, which its VM class defines
        consensus_context=plain.consensus_context,
    )


def _trace_of(recorder: Recorder, tx: SignedTransactionAPI, gas_used: int) -> TransactionTrace:
    if len(recorder.roots) != 1:
        raise TraceError(f"expected one outermost frame, recorded {len(recorder.roots)}")
    root = recorder.roots[0]
    intrinsic = int(tx.intrinsic_gas)
    root.gas = int(tx.gas)
    root.gas_used = gas_used
    refund = intrinsic + root.execution_gas - gas_used
    return TransactionTrace(
        root=root, gas_used=gas_used, intrinsic_gas=intrinsic, refund=refund, steps=recorder.steps
    )


def trace_transaction(
    chain: Chain,
    tx_hash: bytes,
    steps: bool = False,
    step_limit: int | None = None,
    max_steps: int | None = None,
) -> TransactionTrace:
    """The call trace of the mined transaction ``tx_hash`` (with ``steps``, also every
    opcode executed, for geth's struct logger output; ``step_limit`` and ``max_steps`` as
    for :class:`Recorder`).

    Re-executes its block on the parent's state (earlier transactions untraced), so
    the chain is not changed. Raises TraceError if the transaction is unknown.
    """
    found = chain.transaction(tx_hash)
    if found is None:
        raise TraceError(f"transaction 0x{tx_hash.hex()} is not in the canonical chain", tx_hash)
    target, header, index = found
    block = chain.block(header)
    base = header.copy(state_root=chain.start_state_root(header), gas_used=0)  # after any recorded edits
    vm = _traced_vm(chain, base)
    vm.block_preprocessing(vm.get_block())  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits block_preprocessing, which its VM class defines
    current = base
    for position, tx in enumerate(block.transactions[: index + 1]):
        if position < index:
            receipt, _ = vm.apply_transaction(current, chain.executable(tx))
            current = vm.add_receipt_to_header(current, receipt)
            continue
        with recording(steps, step_limit, max_steps) as recorder:
            try:
                receipt, _ = vm.apply_transaction(current, chain.executable(tx))
            except ValidationError as exc:
                raise TraceError(f"transaction 0x{tx_hash.hex()} no longer applies: {exc}", tx_hash) from exc
        gas_used = receipt.gas_used - current.gas_used
        if tx.hash != target.hash:
            raise TraceError("block body does not hold the indexed transaction")
        return _trace_of(recorder, tx, gas_used)
    raise TraceError(f"transaction index {index} is beyond block {header.block_number}")


def trace_call(
    chain: Chain,
    request: dict[str, Any],
    header: BlockHeaderAPI | None = None,
    steps: bool = False,
    step_limit: int | None = None,
    max_steps: int | None = None,
) -> TransactionTrace:
    """The call trace of a message call on the state after ``header`` (default: head).

    ``request`` keys as for ``Chain.call``: from, to (20-byte, or None to create), gas,
    value, data (bytes). Nothing is mined or written.
    """
    header = header or chain.head
    vm = _traced_vm(chain, header)
    gas = int(request.get("gas") or chain.config.gas_limit)
    tx = call_transaction(vm, request, gas)
    with vm.in_costless_state() as state, recording(steps, step_limit, max_steps) as recorder:
        computation = state.costless_execute_transaction(tx)
    gas_used = gas - computation.get_gas_remaining()  # intrinsic + execution; no refund
    trace = _trace_of(recorder, tx, 0)
    trace.root.gas_used = trace.gas_used = gas_used
    trace.refund = 0
    return trace
