"""`sumchain rewind N` on a stopped devnet, then a restart: the rewound transactions
are gone by default (a model update the user undid stays undone), `--keep-txs` puts
them back in the pool, and the banner says how many are pending."""

from __future__ import annotations

import subprocess
import sys

from tests.node.conftest import DEV_ADDRESS, OTHER_ADDRESS, REPO, start_devnet, stop_devnet


def rewind(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "rewind", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def chain_of_three_transfers(datadir) -> list[str]:  # type: ignore[no-untyped-def]
    node = start_devnet("--datadir", str(datadir))
    try:
        return [
            node.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": hex(value)})
            for value in (1, 2, 3)
        ]
    finally:
        assert stop_devnet(node.process) == 0


def test_rewind_drops_the_transactions_and_a_restart_does_not_mine_them(tmp_path) -> None:
    datadir = tmp_path / "chain"
    hashes = chain_of_three_transfers(datadir)
    done = rewind("1", "--datadir", str(datadir))
    assert done.returncode == 0, done.stderr
    assert "head moved from block 3 to block 1" in done.stdout and "2 transactions dropped" in done.stdout

    node = start_devnet("--datadir", str(datadir))
    try:
        assert "\nPending Transactions\n====================\n0 pending, 0 queued\n" in node.banner
        node.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x9"})
        assert node.rpc("eth_blockNumber") == "0x2"
        assert node.rpc("eth_getTransactionReceipt", hashes[0])["status"] == "0x1"
        for dropped in hashes[1:]:
            assert node.rpc("eth_getTransactionReceipt", dropped) is None
            assert node.rpc("eth_getTransactionByHash", dropped) is None
        block = node.rpc("eth_getBlockByNumber", "0x2", False)
        assert not set(block["transactions"]) & set(hashes)
    finally:
        assert stop_devnet(node.process) == 0


def test_keep_txs_puts_them_back_in_the_pool_and_the_banner_counts_them(tmp_path) -> None:
    datadir = tmp_path / "chain"
    hashes = chain_of_three_transfers(datadir)
    done = rewind("1", "--datadir", str(datadir), "--keep-txs")
    assert done.returncode == 0, done.stderr
    assert "2 transactions put back in the pool (2 pending now)" in done.stdout

    node = start_devnet("--datadir", str(datadir))
    try:
        assert "\n2 pending, 0 queued (mined with the next block)\n" in node.banner
        assert node.rpc("eth_getTransactionByHash", hashes[1])["blockNumber"] is None  # pending
        node.rpc("evm_mine")
        for kept in hashes[1:]:
            assert node.rpc("eth_getTransactionReceipt", kept)["blockNumber"] == "0x2"
    finally:
        assert stop_devnet(node.process) == 0


def test_the_old_drop_txs_flag_still_parses_with_a_note(tmp_path) -> None:
    datadir = tmp_path / "chain"
    chain_of_three_transfers(datadir)
    done = rewind("2", "--datadir", str(datadir), "--drop-txs")
    assert done.returncode == 0, done.stderr
    assert "--drop-txs is deprecated" in done.stderr and "1 transactions dropped" in done.stdout


def test_keep_txs_over_rpc_is_refused_in_one_line() -> None:
    done = rewind("1", "--rpc", "http://127.0.0.1:9", "--keep-txs")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--keep-txs needs --datadir" in done.stderr
