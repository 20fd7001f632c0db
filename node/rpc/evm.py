"""Development controls: mining on demand, automine and interval mining, the clock,
snapshots, and the cheats (balance, code, storage, nonce, impersonation, base fee,
coinbase, reset, state dump and load). Named as hardhat and ganache (``evm_``) with
anvil's and hardhat's aliases, so existing scripts and test suites drive sumchain
unchanged; the cheats answer as anvil 1.7.1 does (null, or true for setStorageAt and
loadState). What the cheats do to the chain's history is ``chain.edits``'s."""

from __future__ import annotations

from typing import Any

from node.rpc import params as p
from node.rpc.errors import InvalidParams
from node.rpc.registry import Context, rpc

MAX_BLOCKS_PER_CALL = 10_000  # blocks one anvil_mine/hardhat_mine may produce


def _mine_options(value: Any, what: str) -> int | None:
    """evm_mine takes a timestamp, or ganache's ``{timestamp, blocks}`` object."""
    if isinstance(value, dict):
        if "timestamp" in value and value["timestamp"] is not None:
            return p.integer_or_quantity(value["timestamp"], f"{what}.timestamp")
        return None
    return p.integer_or_quantity(value, what)


def _block_count(value: Any, what: str) -> int:
    count = p.integer_or_quantity(value, what)
    if not 1 <= count <= MAX_BLOCKS_PER_CALL:
        raise InvalidParams(f"{what}: must be from 1 to {MAX_BLOCKS_PER_CALL}")
    return count


def _seconds(value: Any, what: str) -> int:
    return p.integer_or_quantity(value, what)


@rpc("evm_mine", p.optional("timestamp", _mine_options))
def evm_mine(ctx: Context, timestamp: int | None) -> str:
    ctx.backend.dev.mine(1, timestamp=timestamp)
    return "0x0"


@rpc(
    "anvil_mine",
    p.optional("blocks", _block_count),
    p.optional("interval", _seconds),
    aliases=("hardhat_mine",),
)
def anvil_mine(ctx: Context, blocks: int | None, interval: int | None) -> None:
    ctx.backend.dev.mine(blocks or 1, interval=interval)
    return None


@rpc("evm_setAutomine", p.Param("enabled", p.boolean), aliases=("anvil_setAutomine",))
def evm_setAutomine(ctx: Context, enabled: bool) -> bool:
    ctx.backend.dev.set_automine(enabled)
    return True


@rpc("anvil_getAutomine", aliases=("hardhat_getAutomine",))
def anvil_getAutomine(ctx: Context) -> bool:
    return ctx.backend.dev.automine()


@rpc("evm_setIntervalMining", p.Param("milliseconds", _seconds), aliases=("anvil_setIntervalMining",))
def evm_setIntervalMining(ctx: Context, milliseconds: int) -> bool:
    """Hardhat's unit: milliseconds; 0 turns interval mining off."""
    ctx.backend.dev.set_interval(milliseconds / 1000)
    return True


@rpc("evm_increaseTime", p.Param("seconds", _seconds), aliases=("anvil_increaseTime",))
def evm_increaseTime(ctx: Context, seconds: int) -> str:
    return hex(ctx.backend.dev.increase_time(seconds))


@rpc(
    "evm_setNextBlockTimestamp",
    p.Param("timestamp", _seconds),
    aliases=("anvil_setNextBlockTimestamp",),
)
def evm_setNextBlockTimestamp(ctx: Context, timestamp: int) -> None:
    ctx.backend.dev.set_next_timestamp(timestamp)
    return None


@rpc("evm_snapshot", aliases=("anvil_snapshot",))
def evm_snapshot(ctx: Context) -> str:
    return hex(ctx.backend.dev.snapshot())


@rpc("evm_revert", p.Param("snapshotId", p.integer_or_quantity), aliases=("anvil_revert",))
def evm_revert(ctx: Context, snapshot_id: int) -> bool:
    return ctx.backend.dev.revert(snapshot_id)


# --- cheats: state edited outside a transaction (recorded in history, see chain.edits) --------


def _uint(bits: int) -> Any:
    """A dev-control amount below 2**bits: hex (leading zeros allowed, as anvil and hardhat
    take them) or a JSON integer."""

    def decode(value: Any, what: str) -> int:
        if isinstance(value, bool):
            raise InvalidParams(f"{what}: expected a number, got a boolean")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.startswith("0x") and len(value) > 2:
            if len(value) > 2 + bits // 4 + 64:  # generous for leading zeros, bounded
                raise InvalidParams(f"{what}: hex string too long")
            try:
                number = int(value[2:], 16)
            except ValueError:
                raise InvalidParams(f"{what}: invalid hex quantity {value[:80]!r}") from None
        else:
            raise InvalidParams(f"{what}: expected a 0x hex quantity or an integer, got {value!r:.80}")
        if not 0 <= number < 2**bits:
            raise InvalidParams(f"{what}: must be from 0 to 2**{bits}-1")
        return number

    return decode


def _word(value: Any, what: str) -> int:
    """A storage value: 0x and up to 64 hex digits (hardhat sends exactly 32 bytes)."""
    if not isinstance(value, str) or not value.startswith("0x") or not 2 < len(value) <= 66:
        raise InvalidParams(f"{what}: expected 0x and 1 to 64 hex digits (a 32-byte word)")
    try:
        return int(value[2:], 16)
    except ValueError:
        raise InvalidParams(f"{what}: invalid hex string") from None


