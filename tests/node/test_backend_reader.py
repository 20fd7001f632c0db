"""The backend's reading views (the threads that run eth_call and eth_estimateGas): the
lean interpreter loop when the live chain has its fast paths, py-evm's plain loop when it
has not, and the same answers either way."""

from __future__ import annotations

import pytest

from node.assemble import assemble
from node.rpc.params import BlockId, TxRequest


def computation_name(chain) -> str:  # type: ignore[no-untyped-def]
    return chain.vm_class.get_state_class().computation_class.__name__


@pytest.mark.parametrize("fast_paths", [True, False])
def test_a_reading_view_runs_calls_in_the_loop_of_its_live_chain(fast_paths):
    node = assemble(fast_paths=fast_paths, mode="automine")
    try:
        reader = node.backend.reader()
        assert computation_name(reader.chain).startswith("Lean") == fast_paths
        assert computation_name(node.chain).startswith("Lean") == fast_paths
        assert not reader.chain.fast_paths  # never the live chain's caches
    finally:
        node.chain.close()


def test_calls_and_estimates_agree_between_the_lean_and_the_plain_reading_views():
    answers = []
    for fast_paths in (True, False):
        node = assemble(fast_paths=fast_paths, mode="automine")
        try:
            sender = next(iter(node.backend.accounts))
            reader = node.backend.reader()
            request = TxRequest(sender=sender, to=None, data=b"\x60\x2a\x60\x00\x55\x60\x01\x60\x00\xf3")
            answers.append(
                (
                    reader.calls.call(request, BlockId(tag="latest"), None),
                    reader.calls.estimate_gas(request, BlockId(tag="latest"), None),
                )
            )
        finally:
            node.chain.close()
    assert answers[0] == answers[1]
