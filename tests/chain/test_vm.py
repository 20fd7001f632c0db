"""sumchain's VMs name the rule py-evm refuses a block or a transaction by, as a type."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chain.chain import Chain
from chain.vm import BlockRuleBroken
from tests.chain.conftest import Sender


def test_a_transaction_the_state_refuses_is_a_typed_transactions_rule(
    make_chain: Callable[..., Chain], fork: str
) -> None:
    chain = make_chain(fork=fork, genesis_timestamp=1_700_000_000)
    sender = Sender(chain)
    stale = sender.tx(to=chain.config.dev_accounts[2][0], nonce=5)  # the account's nonce is 0
    vm = chain.evm.get_vm(chain.evm.create_header_from_parent(chain.head))
    with pytest.raises(BlockRuleBroken) as raised:
        vm.state.validate_transaction(stale)
    assert raised.value.check == "transactions"


def test_a_header_not_after_its_parent_is_a_typed_timestamp_rule(make_chain: Callable[..., Chain]) -> None:
    chain = make_chain(fork="cancun", genesis_timestamp=1_700_000_000)
    parent = chain.head
    child = chain.evm.create_header_from_parent(parent).copy(timestamp=parent.timestamp)
    with pytest.raises(BlockRuleBroken, match="strictly later than parent") as raised:
        chain.vm_class.validate_header(child, parent)
    assert raised.value.check == "timestamp"
