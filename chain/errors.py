"""One exception tree for the ledger.

Every error the chain raises on bad input derives from :class:`ChainError`, so the
node and the CLI can turn any of them into one clear line. Each class says when it
is raised; the message is written for a user, not for a debugger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chain.chain import CallResult


class ChainError(Exception):
    """Raised when the ledger refuses an operation; the root of this tree."""


# --- configuration and data directory -------------------------------------------------


class ConfigError(ChainError):
    """Raised when a chain configuration is malformed or inconsistent.

    The message names the offending field, e.g. ``config.block_period: must be >= 0``.
    """


class DataDirError(ChainError):
    """Raised when a data directory is damaged, locked, or from an incompatible version.

    A data directory is never silently overwritten when this is raised.
    """


class StoreWriteFailed(DataDirError):
    """Raised when a store write fails (nothing of it was committed; the store stays whole).

    ``disk_full`` is True when the file system holding the data directory had no free
    space left; ``free_bytes`` is what it had when the write failed.
    """

    def __init__(self, message: str, disk_full: bool, free_bytes: int) -> None:
        super().__init__(message)
        self.disk_full = disk_full
        self.free_bytes = free_bytes


# --- blocks ------------------------------------------------------------------------


class InvalidBlock(ChainError):
    """Raised when an imported block breaks a rule (roots, gas, timestamp, parent, ...).

    ``check`` names the rule that failed so replay tools can report it.
    """

    def __init__(self, message: str, check: str = "block") -> None:
        super().__init__(message)
        self.check = check


class InvalidSeal(InvalidBlock):
    """Raised when a block's proof-of-authority seal is malformed or does not verify."""

    def __init__(self, message: str) -> None:
        super().__init__(message, check="seal")


class UnauthorizedSigner(InvalidBlock):
    """Raised when a block is sealed by an address outside the current signer set."""

    def __init__(self, signer: str) -> None:
        super().__init__(
            f"block sealed by {signer}, which is not an authorised signer", check="unauthorized_signer"
        )
        self.signer = signer


class RecentlySigned(InvalidBlock):
    """Raised when a signer seals again within floor(N/2)+1 blocks of its last seal."""

    def __init__(self, signer: str) -> None:
        super().__init__(f"signer {signer} sealed one of the last floor(N/2) blocks", check="recently_signed")
        self.signer = signer


class UnknownAncestor(InvalidBlock):
    """Raised when a snapshot is needed for a header whose ancestry (back to genesis or
    a persisted snapshot) the chain does not hold."""

    def __init__(self, message: str) -> None:
        super().__init__(message, check="unknown_ancestor")


class UnknownBlock(ChainError):
    """Raised when a block is asked for by number or hash and the chain does not have it."""


# --- history: export files, replay, snapshots, the clock -------------------------------


class ExportFileError(ChainError):
    """Raised when an export file (or its genesis file) is missing, damaged or truncated;
    the message names the byte offset and the block where reading stopped."""


class ReplayFailed(InvalidBlock):
    """Raised when a block of an export file fails verification during import or replay.

    ``number`` is the block's number and ``check`` the rule that failed (``seal``,
    ``state_root``, ``transaction_root``, ...), as :class:`InvalidBlock` names it.
    """

    def __init__(self, number: int, cause: InvalidBlock) -> None:
        text = str(cause)
        prefix = f"block {number}: "
        text = text[len(prefix) :] if text.startswith(prefix) else text
        super().__init__(f"block {number} is invalid ({cause.check} check failed): {text}", check=cause.check)
        self.number = number


class InvalidTimestamp(ChainError):
    """Raised when a requested block time is not after the head's timestamp, is past the
    largest timestamp clients decode, or moves the clock backwards.

    ``timestamp`` is the refused time (unix seconds), or the refused clock step in seconds
    when ``increase_time`` was asked to go back.
    """

    def __init__(self, message: str, timestamp: int) -> None:
        super().__init__(message)
        self.timestamp = timestamp


class UnknownSnapshot(ChainError):
    """Raised when reverting to a snapshot id that was never taken, or whose block the
    chain no longer stores.

    ``snapshot_id`` is the id asked for; ``block_missing`` is True when the snapshot was
    taken but its block is gone (the chain was rewound below it).
    """

    def __init__(self, snapshot_id: int, block_missing: bool = False) -> None:
        super().__init__(
            f"snapshot {snapshot_id}'s block is no longer stored"
            if block_missing
            else f"no snapshot with id {snapshot_id}"
        )
        self.snapshot_id = snapshot_id
        self.block_missing = block_missing


# --- calls and traces --------------------------------------------------------------------


class CallReverted(ChainError):
    """Raised when a call made to estimate gas fails at the highest allowed gas.

    ``result`` is that call's outcome (its error text and revert data).
    """

    def __init__(self, result: CallResult) -> None:
        super().__init__(f"execution reverted: {result.error}")
        self.result = result


class AccessListUnavailable(ChainError):
    """Raised when access lists are asked for on a fork before Berlin.

    ``fork`` is the chain's hard fork.
    """

    def __init__(self, fork: str) -> None:
        super().__init__(f"access lists need Berlin or later; this chain runs {fork}")
        self.fork = fork


