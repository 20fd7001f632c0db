"""State edited outside transactions (the dev controls' cheats), recorded in the chain's history.

A devnet lets a developer set an account's balance, nonce, code or storage, load a whole
state, pick the next block's base fee and send transactions as an account whose key it
does not hold (impersonation). sumchain keeps its history verifiable end to end, so none
of this changes a block that exists: every cheat goes into the *next* block.

* A cheat (:class:`Cheat`: the method called and its :class:`StateEdit` list) is applied
  at once to a *pending* state on top of the head: its trie nodes and the pending record
  (:class:`BlockEdits`, parent = the head) are written in one store transaction, so reads
  at ``latest`` and calls see the edit straight away, as on anvil or Hardhat.
* The next block starts from that pending state instead of its parent's: its header's
  state root is the one after its transactions ran on the edited state. The record (the
  cheats in order, the state root they lead to, a base fee set by
  ``setNextBlockBaseFeePerGas`` and the senders of impersonated transactions) is written
  under the block's hash in the same write transaction as the block.
* Import and replay apply a block's recorded cheats to its parent's state, check that
  they lead to the recorded state root, then verify the block as any other (every
  transaction, the state root, receipts, gas, seal). ``export`` writes the records beside
  the blocks (:data:`EDITS_SUFFIX`), so a replay names every block whose state was edited
  outside a transaction and verifies everything else.

An impersonated transaction carries no signature that recovers to its sender. It is
marked instead: ``s = 1`` and ``r = 2**160 + sender`` (no real ECDSA signature has
``s = 1``), so its hash is unique per sender and its sender can be read back from the
transaction itself. Only a node impersonating the sender admits it, and a block holding
one imports only with a record listing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth.abc import SignedTransactionAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account as AccountRlp
from eth_typing import Address
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie
from trie.iter import NodeIterator

from chain.errors import StateDumpIncomplete

EDIT_KINDS = ("balance", "nonce", "code", "storage")
EDITS_KEY_PREFIX = b"edits:"  # TABLE_AUX: block hash -> the JSON record of its edits
PENDING_EDITS_KEY = b"edits-pending"  # TABLE_AUX: the record the next block will carry
PREIMAGE_KEY_PREFIX = b"preimage:"  # TABLE_AUX: keccak(address or slot) -> address or 32-byte slot
EDITS_SUFFIX = ".edits.jsonl"  # beside an export: one JSON record per edited block
RECORD_FORMAT = 1  # bump when a record's fields change
IMPERSONATION_S = 1  # the s of an impersonated transaction's marker signature
IMPERSONATION_R_BASE = 1 << 160  # r = this + the 160-bit sender
ADDRESS_BITS = 160
SLOT_BYTES = 32


@dataclass(frozen=True)
class StateEdit:
    """One change to one account, outside any transaction.

    Fields:
        kind: ``balance`` (wei), ``nonce``, ``code`` (bytes) or ``storage`` (one slot).
        address: the 20-byte account.
        value: the new balance (wei), nonce, code (bytes) or slot value (int).
        slot: the storage slot (``storage`` only).
    """

    kind: str
    address: bytes
    value: int | bytes
    slot: int | None = None

    def apply(self, state: StateAPI) -> None:
        address = Address(self.address)
        if self.kind == "balance":
            state.set_balance(address, int(self.value))  # type: ignore[arg-type]
        elif self.kind == "nonce":
            state.set_nonce(address, int(self.value))  # type: ignore[arg-type]
        elif self.kind == "code":
            state.set_code(address, bytes(self.value))  # type: ignore[arg-type]
        elif self.kind == "storage":
            assert self.slot is not None
            state.set_storage(address, self.slot, int(self.value))  # type: ignore[arg-type]
        else:
            raise ValueError(f"unknown edit kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "address": to_checksum_address(self.address)}
        out["value"] = "0x" + self.value.hex() if isinstance(self.value, bytes) else hex(self.value)
        if self.slot is not None:
            out["slot"] = hex(self.slot)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StateEdit:
        kind = raw["kind"]
        if kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {kind!r}")
        text = str(raw["value"])
        value: int | bytes = bytes.fromhex(text[2:]) if kind == "code" else int(text, 16)
        slot = int(raw["slot"], 16) if "slot" in raw else None
        return cls(kind, bytes.fromhex(raw["address"][2:]), value, slot)


@dataclass(frozen=True)
class Cheat:
    """One dev-control call that edited state: the JSON-RPC method and its edits, in order."""

    method: str
    edits: tuple[StateEdit, ...]

    def describe(self) -> str:
        """A short line for replay's report: the method and the accounts it touched."""
        accounts = sorted({to_checksum_address(e.address) for e in self.edits})
        shown = ", ".join(accounts[:3]) + (f" and {len(accounts) - 3} more" if len(accounts) > 3 else "")
        return f"{self.method} {shown}" if shown else self.method


