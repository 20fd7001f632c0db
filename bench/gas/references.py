"""The cross-check: every measured block replayed on independent nodes with the same hard
fork (Hardhat's EDR for every fork, anvil for Cancun and Prague), and every transaction's
gas compared. Prague runs Cancun's artifacts (solc emits the same code for both).

anvil is no reference before Berlin: it misprices SSTORE under Petersburg and Istanbul
rules (``tests/conformance/test_anvil_sstore.py``). The nodes are launched by
``bench.nodes`` and found as ``bench.tools`` says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.currency import denoms

from bench.errors import BenchError
from bench.gas.cases import ANVIL_FORKS
from bench.gas.measure import Measured
from bench.nodes import rpc, start_anvil, start_edr
from bench.tools import find_anvil, find_edr

RECEIPT_WAIT_S = 60  # seconds a reference node may take to mine one replayed transaction
WEI_PER_ETHER = denoms.ether


@dataclass(frozen=True)
class References:
    """The reference nodes ``--verify`` replays on, found before anything is measured.

    Fields:
        edr: folder of the ``@nomicfoundation/edr`` npm package (run with Node.js).
        anvil: the anvil program, or None when no measured fork needs it.
    """

    edr: Path | None
    anvil: Path | None

    @classmethod
    def find(cls, forks: Sequence[str], edr: Path | None = None, anvil: Path | None = None) -> References:
        """Locate EDR and (for forks in ``ANVIL_FORKS``) anvil, or raise ``ToolMissing``."""
        return cls(
            edr=find_edr(edr, "--verify"),
            anvil=find_anvil(anvil, "--verify") if set(forks) & set(ANVIL_FORKS) else None,
        )


@contextmanager
def reference_node(kind: str, measured: Measured, references: References) -> Iterator[str]:
    """An EDR ("edr") or anvil ("anvil") node with the chain's fork and genesis; its URL."""
    from chain.config import ChainConfig

    config = ChainConfig(fork=measured.fork)
    base_fee = measured.base_fee if measured.base_fee else None
    if kind == "edr":
        if references.edr is None:
            raise BenchError("no EDR given to replay on")
        node = start_edr(
            references.edr,
            needed_by="--verify",
            fork=measured.fork,
            chain_id=config.chain_id,
            gas_limit=measured.gas_limit,
            genesis_time=measured.genesis_timestamp,
            accounts=dict(config.genesis_alloc),
            base_fee=base_fee,
        )
    else:
        if references.anvil is None:
            raise BenchError("no anvil given to replay on")
        node = start_anvil(
            references.anvil,
            needed_by="--verify",
            fork=measured.fork,
            chain_id=config.chain_id,
            gas_limit=measured.gas_limit,
            timestamp=measured.genesis_timestamp,
            accounts=config.accounts,
            balance_ether=config.account_balance // WEI_PER_ETHER,
            base_fee=base_fee or 0,
        )
    with node:
        yield node.url


@dataclass
class Mismatch:
    """A transaction whose gas differs on a reference node."""

    reference: str
    fork: str
    optimizer: str
    block: int
    index: int
    sumchain: int
    other: int


def replay(kind: str, measured: Measured, references: References) -> tuple[int, list[Mismatch]]:
    """Replay every block of ``measured`` on a ``kind`` node; (transactions, mismatches)."""
    mismatches: list[Mismatch] = []
    count = 0
    with reference_node(kind, measured, references) as url:
        for block in measured.replayable():
            rpc(url, "evm_setNextBlockTimestamp", [hex(block.timestamp)])
            if not block.transactions:
                rpc(url, "evm_mine", [])
                continue
            for index, (raw, gas) in enumerate(zip(block.transactions, block.gas_used, strict=True)):
                tx_hash = rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()])
                receipt = wait_for_receipt(url, tx_hash)
                if receipt is None:
                    raise BenchError(f"{kind}: transaction of block {block.number} not mined")
                count += 1
                other = int(receipt["gasUsed"], 16)
                if other != gas:
                    mismatches.append(
                        Mismatch(kind, measured.fork, measured.optimizer, block.number, index, gas, other)
                    )
    return count, mismatches


def wait_for_receipt(url: str, tx_hash: str) -> Any:
    """The receipt of ``tx_hash`` on the node at ``url``, or None after ``RECEIPT_WAIT_S``."""
    deadline = time.monotonic() + RECEIPT_WAIT_S
    while True:
        receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None or time.monotonic() > deadline:
            return receipt
        time.sleep(0.01)


def verify(
    measured: Measured,
    references: References | None = None,
) -> tuple[dict[str, int], list[Mismatch]]:
    """Replay on EDR (every fork) and anvil (where it is a reference); ``references``
    defaults to the tools found on PATH or in node_modules."""
    if references is None:
        references = References.find([measured.fork])
    counts: dict[str, int] = {}
    mismatches: list[Mismatch] = []
    kinds = ["edr"] + (["anvil"] if measured.fork in ANVIL_FORKS else [])
    for kind in kinds:
        count, found = replay(kind, measured, references)
        counts[kind] = count
        mismatches.extend(found)
    return counts, mismatches
