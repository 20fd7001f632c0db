"""Genesis: building block 0 from a ``ChainConfig`` and checking a stored chain against it.

A new data directory gets its genesis block and its metadata (the config it was made
from, the genesis hash) in one store commit. An existing one keeps the config it was
made with: :func:`config_from_meta` refuses a request that would change a genesis
field. A forked chain (``chain.history.fork``) starts from a genesis whose state is
another chain's state at some block: :func:`write_genesis` with ``state_root``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from eth.abc import BlockHeaderAPI, ChainAPI
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth.db.schema import SchemaV1
from eth_utils import to_canonical_address

from chain import consensus
from chain.config import ChainConfig
from chain.errors import ChainError, DataDirError
from chain.store import TABLE_CHAIN, Store
from chain.vm import system_contracts

VANITY = b"sumchain".ljust(consensus.EXTRA_VANITY, b"\x00")  # 32 bytes of extraData vanity
GENESIS_DIFFICULTY = 1  # Clique's out-of-turn value; block 0 is not sealed

#: The ``ChainConfig`` fields a data directory's genesis was made from: asking for another
#: value of one (a flag or a config file) on an existing directory is refused.
GENESIS_FIELDS = (
    "chain_id",
    "fork",
    "epoch",
    "gas_limit",
    "base_fee",
    "genesis_timestamp",
    "alloc",
    "authorities",
    "mnemonic",
    "accounts",
    "account_balance",
)


def genesis_header_fields(config: ChainConfig, timestamp: int) -> dict[str, Any]:
    """The header fields of block 0: Clique's extraData lists the authorities (EIP-225),
    no vote, and the fork's own fields (base fee from London, blob gas from Cancun)."""
    signers = [to_canonical_address(address) for address in config.signers]
    fields: dict[str, Any] = {
        "difficulty": GENESIS_DIFFICULTY,
        "gas_limit": config.gas_limit,
        "timestamp": timestamp,
        "extra_data": consensus.make_extra_data(VANITY, signers),
        "coinbase": ZERO_ADDRESS,
        "nonce": consensus.NONCE_DROP,
        "mix_hash": ZERO_HASH32,
    }
    if config.fork_at_least("london"):
        fields["base_fee_per_gas"] = config.base_fee
    if config.fork_at_least("cancun"):
        fields["parent_beacon_block_root"] = ZERO_HASH32
        fields["blob_gas_used"] = 0
        fields["excess_blob_gas"] = 0
    return fields


def write_genesis(
    store: Store,
    config: ChainConfig,
    evm_class: type[ChainAPI],
    data_dir: Path | None,
    state_root: bytes | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> BlockHeaderAPI:
    """Write block 0 and the metadata into ``store`` and commit them; return the header.

    Without ``state_root`` the state is the fork's system contracts (``vm.system_contracts``:
    EIP-2935's history contract from Prague on) and the config's genesis allocation, and the time is
    ``config.genesis_timestamp`` (now when 0). With it, the state's trie nodes are
    already in the store (a forked chain) and the time is ``config.genesis_timestamp``.
    ``extra_meta`` is recorded as the metadata's ``forked_from``.
    """
    if state_root is None:
        fields = genesis_header_fields(config, config.genesis_timestamp or int(time.time()))
        allocation = {
            address: {"balance": 0, "nonce": 1, "code": code, "storage": {}}
            for address, code in system_contracts(config.fork).items()
        }
        for address, balance in config.genesis_alloc.items():
            account = allocation.setdefault(
                to_canonical_address(address), {"balance": 0, "nonce": 0, "code": b"", "storage": {}}
            )
            account["balance"] = balance
        chain = evm_class.from_genesis(store.db, fields, allocation)  # type: ignore[arg-type]  # py-evm's stub wants AccountDetails, a TypedDict of the same keys
        genesis = chain.get_canonical_head()
    else:
        fields = {**genesis_header_fields(config, config.genesis_timestamp), "state_root": state_root}
        vm_class = evm_class.get_vm_class_for_block_number(0)  # type: ignore[arg-type]
        genesis = vm_class.create_genesis_header(**fields)
        evm_class.from_genesis_header(store.db, genesis)
    meta: dict[str, Any] = {"config": config.to_dict(), "genesis_hash": genesis.hash.hex()}
    if extra_meta is not None:
        meta["forked_from"] = extra_meta
    store.write_meta(meta, data_dir)
    store.commit()
    return genesis


def check_stored_chain(store: Store) -> None:
    """Refuse a store that has metadata but no readable chain head (``DataDirError``)."""
    try:
        head_hash = store.get(TABLE_CHAIN, SchemaV1.make_canonical_head_hash_lookup_key())
    except Exception as exc:  # noqa: BLE001 - any read failure means a damaged store
        raise DataDirError(f"the store cannot be read ({exc})") from None
    if head_hash is None:
        raise DataDirError("the store has metadata but no chain head; it is damaged")


def config_from_meta(meta: dict, requested: ChainConfig) -> ChainConfig:
    """The data directory's own config wins; a conflicting request is refused."""
    try:
        stored = ChainConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ChainError) as exc:
        raise DataDirError(f"the store's chain configuration is damaged ({exc})") from None
    defaults = ChainConfig()
    for name in GENESIS_FIELDS:
        asked = getattr(requested, name)
        if asked != getattr(defaults, name) and asked != getattr(stored, name):
            raise DataDirError(
                f"the data directory was created with {name} = {_shown(getattr(stored, name))}; "
                f"it cannot be changed to {_shown(asked)} (use a new data directory)"
            )
    return stored


def default_signer(config: ChainConfig, signer_key: bytes | None) -> bytes | None:
    """The key a node seals with: the one given, else the first dev account when it is an
    authority (the default devnet)."""
    if signer_key is not None:
        return signer_key
    signers = set(config.signers)
    for address, key in config.dev_accounts:
        if address in signers:
            return key
    return None


def _shown(value: Any) -> str:
    """A config value for an error line: the mnemonic is a secret, so never printed."""
    if isinstance(value, str) and len(value.split()) >= 12:
        return "(another mnemonic)"
    return repr(value)
