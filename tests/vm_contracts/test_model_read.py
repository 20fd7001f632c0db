"""The fast model read (storage words in one request) against the plain one (the paged
getters): the same dict for every model at every block, on sumchain and on anvil, and
the fallback when a node refuses or ignores the code override."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.providers import JSONBaseProvider

from bench.nodes import start_anvil
from tests.vm_contracts.test_client import CASES, deploy
from vm_contracts.client import MODELS, READ_VIAS, Framework
from vm_contracts.errors import ClientError
from vm_contracts.storage import READER_CODE, StorageReadError, mapping_slot, read_words

FAST_VIAS = [via for via in READ_VIAS if via != "getters"]


def trained_history(w3: Web3, model: str) -> tuple[Framework, list[int]]:
    """A trainer of ``model`` and the blocks of its versions: deployed, then after each of
    four samples (two of them mistakes it learns from, under both labels)."""
    alice, bob = w3.eth.accounts[1:3]
    framework = deploy(w3, model, "Points")
    blocks = [w3.eth.block_number]
    _, one, zero = CASES[model]
    for sample, label, who in ((one, 1, alice), (zero, 0, bob), (zero, 1, alice), (one, 0, bob)):
        framework.add_data(sample, label, who)
        blocks.append(w3.eth.block_number)
    return framework, blocks


def assert_every_read_agrees(framework: Framework, blocks: list[int]) -> None:
    states = []
    for block in blocks:
        plain = framework.read_model(block=block, via="getters")
        for via in FAST_VIAS:
            assert framework.read_model(block=block, via=via) == plain, (via, block)
        states.append(plain)
    assert any(a != b for a, b in zip(states, states[1:], strict=False)), "training changed the model"


@pytest.mark.parametrize("model", MODELS)
def test_storage_read_equals_the_getters_at_every_block(w3, model):
    framework, blocks = trained_history(w3, model)
    assert_every_read_agrees(framework, blocks)


@pytest.fixture
def anvil_w3():
    with start_anvil(needed_by="the model-read test on anvil", fork="cancun") as anvil:
        yield Web3(Web3.HTTPProvider(anvil.url))


@pytest.mark.anvil
def test_storage_read_equals_the_getters_on_anvil_for_every_model(anvil_w3):
    for model in MODELS:
        framework, blocks = trained_history(anvil_w3, model)
        assert_every_read_agrees(framework, blocks)


class _Filtering(JSONBaseProvider):
    """A provider in front of another that changes ``eth_call``s carrying a state override
    as a node would that ignores (``drop``) or refuses (``refuse``) overrides."""

    def __init__(self, inner: Any, mode: str) -> None:
        super().__init__()
        self.inner = inner
        self.mode = mode
        self.refused = 0

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_call" and len(params) > 2:
            if self.mode == "refuse":
                self.refused += 1
                return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "too many arguments"}}
            params = params[:2]
        return self.inner.make_request(method, params)


@pytest.mark.parametrize("mode", ["drop", "refuse"])
def test_a_node_without_overrides_is_read_by_a_storage_batch(w3, mode):
    framework, blocks = trained_history(w3, "SparsePerceptron")
    filtered = Web3(_Filtering(w3.provider, mode))
    address = framework.model.address
    slots = [0, *(mapping_slot(k, 1) for k in range(6))]
    truth = [
        int.from_bytes(w3.eth.get_storage_at(address, s, block_identifier=blocks[-1]), "big") for s in slots
    ]
    with pytest.raises(StorageReadError):
        read_words(filtered, address, slots, blocks[-1], "call")
    assert read_words(filtered, address, slots, blocks[-1], "auto") == truth
    assert read_words(w3, address, slots, blocks[-1], "call") == truth
    attached = Framework.attach(filtered, framework.address, "SparsePerceptron", "Points")
    assert attached.read_model(block=blocks[-1]) == framework.read_model(block=blocks[-1], via="getters")


def test_the_reader_code_returns_every_slot_and_nothing_else(w3):
    framework, blocks = trained_history(w3, "NaiveBayes")
    address = framework.model.address
    slots = [0, 1, 2, *(mapping_slot(k, 1) for k in range(3)), *(mapping_slot(c, 2) for c in range(2))]
    out = w3.eth.call(
        {"to": address, "data": b"".join(s.to_bytes(32, "big") for s in slots)},
        blocks[-1],
        {address: {"code": "0x" + READER_CODE.hex()}},
    )
    want = [w3.eth.get_storage_at(address, s, block_identifier=blocks[-1]) for s in slots]
    assert [out[i : i + 32] for i in range(0, len(out), 32)] == want


def test_an_unknown_read_method_and_a_block_before_the_trainer_are_client_errors(w3):
    framework, blocks = trained_history(w3, "SparsePerceptron")
    with pytest.raises(ClientError, match="unknown read method"):
        framework.read_model(via="cache")
    with pytest.raises(ClientError, match="no trainer"):
        framework.read_model(block=1)


def test_a_provider_that_cannot_read_storage_gets_the_getters_by_default():
    """eth-tester's provider fails on overrides and on block-numbered eth_getStorageAt: the
    forced storage reads raise, the default read falls back to the getters."""
    from web3 import EthereumTesterProvider

    tester = Web3(EthereumTesterProvider())
    framework, blocks = trained_history(tester, "NaiveBayes")
    with pytest.raises(Exception):  # noqa: B017 - eth-tester raises TypeError or ValidationError
        framework.read_model(block=blocks[-1], via="storage-call")
    for block in blocks:
        assert framework.read_model(block=block) == framework.read_model(block=block, via="getters")
