"""The lean interpreter loop agrees with py-evm's plain loop.

Random bytecode (raw bytes, and programs made of fragments that hit the edge cases:
out of gas, stack under- and overflow, jumps into PUSH data and to non-JUMPDESTs,
REVERT, RETURN, memory growth, storage and logs) runs as a message call on one state
with each loop; gas left, refund, output, logs, error class and the state root after
must be equal. The same on every fork from Petersburg to Prague.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth.vm.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.chain import Chain
from chain.config import ChainConfig
from chain.interpreter import jump_destinations
from chain.tracing import traced_vm_class
from chain.vm import LEAN_VM_CLASSES, VM_CLASSES

FORKS = ("petersburg", "istanbul", "berlin", "london", "shanghai", "cancun", "prague")
CONTRACT = b"\x0c" * 20
SENDER = b"\x05" * 20
EXAMPLES = 120  # random programs per fork and strategy


@pytest.fixture(scope="module")
def chains() -> Iterator[dict[str, Chain]]:
    opened = {fork: Chain.open(ChainConfig(fork=fork), fast_paths=False) for fork in FORKS}
    yield opened
    for chain in opened.values():
        chain.close()


def _vm(chain: Chain, vm_class: type) -> object:
    plain = chain.evm.get_vm(chain.head)
    return vm_class(
        header=chain.head,
        chaindb=plain.chaindb,
        chain_context=plain.chain_context,
        consensus_context=plain.consensus_context,
    )


def _run(chain: Chain, vm_class: type, code: bytes, data: bytes, gas: int) -> tuple:
    state = _vm(chain, vm_class).state  # type: ignore[attr-defined]
    state.set_code(CONTRACT, code)
    state.set_storage(CONTRACT, 1, 7)  # a slot to read, clear (refund) or overwrite
    state.lock_changes()
    context = state.get_transaction_context_class()(gas_price=1, origin=SENDER)
    message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=0, data=data, code=code)
    computation = state.computation_class.apply_message(state, message, context)
    error = type(computation.error) if computation.is_error else None
    # After a success the stack and memory are what the program computed (the loops may
    # keep a stack item as int or bytes: compared as ints); after an error they are dropped.
    stack = None if error else [_as_int(item) for item in computation._stack.values]
    memory = None if error else bytes(computation._memory._bytes)
    return (
        error,
        computation.get_gas_remaining(),
        computation.get_gas_refund(),
        computation.output,
        computation.get_log_entries(),
        state.make_state_root(),
        stack,
        memory,
    )


def _as_int(item: int | bytes) -> int:
    return item if isinstance(item, int) else int.from_bytes(item, "big")


def _assert_same(fork: str, chains: dict[str, Chain], code: bytes, data: bytes, gas: int) -> None:
    chain = chains[fork]
    plain = _run(chain, VM_CLASSES[fork], code, data, gas)
    lean = _run(chain, LEAN_VM_CLASSES[fork], code, data, gas)
    assert lean == plain, f"code {code.hex()} data {data.hex()} gas {gas}"


def _push(value: int, size: int = 1) -> bytes:
    return bytes([0x5F + size]) + value.to_bytes(size, "big")


# Arithmetic, comparison and bitwise ops; SHA3, CALLDATALOAD/SIZE, POP .. GAS, JUMPDEST,
# PUSH0, LOG0/1, STOP, RETURN, REVERT, INVALID and an unassigned byte.
OPCODES = list(bytes.fromhex("0102030405060708090a0b101112131415161718191a1b1c1d"))
OPCODES += list(bytes.fromhex("203536505152535455565758595a5b5fa0a100f3fdfe0c"))
FRAGMENTS = st.one_of(
    st.integers(0, 255).map(lambda v: _push(v)),  # PUSH1
    st.integers(0, 2**256 - 1).map(lambda v: _push(v, 32)),  # PUSH32
    st.integers(1, 16).map(lambda n: bytes([0x7F + n])),  # DUPn
    st.integers(1, 16).map(lambda n: bytes([0x8F + n])),  # SWAPn
    st.sampled_from(OPCODES).map(lambda op: bytes([op])),
    st.integers(0, 80).map(lambda t: _push(t) + b"\x56"),  # JUMP somewhere near
    st.integers(0, 80).map(lambda t: _push(1) + _push(t) + b"\x57"),  # JUMPI taken
    st.integers(0, 2**16 - 1).map(lambda o: _push(o, 2) + b"\x51"),  # MLOAD, memory growth
    st.integers(0, 2**16 - 1).map(lambda o: _push(9) + _push(o, 2) + b"\x52"),  # MSTORE
    st.just(_push(2**255, 32) + b"\x51"),  # MLOAD far out: out of gas
    st.just(b"\x5b" + _push(1) + b"\x60\x00\x56"),  # a loop pushing: stack overflow
    st.just(_push(1) + b"\x5b\x80\x60\x02\x56"),  # a loop of DUP1: stack overflow
    st.just(b"\x61\x5b\x5b\x60\x01\x56"),  # a jump into PUSH2 data (a JUMPDEST byte)
    st.just(_push(32) + _push(0) + b"\xf3"),  # RETURN a word
    st.just(_push(4) + _push(0) + b"\xfd"),  # REVERT with data
    st.just(_push(1) + b"\x54" + _push(0) + b"\x55"),  # SLOAD then SSTORE 0 (refund)
    st.just(_push(1) + _push(0) + b"\x35\x55"),  # SSTORE from call data
    st.tuples(st.integers(0, 200), st.integers(0, 2**16 - 1)).map(
        lambda s: _push(s[0]) + _push(s[1], 2) + b"\x20"  # SHA3 of a region: memory growth, word gas
    ),
)
# A few values pushed first, so that most programs get past stack underflow and end with
# a stack and memory worth comparing.
PRELUDE = st.lists(
    st.one_of(st.integers(0, 2**256 - 1), st.integers(0, 300)).map(lambda v: _push(v, 32)),
    min_size=4,
    max_size=17,
)
PROGRAMS = st.tuples(PRELUDE, st.lists(FRAGMENTS, max_size=40)).map(
    lambda parts: b"".join(parts[0] + parts[1])
)
# Mostly plenty of gas (so programs run to their end), sometimes little (out of gas anywhere).
GAS = st.one_of(st.just(1_000_000), st.just(1_000_000), st.integers(0, 100), st.integers(0, 30_000))
# Straight-line stack and arithmetic programs: nearly all run to the end, so their final
# stacks are compared.
EDGE_VALUES = [0, 1, 2, 31, 32, 255, 256, 257, 2**255, 2**256 - 1]
ARITHMETIC = st.one_of(
    st.integers(0, 2**256 - 1).map(lambda v: _push(v, 32)),
    st.integers(0, 300).map(lambda v: _push(v, 2)),
    st.sampled_from(EDGE_VALUES).map(lambda v: _push(v, 32)),
    st.sampled_from(EDGE_VALUES).map(lambda v: _push(v, 32)),
    st.integers(1, 16).map(lambda n: bytes([0x7F + n])),
    st.integers(1, 16).map(lambda n: bytes([0x8F + n])),
    st.sampled_from(OPCODES[:25] + [0x50, 0x5B]).map(lambda op: bytes([op])),
)
STRAIGHT = st.tuples(PRELUDE, st.lists(ARITHMETIC, max_size=60)).map(
    lambda parts: b"".join(parts[0] + parts[1])
)
DATA = st.binary(max_size=70)
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("fork", FORKS)
@SETTINGS
@given(code=PROGRAMS, data=DATA, gas=GAS)
def test_lean_loop_agrees_with_plain_loop_on_random_programs(
    chains: dict[str, Chain], fork: str, code: bytes, data: bytes, gas: int
) -> None:
    _assert_same(fork, chains, code, data, gas)


@pytest.mark.parametrize("fork", FORKS)
@SETTINGS
@given(code=STRAIGHT, data=DATA)
def test_lean_loop_agrees_with_plain_loop_on_straight_line_arithmetic(
    chains: dict[str, Chain], fork: str, code: bytes, data: bytes
) -> None:
    _assert_same(fork, chains, code, data, 1_000_000)


@pytest.mark.parametrize("fork", FORKS)
@SETTINGS
@given(code=st.binary(max_size=120), data=DATA, gas=GAS)
def test_lean_loop_agrees_with_plain_loop_on_random_bytes(
    chains: dict[str, Chain], fork: str, code: bytes, data: bytes, gas: int
) -> None:
    _assert_same(fork, chains, code, data, gas)


BINARY_OPS = [*range(0x01, 0x0C), *range(0x10, 0x1E)]  # arithmetic, comparison, bitwise


@pytest.mark.parametrize("fork", FORKS)
@pytest.mark.parametrize("op", BINARY_OPS, ids=hex)
def test_lean_loop_agrees_on_every_pair_of_edge_values(chains: dict[str, Chain], fork: str, op: int) -> None:
    pairs = [(a, b) for a in EDGE_VALUES for b in EDGE_VALUES]
    code = b"".join(_push(b, 32) + _push(a, 32) + bytes([op]) for a, b in pairs)
    if op in (0x08, 0x09):  # ADDMOD, MULMOD take a third operand
        code = b"".join(_push(7, 32) + _push(b, 32) + _push(a, 32) + bytes([op]) for a, b in pairs)
    _assert_same(fork, chains, code, b"", 10_000_000)


EDGE_CASES = {
    "stack overflow": b"\x5b" + _push(1) + b"\x60\x00\x56",
    "dup overflow": _push(1) + b"\x5b\x80\x60\x02\x56",
    "stack underflow": b"\x01",
    "swap underflow": _push(1) + b"\x90",
    "dup underflow": _push(1) + b"\x81",
    "jump into push data": b"\x61\x5b\x5b\x60\x01\x56",
    "jump to a non-JUMPDEST": _push(0) + b"\x56",
    "jump past the end": _push(200) + b"\x56",
    "invalid opcode": b"\xfe",
    "revert": _push(4) + _push(0) + b"\xfd",
    "return": _push(7) + _push(0) + b"\x52" + _push(32) + _push(0) + b"\xf3",
    "truncated push": b"\x7f\x01\x02",
    "memory out of gas": _push(2**255, 32) + b"\x51",
    "sha3 of nothing far out": _push(0) + _push(2**255, 32) + b"\x20",
    "sha3 out of gas": _push(2**200, 32) + _push(0) + b"\x20",
    "sha3 of a word": _push(7) + _push(0) + b"\x52" + _push(32) + _push(0) + b"\x20",
    "sha3 underflow": _push(1) + b"\x20",
    "push cut off by the end": _push(3) + b"\x56" + b"\x5b\x62\x01",
}


@pytest.mark.parametrize("fork", FORKS)
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_lean_loop_agrees_on_each_edge_case(chains: dict[str, Chain], fork: str, name: str) -> None:
    code = EDGE_CASES[name]
    for gas in (0, 2, 21, 30_000):
        _assert_same(fork, chains, code, b"", gas)


def test_the_edge_cases_raise_what_py_evm_raises(chains: dict[str, Chain]) -> None:
    from eth.exceptions import (
        FullStack,
        InsufficientStack,
        InvalidInstruction,
        InvalidJumpDestination,
        OutOfGas,
        Revert,
    )

    expected = {
        "stack overflow": FullStack,
        "dup overflow": FullStack,
        "stack underflow": InsufficientStack,
        "jump into push data": InvalidInstruction,
        "jump to a non-JUMPDEST": InvalidJumpDestination,
        "invalid opcode": InvalidInstruction,
        "revert": Revert,
        "memory out of gas": OutOfGas,
        "return": None,
    }
    chain = chains["cancun"]
    for name, error in expected.items():
        result = _run(chain, LEAN_VM_CLASSES["cancun"], EDGE_CASES[name], b"", 10_000_000)
        assert result[0] is error, name


def test_jump_destinations_skip_push_data() -> None:
    code = bytes.fromhex("5b615b5b5b7f" + "5b" * 32 + "5b")
    assert jump_destinations(code) == frozenset({0, 4, 38})


def test_a_traced_vm_runs_the_plain_loop_with_the_same_gas(chains: dict[str, Chain]) -> None:
    from chain.interpreter import LeanCodeStream

    chain = chains["cancun"]
    code = _push(3) + _push(4) + b"\x01" + _push(0) + b"\x55\x00"
    traced = traced_vm_class(LEAN_VM_CLASSES["cancun"])
    state = _vm(chain, traced).state  # type: ignore[attr-defined]
    message = Message(gas=100_000, to=CONTRACT, sender=SENDER, value=0, data=b"", code=code)
    context = state.get_transaction_context_class()(gas_price=1, origin=SENDER)
    computation = state.computation_class(state, message, context)
    assert not isinstance(computation.code, LeanCodeStream)
    lean = _run(chain, LEAN_VM_CLASSES["cancun"], code, b"", 100_000)
    assert _run(chain, traced, code, b"", 100_000) == lean
