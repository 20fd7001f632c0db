"""Fixtures shared by every test package.

`w3` is a web3 instance on a fresh sumchain chain, in-process (no HTTP), with the ten
dev accounts funded. Tests using it use only standard web3 calls, so the same tests
run unchanged against any node.

The node runs with the fast paths on (the lean interpreter loop among them); when a test
is done, every block it made is imported into a chain with the fast paths off, which
re-executes it on py-evm's plain loop: so every contract test is also a differential
test of the two loops (same state roots, receipts, gas, logs; same block hashes).
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
        assert_plain_chain_agrees(running.backend.chain)


def assert_plain_chain_agrees(fast) -> None:  # noqa: ANN001 - a chain.chain.Chain
    """Import every canonical block of ``fast`` into a new chain with the fast paths off;
    the import re-executes each block and checks its state root, receipts root, bloom and
    gas used, so any difference between the two interpreter loops fails here."""
    import dataclasses

    from chain.chain import Chain

    genesis = fast.header(0)
    config = dataclasses.replace(fast.config, genesis_timestamp=int(genesis.timestamp))
    plain = Chain.open(config, fast_paths=False)
    try:
        assert plain.header(0).hash == genesis.hash
        for number in range(1, fast.head.block_number + 1):
            header = fast.header(number)
            plain.import_block(fast.block(header), edits=fast.block_edits(header))  # cheats too
        assert plain.head.hash == fast.head.hash
    finally:
        plain.close()


@pytest.fixture
def w3(node):
    """A web3 on a fresh sumchain chain whose `eth.accounts` are the funded dev accounts."""
    return node.w3
