"""Dev controls: mining on demand (evm_mine, anvil_mine), automine and interval mining,
the clock (evm_increaseTime, evm_setNextBlockTimestamp), snapshot and revert,
debug_setHead, and the cheats: balance, code, storage and nonce set outside a
transaction, impersonation, the next block's base fee and coinbase, reset, and anvil's
state dump and load. They run on the chain worker, over the node's chain, pool and producer.

Every cheat that edits state is recorded in the chain's history (``chain.edits``): it is
visible at ``latest`` at once and carried by the next block, so export and replay
reproduce it and name the block.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from typing import Any

from eth_utils import to_canonical_address

from chain.chain import Chain
from chain.edits import BlockEdits, Cheat, StateEdit
from chain.errors import ChainError, StateDumpIncomplete, UnknownSnapshot
from chain.mempool import TxPool
from chain.producer import MAX_TIMESTAMP, BlockProducer
from node.rpc import errors
from node.rpc import format as fmt

ZERO_ADDRESS = b"\0" * 20
GZIP_MAGIC = b"\x1f\x8b"
MAX_STATE_BYTES = 256 * 1024 * 1024  # bytes a decompressed state dump may hold

log = logging.getLogger("sumchain.backend")


class DevControls:
    """What a developer may do to the node's chain beyond sending transactions."""

    def __init__(self, chain: Chain, pool: TxPool, producer: BlockProducer) -> None:
        self.chain = chain
        self.pool = pool
        self.producer = producer
        self._last_tick_error: str | None = None
        #: Edits pending at each snapshot (evm_snapshot), for evm_revert to restore.
        self._snapshot_edits: dict[int, BlockEdits | None] = {}

    def set_head(self, number: int) -> None:
        head = self.chain.head.block_number
        if number > head:
            raise errors.ServerError(f"block {number} is after the head {head}")
        self.chain.set_head(number)

    # --- mining and the clock ---------------------------------------------------------------

    def mine(self, count: int, timestamp: int | None = None, interval: int | None = None) -> None:
        if timestamp is not None:
            self._check_time(timestamp)
        if interval is not None:
            self._check_time(self.chain.head.timestamp + interval * count)
        if interval is None or count == 1:
            self.producer.mine(count, timestamp=timestamp)
            return
        for _ in range(count):  # anvil_mine's interval: seconds between the mined blocks
            ts = self.producer.clock.now()
            floor = self.chain.head.timestamp + max(1, interval)
            self.producer.mine(1, timestamp=max(ts, floor) if interval else None)

    def automine(self) -> bool:
        return self.producer.automine

    def set_automine(self, enabled: bool) -> None:
        if enabled:
            self.producer.set_mode("automine")
            if self.pool.pending():
                self.producer.mine()
        elif self.producer.automine:
            self.producer.set_mode("manual")

    def set_interval(self, seconds: float) -> None:
        if seconds > 0:
            self.producer.set_mode("interval", seconds)
        elif self.producer.mode == "interval":
            self.producer.set_mode("manual")

    def interval_due(self, _now: float) -> bool:
        """Read from the event loop thread: only plain attributes, no chain objects."""
        due = self.producer.next_due()
        return due is not None and due <= 0

    def mine_interval_block(self) -> None:
        """Seal the interval block if due; a failure is logged once per distinct cause
        (the timer keeps firing, and a log line every tick would bury everything)."""
        try:
            self.producer.tick()
        except ChainError as exc:
            if str(exc) != self._last_tick_error:
                log.warning("interval block not sealed: %s", exc)
            self._last_tick_error = str(exc)
        else:
            self._last_tick_error = None

    def _check_time(self, timestamp: int) -> None:
        if timestamp > MAX_TIMESTAMP:
            raise errors.InvalidParams(
                f"timestamp {timestamp} is beyond the largest block timestamp ({MAX_TIMESTAMP}, unix seconds)"
            )

    def increase_time(self, seconds: int) -> int:
        self._check_time(max(self.producer.clock.now(), self.chain.head.timestamp) + seconds)
        return self.producer.increase_time(seconds)

    def set_next_timestamp(self, timestamp: int) -> None:
        self._check_time(timestamp)
        self.producer.set_next_timestamp(timestamp)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> int:
        snapshot_id = self.producer.snapshot()
        self._snapshot_edits[snapshot_id] = self.chain.pending_edits()
        return snapshot_id

    def revert(self, snapshot_id: int) -> bool:
        """evm_revert: False for a snapshot that cannot be gone back to (unknown id, or
        its block no longer stored), as anvil answers. Edits not yet in a block at the
        snapshot come back; later ones go."""
        try:
            self.producer.revert(snapshot_id)
        except UnknownSnapshot:
            return False
        self.chain.restore_pending_edits(self._snapshot_edits.get(snapshot_id))
        self.pool.reset()
        return True

    # --- state edited outside transactions (recorded: chain.edits) --------------------------

    def _edit(self, method: str, edits: list[StateEdit]) -> None:
        self.chain.edit_state(Cheat(method, tuple(edits)))
        self.pool.reset()  # the pool re-reads nonces and balances at the edited head

    def set_balance(self, address: bytes, wei: int) -> None:
        self._edit("setBalance", [StateEdit("balance", address, wei)])

    def set_code(self, address: bytes, code: bytes) -> None:
        self._edit("setCode", [StateEdit("code", address, code)])

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        self._edit("setStorageAt", [StateEdit("storage", address, value, slot)])

    def set_nonce(self, address: bytes, nonce: int) -> None:
        self._edit("setNonce", [StateEdit("nonce", address, nonce)])

    def set_next_base_fee(self, wei: int) -> None:
        if not self.chain.config.fork_at_least("london"):
            raise errors.InvalidParams(
                f"baseFeePerGas: this chain runs {self.chain.config.fork}, which has no base fee (London on)"
            )
        self.chain.set_next_base_fee(wei)

    def set_coinbase(self, address: bytes) -> None:
        """The coinbase of the next blocks (it receives their priority fees). On a Clique
        chain the coinbase is also the vote field, so an authority cannot be named (that
        would vote it out), a block casting a vote keeps the vote's address, and a
        checkpoint block (every ``epoch`` blocks) has the zero address."""
        signers = self.chain.snapshots.snapshot(self.chain.head).signers
        if address in signers:
            raise errors.InvalidParams(
                f"coinbase: {fmt.addr(address)} is an authority of this proof-of-authority chain; "
                "a block's coinbase is its Clique vote, so naming it would vote it out"
            )
        self.chain.beneficiary = None if address == ZERO_ADDRESS else address

    # --- impersonation ----------------------------------------------------------------------

    def impersonate(self, address: bytes) -> None:
        self.chain.impersonating.add(address)

    def stop_impersonating(self, address: bytes) -> None:
        self.chain.impersonating.discard(address)

    def auto_impersonate(self, enabled: bool) -> None:
        self.chain.impersonate_all = enabled

    def is_impersonated(self, address: bytes) -> bool:
        return self.chain.impersonate_all or address in self.chain.impersonating

    def impersonated_raw(self, filled: dict[str, Any], sender: bytes) -> bytes:
        """An impersonated transaction's bytes from eth_account's filled-in dict."""
        fields: dict[str, Any] = {
            "chain_id": int(filled["chainId"]),
            "nonce": int(filled["nonce"]),
            "gas": int(filled["gas"]),
            "to": to_canonical_address(filled["to"]) if filled.get("to") else b"",
            "value": int(filled.get("value") or 0),
            "data": bytes(filled.get("data") or b""),
        }
        if "maxFeePerGas" in filled:
            fields["max_fee_per_gas"] = int(filled["maxFeePerGas"])
            fields["max_priority_fee_per_gas"] = int(filled["maxPriorityFeePerGas"])
        else:
            fields["gas_price"] = int(filled["gasPrice"])
        if filled.get("accessList") is not None or filled.get("type") == 1:
            fields["access_list"] = [
                (to_canonical_address(item["address"]), [int(k, 16) for k in item["storageKeys"]])
                for item in filled.get("accessList") or ()
            ]
        return self.chain.impersonated_raw(fields, sender)

    # --- reset ------------------------------------------------------------------------------

    def reset(self) -> None:
        """anvil_reset / hardhat_reset without forking: back to genesis. The head becomes
        block 0 (later blocks stay in the archive, no longer canonical), the pool is
        emptied, and pending edits, impersonations, the coinbase and the clock's offset and
        pinned timestamp are dropped. The genesis state is the chain's own: a state loaded
        or edited since then is gone with the blocks that carried it."""
        if self.chain.head.block_number > 0:
            self.chain.set_head(0)
        self.pool.clear()
        self.chain.drop_pending_edits()
        self.chain.impersonating.clear()
        self.chain.impersonate_all = False
        self.chain.beneficiary = None
        self.producer.clock.offset = 0
        self.producer.clock.next_timestamp = None

    # --- anvil's state dump -----------------------------------------------------------------

    def dump_state(self) -> str:
        """anvil_dumpState: the state at the head (pending edits included) in anvil's
        format, gzipped JSON as hex. Only accounts travel: ``blocks`` and ``transactions``
        are empty (history stays in this chain's archive and exports), so the dump names
        block 0 as its block: anvil moves its head to a loaded dump's block number and
        refuses one it does not hold. The block's other fields are the head's."""
        try:
            accounts = self.chain.dump_state()
        except StateDumpIncomplete as exc:
            raise errors.ServerError(str(exc)) from None
        head = self.chain.head
        base_fee = self.chain.next_base_fee()
        block: dict[str, Any] = {
            "number": "0x0",  # see the docstring: anvil moves its head to this block
            "beneficiary": fmt.addr(head.coinbase).lower(),
            "timestamp": hex(head.timestamp),
            "gas_limit": head.gas_limit,
            "basefee": base_fee or 0,
            "difficulty": hex(head.difficulty),
            "prevrandao": "0x" + head.mix_hash.hex(),
        }
        if hasattr(head, "excess_blob_gas"):
            block["blob_excess_gas_and_price"] = {"excess_blob_gas": head.excess_blob_gas, "blob_gasprice": 1}
        document = {
            "block": block,
            "accounts": {
                "0x" + a.address.hex(): {
                    "nonce": a.nonce,
                    "balance": hex(a.balance),
                    "code": "0x" + a.code.hex(),
                    "storage": {
                        "0x" + slot.to_bytes(32, "big").hex(): "0x" + value.to_bytes(32, "big").hex()
                        for slot, value in sorted(a.storage.items())
                    },
                }
                for a in sorted(accounts, key=lambda a: a.address)
            },
            "best_block_number": 0,
            "blocks": [],
            "transactions": [],
            "historical_states": None,
        }
        raw = json.dumps(document, separators=(",", ":")).encode()
        return "0x" + gzip.compress(raw, mtime=0).hex()

    def load_state(self, dump: bytes) -> None:
        """anvil_loadState: set every account of a dump (anvil's, or ours) as one recorded
        edit: balance, nonce, code and each listed storage slot (other slots stay, as
        anvil does). The dump's block and history are not loaded: this chain's blocks are
        its own."""
        self._edit("loadState", state_edits(dump))


