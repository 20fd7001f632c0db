"""What `sumchain devnet` prints, as anvil users expect it: the banner's settings, a line
per mined transaction (hash, block, gas used, status, contract or revert reason) that
-q silences, RPC method names at -v and DEBUG records only at -vv; the genesis flags
anvil users type; balances with a unit in the config file, and geth's alloc form."""

from __future__ import annotations

import pytest

from tests.node.conftest import (
    COUNTER_ABI,
    COUNTER_BYTECODE,
    DEV_ADDRESS,
    OTHER_ADDRESS,
    start_devnet,
    stop_devnet,
)
from tests.node.test_cli import run_main


def send(devnet, **fields: str) -> str:  # type: ignore[no-untyped-def]
    return devnet.rpc("eth_sendTransaction", {"from": DEV_ADDRESS, **fields})


def test_banner_names_every_setting_and_the_pending_count(devnet) -> None:
    banner = devnet.banner
    for heading, value in [
        ("Chain ID", "31337"),
        ("Fork", "cancun"),
        ("Wallet", "Mnemonic:          test test test test test test test test test test test junk"),
        ("Base Fee", "1,000,000,000 wei at genesis"),
        ("Gas Limit", "30,000,000"),
        ("Data Directory", "none (in memory)"),
        ("Pending Transactions", "0 pending, 0 queued"),
    ]:
        assert f"\n{heading}\n" in banner, heading
        assert value in banner.split(f"\n{heading}\n", 1)[1].split("\n\n", 1)[0], heading
    genesis = devnet.rpc("eth_getBlockByNumber", "0x0", False)
    assert f"\nGenesis Timestamp\n==================\n{int(genesis['timestamp'], 16)} (" in banner


def test_a_line_per_transaction_with_gas_status_contract_and_revert_reason(devnet) -> None:
    transfer = send(devnet, to=OTHER_ADDRESS, value="0x1")
    line = devnet.wait_for_line(transfer)
    receipt = devnet.rpc("eth_getTransactionReceipt", transfer)
    assert f"block {int(receipt['blockNumber'], 16)} gas used 21,000 success" in line

    deploy = send(devnet, data=COUNTER_BYTECODE)
    created = devnet.rpc("eth_getTransactionReceipt", deploy)["contractAddress"]
    from web3 import Web3

    assert f"contract created {Web3.to_checksum_address(created)}" in devnet.wait_for_line(deploy)

    counter = Web3().eth.contract(abi=COUNTER_ABI)
    fail = counter.encode_abi("fail", [])
    failed = send(devnet, to=created, data=fail, gas="0x30000")
    line = devnet.wait_for_line(failed)
    gas = int(devnet.rpc("eth_getTransactionReceipt", failed)["gasUsed"], 16)
    assert line.endswith(f"gas used {gas:,} failed: execution reverted: nope"), line

    too_big = send(devnet, to=created, data=counter.encode_abi("add", [500]), gas="0x30000")
    selector = Web3.keccak(text="TooBig(uint256)")[:4].hex()
    assert devnet.wait_for_line(too_big).endswith(f"failed: execution reverted: custom error 0x{selector}")


def test_quiet_silences_the_transaction_lines_and_verbose_names_methods() -> None:
    quiet = start_devnet("-q")
    try:
        tx = send(quiet, to=OTHER_ADDRESS, value="0x1")
        assert quiet.rpc("eth_getTransactionReceipt", tx)["status"] == "0x1"
    finally:
        stop_devnet(quiet.process)
    assert tx not in quiet.output() and "eth_sendTransaction" not in quiet.output()
    assert "Pending Transactions" in quiet.banner  # -q keeps the banner

    verbose = start_devnet("-v")
    try:
        tx = send(verbose, to=OTHER_ADDRESS, value="0x1")
        verbose.wait_for_line(tx)
    finally:
        stop_devnet(verbose.process)
    lines = verbose.output().splitlines()
    assert "eth_sendTransaction" in lines
    stderr = verbose.process.stderr.read() if verbose.process.stderr else ""
    assert " DEBUG " not in stderr