@rpc(
    "anvil_setBalance",
    p.Param("address", p.address),
    p.Param("balance", _uint(256)),
    aliases=("hardhat_setBalance",),
)
def anvil_setBalance(ctx: Context, address: bytes, balance: int) -> None:
    ctx.backend.dev.set_balance(address, balance)
    return None


@rpc("anvil_setCode", p.Param("address", p.address), p.Param("code", p.data), aliases=("hardhat_setCode",))
def anvil_setCode(ctx: Context, address: bytes, code: bytes) -> None:
    ctx.backend.dev.set_code(address, code)
    return None


@rpc(
    "anvil_setStorageAt",
    p.Param("address", p.address),
    p.Param("slot", p.storage_slot),
    p.Param("value", _word),
    aliases=("hardhat_setStorageAt",),
)
def anvil_setStorageAt(ctx: Context, address: bytes, slot: int, value: int) -> bool:
    ctx.backend.dev.set_storage(address, slot, value)
    return True


@rpc(
    "anvil_setNonce",
    p.Param("address", p.address),
    p.Param("nonce", _uint(64)),
    aliases=("hardhat_setNonce",),
)
def anvil_setNonce(ctx: Context, address: bytes, nonce: int) -> None:
    ctx.backend.dev.set_nonce(address, nonce)
    return None


@rpc(
    "anvil_setNextBlockBaseFeePerGas",
    p.Param("baseFeePerGas", _uint(256)),
    aliases=("hardhat_setNextBlockBaseFeePerGas",),
)
def anvil_setNextBlockBaseFeePerGas(ctx: Context, base_fee: int) -> None:
    ctx.backend.dev.set_next_base_fee(base_fee)
    return None


@rpc("anvil_setCoinbase", p.Param("address", p.address), aliases=("hardhat_setCoinbase",))
def anvil_setCoinbase(ctx: Context, address: bytes) -> None:
    ctx.backend.dev.set_coinbase(address)
    return None


# ganache's names for the same edits; ganache answers true


@rpc("evm_setAccountBalance", p.Param("address", p.address), p.Param("balance", _uint(256)))
def evm_setAccountBalance(ctx: Context, address: bytes, balance: int) -> bool:
    ctx.backend.dev.set_balance(address, balance)
    return True


@rpc("evm_setAccountCode", p.Param("address", p.address), p.Param("code", p.data))
def evm_setAccountCode(ctx: Context, address: bytes, code: bytes) -> bool:
    ctx.backend.dev.set_code(address, code)
    return True


@rpc("evm_setAccountNonce", p.Param("address", p.address), p.Param("nonce", _uint(64)))
def evm_setAccountNonce(ctx: Context, address: bytes, nonce: int) -> bool:
    ctx.backend.dev.set_nonce(address, nonce)
    return True


@rpc(
    "evm_setAccountStorageAt",
    p.Param("address", p.address),
    p.Param("slot", p.storage_slot),
    p.Param("value", _word),
)
def evm_setAccountStorageAt(ctx: Context, address: bytes, slot: int, value: int) -> bool:
    ctx.backend.dev.set_storage(address, slot, value)
    return True


# --- impersonation -------------------------------------------------------------------------------


@rpc("anvil_impersonateAccount", p.Param("address", p.address), aliases=("hardhat_impersonateAccount",))
def anvil_impersonateAccount(ctx: Context, address: bytes) -> None:
    ctx.backend.dev.impersonate(address)
    return None


@rpc(
    "anvil_stopImpersonatingAccount",
    p.Param("address", p.address),
    aliases=("hardhat_stopImpersonatingAccount",),
)
def anvil_stopImpersonatingAccount(ctx: Context, address: bytes) -> None:
    ctx.backend.dev.stop_impersonating(address)
    return None


@rpc("anvil_autoImpersonateAccount", p.Param("enabled", p.boolean))
def anvil_autoImpersonateAccount(ctx: Context, enabled: bool) -> None:
    ctx.backend.dev.auto_impersonate(enabled)
    return None


# --- reset, dump and load ------------------------------------------------------------------------


def _reset_options(value: Any, what: str) -> None:
    """anvil_reset / hardhat_reset take forking options; sumchain forks nothing over RPC."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object (forking options) or nothing")
    forking = value.get("forking", value if "jsonRpcUrl" in value else None)
    if forking:
        raise InvalidParams(
            f"{what}: forking another node is not supported; without options the chain resets "
            "to its own genesis (sumchain fork makes a new chain from a block of a data directory)"
        )
    return None


@rpc("anvil_reset", p.optional("options", _reset_options), aliases=("hardhat_reset",))
def anvil_reset(ctx: Context, _options: None) -> None:
    ctx.backend.dev.reset()
    return None


@rpc("anvil_dumpState")
def anvil_dumpState(ctx: Context) -> str:
    return ctx.backend.dev.dump_state()


@rpc("anvil_loadState", p.Param("state", p.data))
def anvil_loadState(ctx: Context, state: bytes) -> bool:
    ctx.backend.dev.load_state(state)
    return True