def state_edits(dump: bytes) -> list[StateEdit]:
    """The edits a state dump stands for (gzipped or plain JSON); -32602 naming what is wrong."""
    if dump[:2] == GZIP_MAGIC:
        try:
            inflater = zlib.decompressobj(wbits=31)
            dump = inflater.decompress(dump, MAX_STATE_BYTES)
        except zlib.error as exc:
            raise errors.InvalidParams(f"state: not a gzipped state dump ({exc})") from None
        if inflater.unconsumed_tail:
            raise errors.InvalidParams(f"state: decompresses to more than {MAX_STATE_BYTES} bytes")
    try:
        document = json.loads(dump)
    except (UnicodeDecodeError, ValueError):
        raise errors.InvalidParams(
            "state: neither gzipped nor plain JSON (anvil's state dump format)"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("accounts"), dict):
        raise errors.InvalidParams("state: a state dump is a JSON object with an accounts object")
    edits: list[StateEdit] = []
    for key, account in document["accounts"].items():
        where = f"state.accounts[{key}]"
        address = _hex_bytes(key, where, 20)
        if not isinstance(account, dict):
            raise errors.InvalidParams(f"{where}: expected an object")
        edits.append(
            StateEdit("balance", address, _number(account.get("balance", 0), f"{where}.balance", 256))
        )
        edits.append(StateEdit("nonce", address, _number(account.get("nonce", 0), f"{where}.nonce", 64)))
        code = account.get("code") or "0x"
        edits.append(StateEdit("code", address, _hex_bytes(code, f"{where}.code")))
        storage = account.get("storage") or {}
        if not isinstance(storage, dict):
            raise errors.InvalidParams(f"{where}.storage: expected an object of slot: value")
        for slot, value in storage.items():
            edits.append(
                StateEdit(
                    "storage",
                    address,
                    _number(value, f"{where}.storage[{slot}]", 256),
                    _number(slot, f"{where}.storage slot", 256),
                )
            )
    return edits


def _number(value: Any, what: str, bits: int) -> int:
    """A dump's number: a JSON integer, or hex (leading zeros allowed, as anvil writes slots)."""
    if isinstance(value, bool):
        raise errors.InvalidParams(f"{what}: expected a number, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.startswith("0x"):
        try:
            number = int(value[2:] or "0", 16)
        except ValueError:
            raise errors.InvalidParams(f"{what}: invalid hex {value[:80]!r}") from None
    else:
        raise errors.InvalidParams(f"{what}: expected a number or a 0x hex string")
    if not 0 <= number < 2**bits:
        raise errors.InvalidParams(f"{what}: must be from 0 to 2**{bits}-1")
    return number


def _hex_bytes(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise errors.InvalidParams(f"{what}: expected 0x and an even number of hex digits")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise errors.InvalidParams(f"{what}: invalid hex") from None
    if size is not None and len(raw) != size:
        raise errors.InvalidParams(f"{what}: expected {size} bytes, got {len(raw)}")
    return raw