@dataclass(frozen=True)
class BlockEdits:
    """What a block carries besides its transactions: the record of its cheats.

    Fields:
        parent_hash: the block it is built on (32 bytes); for the pending record, the head.
        cheats: state edits, applied in order to the parent's state before the first
            transaction.
        state_root: the state root the cheats lead to, where the block's transactions start
            (the parent's state root when there are none).
        base_fee: the block's base fee (wei) when ``setNextBlockBaseFeePerGas`` chose it;
            None: EIP-1559's rule.
        impersonated: (transaction hash, sender) of each impersonated transaction in the
            block.
    """

    parent_hash: bytes
    cheats: tuple[Cheat, ...] = ()
    state_root: bytes = BLANK_ROOT_HASH
    base_fee: int | None = None
    impersonated: tuple[tuple[bytes, bytes], ...] = field(default=())

    def senders(self) -> dict[bytes, bytes]:
        return dict(self.impersonated)

    def describe(self) -> list[str]:
        """What replay prints for the block, one line each."""
        lines = [f"state edited outside a transaction: {c.describe()}" for c in self.cheats]
        if self.base_fee is not None:
            lines.append(f"base fee set to {self.base_fee} wei (setNextBlockBaseFeePerGas)")
        for tx_hash, sender in self.impersonated:
            lines.append(f"impersonated transaction 0x{tx_hash.hex()} from {to_checksum_address(sender)}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "parent_hash": "0x" + self.parent_hash.hex(),
            "cheats": [{"method": c.method, "edits": [e.to_json() for e in c.edits]} for c in self.cheats],
            "state_root": "0x" + self.state_root.hex(),
            "base_fee": None if self.base_fee is None else hex(self.base_fee),
            "impersonated": [
                {"hash": "0x" + h.hex(), "sender": to_checksum_address(s)} for h, s in self.impersonated
            ],
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BlockEdits:
        if raw.get("format") != RECORD_FORMAT:
            raise ValueError(f"not a record of edits (format {RECORD_FORMAT})")
        return cls(
            parent_hash=bytes.fromhex(raw["parent_hash"][2:]),
            cheats=tuple(
                Cheat(c["method"], tuple(StateEdit.from_json(e) for e in c["edits"])) for c in raw["cheats"]
            ),
            state_root=bytes.fromhex(raw["state_root"][2:]),
            base_fee=None if raw.get("base_fee") is None else int(raw["base_fee"], 16),
            impersonated=tuple(
                (bytes.fromhex(i["hash"][2:]), bytes.fromhex(i["sender"][2:])) for i in raw["impersonated"]
            ),
        )

    @classmethod
    def decode(cls, raw: bytes) -> BlockEdits:
        return cls.from_json(json.loads(raw))


def apply_cheats(state: StateAPI, cheats: Iterable[Cheat]) -> None:
    for cheat in cheats:
        for edit in cheat.edits:
            edit.apply(state)


# --- impersonated transactions ----------------------------------------------------------------


def marker_signature(sender: bytes) -> tuple[int, int]:
    """(r, s) of the marker an impersonated transaction from ``sender`` carries."""
    return IMPERSONATION_R_BASE + int.from_bytes(sender, "big"), IMPERSONATION_S


def is_impersonated(tx: SignedTransactionAPI) -> bool:
    """True when ``tx`` carries the impersonation marker instead of a signature."""
    try:
        return bool(tx.s == IMPERSONATION_S and tx.r >> ADDRESS_BITS == 1)
    except (AttributeError, ValueError):
        return False


def marked_sender(tx: SignedTransactionAPI) -> bytes:
    """The sender an impersonated transaction's marker names (20 bytes)."""
    return (tx.r - IMPERSONATION_R_BASE).to_bytes(20, "big")


# --- preimages of hashed trie keys (for dumping a state) ---------------------------------------


def preimage_entries(addresses: Iterable[bytes], slots: Iterable[int]) -> Iterator[tuple[bytes, bytes]]:
    """(store key, preimage) for accounts and storage slots a block or a cheat touched:
    the state trie is keyed by keccak(address) and keccak(slot), so a dump needs these."""
    for address in addresses:
        yield PREIMAGE_KEY_PREFIX + keccak(bytes(address)), bytes(address)
    for slot in slots:
        word = slot.to_bytes(SLOT_BYTES, "big")
        yield PREIMAGE_KEY_PREFIX + keccak(word), word


@dataclass(frozen=True)
class DumpedAccount:
    """One account of a state, as a dump lists it (storage: slot -> value, non-zero only)."""

    address: bytes
    nonce: int
    balance: int
    code: bytes
    storage: dict[int, int]


def dump_accounts(db: Any, state_root: bytes, preimage: Any) -> Iterator[DumpedAccount]:
    """Every account of the state at ``state_root``; ``preimage(hashed key)`` gives an
    address or slot back (None when unknown: :class:`StateDumpIncomplete`)."""
    for hashed, encoded in NodeIterator(HexaryTrie(db, state_root)).items():
        address = preimage(hashed)
        if address is None:
            raise StateDumpIncomplete("an account", hashed)
        account = rlp.decode(encoded, sedes=AccountRlp)
        code = b"" if account.code_hash == EMPTY_SHA3 else bytes(db[account.code_hash])
        storage: dict[int, int] = {}
        if account.storage_root != BLANK_ROOT_HASH:
            for hashed_slot, value in NodeIterator(HexaryTrie(db, account.storage_root)).items():
                slot = preimage(hashed_slot)
                if slot is None:
                    raise StateDumpIncomplete(
                        f"a storage slot of {to_checksum_address(address)}", hashed_slot
                    )
                storage[int.from_bytes(slot, "big")] = rlp.decode(value, sedes=rlp.sedes.big_endian_int)
        yield DumpedAccount(bytes(address), account.nonce, account.balance, code, storage)