class TraceError(ChainError):
    """Raised when a trace cannot be produced (unknown transaction, block not stored).

    ``tx_hash`` is the traced transaction's hash when the failure concerns one.
    """

    def __init__(self, message: str, tx_hash: bytes | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class TraceTooLarge(TraceError):
    """Raised when a struct-logger trace would record more than ``max_steps`` steps (the
    node's memory bound); fields: ``max_steps``."""

    def __init__(self, max_steps: int) -> None:
        super().__init__(
            f'trace has more than {max_steps} steps; pass a smaller "limit" to keep the '
            "first steps only, or use the callTracer"
        )
        self.max_steps = max_steps


# --- transactions ------------------------------------------------------------------


class InvalidTransaction(ChainError):
    """Raised when a transaction is refused; subclasses say which rule it broke."""


class MalformedTransaction(InvalidTransaction):
    """Raised when raw transaction bytes do not decode as a legacy, 2930 or 1559 transaction."""


class InvalidSignature(InvalidTransaction):
    """Raised when a transaction's signature does not recover to a sender."""


class WrongChainId(InvalidTransaction):
    """Raised when a transaction is signed for another chain id (or without replay protection
    where it is required)."""


class NonceTooLow(InvalidTransaction):
    """Raised when a transaction's nonce is below the sender's account nonce."""


class NonceGap(InvalidTransaction):
    """Raised when a transaction's nonce is too far ahead of the sender's nonce to be queued."""


class InsufficientFunds(InvalidTransaction):
    """Raised when the sender cannot pay value + gas_limit * max fee."""


class IntrinsicGasTooLow(InvalidTransaction):
    """Raised when a transaction's gas limit is below its intrinsic gas."""


class FloorDataGasTooLow(IntrinsicGasTooLow):
    """Raised when a transaction's gas limit is below EIP-7623's calldata floor (Prague on:
    21,000 + 10 gas per calldata token). ``gas`` and ``floor`` are in gas; the message is
    geth's ("insufficient gas for floor data gas cost")."""

    def __init__(self, gas: int, floor: int) -> None:
        super().__init__(f"insufficient gas for floor data gas cost: gas {gas}, minimum needed {floor}")
        self.gas = gas
        self.floor = floor


class InvalidSetCode(InvalidTransaction):
    """Raised when a set-code transaction (EIP-7702, type 4) breaks one of its own rules.

    ``rule`` is ``empty_authorizations`` (it carries no authorization tuple) or
    ``creation`` (it has no ``to``: a set-code transaction may not create a contract).
    The messages are geth's."""

    def __init__(self, rule: str) -> None:
        messages = {
            "empty_authorizations": "EIP-7702 transaction with empty auth list",
            "creation": "EIP-7702 transaction cannot be used to create contract",
        }
        super().__init__(messages[rule])
        self.rule = rule


class DelegatedAccountLimit(InvalidTransaction):
    """Raised when the pool refuses a transaction from an account that is delegated
    (EIP-7702) or named by a pooled authorization, as geth's pool does: such an account
    may have one transaction in flight, sent in nonce order.

    ``sender`` is the 20-byte account; ``rule`` is ``in_flight`` (it already has a pooled
    transaction and this one does not replace it) or ``gapped_nonce`` (its nonce is not
    the account's next one)."""

    def __init__(self, sender: bytes, rule: str) -> None:
        messages = {
            "in_flight": "in-flight transaction limit reached for delegated accounts",
            "gapped_nonce": "gapped-nonce tx from delegated accounts",
        }
        super().__init__(f"{messages[rule]} (account 0x{sender.hex()})")
        self.sender = sender
        self.rule = rule


class AuthorityReserved(InvalidTransaction):
    """Raised when a set-code transaction authorizes an account that already has more
    than one transaction in the pool (geth's rule: an authority's pooled transactions
    could be invalidated by the delegation). ``authority`` is the 20-byte account."""

    def __init__(self, authority: bytes) -> None:
        super().__init__(f"authority already reserved (account 0x{authority.hex()})")
        self.authority = authority


class FeeCapTooLow(InvalidTransaction):
    """Raised when a transaction's max fee per gas is below the next block's base fee."""


class TipAboveFeeCap(InvalidTransaction):
    """Raised when max priority fee per gas exceeds max fee per gas."""


class GasLimitExceeded(InvalidTransaction):
    """Raised when a transaction's gas limit exceeds the block gas limit."""


class InitcodeTooLarge(InvalidTransaction):
    """Raised when a contract creation carries more initcode than EIP-3860 allows (Shanghai on).

    ``size`` and ``limit`` are in bytes. The message starts with geth's and anvil's text,
    "max initcode size exceeded", so scripts written against them recognise it.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"max initcode size exceeded: code size {size} bytes, limit {limit} bytes")
        self.size = size
        self.limit = limit


class BlockGasExhausted(InvalidTransaction):
    """Raised when the block being built has less gas left than a transaction's gas limit.

    Only a block builder raises it: the transaction stays in the pool for a later block.
    ``gas`` and ``gas_left`` are in gas.
    """

    def __init__(self, gas: int, gas_left: int) -> None:
        super().__init__(f"gas limit left in the block ({gas_left}) is below the transaction's {gas}")
        self.gas = gas
        self.gas_left = gas_left


class NotApplicable(InvalidTransaction):
    """Raised when the EVM refuses to apply a pooled transaction to the block being built
    for a reason the pool's own checks did not foresee.

    ``cause`` names the EVM's exception type (e.g. ``ValidationError``, ``OutOfGas``).
    """

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(
            f"the transaction cannot be applied to the block: {cause}: {detail}"
            if detail
            else f"the transaction cannot be applied to the block: {cause}"
        )
        self.cause = cause
        self.detail = detail


class OversizedTransaction(InvalidTransaction):
    """Raised when a transaction's encoded size exceeds the pool's size limit."""


class ReplacementUnderpriced(InvalidTransaction):
    """Raised when a transaction replaces a pending one without the required fee bump."""


class AlreadyKnown(InvalidTransaction):
    """Raised when the exact same transaction is already in the pool."""


class PoolFull(InvalidTransaction):
    """Raised when the pool is full and the transaction does not pay more than the cheapest."""


class UnsupportedTransactionType(InvalidTransaction):
    """Raised when a transaction type is not enabled by the chain's hard fork."""
