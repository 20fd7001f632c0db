"""Balances in the chain configuration: wei, or an amount with a unit, and geth's
``alloc`` form; a bad one is refused naming its own key."""

from __future__ import annotations

import pytest

from chain.config import ChainConfig, parse_wei
from chain.errors import ConfigError

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("5", 5),
        ("0x10", 16),
        ("5 ether", 5 * 10**18),
        ("0.5 ether", 5 * 10**17),
        ("5000 gwei", 5000 * 10**9),
        ("1_000 wei", 1000),
        ("2 Finney", 2 * 10**15),
    ],
)
def test_a_balance_is_wei_or_an_amount_with_a_unit(text: str, wei: int) -> None:
    assert parse_wei(text) == wei
    assert ChainConfig.from_dict({"account_balance": text}).account_balance == wei


@pytest.mark.parametrize("text", ["5 eth", "lots", "0.1 wei", "1e-30 ether", "ether"])
def test_a_balance_that_is_not_whole_wei_is_refused_by_name(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^config\.account_balance: must be wei"):
        ChainConfig.from_dict({"account_balance": text})


def test_the_stored_balance_reads_back_the_same() -> None:
    config = ChainConfig.from_dict({"account_balance": "1.25 ether"})
    assert ChainConfig.from_dict(config.to_dict()).account_balance == 125 * 10**16


def test_alloc_takes_plain_balances_units_and_geths_table() -> None:
    config = ChainConfig.from_dict(
        {"alloc": {ADDRESS: {"balance": "0x2a"}, "0x000000000000000000000000000000000000dead": "1 gwei"}}
    )
    assert config.alloc == {ADDRESS: 42, "0x000000000000000000000000000000000000dEaD": 10**9}


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"balance": "1", "code": "0x00"}, f"config.alloc.{ADDRESS}.code"),
        ({"nonce": "0x1"}, f"config.alloc.{ADDRESS}.nonce"),
        ({}, f"config.alloc.{ADDRESS}"),
        ({"balance": True}, f"config.alloc.{ADDRESS}.balance"),
        ("many", f"config.alloc.{ADDRESS}"),
    ],
)
def test_a_bad_alloc_entry_is_blamed_on_its_own_key(entry: object, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ChainConfig.from_dict({"alloc": {ADDRESS: entry}})
    assert str(caught.value).startswith(key + ":"), caught.value
    assert "account_balance" not in str(caught.value)
