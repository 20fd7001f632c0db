"""Development controls: mining on demand, automine and interval mining, the clock,
snapshots. Named as hardhat and ganache (``evm_``) with anvil's and hardhat's aliases,
so existing scripts and test suites drive sumchain unchanged."""

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
