"""The chain's configuration: what genesis looks like and the rules blocks follow.

A :class:`ChainConfig` is built from defaults (a working devnet: Cancun, one
authority, ten accounts funded from the well-known test mnemonic, as anvil does),
from a TOML or JSON file, or from keyword overrides. Validation names the field it
refuses, so a user can fix the file without reading code.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import is_hex_address, to_checksum_address

from chain.errors import ConfigError

# The mnemonic anvil and hardhat derive their dev accounts from; users' scripts
# already know these addresses and keys.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_HD_PATH = "m/44'/60'/0'/0/{index}"
DEFAULT_ACCOUNT_COUNT = 10
DEFAULT_ACCOUNT_BALANCE = 10_000 * 10**18  # wei: 10,000 ether, as anvil
DEFAULT_CHAIN_ID = 31337  # anvil's and hardhat's, so existing scripts connect unchanged
DEFAULT_GAS_LIMIT = 30_000_000  # gas per block
DEFAULT_BASE_FEE = 1_000_000_000  # wei: genesis base fee on London and later forks
DEFAULT_EPOCH = 30_000  # blocks between Clique checkpoints, EIP-225's default
MIN_GAS_LIMIT = 5_000  # gas: the protocol's floor for a block gas limit
MAX_GAS_LIMIT = 2**63 - 1

# Forks a chain may run, oldest first. Names are py-evm's fork names in lower case.
FORKS = ("petersburg", "istanbul", "berlin", "london", "paris", "shanghai", "cancun", "prague")
DEFAULT_FORK = "cancun"


@lru_cache(maxsize=8)
def dev_accounts(
    mnemonic: str = DEFAULT_MNEMONIC, count: int = DEFAULT_ACCOUNT_COUNT
) -> tuple[tuple[str, bytes], ...]:
    """The (checksum address, private key) pairs derived from ``mnemonic`` on the
    standard Ethereum HD path, in index order."""
    Account.enable_unaudited_hdwallet_features()
    accounts = []
    for index in range(count):
        acct = Account.from_mnemonic(mnemonic, account_path=DEFAULT_HD_PATH.format(index=index))
        accounts.append((acct.address, bytes(acct.key)))
    return tuple(accounts)


@dataclass(frozen=True)
class ChainConfig:
    """Everything that fixes a chain's genesis and its block rules.

    Set by the user (file or flags) when a data directory is created; stored in the
    data directory's metadata afterwards, so a restart cannot silently change it.
    """

    chain_id: int = DEFAULT_CHAIN_ID
    """EIP-155 chain id; transactions signed for any other id are refused."""
    fork: str = DEFAULT_FORK
    """The hard fork whose rules every block follows (one of ``FORKS``)."""
    authorities: tuple[str, ...] = ()
    """Checksum addresses allowed to seal blocks at genesis; empty means the first
    dev account."""
    block_period: int = 0
    """Seconds between blocks in interval mode and the minimum timestamp step between
    blocks (EIP-225 ``period``); 0 means automine (a block per transaction)."""
    epoch: int = DEFAULT_EPOCH
    """Blocks between Clique checkpoints, where votes reset and the signer list is
    written into ``extraData``."""
    gas_limit: int = DEFAULT_GAS_LIMIT
    """Gas limit of every block (gas)."""
    base_fee: int = DEFAULT_BASE_FEE
    """Genesis base fee per gas (wei); ignored before London."""
    genesis_timestamp: int = 0
    """Unix seconds of the genesis block; 0 means the time the data directory is made."""
    alloc: Mapping[str, int] = field(default_factory=dict)
    """Extra genesis balances: checksum address -> wei. Dev accounts are added to it."""
    mnemonic: str = DEFAULT_MNEMONIC
    """BIP-39 mnemonic the dev accounts are derived from."""
    accounts: int = DEFAULT_ACCOUNT_COUNT
    """How many dev accounts to derive and fund."""
    account_balance: int = DEFAULT_ACCOUNT_BALANCE
    """Genesis balance of every dev account (wei)."""
    data_dir: str | None = None
    """Where the node keeps its store; None means in memory (tests)."""

    def __post_init__(self) -> None:
        validate(self)

    # --- derived values -------------------------------------------------------------

    @property
    def dev_accounts(self) -> tuple[tuple[str, bytes], ...]:
        """(address, private key) of each funded dev account."""
        return dev_accounts(self.mnemonic, self.accounts)

    @property
    def signers(self) -> tuple[str, ...]:
        """The genesis signer set, sorted ascending by address bytes as EIP-225 writes it."""
        chosen = self.authorities or (self.dev_accounts[0][0],)
        return tuple(sorted(chosen, key=lambda a: bytes.fromhex(a[2:])))

    @property
    def genesis_alloc(self) -> dict[str, int]:
        """Every genesis balance: the dev accounts first, ``alloc`` on top."""
        balances = {address: self.account_balance for address, _ in self.dev_accounts}
        balances.update(self.alloc)
        return balances

    @property
    def automine(self) -> bool:
        return self.block_period == 0

    def fork_at_least(self, name: str) -> bool:
        return FORKS.index(self.fork) >= FORKS.index(name)

    # --- (de)serialisation ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["authorities"] = list(self.authorities)
        out["alloc"] = {k: str(v) for k, v in self.alloc.items()}
        out["account_balance"] = str(self.account_balance)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], **overrides: Any) -> ChainConfig:
        """Build a config from parsed TOML/JSON; unknown keys and wrong types are refused."""
        known = {f.name for f in fields(cls)}
        merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ConfigError(f"config.{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")
        kwargs: dict[str, Any] = {}
        for key, value in merged.items():
            kwargs[key] = _coerce(key, value)
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> ChainConfig:
        """Read a ``.toml`` or ``.json`` config file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"config file {path}: cannot read ({exc.strerror})") from None
        try:
            if path.suffix == ".json":
                raw = json.loads(text)
            else:
                raw = tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: not valid {path.suffix[1:] or 'TOML'}: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path}: must hold a table of settings")
        return cls.from_dict(raw, **overrides)

    def with_changes(self, **changes: Any) -> ChainConfig:
        return replace(self, **changes)


