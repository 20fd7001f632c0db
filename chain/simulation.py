"""Simulated blocks for ``eth_simulateV1``: calls executed as the transactions of one or
more blocks on top of a stored block, with state and block overrides, on a throwaway
view of the store (nothing is committed).

Each simulated block is built as the chain builds a block (py-evm applies the calls one
after another on the state the earlier ones left, so a call sees its predecessors), then
persisted into the view's buffer so that the next simulated block is its child: its
state, its hash (``BLOCKHASH``) and its number follow on. The rules are geth's
(``internal/ethapi/simulate.go``), which the execution-apis specification describes:

* a block's number defaults to its parent's + 1, its time to its parent's + 12 seconds;
  numbers must increase and times must not go back (:class:`SimulationOutOfOrder`);
  skipped numbers are filled with empty blocks, as geth does;
* without ``validation`` a call pays no gas price (the block's base fee is 0 unless
  overridden; an overridden one is paid, where geth charges nothing: py-evm has no
  switch for a fee cap under the base fee) and its nonce is the account's; with it,
  nonce, fee cap and balance are checked as the pool checks a transaction (the typed
  errors of ``chain.validation``);
* a call's gas defaults to what is left of its block's gas limit;
* ``trace_transfers`` adds an ERC-20 ``Transfer`` log from ``0xeeee…eeee`` for every
  ether transfer (the call's own value and every value-carrying inner call that did not
  revert), in execution order among the contracts' own logs.

The simulated transactions are unsigned: they carry a placeholder signature (r = s = 1,
so each has a hash and a block can be made of them) and their sender is given, not
recovered (``chain.vm.simulated_transaction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, SignedTransactionAPI
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth_typing import Address
from eth_utils import keccak

from chain.chain import apply_overrides
from chain.errors import (
    BlockGasExhausted,
    InsufficientFunds,
    IntrinsicGasTooLow,
    NonceGap,
    SimulationOutOfOrder,
)
from chain.tracing import recording, traced_vm_class
from chain.validation import validate_against_state
from chain.vm import intrinsic_gas, simulated_transaction

if TYPE_CHECKING:
    from chain.chain import Chain

TIME_STEP = 12  # seconds a simulated block's time is after its parent's by default, as geth
TRANSFER_LOG_ADDRESS = b"\xee" * 20  # the emitter of traceTransfers' Transfer logs (the spec's)
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")  # ERC-20 Transfer's topic 0
MAX_SIMULATED_BLOCKS = 256  # blocks one simulation may make (gaps included), as geth


@dataclass
class SimulatedCall:
    """One call of a simulated block (a transaction without a signature). None: the
    default (sender: the zero address; nonce: the account's; gas: what is left of the
    block; fees: 0 without validation, the base fee as fee cap with it)."""

    sender: bytes | None = None
    to: bytes | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None
    access_list: Sequence[tuple[bytes, Sequence[int]]] = ()


@dataclass
class BlockSpec:
    """One simulated block: its overrides (None: the default) and calls.

    ``state_overrides`` are in ``Chain.call``'s format (address -> balance, nonce, code,
    state, stateDiff), applied before the block's calls."""

    number: int | None = None
    time: int | None = None
    gas_limit: int | None = None
    coinbase: bytes | None = None
    prev_randao: bytes | None = None
    base_fee: int | None = None
    state_overrides: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    calls: list[SimulatedCall] = field(default_factory=list)


@dataclass
class CallOutcome:
    """What one simulated call did.

    ``logs`` are (address, topics, data) in execution order, transfers included when
    asked for; ``error`` is None on success, ``execution reverted`` or the EVM's error;
    ``gas_used`` is the transaction's, refund deducted."""

    transaction: SignedTransactionAPI
    sender: bytes
    output: bytes
    gas_used: int
    logs: list[tuple[bytes, tuple[bytes, ...], bytes]]
    error: str | None = None
    contract_address: bytes | None = None

    @property
    def reverted(self) -> bool:
        return self.error == "execution reverted"


@dataclass
class SimulatedBlock:
    """A simulated block (header, transactions) and the outcome of each of its calls."""

    block: BlockAPI
    outcomes: list[CallOutcome]


