"""The transaction pool: transactions waiting for a block, validated against the head.

``TxPool.add`` takes raw signed transactions (as ``eth_sendRawTransaction`` receives
them), decodes them with the chain's fork, recovers the sender once, and checks them
against the head state in a fixed order, one ``raise`` per rule (see ``TxPool.add``).
Accepted transactions are held per sender:

* **pending** — executable now: nonces contiguous from the sender's account nonce;
* **queued** — waiting for a missing nonce (a gap) before them.

A transaction with the same sender and nonce as one already held replaces it only if
both its fee cap and its tip are at least ``price_bump_percent`` higher. Limits bound
the pool; when one is reached, a new transaction may push out the cheapest transaction
of *another* sender (always the last nonce of that sender, so no gap is opened), or is
refused with ``PoolFull``. A refused transaction never changes what the pool holds.
When a drop opens a gap (``reset``, ``remove``) and the queue overflows, the farthest
and then the cheapest queued transactions are dropped.

The pool's view of account nonces and balances is the head as of the last
``reset()``; the node calls ``reset()`` after every new head and ``reinject()`` after a
rewind. A ``Journal`` keeps a durable record of the pool's transactions so that they
survive a restart.

Choices, documented because other pools differ:

* The balance rule checks each transaction alone (``value + gas * max_fee`` against
  the balance), not the sum over the sender's other pending transactions: a sender
  funded by a transfer in the same block would otherwise be refused. A transaction
  that turns out unaffordable fails at block building, and ``reset()`` drops the
  ones that can no longer pay on their own.
* The nonce-gap rule counts the nonces missing between the sender's *pending* run and
  the new transaction, so long contiguous runs are unlimited by it (only by the slot
  limits).
* Blob transactions are not pooled (they need a sidecar this single node does not
  carry); set-code transactions (EIP-7702, Prague on) are pooled only if the fork decodes
  them and the pool is built with them in ``transaction_types`` (the node's assembly
  passes the chain's own types). With them come geth's delegation limits: an account
  that has code (a delegation) or that a pooled authorization names may have one
  transaction in flight, at its next nonce; a set-code transaction may not authorize an
  account holding more than one pooled transaction.

Validation lives in ``chain.validation`` (stateless, then stateful, as geth's
``core/txpool/validation.go``); the journal interface and its implementations in
``chain.journal``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import rlp
from eth.abc import SignedTransactionAPI
from eth_utils import ValidationError, keccak

from chain.errors import (
    AlreadyKnown,
    AuthorityReserved,
    ChainError,
    DelegatedAccountLimit,
    InsufficientFunds,
    InvalidTransaction,
    MalformedTransaction,
    NonceGap,
    NonceTooLow,
    OversizedTransaction,
    PoolFull,
    ReplacementUnderpriced,
)
from chain.journal import Journal
from chain.validation import (
    DEFAULT_TRANSACTION_TYPES,
    SET_CODE_TRANSACTION_TYPE,
    TransactionRules,
    checksum_address,
    recover_sender,
    transaction_type,
    validate_against_state,
    validate_transaction,
)
from chain.vm import authorization_authority

logger = logging.getLogger(__name__)

# --- constants ---------------------------------------------------------------------

DEFAULT_MAX_SIZE = 128 * 1024  # bytes of one raw transaction
PERCENT = 100
DROPPED_RECORDS_MAX = 4096  # dropped transactions whose reason the pool remembers


# --- the state the pool validates against ----------------------------------------------


class PoolState(Protocol):
    """The head state as the pool sees it; implemented by ``chain.chain.Chain``.

    Every method answers for the current head (or the block being built on it), and
    must be cheap: the pool calls them on every ``add`` and for every sender on
    ``reset``.
    """

    @property
    def chain_id(self) -> int:
        """Chain id transactions must be signed for (replay protection)."""
        ...

    def nonce(self, address: bytes) -> int:
        """Return the account nonce of the 20-byte ``address`` at the head."""
        ...

    def balance(self, address: bytes) -> int:
        """Return the balance in wei of the 20-byte ``address`` at the head."""
        ...

    def next_base_fee(self) -> int | None:
        """Return the base fee per gas (wei) of the next block, or None before London."""
        ...

    def block_gas_limit(self) -> int:
        """Return the gas limit of the next block (gas)."""
        ...

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        """Decode ``raw`` as a py-evm transaction of the chain's fork.

        Raises ``MalformedTransaction`` for bytes that are not a transaction and
        ``UnsupportedTransactionType`` for a type the fork does not know. Does not
        recover the sender (the pool does that once).
        """
        ...

    def intrinsic_gas(self, tx: SignedTransactionAPI) -> int:
        """Return the gas ``tx`` costs before execution (base, calldata, access list, and
        from Shanghai on a creation's initcode words)."""
        ...

    def max_initcode_size(self) -> int | None:
        """Return the most initcode bytes a creation may carry (EIP-3860), None before Shanghai."""
        ...

    def floor_data_gas(self, tx: SignedTransactionAPI) -> int:
        """Return the least gas limit EIP-7623's calldata floor allows ``tx`` (Prague on), 0 before."""
        ...

    def code(self, address: bytes) -> bytes:
        """Return the code of the 20-byte ``address`` at the head (a delegation designation
        ``0xef0100 || address`` for an account delegated by EIP-7702)."""
        ...


# --- entries and limits ----------------------------------------------------------------


@dataclass(frozen=True)
class PooledTransaction:
    """One transaction held by the pool, with what the pool derived from it once."""

    #: The decoded py-evm transaction (for the fork of the head when it was added).
    tx: SignedTransactionAPI = field(compare=False, repr=False)
    #: The raw signed bytes as received (typed: type byte + RLP payload; legacy: RLP).
    raw: bytes = field(repr=False)
    #: Transaction hash, keccak256 of ``raw`` (32 bytes).
    hash: bytes
    #: Sender address (20 bytes), recovered from the signature exactly once.
    sender: bytes
    #: Sender nonce the transaction uses.
    nonce: int
    #: Gas limit (gas).
    gas: int
    #: Max fee per gas (wei); the gas price for legacy and access-list transactions.
    max_fee: int
    #: Max priority fee per gas (wei); the gas price for legacy and access-list ones.
    max_priority_fee: int
    #: Value transferred (wei).
    value: int
    #: Transaction type: 0 legacy, 1 access list, 2 dynamic fee, 4 set code.
    type_id: int
    #: Length of ``raw`` (bytes).
    size: int
    #: Arrival sequence number in this pool (monotonic; ties in ordering go to earlier).
    arrival: int
    #: Accounts (20 bytes) whose signed authorizations a set-code transaction carries
    #: (recovered once; tuples that do not recover are left out); () for other types.
    authorities: tuple[bytes, ...] = ()

    @property
    def cost(self) -> int:
        """Most the transaction can take from the sender (wei): value + gas * max fee."""
        return self.value + self.gas * self.max_fee

    def effective_tip(self, base_fee: int | None) -> int:
        """Tip per gas (wei) the block producer earns at ``base_fee``; negative if unpayable."""
        if base_fee is None:
            return self.max_priority_fee
        return min(self.max_priority_fee, self.max_fee - base_fee)


@dataclass(frozen=True)
class PoolLimits:
    """Bounds on the pool, counted in transactions unless the unit says otherwise."""

    #: Largest raw transaction accepted (bytes).
    max_size_bytes: int = DEFAULT_MAX_SIZE
    #: Pending transactions the pool holds in total.
    global_slots: int = 5120
    #: Pending transactions per sender that other senders can never push out; beyond
    #: this many, a sender's pending transactions count against ``global_slots`` as
    #: eviction candidates.
    account_slots: int = 64
    #: Queued (nonce-gapped) transactions the pool holds in total.
    global_queue: int = 1024
    #: Queued transactions per sender.
    account_queue: int = 64
    #: Most nonces that may be missing between a sender's pending run and a new one.
    max_nonce_gap: int = 64
    #: Minimum raise of both fee cap and tip for a same-nonce replacement (percent).
    price_bump_percent: int = 10


@dataclass(frozen=True)
class DroppedTransaction:
    """A transaction the pool let go because it could not be mined, and why.

    Set by :meth:`TxPool.drop` (a block builder could not apply it) and by the journal
    restore (it no longer passes admission). ``eth_getTransactionReceipt`` stays null for
    it; this record is what a caller can be told instead.
    """

    #: Transaction hash (32 bytes).
    hash: bytes
    #: Sender address (20 bytes), or None when the signature no longer recovers.
    sender: bytes | None
    #: Sender nonce the transaction used, or None when it no longer decodes.
    nonce: int | None
    #: Why: the typed error of the rule it broke (``chain.errors``).
    error: InvalidTransaction
    #: Number of the block being built when it was dropped; None when it was dropped
    #: outside block building (the journal restore at start, a head change).
    block_number: int | None
    #: Unix time of the drop (seconds).
    dropped_at: float

    @property
    def reason(self) -> str:
        return str(self.error)

    @property
    def kind(self) -> str:
        """The error's class name, e.g. ``InitcodeTooLarge``."""
        return type(self.error).__name__


# --- the pool ---------------------------------------------------------------------------


class TxPool:
    """Pending and queued transactions per sender, validated against the head state.

    Thread-safe: every public method holds one re-entrant lock. Subscribers are called
    after the lock is released.
    """

    def __init__(
        self,
        state: PoolState,
        limits: PoolLimits = PoolLimits(),  # noqa: B008 - frozen, so sharing is safe
        journal: Journal | None = None,
        transaction_types: Iterable[int] = DEFAULT_TRANSACTION_TYPES,
    ) -> None:
        self.state = state
        self.limits = limits
        self.journal = journal
        self.transaction_types = frozenset(transaction_types)
        self._lock = threading.RLock()
        self._arrivals = itertools.count()
        self._by_hash: dict[bytes, PooledTransaction] = {}
        self._by_sender: dict[bytes, dict[int, PooledTransaction]] = {}
        #: Account nonce per sender as of the last reset (or the sender's last add).
        self._account_nonce: dict[bytes, int] = {}
        #: Length of each sender's pending run, kept current by ``_refresh``.
        self._pending_length: dict[bytes, int] = {}
        #: Pooled set-code transactions naming each authority (hashes), for geth's
        #: delegation limits (``_check_delegation_limits``).
        self._authorizing: dict[bytes, set[bytes]] = {}
        self._subscribers: list[Callable[[PooledTransaction], None]] = []
        self._restoring = False
        #: Transactions dropped because they were no longer valid when read back from
        #: the journal at start.
        self.restore_dropped = 0
        #: Transactions skipped by ``reinject`` because they were refused.
        self.reinject_skipped = 0
        #: Why recently dropped transactions left, newest last (at most DROPPED_RECORDS_MAX).
        self._dropped: OrderedDict[bytes, DroppedTransaction] = OrderedDict()
        if journal is not None:
            self._restore(journal)

    # --- adding -----------------------------------------------------------------------

    def add(self, raw: bytes) -> PooledTransaction:
        """Validate ``raw`` against the head and hold it; return the pooled entry.

        The rules, in order, each with its own exception from ``chain.errors``:
        size, decode, then :func:`validate_transaction` (signature, chain id,
        transaction type, tip <= fee cap, gas <= block gas limit, initcode size, gas >=
        intrinsic gas), then :func:`validate_against_state` (fee cap >= next base fee,
        nonce >= account nonce, balance), then the pool's own: nonce gap, duplicate,
        replacement bump, pool limits. Nothing changes if any rule refuses.
        """
        with self._lock:
            entry, replaced, evicted, account_nonce = self._validate(bytes(raw))
            journaled = self.journal is not None and not self._restoring
            if journaled:
                # first, so that a failed write (a full disk) leaves the pool unchanged
                self.journal.add(entry.hash, entry.raw)  # type: ignore[union-attr]
            before = self._pending_hashes(entry.sender)
            for victim in evicted:
                self._discard(victim)
            if replaced is not None:
                self._discard(replaced)
            self._insert(entry, account_nonce)
            after = self._pending_run(entry.sender)
            newly_pending = [tx for tx in after if tx.hash not in before]
            gone = [tx.hash for tx in evicted] + ([replaced.hash] if replaced is not None else [])
            if journaled and gone:
                try:
                    self.journal.remove(gone)  # type: ignore[union-attr]
                except ChainError as error:  # kept on disk: a restart refuses or re-evicts them
                    logger.warning("txpool journal: cannot record %d removals: %s", len(gone), error)
            self._dropped.pop(entry.hash, None)
        self._notify(newly_pending)
        return entry

    def rules(self) -> TransactionRules:
        """The stateless rules admission applies now (the head's block gas limit and fork)."""
        return TransactionRules(
            chain_id=self.state.chain_id,
            transaction_types=self.transaction_types,
            block_gas_limit=self.state.block_gas_limit(),
            max_initcode_size=self.state.max_initcode_size(),
        )

    def _validate(
        self, raw: bytes
    ) -> tuple[PooledTransaction, PooledTransaction | None, list[PooledTransaction], int]:
        """Apply every rule to ``raw``.

        Return the entry, what it replaces, what it evicts, and the sender's account
        nonce at the head.
        """
        limits = self.limits
        state = self.state

        if len(raw) > limits.max_size_bytes:
            raise OversizedTransaction(
                f"transaction is {len(raw)} bytes; the pool accepts at most {limits.max_size_bytes} bytes"
            )

        tx = self._decode(raw)
        sender = validate_transaction(tx, self.rules(), state.intrinsic_gas(tx), state.floor_data_gas(tx))
        account_nonce = state.nonce(sender)
        validate_against_state(tx, sender, account_nonce, state.balance(sender), state.next_base_fee())

        next_nonce = self._next_nonce(sender, account_nonce)
        missing = tx.nonce - next_nonce
        if missing > limits.max_nonce_gap:
            raise NonceGap(
                f"nonce too far ahead: account {checksum_address(sender)} would next use nonce "
                f"{next_nonce}, transaction has {tx.nonce}; at most "
                f"{limits.max_nonce_gap} nonces may be missing"
            )
        type_id = transaction_type(tx)
        max_fee = tx.max_fee_per_gas
        max_priority_fee = tx.max_priority_fee_per_gas

        tx_hash = keccak(raw)
        if tx_hash in self._by_hash:
            raise AlreadyKnown(f"transaction {_hex(tx_hash)} is already in the pool")

        authorities: tuple[bytes, ...] = ()
        if type_id == SET_CODE_TRANSACTION_TYPE:
            recovered = (authorization_authority(auth) for auth in tx.authorization_list)  # type: ignore[attr-defined]  # set-code transactions carry one
            authorities = tuple(dict.fromkeys(a for a in recovered if a is not None))
        if SET_CODE_TRANSACTION_TYPE in self.transaction_types:
            self._check_delegation_limits(sender, tx.nonce, account_nonce, authorities)

        replaced = self._by_sender.get(sender, {}).get(tx.nonce)
        if replaced is not None and not _pays_bump(
            replaced, max_fee, max_priority_fee, limits.price_bump_percent
        ):
            bump = PERCENT + limits.price_bump_percent
            raise ReplacementUnderpriced(
                f"replacement transaction underpriced: to replace nonce {tx.nonce} of "
                f"{checksum_address(sender)} both fees must rise by {limits.price_bump_percent}% "
                f"(max fee >= {_ceil_div(replaced.max_fee * bump, PERCENT)} wei, tip >= "
                f"{_ceil_div(replaced.max_priority_fee * bump, PERCENT)} wei); got max fee "
                f"{max_fee} wei, tip {max_priority_fee} wei"
            )

        entry = PooledTransaction(
            tx=tx,
            raw=raw,
            hash=tx_hash,
            sender=sender,
            nonce=tx.nonce,
            gas=tx.gas,
            max_fee=max_fee,
            max_priority_fee=max_priority_fee,
            value=tx.value,
            type_id=type_id,
            size=len(raw),
            arrival=next(self._arrivals),
            authorities=authorities,
        )
        evicted = [] if replaced is not None else self._make_room(entry, account_nonce)
        return entry, replaced, evicted, account_nonce

    def _decode(self, raw: bytes) -> SignedTransactionAPI:
        try:
            tx = self.state.decode_transaction(raw)
        except ChainError:
            raise
        except (
            rlp.exceptions.RLPException,
            ValidationError,
            ValueError,
            TypeError,
            IndexError,
        ) as error:
            raise MalformedTransaction(f"transaction bytes do not decode: {error}") from error
        if tx.encode() != raw:
            raise MalformedTransaction(
                "transaction bytes are not in canonical encoding (re-encoding differs)"
            )
        return tx

    def _check_delegation_limits(
        self, sender: bytes, nonce: int, account_nonce: int, authorities: tuple[bytes, ...]
    ) -> None:
        """geth's pool rules for EIP-7702 (``legacypool.validateAuth``): an account with
        code (a delegation) or named by a pooled authorization may have one transaction in
        flight, at its next nonce, or replace it; a set-code transaction may not authorize
        an account that already has more than one pooled transaction (the delegation's
        nonce bump would strand them)."""
        own = self._by_sender.get(sender, {})
        if self.state.code(sender) or self._authorizing.get(sender):
            if not own and nonce != self._next_nonce(sender, account_nonce):
                raise DelegatedAccountLimit(sender, "gapped_nonce")
            if own and nonce not in own:
                raise DelegatedAccountLimit(sender, "in_flight")
        for authority in authorities:
            if len(self._by_sender.get(authority, {})) > 1:
                raise AuthorityReserved(authority)

    def _make_room(self, entry: PooledTransaction, account_nonce: int) -> list[PooledTransaction]:
        """Return the transactions to evict so ``entry`` fits, or raise ``PoolFull``.

        Only other senders' last transactions are candidates, cheapest first (lowest
        fee cap, then lowest tip, then latest arrival), and each must be strictly
        cheaper than ``entry``. Pending candidates come only from senders holding more
        than ``account_slots`` pending transactions.
        """
        limits = self.limits
        sender = entry.sender
        own = self._by_sender.get(sender, {})
        base = account_nonce
        run_before = _run_length(own, base)
        becomes_pending = entry.nonce == base + run_before
        if becomes_pending:
            promoted = _run_length(own, entry.nonce + 1)
            pending_after = self._pending_count() + 1 + promoted
            excess = pending_after - limits.global_slots
            return self._choose_victims(entry, excess, pending=True, what="pending")
        own_queued = len(own) - run_before
        if own_queued >= limits.account_queue:
            raise PoolFull(
                f"account {checksum_address(sender)} already has {own_queued} queued transactions, the "
                f"most one account may hold; send the missing nonce {base + run_before} first"
            )
        excess = self._queued_count() + 1 - limits.global_queue
        return self._choose_victims(entry, excess, pending=False, what="queued")

    def _choose_victims(
        self, entry: PooledTransaction, excess: int, pending: bool, what: str
    ) -> list[PooledTransaction]:
        victims: list[PooledTransaction] = []
        if excess <= 0:
            return victims
        # Per other sender: its transactions of the category, in nonce order; the tail
        # is popped as it is evicted.
        candidates: dict[bytes, list[PooledTransaction]] = {}
        for sender in self._by_sender:
            if sender == entry.sender:
                continue
            run = self._pending_run(sender)
            if pending:
                if len(run) > self.limits.account_slots:
                    candidates[sender] = run
            else:
                queued = self._queued_of(sender, len(run))
                if queued:
                    candidates[sender] = queued
        while len(victims) < excess:
            best: PooledTransaction | None = None
            for txs in candidates.values():
                if pending and len(txs) <= self.limits.account_slots:
                    continue
                if not txs:
                    continue
                tail = txs[-1]
                if best is None or _cheapness(tail) < _cheapness(best):
                    best = tail
            if best is None or not _pays_more(entry, best):
                limit = self.limits.global_slots if pending else self.limits.global_queue
                cheapest = (
                    f"; the cheapest transaction that may be pushed out pays max fee "
                    f"{best.max_fee} wei, tip {best.max_priority_fee} wei"
                    if best is not None
                    else "; no other sender's transaction may be pushed out"
                )
                raise PoolFull(f"transaction pool is full ({limit} {what} transactions){cheapest}")
            candidates[best.sender].pop()
            victims.append(best)
        return victims

    # --- reading ------------------------------------------------------------------------

    def pending(self) -> list[PooledTransaction]:
        """Executable transactions, ordered for block building.

        Each sender's transactions come in nonce order, contiguous from its account
        nonce; across senders, the next transaction with the highest effective tip at
        the next block's base fee goes first, ties to the earliest arrival. A transaction
        whose fee cap has fallen below the base fee has a negative tip, so it sorts
        after every payable one: a block builder should skip it and the rest of its
        sender's run.
        """
        with self._lock:
            base_fee = self.state.next_base_fee()
            runs = [run for run in map(self._pending_run, self._by_sender) if run]
            heap = [(-run[0].effective_tip(base_fee), run[0].arrival, i, 0) for i, run in enumerate(runs)]
            heapq.heapify(heap)
            ordered: list[PooledTransaction] = []
            while heap:
                _, _, i, position = heapq.heappop(heap)
                run = runs[i]
                ordered.append(run[position])
                if position + 1 < len(run):
                    following = run[position + 1]
                    heapq.heappush(
                        heap,
                        (-following.effective_tip(base_fee), following.arrival, i, position + 1),
                    )
            return ordered

    def queued(self) -> list[PooledTransaction]:
        """Transactions waiting for a missing nonce, by sender (first seen) then nonce."""
        with self._lock:
            result: list[PooledTransaction] = []
            for sender in self._by_sender:
                result.extend(self._queued_of(sender, len(self._pending_run(sender))))
            return result

    def get(self, tx_hash: bytes) -> PooledTransaction | None:
        """Return the pooled transaction with hash ``tx_hash`` (32 bytes), or None."""
        with self._lock:
            return self._by_hash.get(bytes(tx_hash))

    def pending_nonce(self, address: bytes) -> int:
        """Nonce ``address`` should use next: account nonce plus its pending run.

        This is what ``eth_getTransactionCount(address, "pending")`` answers.
        """
        with self._lock:
            return self._next_nonce(bytes(address), self.state.nonce(bytes(address)))

    def status(self) -> dict[str, int]:
        """Counts for ``txpool_status``: ``{"pending": n, "queued": m}``."""
        with self._lock:
            pending = self._pending_count()
            return {"pending": pending, "queued": len(self._by_hash) - pending}

    def content(self) -> dict[str, dict[bytes, dict[int, PooledTransaction]]]:
        """``{"pending"|"queued": {sender: {nonce: tx}}}`` for txpool_content/inspect."""
        with self._lock:
            result: dict[str, dict[bytes, dict[int, PooledTransaction]]] = {
                "pending": {},
                "queued": {},
            }
            for sender in self._by_sender:
                run = self._pending_run(sender)
                if run:
                    result["pending"][sender] = {tx.nonce: tx for tx in run}
                queued = self._queued_of(sender, len(run))
                if queued:
                    result["queued"][sender] = {tx.nonce: tx for tx in queued}
            return result

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        with self._lock:
            return isinstance(tx_hash, bytes | bytearray) and bytes(tx_hash) in self._by_hash

    # --- head changes -------------------------------------------------------------------

    def reset(self) -> list[PooledTransaction]:
        """Re-read the head after it moved; return the transactions dropped.

        Drops transactions whose nonce is below the account nonce (mined, or replaced
        by a mined one) and those whose cost now exceeds the sender's balance (these are
        remembered, see :meth:`dropped`); queued
        transactions that became contiguous turn pending (and are announced). A drop
        that opens a gap turns later transactions queued; if that overfills the queue
        limits, the farthest (per sender) and cheapest (overall) queued ones go too.
        """
        with self._lock:
            before = {tx.hash for tx in self._all_pending()}
            dropped: list[PooledTransaction] = []
            for sender in list(self._by_sender):
                account_nonce = self.state.nonce(sender)
                balance = self.state.balance(sender)
                self._account_nonce[sender] = account_nonce
                self._refresh(sender)
                for tx in list(self._by_sender[sender].values()):
                    if tx.nonce < account_nonce or tx.cost > balance:
                        dropped.append(tx)
                        self._discard(tx)
                    if tx.nonce >= account_nonce and tx.cost > balance:
                        self._remember(
                            DroppedTransaction(
                                hash=tx.hash,
                                sender=sender,
                                nonce=tx.nonce,
                                error=InsufficientFunds(
                                    f"insufficient funds: account {checksum_address(sender)} has {balance} "
                                    f"wei at the new head, transaction may cost {tx.cost} wei"
                                ),
                                block_number=None,
                                dropped_at=time.time(),
                            )
                        )
            dropped.extend(self._truncate_queues())
            newly_pending = [tx for tx in self._all_pending() if tx.hash not in before]
            if dropped and self.journal is not None:
                self.journal.remove([tx.hash for tx in dropped])
        self._notify(newly_pending)
        return dropped

    def reinject(self, raws: Iterable[bytes]) -> int:
        """Bring back the transactions of blocks a rewind dropped; return how many were refused.

        Resets to the new head first. Refused ones (already mined again, now invalid,
        already known) are skipped silently and counted in ``reinject_skipped``.
        """
        self.reset()
        skipped = 0
        for raw in raws:
            try:
                self.add(raw)
            except InvalidTransaction:
                skipped += 1
        with self._lock:
            self.reinject_skipped += skipped
        return skipped

    def resync(self) -> int:
        """Take back every journaled transaction the pool no longer holds; return how many.

        For when a block's commit failed (a full disk): its reset already let the block's
        transactions go from memory, but the journal on disk still holds them. Writes
        nothing; refused ones (now invalid) are skipped.
        """
        if self.journal is None:
            return 0
        with self._lock:
            raws = [raw for raw in self.journal.load() if keccak(raw) not in self._by_hash]
            taken = 0
            self._restoring = True
            try:
                for raw in sorted(raws, key=self._nonce_for_sorting):
                    try:
                        self.add(raw)
                    except InvalidTransaction:
                        continue
                    taken += 1
            finally:
                self._restoring = False
            return taken

    def remove(self, hashes: Iterable[bytes]) -> list[PooledTransaction]:
        """Remove the transactions ``hashes`` (unknown ones are ignored); return what left.

        A sender's later transactions become queued if a removal opens a gap; if that
        overfills the queue limits, queued transactions are dropped as in ``reset`` and
        returned too.
        """
        with self._lock:
            removed = [self._by_hash[h] for h in map(bytes, hashes) if h in self._by_hash]
            for tx in removed:
                self._discard(tx)
            removed.extend(self._truncate_queues())
            if removed and self.journal is not None:
                self.journal.remove([tx.hash for tx in removed])
            return removed

    def drop(self, tx_hash: bytes, error: InvalidTransaction, block_number: int) -> DroppedTransaction | None:
        """Remove ``tx_hash`` because it cannot be mined, log why and remember it.

        ``error`` is the typed reason (a block builder's rejection); ``block_number`` the
        block being built. Later transactions of the sender turn queued, as with
        :meth:`remove`. Return the record, or None when the pool neither held the hash nor
        had just dropped it.
        """
        with self._lock:
            pooled = self._by_hash.get(bytes(tx_hash))
            if pooled is not None:
                self.remove([pooled.hash])
                sender, nonce = pooled.sender, pooled.nonce
            else:
                # the block's own reset may have dropped it already (it can no longer pay):
                # the builder's reason is the more precise one
                earlier = self._dropped.get(bytes(tx_hash))
                if earlier is None or earlier.sender is None or earlier.nonce is None:
                    return None
                sender, nonce = earlier.sender, earlier.nonce
            record = DroppedTransaction(
                hash=bytes(tx_hash),
                sender=sender,
                nonce=nonce,
                error=error,
                block_number=block_number,
                dropped_at=time.time(),
            )
            self._remember(record)
        logger.warning(
            "txpool: dropped %s (sender %s, nonce %d) at block %d: %s: %s",
            _hex(record.hash),
            checksum_address(sender),
            nonce,
            block_number,
            record.kind,
            record.reason,
        )
        return record

    def dropped(self, tx_hash: bytes) -> DroppedTransaction | None:
        """Why the transaction ``tx_hash`` was dropped, if it was (and is remembered)."""
        with self._lock:
            return self._dropped.get(bytes(tx_hash))

    def dropped_transactions(self) -> list[DroppedTransaction]:
        """Every remembered drop, oldest first."""
        with self._lock:
            return list(self._dropped.values())

    def _remember(self, record: DroppedTransaction) -> None:
        self._dropped.pop(record.hash, None)
        self._dropped[record.hash] = record
        while len(self._dropped) > DROPPED_RECORDS_MAX:
            self._dropped.popitem(last=False)

    def clear(self) -> None:
        """Remove every transaction (and empty the journal)."""
        with self._lock:
            self._by_hash.clear()
            self._by_sender.clear()
            self._authorizing.clear()
            self._account_nonce.clear()
            self._pending_length.clear()
            if self.journal is not None:
                self.journal.rewrite([])

    def subscribe(self, callback: Callable[[PooledTransaction], None]) -> Callable[[], None]:
        """Call ``callback`` for every transaction that becomes pending; return an unsubscribe.

        Callbacks run on the thread that changed the pool, after its lock is released;
        an exception in one is logged and does not affect the pool or other callbacks.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # --- internals ----------------------------------------------------------------------

    def _restore(self, journal: Journal) -> None:
        """Re-add the journal's transactions, lowest nonce first, dropping invalid ones.

        Nonce order (stable, so a sender's replacements keep their place) means a
        replaced low nonce, journaled last, cannot leave its sender's later
        transactions queued beyond the queue limits while the pool fills.
        """
        raws = sorted(journal.load(), key=self._nonce_for_sorting)
        self._restoring = True
        try:
            for raw in raws:
                try:
                    self.add(raw)
                except InvalidTransaction as error:
                    self.restore_dropped += 1
                    if isinstance(error, NonceTooLow | AlreadyKnown):  # mined, or a duplicate
                        logger.info("txpool journal: skipping %s: %s", _hex(keccak(raw)), error)
                        continue
                    self._remember_refused(raw, error)
                    logger.warning(
                        "txpool journal: dropping %s: %s: %s", _hex(keccak(raw)), type(error).__name__, error
                    )
        finally:
            self._restoring = False
        journal.rewrite([tx.raw for tx in sorted(self._by_hash.values(), key=lambda t: t.arrival)])

    def _remember_refused(self, raw: bytes, error: InvalidTransaction) -> None:
        """Record a journaled transaction that admission now refuses."""
        sender: bytes | None = None
        nonce: int | None = None
        try:
            tx = self._decode(raw)
            nonce = int(tx.nonce)
            sender = recover_sender(tx)
        except InvalidTransaction:
            pass
        self._remember(
            DroppedTransaction(
                hash=keccak(raw),
                sender=sender,
                nonce=nonce,
                error=error,
                block_number=None,
                dropped_at=time.time(),
            )
        )

    def _nonce_for_sorting(self, raw: bytes) -> int:
        try:
            return int(self._decode(raw).nonce)
        except InvalidTransaction:
            return 0  # refused again, with its reason, when it is re-added

    def _truncate_queues(self) -> list[PooledTransaction]:
        """Drop queued transactions beyond the queue limits; return them."""
        dropped: list[PooledTransaction] = []
        for sender in list(self._by_sender):
            queued = self._queued_of(sender, len(self._pending_run(sender)))
            for tx in reversed(queued[self.limits.account_queue :]):
                self._discard(tx)
                dropped.append(tx)
        for _ in range(self._queued_count() - self.limits.global_queue):
            tails = []
            for sender in self._by_sender:
                queued = self._queued_of(sender, len(self._pending_run(sender)))
                if queued:
                    tails.append(queued[-1])
            victim = min(tails, key=_cheapness)
            self._discard(victim)
            dropped.append(victim)
        return dropped

    def _insert(self, entry: PooledTransaction, account_nonce: int) -> None:
        self._by_hash[entry.hash] = entry
        for authority in entry.authorities:
            self._authorizing.setdefault(authority, set()).add(entry.hash)
        own = self._by_sender.setdefault(entry.sender, {})
        own[entry.nonce] = entry
        if account_nonce != self._account_nonce.get(entry.sender):
            # First transaction of this sender, or the head moved without a reset: take
            # the head's nonce and forget what it has mined for this sender.
            self._account_nonce[entry.sender] = account_nonce
            for stale in [tx for tx in own.values() if tx.nonce < account_nonce]:
                self._discard(stale)
                if self.journal is not None and not self._restoring:
                    self.journal.remove([stale.hash])
        self._refresh(entry.sender)

    def _discard(self, tx: PooledTransaction) -> None:
        del self._by_hash[tx.hash]
        for authority in tx.authorities:
            naming = self._authorizing.get(authority)
            if naming is not None:
                naming.discard(tx.hash)
                if not naming:
                    del self._authorizing[authority]
        own = self._by_sender[tx.sender]
        del own[tx.nonce]
        if not own:
            del self._by_sender[tx.sender]
            self._account_nonce.pop(tx.sender, None)
        self._refresh(tx.sender)

    def _refresh(self, sender: bytes) -> None:
        """Recount the length of ``sender``'s pending run after its transactions changed."""
        own = self._by_sender.get(sender)
        if own is None:
            self._pending_length.pop(sender, None)
        else:
            self._pending_length[sender] = _run_length(own, self._base_nonce(sender))

    def _base_nonce(self, sender: bytes) -> int:
        return self._account_nonce.get(sender, 0)

    def _next_nonce(self, sender: bytes, account_nonce: int) -> int:
        return account_nonce + _run_length(self._by_sender.get(sender, {}), account_nonce)

    def _pending_run(self, sender: bytes) -> list[PooledTransaction]:
        own = self._by_sender.get(sender, {})
        nonce = self._base_nonce(sender)
        run = []
        while nonce in own:
            run.append(own[nonce])
            nonce += 1
        return run

    def _pending_hashes(self, sender: bytes) -> set[bytes]:
        return {tx.hash for tx in self._pending_run(sender)}

    def _queued_of(self, sender: bytes, run_length: int) -> list[PooledTransaction]:
        first_gap = self._base_nonce(sender) + run_length
        own = self._by_sender.get(sender, {})
        return [own[n] for n in sorted(own) if n > first_gap]

    def _all_pending(self) -> list[PooledTransaction]:
        return [tx for sender in self._by_sender for tx in self._pending_run(sender)]

    def _pending_count(self) -> int:
        return sum(self._pending_length.values())

    def _queued_count(self) -> int:
        return len(self._by_hash) - self._pending_count()

    def _notify(self, transactions: list[PooledTransaction]) -> None:
        if not transactions:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for tx in transactions:
            for callback in subscribers:
                try:
                    callback(tx)
                except Exception:  # noqa: BLE001 - a subscriber must not break the pool
                    logger.exception("txpool subscriber failed on %s", _hex(tx.hash))


# --- helpers ------------------------------------------------------------------------------


def _run_length(own: dict[int, PooledTransaction], start: int) -> int:
    length = 0
    while start + length in own:
        length += 1
    return length


def _pays_bump(old: PooledTransaction, max_fee: int, tip: int, bump_percent: int) -> bool:
    factor = PERCENT + bump_percent
    return max_fee * PERCENT >= old.max_fee * factor and tip * PERCENT >= (old.max_priority_fee * factor)


def _cheapness(tx: PooledTransaction) -> tuple[int, int, int]:
    """Sort key: the smallest is the first evicted (latest arrival among equals)."""
    return (tx.max_fee, tx.max_priority_fee, -tx.arrival)


def _pays_more(new: PooledTransaction, old: PooledTransaction) -> bool:
    return (new.max_fee, new.max_priority_fee) > (old.max_fee, old.max_priority_fee)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()