WEI_PER_UNIT = {  # the denominations a balance in the config may be written in
    "wei": 1,
    "kwei": 10**3,
    "mwei": 10**6,
    "gwei": 10**9,
    "szabo": 10**12,
    "finney": 10**15,
    "ether": 10**18,
}


def parse_wei(text: str) -> int:
    """A balance written as wei (``"5000000000000000000"``, ``"0x4563918244f40000"``) or
    as an amount and a unit (``"5 ether"``, ``"0.5 ether"``, ``"5000 gwei"``); ValueError
    if it is neither or not a whole number of wei."""
    from decimal import Decimal, InvalidOperation

    amount, _, unit = text.strip().replace("_", "").partition(" ")
    unit = unit.strip().lower()
    if not unit:
        return int(amount, 0)
    if unit not in WEI_PER_UNIT:
        raise ValueError(f"unknown unit {unit!r}")
    try:
        wei = Decimal(amount) * WEI_PER_UNIT[unit]
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not wei.is_finite() or wei != wei.to_integral_value():
        raise ValueError("not a whole number of wei")
    return int(wei)


def _balance(key: str, value: Any) -> int:
    """A balance from the file: an integer of wei, or a string :func:`parse_wei` reads."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(
            f'{key}: must be wei (an integer) or an amount with a unit ("5 ether"), got {value!r}'
        )
    if isinstance(value, int):
        return value
    try:
        return parse_wei(value)
    except ValueError as exc:
        raise ConfigError(
            f'{key}: must be wei (an integer) or an amount with a unit ("5 ether", "5000 gwei"), '
            f"got {value!r} ({exc})"
        ) from None


_INT_FIELDS = {
    "chain_id",
    "block_period",
    "epoch",
    "gas_limit",
    "base_fee",
    "genesis_timestamp",
    "accounts",
}


def _coerce(key: str, value: Any) -> Any:
    """Turn file values into field types; strings are accepted for big integers."""
    if key == "account_balance":
        return _balance("config.account_balance", value)
    if key in _INT_FIELDS:
        if isinstance(value, bool):
            raise ConfigError(f"config.{key}: must be an integer, got {value!r}")
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                raise ConfigError(f"config.{key}: must be an integer, got {value!r}") from None
        if not isinstance(value, int):
            raise ConfigError(f"config.{key}: must be an integer, got {value!r}")
        return value
    if key == "authorities":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError("config.authorities: must be a list of addresses")
        return tuple(value)
    if key == "alloc":
        if not isinstance(value, Mapping):
            raise ConfigError("config.alloc: must be a table of address = balance in wei")
        return {addr: _alloc_balance(addr, entry) for addr, entry in value.items()}
    if key in ("fork", "mnemonic", "data_dir") and value is not None and not isinstance(value, str):
        raise ConfigError(f"config.{key}: must be a string, got {value!r}")
    return value


def _alloc_balance(address: str, entry: Any) -> int:
    """One ``alloc`` entry: a balance, or geth's ``{balance = ...}`` table (which may
    carry nothing but the balance: code, storage and nonce are not set at genesis here)."""
    key = f"config.alloc.{address}"
    if isinstance(entry, Mapping):
        other = sorted(set(entry) - {"balance"})
        if other:
            raise ConfigError(f"{key}.{other[0]}: not supported (an alloc entry sets only a balance)")
        if "balance" not in entry:
            raise ConfigError(f"{key}: geth's form needs a balance ({{balance = ...}})")
        return _balance(f"{key}.balance", entry["balance"])
    return _balance(key, entry)


def validate(config: ChainConfig) -> None:
    """Refuse a bad or inconsistent configuration, naming the field."""
    if not isinstance(config.chain_id, int) or not 1 <= config.chain_id < 2**63:
        raise ConfigError(f"config.chain_id: must be an integer from 1 to 2**63-1, got {config.chain_id!r}")
    if config.fork not in FORKS:
        raise ConfigError(f"config.fork: unknown fork {config.fork!r} (choose one of: {', '.join(FORKS)})")
    for address in config.authorities:
        if not isinstance(address, str) or not is_hex_address(address):
            raise ConfigError(f"config.authorities: {address!r} is not a 20-byte hex address")
    if len(set(a.lower() for a in config.authorities)) != len(config.authorities):
        raise ConfigError("config.authorities: lists an address twice")
    object.__setattr__(config, "authorities", tuple(to_checksum_address(a) for a in config.authorities))
    if not isinstance(config.block_period, int) or config.block_period < 0:
        raise ConfigError(f"config.block_period: must be seconds >= 0, got {config.block_period!r}")
    if not isinstance(config.epoch, int) or config.epoch < 1:
        raise ConfigError(f"config.epoch: must be a block count >= 1, got {config.epoch!r}")
    if not isinstance(config.gas_limit, int) or not MIN_GAS_LIMIT <= config.gas_limit <= MAX_GAS_LIMIT:
        raise ConfigError(
            f"config.gas_limit: must be from {MIN_GAS_LIMIT} to 2**63-1, got {config.gas_limit!r}"
        )
    if not isinstance(config.base_fee, int) or config.base_fee < 0:
        raise ConfigError(f"config.base_fee: must be wei >= 0, got {config.base_fee!r}")
    if config.fork_at_least("london") and config.base_fee == 0:
        raise ConfigError("config.base_fee: must be > 0 on London and later forks")
    if not isinstance(config.genesis_timestamp, int) or config.genesis_timestamp < 0:
        raise ConfigError("config.genesis_timestamp: must be unix seconds >= 0")
    if not isinstance(config.accounts, int) or not 0 <= config.accounts <= 1000:
        raise ConfigError(f"config.accounts: must be from 0 to 1000, got {config.accounts!r}")
    if not isinstance(config.account_balance, int) or config.account_balance < 0:
        raise ConfigError("config.account_balance: must be wei >= 0")
    if not isinstance(config.mnemonic, str) or len(config.mnemonic.split()) not in (12, 15, 18, 21, 24):
        raise ConfigError("config.mnemonic: must be a BIP-39 phrase of 12 to 24 words")
    if not config.authorities and config.accounts == 0:
        raise ConfigError("config.authorities: empty, and there is no dev account to seal with")
    for address, balance in config.alloc.items():
        if not isinstance(address, str) or not is_hex_address(address):
            raise ConfigError(f"config.alloc: {address!r} is not a 20-byte hex address")
        if not isinstance(balance, int) or balance < 0:
            raise ConfigError(f"config.alloc.{address}: balance must be wei >= 0")
    object.__setattr__(config, "alloc", {to_checksum_address(a): b for a, b in config.alloc.items()})
