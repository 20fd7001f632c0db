"""Crash safety: a process writing blocks is killed with SIGKILL at random instants, many
times. After every restart the head must be a fully valid block, every earlier block and
receipt intact, and every transaction the writer acknowledged either mined or back in
the pool."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from eth.db.trie import make_trie_root_and_nodes

from chain.config import ChainConfig

from .conftest import open_chain, pool_of
from .crash_writer import GENESIS_TIME

KILLS = 12
REPO = Path(__file__).resolve().parents[2]
# The only lines the writer prints; anything else (a line cut short by the kill, which
# the writer's one-write-per-line output should make impossible) is not evidence.
ACK_LINE = re.compile(rb"ACK ([0-9a-f]{64})\n")
BLOCK_LINE = re.compile(rb"BLOCK ([0-9]+)\n")


class Writer:
    """The writer subprocess and the lines it printed, read on a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.chain.crash_writer", str(data_dir)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[bytes] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # a last line without its newline is kept as it came
            self.lines.append(line)
            if line.startswith(b"READY ") and line.endswith(b"\n"):
                self.ready.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)

    def acked(self) -> list[bytes]:
        """Hashes of the transactions acknowledged in complete lines."""
        return [bytes.fromhex(m[1].decode()) for m in map(ACK_LINE.fullmatch, self.lines) if m]

    def last_block(self) -> int:
        """The highest block reported sealed in a complete line (0 if none)."""
        return max((int(m[1]) for m in map(BLOCK_LINE.fullmatch, self.lines) if m), default=0)

    def stderr(self) -> str:
        return self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""


@pytest.mark.slow
def test_sigkill_at_random_points_never_loses_a_committed_block_or_an_acknowledged_tx(
    tmp_path: Path,
) -> None:
    rng = random.Random(225)
    data_dir = tmp_path / "node"
    config = ChainConfig(genesis_timestamp=GENESIS_TIME)
    follower = open_chain(config)  # verifies every block by full import
    acked: set[bytes] = set()
    for _ in range(KILLS):
        writer = Writer(data_dir)
        if not writer.ready.wait(timeout=120):
            writer.kill()
            pytest.fail(f"writer did not start: {writer.stderr()}")
        time.sleep(rng.uniform(0.05, 1.2))
        writer.kill()
        acked.update(writer.acked())

        chain = open_chain(config, data_dir=data_dir, sync=False)
        try:
            head = chain.head
            assert head.block_number >= writer.last_block(), "a block reported as sealed was lost"
            # every earlier block is still the one the follower verified
            for number in range(1, follower.head.block_number + 1):
                assert chain.header(number).hash == follower.header(number).hash
            # new blocks up to the head verify in full: seal, signer rules, roots, gas
            for number in range(follower.head.block_number + 1, head.block_number + 1):
                follower.import_block(chain.block(number))
            assert follower.head.hash == head.hash
            # stored receipts match each header's receipts root
            for number in range(1, head.block_number + 1):
                header = chain.header(number)
                root, _ = make_trie_root_and_nodes(chain.receipts_of(header))
                assert root == header.receipt_root, f"receipts of block {number} damaged"
            lost = [h.hex() for h in acked if chain.transaction(h) is None and pool_of(chain).get(h) is None]
            assert lost == [], f"acknowledged transactions lost: {lost[:3]}"
        finally:
            chain.close()
    assert follower.head.block_number > 0
    assert acked, "the writer acknowledged nothing in any cycle"