def simulate(
    chain: Chain,
    base: BlockHeaderAPI,
    specs: Sequence[BlockSpec],
    validation: bool = False,
    trace_transfers: bool = False,
) -> list[SimulatedBlock]:
    """Simulate ``specs`` as blocks on top of ``base``, on a view of ``chain``'s store.

    Raises ``SimulationOutOfOrder`` for numbers or times that do not follow on,
    ``InvalidTransaction`` subclasses for a call that could not be a transaction
    (intrinsic gas, block gas, balance; with ``validation`` also nonce and fee cap)."""
    view = chain.view()
    parent = base
    out: list[SimulatedBlock] = []
    made = 0
    for spec in specs:
        number = spec.number if spec.number is not None else parent.block_number + 1
        if number <= parent.block_number:
            raise SimulationOutOfOrder("number", number, parent.block_number)
        while parent.block_number + 1 < number:  # geth fills skipped numbers with empty blocks
            filler = _make_block(view, parent, BlockSpec(), None, validation, trace_transfers)
            out.append(filler)
            parent = filler.block.header
            made += 1
            _check_count(made)
        time = spec.time if spec.time is not None else parent.timestamp + TIME_STEP
        if time < parent.timestamp:
            raise SimulationOutOfOrder("time", time, parent.timestamp)
        built = _make_block(view, parent, spec, time, validation, trace_transfers)
        out.append(built)
        parent = built.block.header
        made += 1
        _check_count(made)
    return out


def _check_count(made: int) -> None:
    if made > MAX_SIMULATED_BLOCKS:
        raise SimulationOutOfOrder("count", made, MAX_SIMULATED_BLOCKS)


def _header(
    view: Chain, parent: BlockHeaderAPI, spec: BlockSpec, time: int | None, validation: bool
) -> BlockHeaderAPI:
    from chain.vm import new_header

    fields: dict[str, Any] = {
        "timestamp": time if time is not None else parent.timestamp + TIME_STEP,
        "gas_limit": spec.gas_limit if spec.gas_limit is not None else parent.gas_limit,
        "coinbase": spec.coinbase if spec.coinbase is not None else ZERO_ADDRESS,
        "mix_hash": spec.prev_randao if spec.prev_randao is not None else ZERO_HASH32,
        "extra_data": b"",
        "difficulty": 0,
    }
    if view.config.fork_at_least("cancun"):
        fields["parent_beacon_block_root"] = ZERO_HASH32
    header = new_header(view.vm_class, parent, **fields)
    if hasattr(header, "base_fee_per_gas"):
        if spec.base_fee is not None:
            header = header.copy(base_fee_per_gas=spec.base_fee)
        elif not validation:
            header = header.copy(base_fee_per_gas=0)  # calls pay no gas price, as eth_call
    return header


def _make_block(
    view: Chain,
    parent: BlockHeaderAPI,
    spec: BlockSpec,
    time: int | None,
    validation: bool,
    trace_transfers: bool,
) -> SimulatedBlock:
    header = _header(view, parent, spec, time, validation)
    plain = view.evm.get_vm(header)
    vm: Any = traced_vm_class(type(plain))(
        header=header,
        chaindb=plain.chaindb,
        chain_context=plain.chain_context,  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits chain_context, which its VM class defines
        consensus_context=plain.consensus_context,
    )
    block = vm.get_block()
    vm.block_preprocessing(block)
    apply_overrides(vm.state, spec.state_overrides)
    base_fee = getattr(header, "base_fee_per_gas", None)
    current = header
    receipts = []
    included = []
    outcomes = []
    for call in spec.calls:
        tx, sender = _transaction(vm, view.config.fork, current, call, validation, base_fee)
        with recording(transfers=trace_transfers) as recorder:
            receipt, computation = vm.apply_transaction(current, tx)
        gas_used = receipt.gas_used - current.gas_used
        current = vm.add_receipt_to_header(current, receipt)
        receipts.append(receipt)
        included.append(tx)
        logs = _logs(computation, recorder.transfers if trace_transfers else [])
        created = None
        if call.to is None and not computation.is_error:
            created = bytes(computation.msg.storage_address)
        outcomes.append(
            CallOutcome(
                transaction=tx,
                sender=sender,
                output=bytes(computation.output),
                gas_used=gas_used,
                logs=logs,
                error=_error_text(computation) if computation.is_error else None,
                contract_address=created,
            )
        )
    filled = vm.set_block_transactions_and_withdrawals(vm.get_block(), current, included, receipts)
    finished = vm.block_postprocessing(filled)
    result = vm.finalize_block(finished)
    view.evm.chaindb.persist_block(result.block)
    return SimulatedBlock(result.block, outcomes)


