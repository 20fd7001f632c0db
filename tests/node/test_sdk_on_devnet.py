"""The SDK on a real `sumchain devnet` (and anvil): `connect` gives a ready web3 with the
proof-of-authority middleware only where the chain needs it, `deploy_framework` works on
a plain `Web3`, an `AsyncWeb3` over WebSocket without the middleware is told the chain
is proof of authority, and a model reads back in human units, raw, or as a DataFrame."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import requests
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.middleware import ExtraDataToPOAMiddleware

from vm_contracts.client import (
    ProofOfAuthorityChain,
    accept_proof_of_authority,
    async_connect,
    connect,
    deploy_framework,
    new_heads,
)
from vm_contracts.encoding import SCALE
from vm_contracts.errors import ClientError, MissingExtra
from vm_contracts.views import history_frame, human_units, model_parameters, trainer_parameters

FEATURES = 16


@pytest.fixture(scope="module")
def framework(devnet) -> Any:  # type: ignore[no-untyped-def]
    """A SparsePerceptron deployed through a plain Web3 (no middleware), with two updates."""
    w3 = Web3(Web3.HTTPProvider(devnet.url))
    assert ExtraDataToPOAMiddleware not in w3.middleware_onion
    framework = deploy_framework(
        w3,
        model="SparsePerceptron",
        incentive="Points",
        params={"num_features": FEATURES, "learning_rate": SCALE // 2},
        initial={"intercept": -SCALE, "weights": [SCALE * i // 4 for i in range(FEATURES)]},
    )
    framework.add_data([1, 2, 3], 0, w3.eth.accounts[1])
    framework.add_data([4, 5], 0, w3.eth.accounts[2])  # both mistakes of the model: both update it
    return framework


def test_deploy_framework_works_on_a_plain_web3_and_leaves_it_reading_blocks(framework) -> None:
    w3 = framework.w3
    assert ExtraDataToPOAMiddleware in w3.middleware_onion  # added before the first transaction
    block = w3.eth.get_block("latest")
    assert len(block["proofOfAuthorityData"]) > 32


def test_connect_adds_the_middleware_for_sumchain_and_not_for_anvil(devnet) -> None:
    from bench.nodes import start_anvil

    w3 = connect(devnet.url)
    assert ExtraDataToPOAMiddleware in w3.middleware_onion
    assert w3.eth.get_block("latest")["number"] >= 0
    with pytest.raises(ClientError, match="use async_connect"):
        connect(devnet.ws_url)
    anvil = start_anvil()
    try:
        plain = connect(anvil.url)
        assert ExtraDataToPOAMiddleware not in plain.middleware_onion
        assert "extraData" in plain.eth.get_block("latest")
    finally:
        anvil.stop()


def test_a_web3_without_the_middleware_is_told_the_chain_is_proof_of_authority(devnet) -> None:
    with pytest.raises(ProofOfAuthorityChain, match="is proof of authority") as caught:
        accept_proof_of_authority(Web3(Web3.HTTPProvider(devnet.url)), inject=False)
    assert caught.value.extra_data_bytes > 32 and caught.value.url == devnet.url


def test_async_web3_over_websocket_without_the_middleware_gets_a_proof_of_authority_error(devnet) -> None:
    async def follow() -> None:
        async with AsyncWeb3(WebSocketProvider(devnet.ws_url)) as w3:
            async for _head in new_heads(w3):
                raise AssertionError("a head was formatted without the middleware")

    with pytest.raises(ProofOfAuthorityChain, match="proof of authority.*ExtraDataToPOAMiddleware"):
        asyncio.run(follow())


def test_async_connect_follows_new_heads(devnet) -> None:
    async def follow() -> int:
        w3 = await async_connect(devnet.ws_url)
        try:
            heads = new_heads(w3)
            first = asyncio.ensure_future(heads.__anext__())
            await asyncio.sleep(0.5)  # the subscription is in place
            await asyncio.to_thread(
                requests.post, devnet.url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine"}
            )
            head = await asyncio.wait_for(first, 30)
            await heads.aclose()
            assert len(head["proofOfAuthorityData"]) > 32
            return int(head["number"])
        finally:
            await w3.provider.disconnect()

    number = asyncio.run(follow())
    assert number >= 1


def test_parameters_read_back_in_human_units_or_raw(framework) -> None:
    raw = model_parameters(framework, raw=True)
    human = model_parameters(framework)
    assert raw["learning_rate"] == SCALE // 2 and human["learning_rate"] == 0.5
    assert human["num_features"] == raw["num_features"] == FEATURES
    assert human["intercept"] == raw["intercept"] / SCALE
    assert human["weights"] == [w / SCALE for w in raw["weights"]]
    assert "model" not in human and "block" not in raw
    full = trainer_parameters(framework.w3, framework.address, "latest")
    assert full["model"] == "SparsePerceptron" and full["weights"] == human["weights"]
    assert human_units({"sample_counts": [3, 4], "centroids": [[SCALE, 2 * SCALE]]}) == {
        "sample_counts": [3, 4],
        "centroids": [[1.0, 2.0]],
    }


def test_history_as_a_dataframe(framework) -> None:
    pandas = pytest.importorskip(
        "pandas", reason="pandas is the optional 'pandas' extra (the dev extra has it)"
    )
    from pathlib import Path

    from vm_contracts.versions import TestSet

    test_set = TestSet(path=Path("memory"), data=[[1, 2, 3], [4, 5]], labels=[0, 0])
    frame = history_frame(framework, test_set=test_set)
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["block", "kind", "accuracy", "changed_by", "label", "data", "transaction"]
    assert list(frame["kind"]) == ["deployed", "update", "update"]
    accounts = framework.w3.eth.accounts
    assert list(frame["changed_by"][1:]) == [accounts[1], accounts[2]]
    assert list(frame["data"][1:]) == [[1, 2, 3], [4, 5]] and list(frame["label"][1:]) == [0, 0]
    assert frame["accuracy"].between(0, 1).all()
    assert frame["block"].is_monotonic_increasing


def test_history_without_pandas_says_which_extra_to_install(framework, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    with pytest.raises(MissingExtra, match=r"pip install 'sumchain\[pandas\]'") as caught:
        history_frame(framework)
    assert caught.value.package == "pandas"


def test_model_show_prints_reals_and_raw_prints_fixed_point(framework, devnet, capsys) -> None:
    from node.cli import main

    assert main(["model", "show", framework.address, "--rpc", devnet.url]) == 0
    human = capsys.readouterr().out
    assert main(["model", "show", framework.address, "--rpc", devnet.url, "--raw"]) == 0
    raw = capsys.readouterr().out
    assert "  learning_rate: 0.5\n" in human and f"  learning_rate: {SCALE // 2}\n" in raw
    assert "  num_features: 16\n" in human and "  num_features: 16\n" in raw
