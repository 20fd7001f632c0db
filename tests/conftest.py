"""Fixtures shared by every test package.

`w3` is a web3 instance on a fresh sumchain chain, in-process (no HTTP), with the ten
dev accounts funded. Tests using it use only standard web3 calls, so the same tests
run unchanged against any node.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def node():
    """A fresh sumchain node in this process (Cancun, automine, ten funded dev accounts)."""
    from chain.config import ChainConfig
    from node.provider import InProcessNode

    with InProcessNode.create(config=ChainConfig()) as running:
        yield running


@pytest.fixture
def w3(node):
    """A web3 on a fresh sumchain chain whose `eth.accounts` are the funded dev accounts."""
    return node.w3