def _transaction(
    vm: Any, fork: str, header: BlockHeaderAPI, call: SimulatedCall, validation: bool, base_fee: int | None
) -> tuple[SignedTransactionAPI, bytes]:
    """The call as an unsigned transaction with a zero signature, checked as geth checks
    a simulated call before it runs."""
    sender = call.sender or bytes(ZERO_ADDRESS)
    state = vm.state
    account_nonce = state.get_nonce(Address(sender))
    nonce = call.nonce if (validation and call.nonce is not None) else account_nonce
    gas_left = header.gas_limit - header.gas_used
    gas = call.gas if call.gas is not None else gas_left
    london = base_fee is not None
    if call.gas_price is not None:
        max_fee = tip = call.gas_price
    elif validation:
        max_fee = call.max_fee_per_gas if call.max_fee_per_gas is not None else (base_fee or 0)
        tip = call.max_priority_fee_per_gas if call.max_priority_fee_per_gas is not None else 0
    else:
        # no gas price, unless the block's base fee is overridden: py-evm refuses a fee cap
        # under the base fee (geth lifts that rule here and charges nothing)
        max_fee = max(call.max_fee_per_gas or 0, base_fee or 0)
        tip = call.max_priority_fee_per_gas or 0
    fields: dict[str, Any] = {
        "nonce": nonce,
        "gas": gas,
        "to": call.to or b"",
        "value": call.value,
        "data": call.data,
    }
    dynamic_fee = None
    if london and call.gas_price is None:
        dynamic_fee = {
            "chain_id": vm.chain_context.chain_id,
            "max_priority_fee_per_gas": min(tip, max_fee),
            "max_fee_per_gas": max_fee,
            "access_list": [(a, list(s)) for a, s in call.access_list],
        }
    else:
        fields["gas_price"] = max_fee
    tx = simulated_transaction(vm, sender, fields, dynamic_fee)
    needed = intrinsic_gas(fork, tx)
    if gas < needed:
        raise IntrinsicGasTooLow(f"intrinsic gas too low: have {gas}, want {needed}")
    if gas > gas_left:
        raise BlockGasExhausted(gas, gas_left)
    balance = state.get_balance(Address(sender))
    if validation:
        validate_against_state(tx, sender, account_nonce, balance, base_fee)
        if nonce > account_nonce:
            raise NonceGap(f"nonce too high: account has nonce {account_nonce}, call has {nonce}")
    elif balance < call.value + gas * max_fee:
        want = call.value + gas * max_fee
        raise InsufficientFunds(f"insufficient funds for gas * price + value: have {balance}, want {want}")
    return tx, sender


def _logs(
    computation: ComputationAPI, transfers: Sequence[tuple[int, bytes, bytes, int]]
) -> list[tuple[bytes, tuple[bytes, ...], bytes]]:
    """The computation's logs and the recorded ether transfers, in execution order."""
    entries: list[tuple[int, bytes, tuple[bytes, ...], bytes]] = [
        (counter, bytes(address), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
        for counter, address, topics, data in computation.get_raw_log_entries()
    ]
    for counter, sender, recipient, value in transfers:
        topics = (TRANSFER_TOPIC, sender.rjust(32, b"\0"), recipient.rjust(32, b"\0"))
        entries.append((counter, TRANSFER_LOG_ADDRESS, topics, value.to_bytes(32, "big")))
    entries.sort(key=lambda entry: entry[0])
    return [(address, topics, data) for _counter, address, topics, data in entries]


def _error_text(computation: ComputationAPI) -> str:
    error = computation.error
    name = type(error).__name__
    if name == "Revert":
        return "execution reverted"
    if name == "OutOfGas":
        return "out of gas"
    text = str(error)
    return f"{name}: {text}" if text else name
