"""Access lists for eth_createAccessList: which accounts and storage slots a call touches.

From Berlin on, py-evm marks every address and slot a transaction touches as warm
through two state methods. A state subclass that overrides exactly those two records
them while the call runs; the list is then run again with the access list attached,
for the gas the transaction would use with it, as geth does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth.abc import BlockHeaderAPI, ComputationAPI, VirtualMachineAPI
from eth.constants import ZERO_ADDRESS

from chain.chain import Chain, call_state
from chain.errors import AccessListUnavailable
from chain.vm import call_transaction, contract_address

PRECOMPILE_LAST = 0x11  # highest precompile address through Prague; never listed


@dataclass
class AccessListResult:
    """The accounts and slots a call touched, and its gas with that list attached."""

    access_list: list[tuple[bytes, list[int]]]  # (address, sorted slots), in first-touch order
    gas_used: int
    error: str | None


def _recording_vm(chain: Chain, header: BlockHeaderAPI, touched: dict[bytes, set[int]]) -> VirtualMachineAPI:
    plain = chain.evm.get_vm(header)
    base_state = type(plain).get_state_class()

    class RecordingState(base_state):  # type: ignore[valid-type, misc]
        def mark_address_warm(self, address: Any) -> None:
            touched.setdefault(bytes(address), set())
            super().mark_address_warm(address)

        def mark_storage_warm(self, address: Any, slot: int) -> None:
            touched.setdefault(bytes(address), set()).add(slot)
            super().mark_storage_warm(address, slot)

    vm_class = type(plain).configure(
        __name__=f"AccessRecording{type(plain).__name__}", _state_class=RecordingState
    )
    return vm_class(
        header=header,
        chaindb=plain.chaindb,
        chain_context=plain.chain_context,  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits chain_context, which its VM class defines
        consensus_context=plain.consensus_context,
    )


def _execute(
    vm: VirtualMachineAPI, request: dict[str, Any], gas: int, access: list[tuple[bytes, list[int]]]
) -> tuple[ComputationAPI, Any]:
    tx = call_transaction(vm, request, gas, access)
    with call_state(vm) as state:
        computation = state.costless_execute_transaction(tx)
    return computation, tx


def create_access_list(
    chain: Chain, request: dict[str, Any], header: BlockHeaderAPI | None = None
) -> AccessListResult:
    """What eth_createAccessList answers for ``request`` on the state after ``header``.

    Precompiles are left out, and so are the sender and the recipient (or created
    contract) unless their storage was touched, as geth does: they are warm anyway.
    """
    if not chain.config.fork_at_least("berlin"):
        raise AccessListUnavailable(chain.config.fork)
    header = header or chain.head
    gas = int(request.get("gas") or chain.config.gas_limit)
    touched: dict[bytes, set[int]] = {}
    vm = _recording_vm(chain, header, touched)
    computation, tx = _execute(vm, request, gas, [])
    sender = bytes(request.get("from") or ZERO_ADDRESS)
    exclude = {sender, bytes(header.coinbase)}  # the coinbase is warm from Shanghai on
    if request.get("to"):
        exclude.add(bytes(request["to"]))
    else:
        exclude.add(contract_address(sender, tx.nonce))
    # as geth: an excluded address still appears when its storage was touched
    access = [
        (address, sorted(slots))
        for address, slots in touched.items()
        if (slots or address not in exclude) and not 0 < int.from_bytes(address, "big") <= PRECOMPILE_LAST
    ]
    error = str(computation.error) if computation.is_error else None
    plain = chain.evm.get_vm(header)
    with_list, _ = _execute(plain, request, gas, access)
    used = gas - with_list.get_gas_remaining()
    return AccessListResult(access_list=access, gas_used=used, error=error or None)
