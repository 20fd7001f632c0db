"""The lean interpreter loop: py-evm's opcodes run with the hot ones inlined.

py-evm's loop (``BaseComputation.apply_computation``) runs every opcode as a chain of
calls: the code stream's iterator, the opcode object, the gas meter, the logic function
and the stack's validating push and pop. Most opcodes a Solidity contract executes are
stack shuffles, jumps and 256-bit arithmetic whose work is one line of Python, so the
calls are most of the cost.

:func:`lean_computation_class` makes a subclass of a fork's computation class whose code
stream, when py-evm's loop iterates it, runs the whole frame itself: the program counter
and the gas left are locals, PUSH/DUP/SWAP/POP/JUMPDEST/JUMP/JUMPI, arithmetic,
comparison, bitwise logic, MLOAD/MSTORE and CALLDATALOAD work directly on the stack's
list, and jump destinations are checked against a per-code cache. Every other opcode is
the fork's own opcode object, called with the program counter and the gas meter brought
up to date first and read back after. Errors are py-evm's classes raised where py-evm
raises them, so the ``with computation`` block that wraps py-evm's loop turns them into
the computation's error exactly as before; everything before and after the loop
(precompiles, contract creation, refunds) stays py-evm's.

What is inlined is decided per fork from its opcode table: an opcode is inlined only
when it is py-evm's plain opcode object (static gas then the logic function) around the
logic function the inlined code stands for, and its static gas is read from the table.
A class whose table is replaced (the tracer's counting opcodes) or a logger at debug2
level gets py-evm's own loop. tests/chain/test_interpreter.py runs both loops on random
bytecode and on the contracts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eth import constants
from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
)
from eth.vm.code_stream import CodeStream
from eth.vm.computation import memory_gas_cost
from eth.vm.logic import arithmetic, comparison, context, duplication, flow, memory, sha3, stack, swap
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import as_opcode
from eth.vm.opcode_values import JUMPDEST, PUSH1, PUSH32
from eth_hash.auto import keccak

UINT_256_MAX = 2**256 - 1
SIGN_BIT = 2**255  # flipping it maps two's-complement order onto unsigned order
STACK_LIMIT = 1024  # items
JUMP_CACHE_MAX = 4_096  # distinct codes whose jump destinations are remembered

# py-evm's plain opcode class: what ``as_opcode`` builds (gas first, then the logic).
_PLAIN_OPCODE: type[Any] = type(as_opcode(logic_fn=flow.stop, mnemonic="STOP", gas_cost=0))

# Kinds of table entry; the loop tests them in about the order Solidity code runs them.
GENERIC, PUSH, DUP, SWAP, POP, JUMP_DEST, JUMPI, JUMP = range(8)
ADD, SUB, MUL, DIV, AND, OR, XOR, NOT, ISZERO, EQ, LT, GT, SHL, SHR = range(8, 22)
SLT, SGT, MOD, SIGNEXTEND = range(22, 26)
MLOAD, MSTORE, CALLDATALOAD, SHA3 = range(26, 30)

_SIMPLE: dict[Any, int] = {
    stack.pop: POP,
    flow.jumpdest: JUMP_DEST,
    flow.jump: JUMP,
    flow.jumpi: JUMPI,
    arithmetic.add: ADD,
    arithmetic.sub: SUB,
    arithmetic.mul: MUL,
    arithmetic.div: DIV,
    arithmetic.shl: SHL,  # Constantinople on
    arithmetic.shr: SHR,
    arithmetic.mod: MOD,
    arithmetic.signextend: SIGNEXTEND,
    comparison.slt: SLT,
    comparison.sgt: SGT,
    comparison.and_op: AND,
    comparison.or_op: OR,
    comparison.xor: XOR,
    comparison.not_op: NOT,
    comparison.iszero: ISZERO,
    comparison.eq: EQ,
    comparison.lt: LT,
    comparison.gt: GT,
    memory.mload: MLOAD,
    memory.mstore: MSTORE,
    context.calldataload: CALLDATALOAD,
    sha3.sha3: SHA3,
}
# py-evm logic function -> (kind, argument: bytes pushed, or the DUP/SWAP position)
_INLINED: dict[Any, tuple[int, int]] = {fn: (kind, 0) for fn, kind in _SIMPLE.items()}
_INLINED[stack.push0] = (PUSH, 0)  # Shanghai on
for _n in range(1, 33):
    _INLINED[getattr(stack, f"push{_n}")] = (PUSH, _n)
for _n in range(1, 17):
    _INLINED[getattr(duplication, f"dup{_n}")] = (DUP, _n)
    _INLINED[getattr(swap, f"swap{_n}")] = (SWAP, _n)

Entry = tuple[int, int, int, Any]  # (kind, static gas, argument, opcode object)


def _entry(value: int, opcode: Any) -> Entry:
    if opcode is None:
        return (GENERIC, 0, 0, InvalidOpcode(value))
    if type(opcode) is _PLAIN_OPCODE:
        try:
            kind, argument = _INLINED[opcode.logic_fn]
        except (KeyError, TypeError):  # not inlined (or a logic object that cannot be hashed)
            return (GENERIC, 0, 0, opcode)
        return (kind, opcode.gas_cost, argument, opcode)
    return (GENERIC, 0, 0, opcode)


def build_table(opcodes: dict[int, Any]) -> tuple[Entry, ...]:
    """One entry per byte value for a fork's opcode table."""
    return tuple(_entry(value, opcodes.get(value)) for value in range(256))


