"""The chain: the canonical head, building and importing blocks, and reads at any block.

:class:`Chain` wraps a py-evm chain (the EVM and its database schema) with what a
proof-of-authority devnet adds: Clique seals and signer rules (``chain.consensus``),
one atomic store commit per block (``chain.store``) and archive reads of any block's
state. The ledger knows no pool: it checks transactions with the pool's validation
rules (``chain.validation``), and offers hooks (:meth:`Chain.on_commit`, :meth:`Chain.on_commit_failed`,
:meth:`Chain.on_head_change`, :meth:`Chain.on_block`) that the node's assembly
(``node.assemble``) wires its pool and notifications to.

All methods must be called from one thread: py-evm objects are not thread-safe. The
node runs every chain call on a single worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    VirtualMachineAPI,
)
from eth.chains.base import Chain as PyEvmChain
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth.db.schema import SchemaV1
from eth.exceptions import (
    HeaderNotFound,
    TransactionNotFound,
)
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_keys import keys
from eth_typing import Address, BlockNumber, Hash32
from eth_utils import ValidationError

from chain import consensus, log_index
from chain.config import ChainConfig
from chain.edits import (
    EDITS_KEY_PREFIX,
    PENDING_EDITS_KEY,
    PREIMAGE_KEY_PREFIX,
    BlockEdits,
    Cheat,
    DumpedAccount,
    apply_cheats,
    dump_accounts,
    is_impersonated,
    marked_sender,
    marker_signature,
    preimage_entries,
)
from chain.errors import (
    BlockGasExhausted,
    CallReverted,
    ChainError,
    DataDirError,
    FloorDataGasTooLow,
    IntrinsicGasTooLow,
    InvalidBlock,
    InvalidSignature,
    InvalidTransaction,
    MalformedTransaction,
    NonceGap,
    NotApplicable,
    UnknownBlock,
    UnsupportedTransactionType,
)
from chain.genesis import VANITY, check_stored_chain, config_from_meta, default_signer, write_genesis
from chain.log_scan import block_logs, bloom_may_match
from chain.store import TABLE_AUX, TABLE_CHAIN, Store, inspect_data_dir
from chain.validation import (
    SET_CODE_TRANSACTION_TYPE,
    TransactionRules,
    validate_against_state,
    validate_transaction,
)
from chain.vm import (
    BlockRuleBroken,
    call_transaction,
    contract_address,
    floor_data_gas,
    has_set_code,
    impersonated_execution,
    index_canonical_block,
    intrinsic_gas,
    max_initcode_size,
    new_header,
    set_canonical_head,
    unindex_canonical_block,
    vm_class_for,
    with_known_sender,
)

log = logging.getLogger(__name__)

#: Tags that name the head: with one authority every sealed block is final, and the
#: pool's transactions are in no block yet.
HEAD_TAGS = ("latest", "pending", "safe", "finalized")
BLOCK_TAGS = ("earliest", *HEAD_TAGS)  # every block tag of the JSON-RPC specification
SNAPSHOT_KEY_PREFIX = b"clique-snapshot:"
CALL_STIPEND = 2300  # gas a value-carrying call adds for its callee
ESTIMATE_SEARCHES = ("predicted", "bisection")  # Chain.estimate_gas's ways to the least limit
ESTIMATE_PREDICTIONS = 4  # predicted limits tried before a plain binary search
CALL_KEEPS = 64  # EIP-150: a call forwards at most all but 1/64 of the gas left
HEAD_KEY = SchemaV1.make_canonical_head_hash_lookup_key()  # py-evm's key of the head hash
PREIMAGES_REMEMBERED = 1_000_000  # preimage keys known written before the set starts over


@dataclass(frozen=True)
class LogInfo:
    """One log as the RPC reports it: where it sits in the chain and what it says."""

    address: bytes  # 20-byte emitting contract
    topics: tuple[bytes, ...]  # 32-byte topics
    data: bytes
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    transaction_index: int
    log_index: int  # position among all logs of the block


@dataclass(frozen=True)
class ReceiptInfo:
    """A receipt with everything the RPC derives from its block."""

    transaction: SignedTransactionAPI
    receipt: ReceiptAPI
    header: BlockHeaderAPI
    index: int  # transaction index in the block
    sender: bytes
    gas_used: int  # gas used by this transaction alone
    cumulative_gas_used: int
    effective_gas_price: int  # wei per gas actually paid
    contract_address: bytes | None
    status: int  # 1 success, 0 failure
    logs: tuple[LogInfo, ...]


@dataclass
class CallResult:
    """What an eth_call returned: output, gas, and the error if it failed."""

    output: bytes
    gas_used: int
    error: str | None = None
    revert_data: bytes | None = None

    @property
    def reverted(self) -> bool:
        return self.error is not None


@dataclass
class BuiltBlock:
    """A block this node sealed, what it held and what it left out (and why)."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    #: Transactions left out, each with the typed rule it broke in this block
    #: (``BlockGasExhausted``, ``FeeCapTooLow`` and ``NonceGap`` may pass in a later one).
    rejected: list[tuple[SignedTransactionAPI, InvalidTransaction]] = field(default_factory=list)
    state: StateAPI | None = field(default=None, repr=False)  # the builder's state, persisted
    witness: Any = field(default=None, repr=False)  # py-evm's MetaWitness: what the block touched


class _PyEvmChain(PyEvmChain):
    """py-evm's chain with its header and block lookups, configured per sumchain chain.

    ``pending_root(header)`` (set by :class:`Chain`) names the state a VM at ``header``
    should start from instead of the header's own root: for the head, the state the dev
    controls' pending edits made (``chain.edits``), so that every read and call at the
    head sees them."""

    pending_root: Callable[[BlockHeaderAPI], bytes | None] | None = None

    def get_vm(self, at_header: BlockHeaderAPI | None = None) -> VirtualMachineAPI:
        header = at_header if at_header is not None else self.get_canonical_head()
        if self.pending_root is not None:
            root = self.pending_root(header)
            if root is not None:
                header = header.copy(state_root=root)
        return super().get_vm(header)


