"""`sumchain devnet`: the banner, a restart that continues the chain, clean stops on
SIGINT and SIGTERM, and one-line errors with exit code 2 for bad flags and configs."""

from __future__ import annotations

import signal

import pytest

from tests.node.conftest import DEV_ADDRESS, DEV_KEY, OTHER_ADDRESS, start_devnet, stop_devnet


def test_banner_lists_accounts_keys_and_url(devnet) -> None:
    assert DEV_ADDRESS in devnet.banner and DEV_KEY in devnet.banner
    assert "(10000.000000 ETH)" in devnet.banner
    assert "chain id 31337" in devnet.banner and "automine" in devnet.banner
    assert devnet.url.startswith("http://127.0.0.1:")


def test_restart_with_datadir_continues_the_chain(tmp_path) -> None:
    datadir = tmp_path / "chain"
    first = start_devnet("--datadir", str(datadir), "--chain-id", "4242")
    try:
        tx_hash = first.rpc(
            "eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x2a"}
        )
        head = first.rpc("eth_getBlockByNumber", "latest", False)
    finally:
        assert stop_devnet(first.process) == 0
    second = start_devnet("--datadir", str(datadir))
    try:
        assert second.rpc("eth_chainId") == hex(4242)
        assert second.rpc("eth_getBlockByNumber", "latest", False)["hash"] == head["hash"]
        assert second.rpc("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
        second.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1"})
        assert int(second.rpc("eth_blockNumber"), 16) == int(head["number"], 16) + 1
    finally:
        assert stop_devnet(second.process) == 0


def test_sigint_stops_the_node_cleanly() -> None:
    node = start_devnet()
    node.process.send_signal(signal.SIGINT)
    assert node.process.wait(15) == 0
    out = node.output()
    err = node.process.stderr.read() if node.process.stderr else ""
    assert "stopped" in out and "Traceback" not in err


def test_block_time_and_cors_flags() -> None:
    import time

    import requests

    node = start_devnet("--block-time", "1", "--cors", "https://example.test")
    try:
        assert "a block every 1 s" in node.banner
        deadline = time.monotonic() + 10
        while node.rpc("eth_blockNumber") == "0x0" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert node.rpc("eth_blockNumber") != "0x0"
        response = requests.post(
            node.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
            headers={"Origin": "https://example.test"},
            timeout=10,
        )
        assert response.headers["Access-Control-Allow-Origin"] == "https://example.test"
        assert requests.options(node.url, timeout=10).status_code == 204
    finally:
        stop_devnet(node.process)


def run_main(capsys, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run the console script's main() in this process; (exit code, stderr)."""
    from node.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["devnet", "--port", "notaport"], "not a port number"),
        (["devnet", "--port", "70000"], "port must be from 0 to 65535"),
        (["devnet", "--block-time", "-1"], "block time must be > 0"),
        (["devnet", "--fork", "frontier"], "invalid choice"),
        (["devnet", "--chain-id", "0"], "config.chain_id"),
        (["devnet", "--config", "/nonexistent/sumchain.toml"], "cannot read"),
        (["devnet", "--authority-key", "/nonexistent/key"], "cannot read"),
        (["devnet", "--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(capsys, args, fragment) -> None:
    code, stderr = run_main(capsys, *args)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert fragment in lines[0] and "Traceback" not in stderr


def test_bad_config_file_and_key_file_give_one_line(capsys, tmp_path) -> None:
    config = tmp_path / "chain.toml"
    config.write_text('chain_id = "many"\n')
    code, stderr = run_main(capsys, "devnet", "--config", str(config))
    assert code == 2 and "config.chain_id" in stderr and len(stderr.strip().splitlines()) == 1
    key = tmp_path / "key"
    key.write_text("0x1234\n")
    code, stderr = run_main(capsys, "devnet", "--authority-key", str(key))
    assert code == 2 and "32 bytes" in stderr and len(stderr.strip().splitlines()) == 1


def test_changing_chain_id_of_a_datadir_is_refused(capsys, tmp_path) -> None:
    from node.assemble import assemble

    datadir = tmp_path / "chain"
    assemble(data_dir=datadir).close()
    code, stderr = run_main(capsys, "devnet", "--datadir", str(datadir), "--chain-id", "7", "--port", "0")
    assert code == 2
    assert "chain_id" in stderr and len(stderr.strip().splitlines()) == 1


def test_busy_port_gives_one_line(capsys, devnet) -> None:
    port = devnet.url.rsplit(":", 1)[1]
    code, stderr = run_main(capsys, "devnet", "--port", port)
    assert code == 2, stderr
    assert "cannot listen" in stderr and len(stderr.strip().splitlines()) == 1