_jump_cache: dict[bytes, frozenset[int]] = {}


def jump_destinations(code: bytes) -> frozenset[int]:
    """Positions of JUMPDEST bytes that are opcodes, not PUSH data."""
    found = _jump_cache.get(code)
    if found is None:
        positions = []
        pc, length = 0, len(code)
        while pc < length:
            op = code[pc]
            if op == JUMPDEST:
                positions.append(pc)
            elif PUSH1 <= op <= PUSH32:
                pc += op - PUSH1 + 1
            pc += 1
        found = frozenset(positions)
        if len(_jump_cache) >= JUMP_CACHE_MAX:
            _jump_cache.clear()
        _jump_cache[code] = found
    return found


Program = list[Entry]  # one entry per code position, then STOP entries past the end
PROGRAM_PAD = 33  # STOP entries after the code: a PUSH cut off by the end reads past it
PROGRAM_CACHE_MAX = 1_024  # distinct codes whose programs a computation class remembers


def build_program(table: tuple[Entry, ...], code: bytes) -> Program:
    """``code`` decoded once against a fork's ``table``: the entry of each position, with
    each PUSH's value already read (``(PUSH, gas, value, width)``; a PUSH cut off by the
    end of the code is padded with zero bytes, as py-evm pads it). Positions inside PUSH
    data get the entry of their byte too: the loop reaches them only by a jump, which is
    checked against :func:`jump_destinations` first."""
    program = [table[op] for op in code]
    from_bytes = int.from_bytes
    for pc, entry in enumerate(program):
        if entry[0] == PUSH:
            width = entry[2]
            raw = code[pc + 1 : pc + 1 + width]
            if len(raw) < width:
                raw = raw.ljust(width, b"\x00")
            program[pc] = (PUSH, entry[1], from_bytes(raw, "big"), width)
    program.extend([table[0]] * PROGRAM_PAD)
    return program


def program_for(programs: dict[bytes, Program], table: tuple[Entry, ...], code: bytes) -> Program:
    """The cached program of ``code`` in ``programs`` (one dict per fork's table)."""
    program = programs.get(code)
    if program is None:
        if len(programs) >= PROGRAM_CACHE_MAX:
            programs.clear()
        program = programs[code] = build_program(table, code)
    return program


def _bad_jump(code: bytes, destination: int) -> Exception:
    """py-evm's error for a jump to a position that is not a JUMPDEST opcode."""
    if destination < len(code) and code[destination] == JUMPDEST:
        return InvalidInstruction("Jump resulted in invalid instruction")
    return InvalidJumpDestination("Invalid Jump Destination")