def test_debug_records_come_at_vv() -> None:
    node = start_devnet("-vv")
    try:
        node.rpc("eth_chainId")
    finally:
        stop_devnet(node.process)
    stderr = node.process.stderr.read() if node.process.stderr else ""
    assert " DEBUG sumchain.rpc: -> eth_chainId" in stderr


def test_genesis_flags_as_anvil_users_type_them() -> None:
    mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
    node = start_devnet(
        "--accounts", "3", "--balance", "5.5", "--mnemonic", mnemonic,
        "--chain-id", "1337", "--gas-limit", "60000000", "--base-fee", "7000000000",
    )  # fmt: skip
    try:
        accounts = node.rpc("eth_accounts")
        genesis = node.rpc("eth_getBlockByNumber", "0x0", False)
        assert len(accounts) == 3
        assert accounts[0].lower() == "0x9858effd232b4033e47d90003d41ec34ecaeda94"  # BIP-44 account 0
        assert int(node.rpc("eth_getBalance", accounts[2], "latest"), 16) == 5_500_000_000_000_000_000
        assert node.rpc("eth_chainId") == hex(1337)
        assert int(genesis["gasLimit"], 16) == 60_000_000
        assert int(genesis["baseFeePerGas"], 16) == 7_000_000_000
    finally:
        stop_devnet(node.process)
    assert (
        "(5.500000 ETH)" in node.banner
        and mnemonic in node.banner
        and "7,000,000,000 wei at genesis" in node.banner
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["devnet", "--balance", "lots"], "not an amount of ether"),
        (["devnet", "--balance", "0.0000000000000000001"], "at most 18 decimals"),
        (["devnet", "--accounts", "-1"], "must be >= 0"),
        (["devnet", "--gas-limit", "0"], "must be > 0"),
        (["devnet", "--mnemonic", "too short"], "config.mnemonic"),
    ],
)
def test_bad_genesis_flags_give_one_line(capsys, args, fragment) -> None:
    code, stderr = run_main(capsys, *args, "--port", "0")
    assert code == 2 and fragment in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_config_balances_take_a_unit_and_geths_alloc_form(tmp_path) -> None:
    config = tmp_path / "chain.toml"
    config.write_text(
        'account_balance = "5 ether"\naccounts = 2\n'
        f'[alloc]\n"{OTHER_ADDRESS}" = {{ balance = "5000 gwei" }}\n'
        '"0x000000000000000000000000000000000000dEaD" = 5\n'
    )
    node = start_devnet("--config", str(config))
    try:
        assert int(node.rpc("eth_getBalance", DEV_ADDRESS, "latest"), 16) == 5 * 10**18
        assert int(node.rpc("eth_getBalance", OTHER_ADDRESS, "latest"), 16) == 5000 * 10**9
        assert (
            int(node.rpc("eth_getBalance", "0x000000000000000000000000000000000000dEaD", "latest"), 16) == 5
        )
    finally:
        stop_devnet(node.process)
    assert f"{DEV_ADDRESS} (5.000000 ETH)" in node.banner
    assert "(0.000005 ETH)" in node.banner  # OTHER_ADDRESS is dev account 1


def test_a_geth_alloc_entry_is_blamed_on_its_own_key(capsys, tmp_path) -> None:
    config = tmp_path / "chain.json"
    config.write_text(f'{{"alloc": {{"{OTHER_ADDRESS}": {{"balance": "0x10", "code": "0x6000"}}}}}}')
    code, stderr = run_main(capsys, "devnet", "--config", str(config), "--port", "0")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert f"config.alloc.{OTHER_ADDRESS}.code: not supported" in stderr and "account_balance" not in stderr
    config.write_text(f'{{"alloc": {{"{OTHER_ADDRESS}": {{"balance": "lots"}}}}}}')
    code, stderr = run_main(capsys, "devnet", "--config", str(config), "--port", "0")
    assert code == 2 and f"config.alloc.{OTHER_ADDRESS}.balance: must be wei" in stderr
    assert "account_balance" not in stderr
