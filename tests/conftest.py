"""Fixtures shared by every test package.

`w3` is a web3 instance on a fresh chain with the ten dev accounts funded. It is the
single place that decides which chain the SDK and contract tests run on: sumchain
in-process once the node's provider exists, eth-tester's py-evm backend until then.
Tests using it must use only standard web3 calls so they run unchanged on either.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found beside the repository (looked at {SHARED})")
    return SHARED


def _eth_tester_web3(fork: str):  # pragma: no cover - replaced by sumchain in-process
    from eth.vm.forks import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3

    from chain.config import DEFAULT_MNEMONIC

    backend = PyEVMBackend(vm_configuration=((0, CancunVM),), mnemonic=DEFAULT_MNEMONIC)
    return Web3(EthereumTesterProvider(EthereumTester(backend)))


@pytest.fixture
def w3():
    """A web3 on a fresh chain (Cancun) whose `eth.accounts` are the funded dev accounts."""
    return _eth_tester_web3("cancun")
