"""The SDK's estimate cache: a call estimated again at the same head block is answered
from the cache with the node's own estimate; a new head, other arguments or the cache
switched off ask the node."""

from __future__ import annotations

from typing import Any

from web3.providers import JSONBaseProvider

from tests.vm_contracts.test_client import deploy
from vm_contracts.deploy import GasPolicy, Sender, poa_web3


class _Counting(JSONBaseProvider):
    """Passes requests to ``inner``, counting them by method."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.counts: dict[str, int] = {}

    def make_request(self, method: Any, params: Any) -> Any:
        self.counts[method] = self.counts.get(method, 0) + 1
        return self.inner.make_request(method, params)


def test_the_same_call_at_the_same_head_is_estimated_once(w3):
    alice = w3.eth.accounts[1]
    framework = deploy(w3, "SparsePerceptron", "Points")
    counting = _Counting(w3.provider)
    counted = poa_web3(counting)
    trainer = counted.eth.contract(address=framework.address, abi=framework.trainer.abi)
    params = {"from": alice, "value": 0}
    head = counted.eth.get_block("latest")
    fresh = Sender(counted, framework.decoder, [])
    first = fresh.estimate_at(trainer.functions.addData([1, 2], 1), params, head)
    again = fresh.estimate_at(trainer.functions.addData([1, 2], 1), params, head)
    assert (
        first
        == again
        == w3.eth.estimate_gas(
            {"to": framework.address, "from": alice, "data": trainer.encode_abi("addData", args=[[1, 2], 1])},
            block_identifier=head["number"],
        )
    )
    assert counting.counts["eth_estimateGas"] == 1
    fresh.estimate_at(trainer.functions.addData([1, 3], 1), params, head)  # other arguments
    assert counting.counts["eth_estimateGas"] == 2
    framework.add_data([4, 5], 0, alice)  # a new head
    fresh.estimate_at(trainer.functions.addData([1, 2], 1), params, counted.eth.get_block("latest"))
    assert counting.counts["eth_estimateGas"] == 3
    uncached = Sender(counted, framework.decoder, [], GasPolicy(estimate_cache=False))
    latest = counted.eth.get_block("latest")
    for _ in range(2):
        uncached.estimate_at(trainer.functions.addData([1, 2], 1), params, latest)
    assert counting.counts["eth_estimateGas"] == 5
