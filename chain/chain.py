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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import Chain as PyEvmChain
from eth.constants import ZERO_HASH32
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
from chain.errors import (
    BlockGasExhausted,
    CallReverted,
    ChainError,
    DataDirError,
    FloorDataGasTooLow,
    IntrinsicGasTooLow,
    InvalidBlock,
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
    index_canonical_block,
    intrinsic_gas,
    max_initcode_size,
    new_header,
    set_canonical_head,
    unindex_canonical_block,
    vm_class_for,
)

log = logging.getLogger(__name__)

#: Tags that name the head: with one authority every sealed block is final, and the
#: pool's transactions are in no block yet.
HEAD_TAGS = ("latest", "pending", "safe", "finalized")
BLOCK_TAGS = ("earliest", *HEAD_TAGS)  # every block tag of the JSON-RPC specification
SNAPSHOT_KEY_PREFIX = b"clique-snapshot:"
CALL_STIPEND = 2300  # gas a value-carrying call adds for its callee
HEAD_KEY = SchemaV1.make_canonical_head_hash_lookup_key()  # py-evm's key of the head hash


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


class _PyEvmChain(PyEvmChain):
    """py-evm's chain with its header and block lookups, configured per sumchain chain."""


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
        self.vm_class = vm_class_for(config.fork, fast_paths=fast_paths)
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
        self.vanity = VANITY
        if store.read_meta() is None:
            write_genesis(store, config, self._evm_class, data_dir)
        else:
            check_stored_chain(store)
        self.evm = self._evm_class(store.db)
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
        return self.vm_class.get_block_class().from_header(header, self.evm.chaindb)

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
            cached = self._head_state_cache
            if cached is not None and cached[0] == header.hash:
                return cached[1]
            state = self.evm.get_vm(header).state
            self._head_state_cache = (header.hash, state)
            return state
        return self.evm.get_vm(header).state

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
            return self.vm_class.get_transaction_builder().decode(raw)
        except Exception as exc:  # noqa: BLE001 - rlp/py-evm raise many kinds on garbage
            raise MalformedTransaction(f"transaction bytes do not decode: {_tx_type_name(exc)}") from None

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
        if self.config.fork_at_least("cancun"):
            fields["parent_beacon_block_root"] = ZERO_HASH32
        header = new_header(self.vm_class, parent, **fields)
        try:
            with self.store.block_write():
                built = self._execute(header, transactions)
                assert self._signer_key is not None  # consensus.prepare refused a node without one
                sealed = consensus.seal(built.block.header, self._signer_key.to_bytes())
                block = built.block.copy(header=sealed)
                self.evm.chaindb.persist_block(block)
                self._after_block(block, built.state)
        except DataDirError:
            self._forget_uncommitted_block()
            raise
        self._notify(block, built.receipts)
        return BuiltBlock(block, built.receipts, built.rejected)

    def _execute(self, header: BlockHeaderAPI, transactions: Sequence[SignedTransactionAPI]) -> BuiltBlock:
        """Apply ``transactions`` on ``header``, leaving out each one that cannot apply.

        A transaction is first checked by the pool's own rules against the block being
        built (so the common refusals come back typed and touch no state); one that still
        fails inside the EVM may have changed the state halfway, so the block is started
        again without it. Either way, one transaction never stops the block.
        """
        broken: dict[int, InvalidTransaction] = {}  # position in ``transactions`` -> why
        while True:
            try:
                return self._execute_once(header, transactions, broken)
            except _BrokenTransaction as failure:
                broken[failure.position] = failure.error

    def _execute_once(
        self,
        header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        broken: dict[int, InvalidTransaction],
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
                receipt, _computation = vm.apply_transaction(current, tx)
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
        if self.fast_paths:
            # fast path: mine_block would pack (a no-op copy here) and re-validate a block
            # assembled just above from validated transactions; imports keep the checks
            result = vm.finalize_block(finished)
        else:
            result = vm.mine_block(finished)
        built = BuiltBlock(result.block, tuple(receipts), rejected)
        built.state = vm.state
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
        try:
            vm.validate_transaction_against_header(current, tx)
            tx.validate()
            state.validate_transaction(tx)
        except ValidationError as exc:
            return NotApplicable("ValidationError", str(exc))
        return None

    def _after_block(self, block: BlockAPI, state: StateAPI | None = None) -> None:
        """What belongs to the block's own commit: its snapshot, its logs' index entry
        (:mod:`chain.log_index`) and the commit hooks (the node's pool removes the block's
        transactions, journal included).

        ``state`` is the builder's state, persisted at the block's state root."""
        self.snapshots.snapshot(block.header)
        self._head_state_cache = None
        if self.fast_paths and state is not None and state.state_root == block.header.state_root:
            # fast path: the head's state is the one just persisted; reads of it (the
            # pool's nonces and balances) need not build another VM
            self._head_state_cache = (block.hash, state)
        if self.fast_paths and self.store.get(TABLE_CHAIN, HEAD_KEY) == block.hash:
            self._head_cache = (block.hash, block.header)  # fast path: no re-decoding
        log_index.index_block(self.store, block, self.receipts_of(block))
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

    def import_block(self, block: BlockAPI) -> None:
        """Verify ``block`` fully (seal and signer rules, header rules, transactions root,
        re-execution: state root, receipts root, bloom, gas used) and make it the head.

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
        with self.store.block_write():
            consensus.verify_header(
                header, parent, self.snapshots.snapshot(parent), self.config.block_period, self.config.epoch
            )
            self._reexecute(block, parent)
            self.evm.chaindb.persist_block(block)
            self._after_block(block)
        self._notify(block, self.receipts_of(block))

    def _reexecute(self, block: BlockAPI, parent: BlockHeaderAPI) -> BlockAPI:
        base = self.evm.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
        vm = self.evm.get_vm(base)
        number = block.header.block_number
        try:
            result = vm.import_block(block)
        except BlockRuleBroken as exc:
            raise InvalidBlock(f"block {number}: {exc}", check=exc.check) from None
        except ValidationError as exc:
            raise InvalidBlock(f"block {number}: {exc}", check="execution") from None
        got = result.block.header
        want = block.header
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
        return result.block

    # --- transactions, receipts, logs ------------------------------------------------------

    def transaction(self, tx_hash: bytes) -> tuple[SignedTransactionAPI, BlockHeaderAPI, int] | None:
        """A mined transaction on the canonical chain: (tx, its block header, index)."""
        try:
            number, index = self.evm.chaindb.get_transaction_index(Hash32(tx_hash))
        except TransactionNotFound:
            return None
        header = self.header(number)
        tx = self.evm.chaindb.get_transaction_by_index(number, index, self.vm_class.get_transaction_builder())
        return tx, header, index

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
        with vm.in_costless_state() as state:
            _apply_overrides(state, state_overrides or {})
            computation = state.costless_execute_transaction(tx)
        gas_used = tx.gas - computation.get_gas_remaining()
        if computation.is_error:
            revert = computation.output if computation.is_error and computation.output else None
            return CallResult(
                output=computation.output,
                gas_used=gas_used,
                error=_error_text(computation.error),
                revert_data=revert,
            )
        return CallResult(output=computation.output, gas_used=gas_used)

    def estimate_gas(
        self,
        request: dict[str, Any],
        header: BlockHeaderAPI | None = None,
        state_overrides: dict[bytes, dict[str, Any]] | None = None,
    ) -> int:
        """The least gas limit with which the call succeeds.

        One execution at the cap gives the gas actually consumed (before refunds), a
        lower bound. Nested calls can need more than that, because a call forwards at
        most 63/64 of the gas left, so ``used * 64/63 + 2300`` (the call stipend) is
        tried next; the exact least limit is then found by binary search in that narrow
        range (about a dozen executions instead of forty over the whole cap).
        """
        header = header or self.head
        cap = int(request.get("gas") or self.config.gas_limit)

        def fails(gas: int) -> bool:
            return self.call({**request, "gas": gas}, header, state_overrides).reverted

        top = self.call({**request, "gas": cap}, header, state_overrides)
        if top.reverted:
            raise CallReverted(top)
        vm = self.evm.get_vm(header)
        at_cap = self._call_transaction(vm, {**request, "gas": cap}, header)
        # from Prague on the gas limit must also cover the calldata floor (EIP-7623)
        used = max(at_cap.intrinsic_gas, floor_data_gas(self.config.fork, at_cap), top.gas_used)
        if not fails(used):
            return used
        low, high = used, cap
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


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int | None) -> int:
    """Wei per gas a transaction pays in a block with ``base_fee``."""
    max_fee = getattr(tx, "max_fee_per_gas", None)
    if base_fee is None or max_fee is None or tx.type_id in (None, 0, 1):
        return tx.gas_price
    return min(max_fee, base_fee + tx.max_priority_fee_per_gas)


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


def _apply_overrides(state: StateAPI, overrides: dict[bytes, dict[str, Any]]) -> None:
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