def _tx_type_name(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


CommitHook = Callable[[BlockAPI], None]
"""Called with a new head block inside its store write transaction (:meth:`Chain.on_commit`)."""
HeadChangeHook = Callable[[Sequence[BlockAPI], bool], None]
"""Called with the dropped blocks and ``reinject`` inside :meth:`Chain.set_head`'s write transaction."""


class Chain:
    """The ledger of one sumchain node."""

    def __init__(
        self,
        config: ChainConfig,
        store: Store,
        signer_key: bytes | None = None,
        data_dir: Path | None = None,
        fast_paths: bool = True,
        lean_loop: bool = False,
    ) -> None:
        self.config = config
        # Speed-ups that stand beside a plain path giving the same blocks (see
        # tests/chain/test_fast_paths.py): accounts carried between blocks, the head
        # header kept decoded, no re-validation of blocks this node just built, storage
        # values carried between blocks, and the lean interpreter loop (chain/interpreter.py).
        self.fast_paths = fast_paths
        self._head_cache: tuple[bytes, BlockHeaderAPI] | None = None  # (head hash, header)
        self.store = store
        self.data_dir = data_dir
        # ``lean_loop`` without ``fast_paths``: the lean loop alone (a reading view's
        # calls), none of the caches that belong to the live chain's thread.
        self.vm_class = vm_class_for(config.fork, fast_paths=fast_paths, lean_loop=lean_loop)
        self._evm_class = _PyEvmChain.configure(
            __name__="SumchainEVM", vm_configuration=((0, self.vm_class),), chain_id=config.chain_id
        )
        self._signer_key = keys.PrivateKey(signer_key) if signer_key else None
        self._listeners: list[Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None]] = []
        self._commit_hooks: list[CommitHook] = []
        self._commit_failed_hooks: list[Callable[[], None]] = []
        self._head_hooks: list[HeadChangeHook] = []
        self._head_state_cache: tuple[bytes, StateAPI] | None = None
        self.proposals: dict[bytes, bool] = {}  # signer votes this node casts: address -> authorize
        #: Senders whose impersonated transactions (``chain.edits``) this node admits.
        self.impersonating: set[bytes] = set()
        self.impersonate_all = False  # anvil_autoImpersonateAccount: admit them from anyone
        #: The coinbase of blocks that cast no vote (anvil_setCoinbase); None: the zero address.
        self.beneficiary: bytes | None = None
        self._preimages_written: set[bytes] = set()
        self.vanity = VANITY
        if store.read_meta() is None:
            write_genesis(store, config, self._evm_class, data_dir)
        else:
            check_stored_chain(store)
        self.evm = self._evm_class(store.db)
        self.evm.pending_root = self._pending_root
        self.snapshots = consensus.SnapshotCache(
            epoch=config.epoch,
            get_header=self.evm.chaindb.get_block_header_by_hash,
            load=lambda h: store.get(TABLE_AUX, SNAPSHOT_KEY_PREFIX + h),
            save=lambda h, b: store.put(TABLE_AUX, SNAPSHOT_KEY_PREFIX + h, b),
        )

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: ChainConfig | None = None,
        data_dir: str | Path | None = None,
        signer_key: bytes | None = None,
        sync: bool = True,
        fast_paths: bool = True,
    ) -> Chain:
        """Open the chain in ``data_dir`` (creating it from ``config`` if new), or an
        in-memory chain when ``data_dir`` is None."""
        config = config or ChainConfig()
        directory = data_dir if data_dir is not None else config.data_dir
        if directory is None:
            store = Store.memory()
            path = None
        else:
            path = Path(directory)
            meta = inspect_data_dir(path)  # refuses a damaged directory before anything writes
            if meta is not None:
                config = config_from_meta(meta, config)
            store = Store.open(path, sync=sync, fast_reads=fast_paths)
        try:
            return cls(
                config,
                store,
                signer_key=default_signer(config, signer_key),
                data_dir=path,
                fast_paths=fast_paths,
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()

    # --- head and lookups ----------------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        if not self.fast_paths:
            return self.evm.chaindb.get_canonical_head()
        # fast path: the head hash is one store read; decode its header only when it moved
        head_hash = self.store.get(TABLE_CHAIN, HEAD_KEY)
        cached = self._head_cache
        if cached is not None and cached[0] == head_hash:
            return cached[1]
        header = self.evm.chaindb.get_canonical_head()
        self._head_cache = (header.hash, header)
        return header

    @property
    def genesis(self) -> BlockHeaderAPI:
        return self.evm.chaindb.get_canonical_block_header_by_number(BlockNumber(0))

    @property
    def signer(self) -> bytes | None:
        """This node's sealing address, if it has a key."""
        return self._signer_key.public_key.to_canonical_address() if self._signer_key else None

    def header(self, ref: int | bytes) -> BlockHeaderAPI:
        """The canonical header at a number, or the header with a hash (canonical or not)."""
        try:
            if isinstance(ref, int):
                if ref < 0:
                    raise UnknownBlock(f"block number {ref} is negative")
                return self.evm.chaindb.get_canonical_block_header_by_number(BlockNumber(ref))
            return self.evm.chaindb.get_block_header_by_hash(Hash32(ref))
        except HeaderNotFound:
            what = f"number {ref}" if isinstance(ref, int) else f"hash 0x{ref.hex()}"
            raise UnknownBlock(f"no block with {what} (head is {self.head.block_number})") from None

    def block(self, ref: int | bytes | BlockHeaderAPI) -> BlockAPI:
        header = ref if not isinstance(ref, (int, bytes)) else self.header(ref)
        block = self.vm_class.get_block_class().from_header(header, self.evm.chaindb)
        for tx in block.transactions:
            _known_sender(tx)
        return block

    def resolve(self, tag: str | int | bytes | None) -> BlockHeaderAPI:
        """A block tag (``earliest``, ``latest``, ``pending``, ``safe``, ``finalized``),
        number or 32-byte hash to a header. With one authority every sealed block is
        final, so ``safe`` and ``finalized`` are the head, and ``pending`` is too (the
        pool's transactions are not in any block yet)."""
        if tag is None or tag in HEAD_TAGS:
            return self.head
        if tag == "earliest":
            return self.genesis
        if isinstance(tag, (int, bytes)):
            return self.header(tag)
        raise UnknownBlock(f"unknown block tag {tag!r}")

    def is_canonical(self, header: BlockHeaderAPI) -> bool:
        try:
            return self.evm.chaindb.get_canonical_block_hash(header.block_number) == header.hash
        except HeaderNotFound:
            return False

    # --- state -------------------------------------------------------------------------

    def state_at(self, header: BlockHeaderAPI | None = None) -> StateAPI:
        """The state after ``header`` (default: head), straight from the archive."""
        header = header or self.head
        if header.hash == self.head.hash:
            key = header.hash + (self._pending_root(header) or b"")
            cached = self._head_state_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            state = self.evm.get_vm(header).state
            self._head_state_cache = (key, state)
            return state
        return self.evm.get_vm(header).state

    # --- edits outside transactions (chain.edits) ----------------------------------------

    def pending_edits(self) -> BlockEdits | None:
        """The edits the next block will carry, made on top of the current head; None if none."""
        raw = self.store.get(TABLE_AUX, PENDING_EDITS_KEY)
        if raw is None:
            return None
        pending = BlockEdits.decode(raw)
        return pending if pending.parent_hash == self.head.hash else None

    def _pending_root(self, header: BlockHeaderAPI) -> bytes | None:
        if self.store.get(TABLE_AUX, PENDING_EDITS_KEY) is None:
            return None  # the common case: one store read
        pending = self.pending_edits()
        if pending is None or pending.parent_hash != header.hash or not pending.cheats:
            return None
        return pending.state_root

    def state_root_at(self, header: BlockHeaderAPI) -> bytes:
        """The root of the state after ``header`` as reads see it: the head's pending
        edits included."""
        return self._pending_root(header) or header.state_root

    def _pending_or_new(self) -> BlockEdits:
        head = self.head
        return self.pending_edits() or BlockEdits(parent_hash=head.hash, state_root=head.state_root)

    def edit_state(self, cheat: Cheat) -> BlockEdits:
        """Apply ``cheat`` to the state at the head (on top of earlier pending edits) and
        record it for the next block, in one store transaction with the trie nodes it
        wrote; reads and calls at the head see it at once. Returns the pending record."""
        pending = self._pending_or_new()
        head = self.head
        state = self.evm.get_vm(head.copy(state_root=pending.state_root)).state
        apply_cheats(state, (cheat,))
        with self.store.block_write():
            state.persist()
            record = replace(pending, cheats=(*pending.cheats, cheat), state_root=state.state_root)
            self.store.put(TABLE_AUX, PENDING_EDITS_KEY, record.encode())
            slots = {e.slot for e in cheat.edits if e.slot is not None}
            self._write_preimages({e.address for e in cheat.edits}, slots)
        self._head_state_cache = None
        return record

    def set_next_base_fee(self, base_fee: int) -> None:
        """Give the next block ``base_fee`` (wei) instead of EIP-1559's rule; recorded with it."""
        record = replace(self._pending_or_new(), base_fee=base_fee)
        with self.store.block_write():
            self.store.put(TABLE_AUX, PENDING_EDITS_KEY, record.encode())

    def drop_pending_edits(self) -> None:
        """Forget the edits not yet in a block (the state returns to the head's)."""
        self.restore_pending_edits(None)

    def restore_pending_edits(self, record: BlockEdits | None) -> None:
        """Make ``record`` (from :meth:`pending_edits`, for the current head) the pending
        edits again, or none (evm_revert to a snapshot taken before them). Its trie nodes
        are still in the archive."""
        with self.store.block_write():
            self.store.put(TABLE_AUX, PENDING_EDITS_KEY, None if record is None else record.encode())
        self._head_state_cache = None

    def block_edits(self, header: BlockHeaderAPI) -> BlockEdits | None:
        """The record of what was done to block ``header`` outside its transactions, if anything."""
        raw = self.store.get(TABLE_AUX, EDITS_KEY_PREFIX + header.hash)
        return None if raw is None else BlockEdits.decode(raw)

    def start_state_root(self, header: BlockHeaderAPI) -> bytes:
        """The state block ``header``'s transactions start from: its parent's, or the one its
        recorded edits lead to."""
        edits = self.block_edits(header)
        if edits is not None:
            return edits.state_root
        return self.header(header.parent_hash).state_root

    def impersonated_raw(self, fields: dict[str, Any], sender: bytes) -> bytes:
        """The raw bytes of a transaction from ``sender`` with the impersonation marker in
        place of a signature. ``fields``: chain_id, nonce, gas, to (b"" creates), value,
        data, and gas_price (legacy; with access_list: type 1) or max_fee_per_gas and
        max_priority_fee_per_gas (type 2); access_list as (address, [slots])."""
        r, s = marker_signature(sender)
        builder: Any = self.vm_class.get_transaction_builder()
        common = (fields["gas"], fields.get("to") or b"", fields.get("value", 0), fields.get("data", b""))
        access = [(a, list(slots)) for a, slots in fields.get("access_list") or ()]
        if "max_fee_per_gas" in fields:
            tx = builder.new_dynamic_fee_transaction(
                fields["chain_id"],
                fields["nonce"],
                fields["max_priority_fee_per_gas"],
                fields["max_fee_per_gas"],
                *common,
                access,
                0,
                r,
                s,
            )
        elif fields.get("access_list") is not None:
            tx = builder.new_access_list_transaction(
                fields["chain_id"], fields["nonce"], fields["gas_price"], *common, access, 0, r, s
            )
        else:
            v = fields["chain_id"] * 2 + 35  # EIP-155, recovery id 0
            tx = builder.new_transaction(fields["nonce"], fields["gas_price"], *common, v, r, s)
        return bytes(tx.encode()) if hasattr(tx, "encode") else bytes(rlp.encode(tx))

    def executable(self, tx: SignedTransactionAPI) -> SignedTransactionAPI:
        """``tx`` as the EVM runs it: an impersonated transaction without its signature check."""
        return impersonated_execution(tx, marked_sender(tx)) if is_impersonated(tx) else tx

    def _write_preimages(self, addresses: Iterable[bytes], slots: Iterable[int]) -> None:
        if len(self._preimages_written) > PREIMAGES_REMEMBERED:
            self._preimages_written = set()
        for key, value in preimage_entries(addresses, slots):
            if key not in self._preimages_written:
                self.store.put(TABLE_AUX, key, value)
                self._preimages_written.add(key)

    def _record_witness(self, witness: Any) -> None:
        """Keep the preimages of every account and slot a block touched (py-evm's witness)."""
        addresses = witness.accounts_queried
        slots = {slot for address in addresses for slot in witness.get_slots_queried(address)}
        self._write_preimages(addresses, slots)

    def dump_state(self, header: BlockHeaderAPI | None = None) -> list[DumpedAccount]:
        """Every account of the state after ``header`` (default: the head with its pending
        edits), with code and storage. Raises ``StateDumpIncomplete`` for a key whose
        preimage was never recorded."""
        header = header or self.head
        root = self.state_root_at(header)
        genesis = {bytes.fromhex(a[2:]) for a in self.config.genesis_alloc}
        known = dict(preimage_entries(genesis, ()))

        def preimage(hashed: bytes) -> bytes | None:
            key = PREIMAGE_KEY_PREFIX + hashed
            return self.store.get(TABLE_AUX, key) or known.get(key)

        return list(dump_accounts(self.store.db, root, preimage))

    # PoolState protocol (chain.mempool) -------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.config.chain_id

    def nonce(self, address: bytes) -> int:
        return self.state_at().get_nonce(Address(address))

    def balance(self, address: bytes) -> int:
        return self.state_at().get_balance(Address(address))

    def next_base_fee(self) -> int | None:
        if not self.config.fork_at_least("london"):
            return None
        pending = self.pending_edits()
        if pending is not None and pending.base_fee is not None:
            return pending.base_fee
        return calculate_expected_base_fee_per_gas(self.head)

    def block_gas_limit(self) -> int:
        return self.config.gas_limit

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        if not raw:
            raise MalformedTransaction("empty transaction bytes")
        if raw[0] <= 0x7F:
            if not self.config.fork_at_least("berlin"):
                raise UnsupportedTransactionType(
                    f"typed transaction (type {raw[0]}) needs Berlin or later; "
                    f"this chain runs {self.config.fork}"
                )
            allowed = set(self.transaction_rules().transaction_types) - {0}
            if raw[0] not in allowed:
                raise UnsupportedTransactionType(
                    f"transaction type {raw[0]} is not supported on {self.config.fork} "
                    f"(supported: legacy, {', '.join(str(t) for t in sorted(allowed))})"
                )
        try:
            tx = self.vm_class.get_transaction_builder().decode(raw)
        except Exception as exc:  # noqa: BLE001 - rlp/py-evm raise many kinds on garbage
            raise MalformedTransaction(f"transaction bytes do not decode: {_tx_type_name(exc)}") from None
        if is_impersonated(tx):
            sender = marked_sender(tx)
            if not (self.impersonate_all or sender in self.impersonating):
                raise InvalidSignature(
                    "invalid signature: the transaction carries the impersonation marker of "
                    f"0x{sender.hex()}, which this node does not impersonate"
                )
            with_known_sender(tx, sender)
        return tx

    def intrinsic_gas(self, tx: SignedTransactionAPI) -> int:
        return intrinsic_gas(self.config.fork, tx)

    def max_initcode_size(self) -> int | None:
        return max_initcode_size(self.config.fork)

    def floor_data_gas(self, tx: SignedTransactionAPI) -> int:
        return floor_data_gas(self.config.fork, tx)

    def code(self, address: bytes) -> bytes:
        return bytes(self.state_at().get_code(Address(address)))

    def transaction_rules(self) -> TransactionRules:
        """The stateless rules every transaction of this chain's blocks follows."""
        types = (
            {0}
            | ({1} if self.config.fork_at_least("berlin") else set())
            | ({2} if self.config.fork_at_least("london") else set())
            | ({SET_CODE_TRANSACTION_TYPE} if has_set_code(self.config.fork) else set())
        )
        return TransactionRules(
            chain_id=self.config.chain_id,
            transaction_types=frozenset(types),
            block_gas_limit=self.config.gas_limit,
            max_initcode_size=self.max_initcode_size(),
        )

    # --- building blocks -------------------------------------------------------------------

    def next_timestamp(self, requested: int | None = None) -> int:
        """The timestamp the next block gets: the wall clock (or ``requested``), never
        earlier than the parent plus the period and always after the parent."""
        parent = self.head
        earliest = parent.timestamp + max(1, self.config.block_period)
        wanted = requested if requested is not None else int(time.time())
        return max(wanted, earliest) if requested is None else wanted

    def build_block(
        self, transactions: Sequence[SignedTransactionAPI], timestamp: int | None = None
    ) -> BuiltBlock:
        """Execute ``transactions`` (in order, skipping the ones that do not apply) on
        top of the head, seal the block with this node's key and commit it.

        Transactions that fail validation against the evolving block state (nonce,
        balance, gas left in the block) are left out and listed in ``rejected``.
        """
        parent = self.head
        snapshot = self.snapshots.snapshot(parent)
        number = parent.block_number + 1
        sealing = consensus.prepare(
            snapshot, number, self.signer, self.config.epoch, self.vanity, self.proposals
        )
        ts = self.next_timestamp(timestamp)
        if ts < parent.timestamp + max(1, self.config.block_period):
            raise InvalidBlock(
                f"timestamp {ts} is earlier than parent {parent.timestamp} + period "
                f"{max(1, self.config.block_period)}",
                check="timestamp",
            )
        fields: dict[str, Any] = {"timestamp": ts, "gas_limit": self.config.gas_limit, **sealing}
        if (
            self.beneficiary is not None
            and sealing["coinbase"] == ZERO_ADDRESS
            and number % self.config.epoch
        ):
            fields["coinbase"] = self.beneficiary  # no vote in this block: the drop nonce stays, ignored
        if self.config.fork_at_least("cancun"):
            fields["parent_beacon_block_root"] = ZERO_HASH32
        pending = self.pending_edits()
        if pending is not None:
            fields["state_root"] = pending.state_root  # the edits come first in the block
        header = new_header(self.vm_class, parent, **fields)
        if pending is not None and pending.base_fee is not None:
            header = header.copy(base_fee_per_gas=pending.base_fee)
        try:
            with self.store.block_write():
                built = self._execute(
                    header, transactions, revalidate=pending is None or pending.base_fee is None
                )
                assert self._signer_key is not None  # consensus.prepare refused a node without one
                sealed = consensus.seal(built.block.header, self._signer_key.to_bytes())
                block = built.block.copy(header=sealed)
                self.evm.chaindb.persist_block(block)
                impersonated = tuple(
                    (tx.hash, marked_sender(tx)) for tx in block.transactions if is_impersonated(tx)
                )
                if pending is not None or impersonated:
                    record = pending or BlockEdits(parent_hash=parent.hash, state_root=parent.state_root)
                    record = replace(record, impersonated=impersonated)
                    self.store.put(TABLE_AUX, EDITS_KEY_PREFIX + block.hash, record.encode())
                if self.store.get(TABLE_AUX, PENDING_EDITS_KEY) is not None:
                    self.store.put(TABLE_AUX, PENDING_EDITS_KEY, None)  # used, or stale after a rewind
                self._after_block(block, built.state, built.witness, built.receipts)
        except DataDirError:
            self._forget_uncommitted_block()
            raise
        self._notify(block, built.receipts)
        return BuiltBlock(block, built.receipts, built.rejected)

    def pending_header(self, timestamp: int) -> BlockHeaderAPI:
        """The header of the next block on the head at ``timestamp`` before any transaction
        (the head's state root, or the state the dev controls' pending edits made, with
        their base fee), unsealed: no vote, an empty seal, in-turn difficulty, the coinbase
        the next block would pay (zero unless one is set). A call at ``pending`` with an
        empty pool runs in it."""
        fields: dict[str, Any] = {
            "timestamp": timestamp,
            "gas_limit": self.config.gas_limit,
            "coinbase": ZERO_ADDRESS,
            "nonce": consensus.NONCE_DROP,
            "extra_data": consensus.make_extra_data(self.vanity),
            "difficulty": consensus.DIFF_IN_TURN,
            "mix_hash": ZERO_HASH32,
        }
        if self.beneficiary is not None and (self.head.block_number + 1) % self.config.epoch:
            fields["coinbase"] = self.beneficiary  # as build_block: the tips' recipient, no vote
        if self.config.fork_at_least("cancun"):
            fields["parent_beacon_block_root"] = ZERO_HASH32
        pending = self.pending_edits()
        if pending is not None:
            fields["state_root"] = pending.state_root  # the dev controls' edits come first
        header = new_header(self.vm_class, self.head, **fields)
        if pending is not None and pending.base_fee is not None:
            header = header.copy(base_fee_per_gas=pending.base_fee)
        return header

    def view(self) -> Chain:
        """A second chain on this one's store backend: it reads what this one has
        committed or buffered (:meth:`Store.overlay`), and what it writes stays in its own
        buffer unless it commits (without a key or hooks, it seals and announces nothing)."""
        return Chain(self.config, self.store.overlay(), fast_paths=False)

    def preview_block(
        self, transactions: Sequence[SignedTransactionAPI], timestamp: int
    ) -> tuple[Chain, BuiltBlock]:
        """The block ``transactions`` would make on the head at ``timestamp``: executed as
        :meth:`build_block` executes them (those that cannot apply left out, in
        ``rejected``) but not sealed (:meth:`pending_header`) -- geth's *pending* block.

        It is built on a :meth:`view` and persisted into the view's buffer only, where it
        is the head: the view reads it (block, receipts, state) as any block; nothing is
        committed, and the view is thrown away with it.
        """
        view = self.view()
        view.beneficiary = self.beneficiary
        pending = self.pending_edits()
        revalidate = pending is None or pending.base_fee is None  # as build_block
        built = view._execute(view.pending_header(timestamp), transactions, revalidate=revalidate)
        view.evm.chaindb.persist_block(built.block)
        return view, built

    def _execute(
        self, header: BlockHeaderAPI, transactions: Sequence[SignedTransactionAPI], revalidate: bool = True
    ) -> BuiltBlock:
        """Apply ``transactions`` on ``header``, leaving out each one that cannot apply.

        A transaction is first checked by the pool's own rules against the block being
        built (so the common refusals come back typed and touch no state); one that still
        fails inside the EVM may have changed the state halfway, so the block is started
        again without it. Either way, one transaction never stops the block.
        """
        broken: dict[int, InvalidTransaction] = {}  # position in ``transactions`` -> why
        while True:
            try:
                return self._execute_once(header, transactions, broken, revalidate)
            except _BrokenTransaction as failure:
                broken[failure.position] = failure.error

    def _execute_once(
        self,
        header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        broken: dict[int, InvalidTransaction],
        revalidate: bool = True,
    ) -> BuiltBlock:
        vm = self.evm.get_vm(header)
        block = vm.get_block()
        vm.block_preprocessing(block)  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits block_preprocessing, which its VM class defines
        receipts: list[ReceiptAPI] = []
        included: list[SignedTransactionAPI] = []
        rejected: list[tuple[SignedTransactionAPI, InvalidTransaction]] = []
        held_back: set[bytes] = set()  # senders with a transaction left out: skip the rest
        rules = self.transaction_rules()
        base_fee = getattr(header, "base_fee_per_gas", None)
        current = header
        for position, tx in enumerate(transactions):
            error = broken.get(position)
            sender = None
            if error is not None:
                sender = bytes(tx.sender)  # recovered when it was first tried
            else:
                try:
                    sender = validate_transaction(tx, rules, self.intrinsic_gas(tx), self.floor_data_gas(tx))
                except InvalidTransaction as exc:
                    error = exc
            if sender is not None and sender in held_back:
                continue
            if error is None:
                assert sender is not None
                error = self._check_in_block(vm, current, tx, sender, base_fee)
            if error is not None:
                rejected.append((tx, error))
                if sender is not None:
                    held_back.add(sender)
                continue
            try:
                receipt, _computation = vm.apply_transaction(current, self.executable(tx))
            except (ChainError, MemoryError):
                raise  # the store or the machine failed, not the transaction
            except Exception as exc:  # noqa: BLE001 - whatever the EVM raises, one tx must not halt the chain
                log.exception(
                    "block %d: transaction 0x%s failed inside the EVM; building the block again without it",
                    header.block_number,
                    tx.hash.hex(),
                )
                raise _BrokenTransaction(position, NotApplicable(type(exc).__name__, str(exc))) from None
            current = vm.add_receipt_to_header(current, receipt)
            current = vm.increment_blob_gas_used(current, tx)
            receipts.append(receipt)
            included.append(tx)
        filled = vm.set_block_transactions_and_withdrawals(vm.get_block(), current, included, receipts)
        finished = vm.block_postprocessing(filled)  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits block_postprocessing, which its VM class defines
        if self.fast_paths or not revalidate:
            # fast path: mine_block would pack (a no-op copy here) and re-validate a block
            # assembled just above from validated transactions; imports keep the checks.
            # A base fee set by setNextBlockBaseFeePerGas is not the parent's rule: its
            # import checks it against the block's record instead.
            result = vm.finalize_block(finished)
        else:
            result = vm.mine_block(finished)
        built = BuiltBlock(result.block, tuple(receipts), rejected)
        built.state = vm.state
        built.witness = result.meta_witness
        return built

    @staticmethod
    def _check_in_block(
        vm: Any, current: BlockHeaderAPI, tx: SignedTransactionAPI, sender: bytes, base_fee: int | None
    ) -> InvalidTransaction | None:
        """Why ``tx`` cannot go into the block being built at ``current``, or None.

        The pool's stateful rules against the block's own state (earlier transactions of
        the block included), then the gas left, then py-evm's own transaction checks,
        which read the state but write nothing.
        """
        state = vm.state
        account_nonce = state.get_nonce(sender)
        try:
            validate_against_state(tx, sender, account_nonce, state.get_balance(sender), base_fee)
        except InvalidTransaction as exc:
            return exc
        if tx.nonce > account_nonce:
            return NonceGap(f"nonce {tx.nonce} is ahead of the account's nonce {account_nonce}")
        gas_left = current.gas_limit - current.gas_used
        if tx.gas > gas_left:
            return BlockGasExhausted(tx.gas, gas_left)
        executable = impersonated_execution(tx, sender) if is_impersonated(tx) else tx
        try:
            vm.validate_transaction_against_header(current, executable)
            executable.validate()
            state.validate_transaction(executable)
        except ValidationError as exc:
            return NotApplicable("ValidationError", str(exc))
        return None

    def _after_block(
        self,
        block: BlockAPI,
        state: StateAPI | None = None,
        witness: Any = None,
        receipts: tuple[ReceiptAPI, ...] | None = None,
    ) -> None:
        """What belongs to the block's own commit: its snapshot, its logs' index entry
        (:mod:`chain.log_index`), the preimages of what it touched (``witness``) and the
        commit hooks (the node's pool removes the block's
        transactions, journal included).

        ``state`` is the builder's state, persisted at the block's state root;
        ``receipts`` the builder's receipts of the block (else read back from the store)."""
        self.snapshots.snapshot(block.header)
        if witness is not None:
            self._record_witness(witness)
        self._head_state_cache = None
        if self.fast_paths and state is not None and state.state_root == block.header.state_root:
            # fast path: the head's state is the one just persisted; reads of it (the
            # pool's nonces and balances) need not build another VM
            self._head_state_cache = (block.hash, state)
        if self.fast_paths and self.store.get(TABLE_CHAIN, HEAD_KEY) == block.hash:
            self._head_cache = (block.hash, block.header)  # fast path: no re-decoding
        if not self.fast_paths or receipts is None:
            receipts = self.receipts_of(block)  # fast path: the builder's, not decoded again
        log_index.index_block(self.store, block, receipts)
        for hook in list(self._commit_hooks):
            hook(block)

    def _forget_uncommitted_block(self) -> None:
        """After a block's commit failed (a full disk): drop what was derived from it in
        memory, and tell the commit-failed hooks (the pool takes back what it let go)."""
        self._head_cache = None
        self._head_state_cache = None
        for hook in list(self._commit_failed_hooks):
            hook()

    def _notify(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        for listener in list(self._listeners):
            listener(block, receipts)

    def on_block(self, callback: Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None]) -> None:
        """Call ``callback(block, receipts)`` after every committed block."""
        self._listeners.append(callback)

    def on_commit(self, callback: CommitHook) -> None:
        """Call ``callback(block)`` inside the store write transaction of every new head
        block (built or imported), after the block is persisted: what it writes to the
        store commits with the block or not at all. It should not raise: an exception
        aborts the block's write transaction and reaches the caller."""
        self._commit_hooks.append(callback)

    def on_commit_failed(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after a built block's write transaction failed (a full
        disk): nothing of the block was kept, so what a commit hook changed in memory
        must be undone."""
        self._commit_failed_hooks.append(callback)

    def on_head_change(self, callback: HeadChangeHook) -> None:
        """Call ``callback(dropped, reinject)`` inside :meth:`set_head`'s write
        transaction, after the new head is written: ``dropped`` are the canonical blocks
        let go (newest first), ``reinject`` says whether their transactions should be
        offered again (the node's pool takes back the ones still valid)."""
        self._head_hooks.append(callback)

    # --- importing blocks ------------------------------------------------------------------

    def import_block(self, block: BlockAPI, edits: BlockEdits | None = None) -> None:
        """Verify ``block`` fully (seal and signer rules, header rules, transactions root,
        re-execution: state root, receipts root, bloom, gas used) and make it the head.

        ``edits`` is the block's record of what was done to it outside its transactions
        (``chain.edits``): its cheats are applied to the parent's state first and must lead
        to the recorded state root, its base fee replaces EIP-1559's, and every
        impersonated transaction must be listed in it. The record is kept with the block.

        Raises InvalidBlock (``check`` names the failed rule); nothing is written then.
        """
        header = block.header
        try:
            parent = self.evm.chaindb.get_block_header_by_hash(header.parent_hash)
        except HeaderNotFound:
            raise InvalidBlock(
                f"block {header.block_number}: parent 0x{header.parent_hash.hex()} is unknown", check="parent"
            ) from None
        if header.block_number != parent.block_number + 1:
            raise InvalidBlock(
                f"block {header.block_number}: number is not parent's ({parent.block_number}) + 1",
                check="number",
            )
        self._check_impersonated(block, edits)
        with self.store.block_write():
            consensus.verify_header(
                header, parent, self.snapshots.snapshot(parent), self.config.block_period, self.config.epoch
            )
            if edits is None:
                result = self._reexecute(block, parent)
            else:
                result = self._reexecute_edited(block, parent, edits)
                self.store.put(TABLE_AUX, EDITS_KEY_PREFIX + block.hash, edits.encode())
            self.evm.chaindb.persist_block(block)
            receipts = self.receipts_of(block)
            self._after_block(block, witness=result.meta_witness, receipts=receipts)
        self._notify(block, receipts)

    def _check_impersonated(self, block: BlockAPI, edits: BlockEdits | None) -> None:
        """Every transaction carrying the impersonation marker must be listed in the block's
        record, with the sender the marker names; it then runs as sent by that sender."""
        number = block.header.block_number
        listed = edits.senders() if edits is not None else {}
        marked = {tx.hash: marked_sender(tx) for tx in block.transactions if is_impersonated(tx)}
        for tx_hash, sender in marked.items():
            if listed.get(tx_hash) != sender:
                raise InvalidBlock(
                    f"block {number}: transaction 0x{tx_hash.hex()} carries the impersonation marker of "
                    f"0x{sender.hex()} but no record of edits lists it (its sender is unproven)",
                    check="impersonation",
                )
        if set(listed) != set(marked):
            raise InvalidBlock(
                f"block {number}: its record lists impersonated transactions the block does not hold",
                check="edits",
            )
        for tx in block.transactions:
            if tx.hash in marked:
                with_known_sender(tx, marked[tx.hash])

    def _reexecute_edited(self, block: BlockAPI, parent: BlockHeaderAPI, edits: BlockEdits) -> Any:
        """Re-execute a block with a record of edits the way it was built: its cheats on the
        parent's state (checked against the recorded state root), then every transaction
        (impersonated ones as sent by their recorded sender), then the same comparisons as
        :meth:`_reexecute`; the header rules are py-evm's, with a recorded base fee in place
        of EIP-1559's."""
        want = block.header
        number = want.block_number
        if edits.parent_hash != parent.hash:
            raise InvalidBlock(f"block {number}: its record of edits is for another parent", check="edits")
        fields: dict[str, Any] = {
            name: getattr(want, name)
            for name in (
                "timestamp",
                "gas_limit",
                "coinbase",
                "nonce",
                "extra_data",
                "difficulty",
                "mix_hash",
            )
        }
        if hasattr(want, "parent_beacon_block_root"):
            fields["parent_beacon_block_root"] = want.parent_beacon_block_root
        base = new_header(self.vm_class, parent, **fields)
        expected_base_fee = getattr(base, "base_fee_per_gas", None)
        if edits.base_fee is not None:
            if expected_base_fee is None:
                raise InvalidBlock(f"block {number}: a base fee recorded before London", check="edits")
            base = base.copy(base_fee_per_gas=edits.base_fee)
        try:
            rules_header = want if edits.base_fee is None else want.copy(base_fee_per_gas=expected_base_fee)
            self.vm_class.validate_header(rules_header, parent)  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits validate_header, which its VM class defines
        except BlockRuleBroken as exc:
            raise InvalidBlock(f"block {number}: {exc}", check=exc.check) from None
        except ValidationError as exc:
            raise InvalidBlock(f"block {number}: {exc}", check="header") from None
        vm = self.evm.get_vm(base)
        apply_cheats(vm.state, edits.cheats)
        vm.state.persist()
        for cheat in edits.cheats:
            self._write_preimages(
                {e.address for e in cheat.edits}, {e.slot for e in cheat.edits if e.slot is not None}
            )
        if vm.state.state_root != edits.state_root:
            raise InvalidBlock(
                f"block {number}: its recorded edits lead to state root 0x{vm.state.state_root.hex()}, "
                f"the record says 0x{edits.state_root.hex()}",
                check="edits",
            )
        vm.block_preprocessing(vm.get_block())  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits block_preprocessing, which its VM class defines
        current = base
        receipts: list[ReceiptAPI] = []
        for tx in block.transactions:
            try:
                receipt, _computation = vm.apply_transaction(current, self.executable(tx))
            except BlockRuleBroken as exc:
                raise InvalidBlock(f"block {number}: {exc}", check=exc.check) from None
            except ValidationError as exc:
                raise InvalidBlock(f"block {number}: {exc}", check="execution") from None
            current = vm.add_receipt_to_header(current, receipt)
            current = vm.increment_blob_gas_used(current, tx)
            receipts.append(receipt)
        filled = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), current, block.transactions, receipts
        )
        result = vm.finalize_block(vm.block_postprocessing(filled))  # type: ignore[attr-defined]  # py-evm's VirtualMachineAPI stub omits block_postprocessing, which its VM class defines
        self._compare_with_reexecution(want, result.block.header)
        return result

    def _reexecute(self, block: BlockAPI, parent: BlockHeaderAPI) -> Any:
        base = self.evm.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
        vm = self.evm.get_vm(base)
        number = block.header.block_number
        try:
            result = vm.import_block(block)
        except BlockRuleBroken as exc:
            raise InvalidBlock(f"block {number}: {exc}", check=exc.check) from None
        except ValidationError as exc:
            raise InvalidBlock(f"block {number}: {exc}", check="execution") from None
        self._compare_with_reexecution(block.header, result.block.header)
        return result

    @staticmethod
    def _compare_with_reexecution(want: BlockHeaderAPI, got: BlockHeaderAPI) -> None:
        number = want.block_number
        for name in (
            "transaction_root",
            "receipt_root",
            "gas_used",
            "bloom",
            "state_root",
            "base_fee_per_gas",
            "withdrawals_root",
            "blob_gas_used",
            "excess_blob_gas",
        ):
            if not hasattr(want, name):
                continue
            if getattr(got, name) != getattr(want, name):
                raise InvalidBlock(
                    f"block {number}: {name} does not match re-execution "
                    f"(block says {_show(getattr(want, name))}, execution gives {_show(getattr(got, name))})",
                    check=name,
                )
        if got.hash != want.hash:
            raise InvalidBlock(f"block {number}: header differs from re-execution", check="header")

    # --- transactions, receipts, logs ------------------------------------------------------

    def transaction(self, tx_hash: bytes) -> tuple[SignedTransactionAPI, BlockHeaderAPI, int] | None:
        """A mined transaction on the canonical chain: (tx, its block header, index)."""
        try:
            number, index = self.evm.chaindb.get_transaction_index(Hash32(tx_hash))
        except TransactionNotFound:
            return None
        header = self.header(number)
        tx = self.evm.chaindb.get_transaction_by_index(number, index, self.vm_class.get_transaction_builder())
        return _known_sender(tx), header, index

    def receipts_of(self, block: BlockAPI | BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        header = block.header if hasattr(block, "header") else block
        return tuple(self.evm.chaindb.get_receipts(header, self.vm_class.get_receipt_builder()))

    def receipts(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        """Every receipt of a block with its derived fields."""
        block = self.block(header)
        raw_receipts = self.receipts_of(header)
        infos: list[ReceiptInfo] = []
        previous_cumulative = 0
        log_index = 0
        base_fee = getattr(header, "base_fee_per_gas", None)
        for index, (tx, receipt) in enumerate(zip(block.transactions, raw_receipts, strict=True)):
            sender = tx.sender
            logs = []
            for log in receipt.logs:
                logs.append(
                    LogInfo(
                        address=log.address,
                        topics=tuple(t.to_bytes(32, "big") for t in log.topics),
                        data=log.data,
                        block_number=header.block_number,
                        block_hash=header.hash,
                        transaction_hash=tx.hash,
                        transaction_index=index,
                        log_index=log_index,
                    )
                )
                log_index += 1
            contract = contract_address(sender, tx.nonce) if tx.to == b"" else None
            infos.append(
                ReceiptInfo(
                    transaction=tx,
                    receipt=receipt,
                    header=header,
                    index=index,
                    sender=sender,
                    gas_used=receipt.gas_used - previous_cumulative,
                    cumulative_gas_used=receipt.gas_used,
                    effective_gas_price=effective_gas_price(tx, base_fee),
                    contract_address=contract,
                    status=1 if receipt.state_root == b"\x01" else 0,
                    logs=tuple(logs),
                )
            )
            previous_cumulative = receipt.gas_used
        return infos

    def receipt(self, tx_hash: bytes) -> ReceiptInfo | None:
        found = self.transaction(tx_hash)
        if found is None:
            return None
        _tx, header, index = found
        return self.receipts(header)[index]

    def logs(
        self,
        from_number: int,
        to_number: int,
        addresses: Iterable[bytes] = (),
        topics: Sequence[Sequence[bytes] | bytes | None] = (),
    ) -> list[LogInfo]:
        """Logs of canonical blocks from..to (inclusive) matching an address set and
        topic filters (per position: None = any, a value, or a list of alternatives)."""
        wanted_addresses = set(addresses)
        out: list[LogInfo] = []
        receipt_builder = self.vm_class.get_receipt_builder()
        for number in range(max(0, from_number), min(to_number, self.head.block_number) + 1):
            header = self.header(number)
            if not bloom_may_match(header.bloom, wanted_addresses, topics):
                continue
            entries = log_index.block_entries(self.store, header.hash)
            if entries is None:  # committed before the index: read its receipts
                entries = list(block_logs(self.evm.chaindb, header, receipt_builder))
            for index, tx_hash, position, address, log_topics, data in entries:
                if wanted_addresses and address not in wanted_addresses:
                    continue
                if _topics_match(log_topics, topics):
                    out.append(
                        LogInfo(
                            address=address,
                            topics=log_topics,
                            data=data,
                            block_number=number,
                            block_hash=header.hash,
                            transaction_hash=tx_hash,
                            transaction_index=index,
                            log_index=position,
                        )
                    )
        return out

    # --- calls -----------------------------------------------------------------------------

    def call(
        self,
        request: dict[str, Any],
        header: BlockHeaderAPI | None = None,
        state_overrides: dict[bytes, dict[str, Any]] | None = None,
    ) -> CallResult:
        """Execute a message call on the state after ``header`` without a transaction.

        ``request`` keys: from, to (20-byte or None), gas, value, data (bytes). Overrides:
        address -> {balance, nonce, code, state (replace all), stateDiff (set slots)}.
        """
        return self._run_call(request, header, state_overrides)[0]

    def _run_call(
        self,
        request: dict[str, Any],
        header: BlockHeaderAPI | None,
        state_overrides: dict[bytes, dict[str, Any]] | None,
    ) -> tuple[CallResult, ComputationAPI]:
        """:meth:`call`'s result and the computation (its frames) that gave it."""
        header = header or self.head
        vm = self.evm.get_vm(header)
        tx = self._call_transaction(vm, request, header)
        if tx.gas < tx.intrinsic_gas:
            raise IntrinsicGasTooLow(
                f"intrinsic gas too low: the call needs at least {tx.intrinsic_gas} gas, "
                f"it was given {tx.gas}"
            )
        floor = floor_data_gas(self.config.fork, tx)
        if tx.gas < floor:
            raise FloorDataGasTooLow(tx.gas, floor)
        with call_state(vm) as state:
            apply_overrides(state, state_overrides or {})
            computation = state.costless_execute_transaction(tx)
        gas_used = tx.gas - computation.get_gas_remaining()
        if computation.is_error:
            revert = computation.output if computation.is_error and computation.output else None
            failed = CallResult(
                output=computation.output,
                gas_used=gas_used,
                error=_error_text(computation.error),
                revert_data=revert,
            )
            return failed, computation
        return CallResult(output=computation.output, gas_used=gas_used), computation

    def estimate_gas(
        self,
        request: dict[str, Any],
        header: BlockHeaderAPI | None = None,
        state_overrides: dict[bytes, dict[str, Any]] | None = None,
        search: str = "predicted",
    ) -> int:
        """The least gas limit with which the call succeeds.

        One execution at the cap gives the gas actually consumed (before refunds), a
        lower bound: with less, the same execution runs out. It usually succeeds with
        exactly that much, checked by a second execution. Nested calls can need more,
        because a call forwards at most 63/64 of the gas left (EIP-150), and an SSTORE
        needs more than 2,300 gas left (EIP-2200).

        ``search`` says how the least limit is then found, both giving the same limit (a
        test checks them against a brute-force scan): ``bisection`` tries ``used * 64/63
        + 2300`` and binary-searches between the known failure and the known success
        (a dozen executions or more); ``predicted`` (the default) first reads, from the
        failed execution's frames, which call got less gas than it used at the cap and
        how much more the outermost frame needs for it to get that (each level of calls
        keeping 1/64 back), tries exactly that limit and the one below it, and
        binary-searches only if the prediction does not hold. A limit is returned only
        once it succeeded and the one below it failed (or is below the gas consumed).
        """
        if search not in ESTIMATE_SEARCHES:
            raise ValueError(f"unknown estimate search {search!r}; choose one of {ESTIMATE_SEARCHES}")
        header = header or self.head
        cap = int(request.get("gas") or self.config.gas_limit)

        def run(gas: int) -> tuple[CallResult, ComputationAPI]:
            return self._run_call({**request, "gas": gas}, header, state_overrides)

        def fails(gas: int) -> bool:
            return run(gas)[0].reverted

        top, top_frames = run(cap)
        if top.reverted:
            raise CallReverted(top)
        vm = self.evm.get_vm(header)
        at_cap = self._call_transaction(vm, {**request, "gas": cap}, header)
        # from Prague on the gas limit must also cover the calldata floor (EIP-7623)
        used = max(at_cap.intrinsic_gas, floor_data_gas(self.config.fork, at_cap), top.gas_used)
        at_used, at_used_frames = run(used)
        if not at_used.reverted:
            return used
        low, high = used, cap  # low fails, high succeeds
        if search == "predicted":
            failed_frames = at_used_frames
            for _ in range(ESTIMATE_PREDICTIONS):
                more = _shortfall(top_frames, failed_frames)
                if more is None or low + more >= high:
                    break
                guess = low + more
                result, frames = run(guess)
                if result.reverted:
                    low, failed_frames = guess, frames
                    continue
                high = guess
                if fails(guess - 1):
                    return guess
                high = guess - 1
                break
        else:
            guess = min(cap, used * 64 // 63 + CALL_STIPEND)
            if guess < cap:
                if fails(guess):
                    low = guess
                else:
                    high = guess
        while low + 1 < high:
            mid = (low + high) // 2
            if fails(mid):
                low = mid
            else:
                high = mid
        return high

    def _call_transaction(self, vm: Any, request: dict[str, Any], header: BlockHeaderAPI) -> Any:
        if request.get("authorization_list") and not has_set_code(self.config.fork):
            raise UnsupportedTransactionType(
                "a call with an authorization list (EIP-7702) needs Prague; "
                f"this chain runs {self.config.fork}"
            )
        return call_transaction(vm, request, int(request.get("gas") or self.config.gas_limit))

    # --- heads --------------------------------------------------------------------------

    def set_head(self, target: BlockHeaderAPI | int | bytes, reinject: bool = False) -> list[BlockAPI]:
        """Make ``target`` the head (a rewind, or a switch to a stored side block) and
        return the canonical blocks that were dropped, newest first. Their bodies and
        states stay in the archive. The head-change hooks run in the same write
        transaction; with ``reinject`` they are asked to take the dropped blocks'
        transactions back (the node's pool keeps the ones still valid against the new head)."""
        header = target if not isinstance(target, (int, bytes)) else self.header(target)
        db = self.store.db
        chaindb = self.evm.chaindb
        dropped: list[BlockAPI] = []
        head = self.head
        with self.store.block_write():
            # the new branch: from target back to the first canonical ancestor
            branch = []
            cursor = header
            while not self.is_canonical(cursor):
                branch.append(cursor)
                cursor = chaindb.get_block_header_by_hash(cursor.parent_hash)
            fork_point = cursor.block_number
            for number in range(head.block_number, fork_point, -1):
                old = self.header(number)
                block = self.block(old)
                dropped.append(block)
                unindex_canonical_block(db, number, block.transactions)
            for new in reversed(branch):
                index_canonical_block(db, new, self.block(new).transactions)
            set_canonical_head(db, header)
            self._head_state_cache = None
            for hook in list(self._head_hooks):
                hook(dropped, reinject)
        return dropped


class _BrokenTransaction(Exception):
    """Raised inside block building when the transaction at ``position`` failed inside the EVM."""

    def __init__(self, position: int, error: InvalidTransaction) -> None:
        super().__init__(str(error))
        self.position = position
        self.error = error


# --- helpers --------------------------------------------------------------------------


def _known_sender(tx: SignedTransactionAPI) -> SignedTransactionAPI:
    """A stored transaction with its sender: an impersonated one's comes from its marker
    (it is in a verified block, so its record listed it)."""
    return with_known_sender(tx, marked_sender(tx)) if is_impersonated(tx) else tx


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int | None) -> int:
    """Wei per gas a transaction pays in a block with ``base_fee``."""
    max_fee = getattr(tx, "max_fee_per_gas", None)
    if base_fee is None or max_fee is None or tx.type_id in (None, 0, 1):
        return tx.gas_price
    return min(max_fee, base_fee + tx.max_priority_fee_per_gas)


@contextmanager
def call_state(vm: Any) -> Iterator[StateAPI]:
    """The state after ``vm``'s header, executing in that header's own block: its number,
    timestamp, coinbase, gas limit and its ancestors' hashes, as geth, anvil and EDR run
    ``eth_call`` at a block (for ``pending``, the node passes the next block's header:
    :meth:`Chain.preview_block`'s, or one made on the head). The base fee is 0: a call
    pays no gas price. Whatever the caller changes is reverted on exit.

    ``vm`` is a py-evm VM for the header (``Chain.evm.get_vm(header)``, or a traced one)."""
    header = vm.get_header()
    free = header.copy(base_fee_per_gas=0) if hasattr(header, "base_fee_per_gas") else header
    state = vm.build_state(vm.chaindb.db, free, vm.chain_context, vm.previous_hashes)
    snapshot = state.snapshot()
    try:
        yield state
    finally:
        state.revert(snapshot)


def _shortfall(enough: ComputationAPI, short: ComputationAPI) -> int | None:
    """How much more gas frame ``short`` (run with a lower limit) needs so that its first
    call that failed there, but not in ``enough`` (the same frame run at the cap), gets
    the gas it used at the cap (plus what its own first such call needs, recursively).
    None when no call of the frame failed only there (it failed by itself).

    A frame with ``a`` gas left at a call forwards ``a - a // 64`` (EIP-150): from what
    the callee got, ``a`` is known (to within one gas where two values forward the same),
    and so is the least ``a`` that forwards what the callee needs."""
    for good, bad in zip(enough.children, short.children, strict=False):
        if not bad.is_error or good.is_error:
            continue
        deeper = _shortfall(good, bad)
        got = bad.msg.gas
        lacking = deeper if deeper is not None else good.get_gas_used() - got
        if lacking <= 0:
            return None
        return _least_left(got + lacking) - _least_left(got)
    return None


def _least_left(forwarded: int) -> int:
    """The least gas left ``a`` at a call for which ``a - a // 64`` reaches ``forwarded``."""
    rounds, rest = divmod(forwarded, CALL_KEEPS - 1)
    if rest == 0 and rounds > 0:
        return CALL_KEEPS * (rounds - 1) + CALL_KEEPS - 1
    return CALL_KEEPS * rounds + rest


def _topics_match(have: Sequence[bytes], want: Sequence[Sequence[bytes] | bytes | None]) -> bool:
    if len(want) > len(have):
        return False
    for position, choice in enumerate(want):
        if choice is None:
            continue
        options = [choice] if isinstance(choice, bytes) else list(choice)
        if options and have[position] not in options:
            return False
    return True


def apply_overrides(state: StateAPI, overrides: dict[bytes, dict[str, Any]]) -> None:
    """Apply state overrides (address -> balance, nonce, code, state, stateDiff) to ``state``."""
    for raw_address, change in overrides.items():
        address = Address(raw_address)
        if "balance" in change and change["balance"] is not None:
            state.set_balance(address, int(change["balance"]))
        if "nonce" in change and change["nonce"] is not None:
            state.set_nonce(address, int(change["nonce"]))
        if "code" in change and change["code"] is not None:
            state.set_code(address, change["code"])
        if change.get("state") is not None:
            state.delete_storage(address)
            for slot, value in change["state"].items():
                state.set_storage(address, int.from_bytes(slot, "big"), int.from_bytes(value, "big"))
        if change.get("stateDiff") is not None:
            for slot, value in change["stateDiff"].items():
                state.set_storage(address, int.from_bytes(slot, "big"), int.from_bytes(value, "big"))


def _error_text(error: Exception) -> str:
    name = type(error).__name__
    if name == "Revert":
        return "execution reverted"
    text = str(error)
    return f"{name}: {text}" if text else name


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