def _out_of_gas(needed: int, remaining: int, reason: str) -> OutOfGas:
    return OutOfGas(f"Out of gas: Needed {needed} - Remaining {remaining} - Reason: {reason}")


def _short(wanted: int, had: int) -> InsufficientStack:
    return InsufficientStack(f"Wanted {wanted} stack items, only had {had}")


class LeanCodeStream(CodeStream):
    """A code stream whose iteration runs the whole frame (see the module docstring)."""

    __slots__ = ["computation"]

    def __init__(self, code_bytes: bytes, computation: Any) -> None:
        super().__init__(code_bytes)
        self.computation = computation

    def __iter__(self) -> Iterator[int]:
        computation, self.computation = self.computation, None  # no cycle once running
        try:
            _run(self, computation)
        except Halt:
            pass
        return iter(())


def _run(stream: LeanCodeStream, computation: Any) -> None:  # noqa: C901 - one loop, on purpose
    table = computation.lean_table
    code = stream._raw_code_bytes
    program = program_for(computation.lean_programs, table, code)
    meter = computation._gas_meter
    values = computation._stack.values
    pop = values.pop
    push = values.append
    from_bytes = int.from_bytes
    destinations: frozenset[int] | None = None
    data: bytes | None = None
    pc = stream.program_counter
    gas = meter.gas_remaining
    while True:
        kind, cost, argument, opcode = program[pc]
        pc += 1
        if kind == GENERIC:
            stream.program_counter = pc
            meter.gas_remaining = gas
            opcode(computation)
            pc = stream.program_counter
            gas = meter.gas_remaining
            continue
        if cost > gas:
            raise _out_of_gas(cost, gas, table[code[pc - 1]][3].mnemonic)
        gas -= cost
        if kind == PUSH:  # argument: the value; opcode: the width of its data
            if len(values) >= STACK_LIMIT:
                raise FullStack("Stack limit reached")
            push(argument)
            pc += opcode
        elif kind == DUP:
            if len(values) >= STACK_LIMIT:
                raise FullStack("Stack limit reached")
            if len(values) < argument:
                raise InsufficientStack(f"Insufficient stack items for DUP{argument}")
            push(values[-argument])
        elif kind == SWAP:
            if len(values) <= argument:
                raise InsufficientStack(f"Insufficient stack items for SWAP{argument}")
            index = -argument - 1
            values[-1], values[index] = values[index], values[-1]
        elif kind == POP:
            if not values:
                raise InsufficientStack("Wanted 1 stack item, had none")
            pop()
        elif kind == JUMP_DEST:
            pass
        elif kind == JUMPI or kind == JUMP:
            if kind == JUMP:
                if not values:
                    raise InsufficientStack("Wanted 1 stack item, had none")
                target = pop()
                condition = 1
            else:
                if len(values) < 2:
                    raise _short(2, len(values))
                target = pop()
                condition = pop()
                if condition.__class__ is bytes:
                    condition = from_bytes(condition, "big")
            if condition:
                if target.__class__ is bytes:
                    target = from_bytes(target, "big")
                if destinations is None:
                    destinations = jump_destinations(code)
                if target not in destinations:
                    raise _bad_jump(code, target)
                pc = target
        elif kind <= SIGNEXTEND:
            if kind == NOT or kind == ISZERO:
                if not values:
                    raise InsufficientStack("Wanted 1 stack item, had none")
                a = pop()
                if a.__class__ is bytes:
                    a = from_bytes(a, "big")
                push(UINT_256_MAX - a if kind == NOT else (0 if a else 1))
                continue
            if len(values) < 2:
                raise _short(2, len(values))
            a = pop()
            b = pop()
            if a.__class__ is bytes:
                a = from_bytes(a, "big")
            if b.__class__ is bytes:
                b = from_bytes(b, "big")
            if kind == ADD:
                push((a + b) & UINT_256_MAX)
            elif kind == AND:
                push(a & b)
            elif kind == SIGNEXTEND:
                if a <= 31:
                    sign = 1 << (a * 8 + 7)
                    push(b | (UINT_256_MAX + 1 - sign) if b & sign else b & (sign - 1))
                else:
                    push(b)
            elif kind == SLT:
                push(1 if a ^ SIGN_BIT < b ^ SIGN_BIT else 0)
            elif kind == EQ:
                push(1 if a == b else 0)
            elif kind == LT:
                push(1 if a < b else 0)
            elif kind == GT:
                push(1 if a > b else 0)
            elif kind == SUB:
                push((a - b) & UINT_256_MAX)
            elif kind == SHL:
                push(0 if a >= 256 else (b << a) & UINT_256_MAX)
            elif kind == SHR:
                push(0 if a >= 256 else b >> a)
            elif kind == OR:
                push(a | b)
            elif kind == MUL:
                push((a * b) & UINT_256_MAX)
            elif kind == DIV:
                push(0 if b == 0 else a // b)
            elif kind == MOD:
                push(0 if b == 0 else a % b)
            elif kind == SGT:
                push(1 if a ^ SIGN_BIT > b ^ SIGN_BIT else 0)
            else:  # XOR
                push(a ^ b)
        elif kind == MLOAD or kind == MSTORE:
            if len(values) < (1 if kind == MLOAD else 2):
                raise InsufficientStack("Wanted 1 stack item, had none")
            start = pop()
            if start.__class__ is bytes:
                start = from_bytes(start, "big")
            word = None
            if kind == MSTORE:
                value = pop()
                word = value.to_bytes(32, "big") if value.__class__ is int else value.rjust(32, b"\x00")
            end = start + 32
            mem = computation._memory
            size = len(mem._bytes)
            if end > size:
                fee = memory_gas_cost(end) - memory_gas_cost(size)
                if fee > gas:
                    raise _out_of_gas(fee, gas, f"Expanding memory {size} -> {(end + 31) & ~31}")
                gas -= fee
                mem.extend(start, 32)
            if word is None:
                push(from_bytes(mem._bytes[start:end], "big"))
            else:
                mem._bytes[start:end] = word
        elif kind == SHA3:
            if len(values) < 2:
                raise _short(2, len(values))
            start = pop()
            size = pop()
            if start.__class__ is bytes:
                start = from_bytes(start, "big")
            if size.__class__ is bytes:
                size = from_bytes(size, "big")
            if size:
                end = start + size
                mem = computation._memory
                have = len(mem._bytes)
                if end > have:
                    fee = memory_gas_cost(end) - memory_gas_cost(have)
                    if fee > gas:
                        raise _out_of_gas(fee, gas, f"Expanding memory {have} -> {(end + 31) & ~31}")
                    gas -= fee
                    mem.extend(start, size)
                raw = bytes(mem._bytes[start:end])
                fee = constants.GAS_SHA3WORD * ((size + 31) // 32)
                if fee > gas:
                    raise _out_of_gas(fee, gas, "SHA3: word gas cost")
                gas -= fee
            else:
                raw = b""
            push(from_bytes(keccak(raw), "big"))
        else:  # CALLDATALOAD
            if not values:
                raise InsufficientStack("Wanted 1 stack item, had none")
            start = pop()
            if start.__class__ is bytes:
                start = from_bytes(start, "big")
            if data is None:
                data = computation.msg.data_as_bytes
            raw = data[start : start + 32]
            if len(raw) < 32:
                raw = raw.ljust(32, b"\x00")
            push(from_bytes(raw, "big"))


def lean_computation_class(base: type[ComputationAPI]) -> type[ComputationAPI]:
    """``base`` (a fork's computation class) running frames in the lean loop."""
    table = build_table(base.opcodes)

    class Lean(base):  # type: ignore[valid-type, misc]
        lean_table = table
        lean_opcodes = base.opcodes
        lean_programs: dict[bytes, Program] = {}  # noqa: RUF012 - one per class, on purpose

        def __init__(
            self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI
        ) -> None:
            super().__init__(state, message, transaction_context)
            # A subclass with its own opcode table (the tracer) gets py-evm's loop.
            if type(self).opcodes is self.lean_opcodes and not self.logger.show_debug2:
                self.code = LeanCodeStream(message.code, self)

    Lean.__name__ = Lean.__qualname__ = f"Lean{base.__name__}"
    return Lean
