"""Transaction validation in two layers, as geth's ``core/txpool/validation.go``.

:func:`validate_transaction` checks a transaction on its own (signature, chain id,
type, fees, gas against the block, initcode size, intrinsic gas) without reading any
account; :func:`validate_against_state` then checks it against its sender's account
and the block's base fee. The pool runs both on admission and the block builder runs
both against the block being built, so the same rules raise the same typed errors
(``chain.errors``) in both places. :class:`TransactionRules` carries what the
stateless layer needs from the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.abc import SignedTransactionAPI
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError, to_checksum_address

from chain.errors import (
    FeeCapTooLow,
    FloorDataGasTooLow,
    GasLimitExceeded,
    InitcodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidSetCode,
    InvalidSignature,
    NonceTooLow,
    TipAboveFeeCap,
    UnsupportedTransactionType,
    WrongChainId,
)

LEGACY_TRANSACTION_TYPE = 0
ACCESS_LIST_TRANSACTION_TYPE = 1
DYNAMIC_FEE_TRANSACTION_TYPE = 2
BLOB_TRANSACTION_TYPE = 3
SET_CODE_TRANSACTION_TYPE = 4

#: Transaction types the pool accepts by default (blob transactions need a sidecar).
DEFAULT_TRANSACTION_TYPES = frozenset(
    {LEGACY_TRANSACTION_TYPE, ACCESS_LIST_TRANSACTION_TYPE, DYNAMIC_FEE_TRANSACTION_TYPE}
)

#: Order of the secp256k1 group; signature values r and s must lie below it.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: Largest accepted s (low-s rule since Homestead), so a signature cannot be malleated.
SECP256K1_HALF_N = SECP256K1_N // 2


@dataclass(frozen=True)
class TransactionRules:
    """What a transaction is checked against without reading any account.

    The pool fills it from the head and its limits; a block builder from the block's
    fork, so both run the same checks.
    """

    #: Chain id transactions must be signed for (EIP-155 replay protection).
    chain_id: int
    #: Transaction types accepted (0 legacy, 1 access list, 2 dynamic fee, ...).
    transaction_types: frozenset[int]
    #: Gas limit of the block the transaction is for (gas).
    block_gas_limit: int
    #: Most initcode a creation may carry (bytes, EIP-3860); None before Shanghai.
    max_initcode_size: int | None


def validate_transaction(
    tx: SignedTransactionAPI, rules: TransactionRules, intrinsic_gas: int, floor_gas: int = 0
) -> bytes:
    """Check ``tx`` on its own, without any account state; return its sender (20 bytes).

    The rules, in order, each with its own exception from ``chain.errors``: signature
    (ranges, low s, recovery), chain id (replay protection required), transaction type,
    a set-code transaction's own rules (a ``to``, at least one authorization), tip <= fee
    cap, gas <= block gas limit, initcode size (Shanghai on), gas >= ``intrinsic_gas``
    (which includes the initcode words from Shanghai on), gas >= ``floor_gas`` (EIP-7623's
    calldata floor, Prague on; 0 before).

    As geth, the authorization tuples themselves (their chain id, nonce and signature) are
    not checked here: execution skips a tuple that fails, and the transaction stays valid.
    """
    sender = recover_sender(tx)

    tx_chain_id = tx.chain_id
    if tx_chain_id is None:
        raise WrongChainId(
            f"transaction is not replay-protected; sign it for chain id {rules.chain_id} (EIP-155)"
        )
    if tx_chain_id != rules.chain_id:
        raise WrongChainId(
            f"transaction is signed for chain id {tx_chain_id}, this chain's id is {rules.chain_id}"
        )

    type_id = transaction_type(tx)
    if type_id not in rules.transaction_types:
        raise UnsupportedTransactionType(
            f"transaction type {type_id} is not accepted by the pool (accepted: "
            f"{', '.join(str(t) for t in sorted(rules.transaction_types))})"
        )

    if type_id == SET_CODE_TRANSACTION_TYPE:
        if not tx.to:
            raise InvalidSetCode("creation")
        if not tx.authorization_list:  # type: ignore[attr-defined]  # set-code transactions carry one
            raise InvalidSetCode("empty_authorizations")

    max_fee = tx.max_fee_per_gas
    max_priority_fee = tx.max_priority_fee_per_gas
    if max_priority_fee > max_fee:
        raise TipAboveFeeCap(
            f"max priority fee per gas {max_priority_fee} wei is above max fee per gas {max_fee} wei"
        )

    if tx.gas > rules.block_gas_limit:
        raise GasLimitExceeded(
            f"transaction gas limit {tx.gas} exceeds the block gas limit {rules.block_gas_limit}"
        )

    if rules.max_initcode_size is not None and not tx.to and len(tx.data) > rules.max_initcode_size:
        raise InitcodeTooLarge(len(tx.data), rules.max_initcode_size)

    if tx.gas < intrinsic_gas:
        raise IntrinsicGasTooLow(
            f"intrinsic gas too low: transaction needs at least {intrinsic_gas} gas, "
            f"its gas limit is {tx.gas}"
        )
    if tx.gas < floor_gas:
        raise FloorDataGasTooLow(tx.gas, floor_gas)
    return sender


def validate_against_state(
    tx: SignedTransactionAPI, sender: bytes, account_nonce: int, balance: int, base_fee: int | None
) -> None:
    """Check ``tx`` (from ``sender``) against the sender's account and the block's base fee.

    The rules, in order: fee cap >= ``base_fee`` (wei, None before London), nonce >=
    ``account_nonce``, ``balance`` (wei) >= value + gas * fee cap. A block builder also
    needs the nonce to be exactly the account's; the pool allows later ones (queued).
    """
    max_fee = tx.max_fee_per_gas
    if base_fee is not None and max_fee < base_fee:
        raise FeeCapTooLow(f"max fee per gas {max_fee} wei is below the next block's base fee {base_fee} wei")

    if tx.nonce < account_nonce:
        raise NonceTooLow(
            f"nonce too low: account {checksum_address(sender)} has nonce {account_nonce}, "
            f"transaction has {tx.nonce}"
        )

    cost = tx.value + tx.gas * max_fee
    if balance < cost:
        raise InsufficientFunds(
            f"insufficient funds: account {checksum_address(sender)} has {balance} wei, transaction "
            f"may cost {cost} wei (value {tx.value} + gas {tx.gas} * max fee {max_fee})"
        )


# --- helpers ----------------------------------------------------------------------------


def transaction_type(tx: SignedTransactionAPI) -> int:
    type_id = getattr(tx, "type_id", None)
    return LEGACY_TRANSACTION_TYPE if type_id is None else int(type_id)


def recover_sender(tx: SignedTransactionAPI) -> bytes:
    """Check the signature's ranges and recover the sender, once (``tx.sender`` caches)."""
    try:
        y_parity, r, s = tx.y_parity, tx.r, tx.s
    except (ValidationError, ValueError) as error:
        raise InvalidSignature(f"invalid signature: {error}") from error
    if y_parity not in (0, 1):
        raise InvalidSignature(f"invalid signature: recovery id {y_parity} is not 0 or 1")
    if not 1 <= r < SECP256K1_N:
        raise InvalidSignature("invalid signature: r is out of range")
    if not 1 <= s <= SECP256K1_HALF_N:
        raise InvalidSignature("invalid signature: s is out of range (high-s is refused)")
    try:
        return bytes(tx.sender)
    except (BadSignature, ValidationError, ValueError) as error:
        raise InvalidSignature(f"invalid signature: no sender recovers ({error})") from error


def checksum_address(address: bytes) -> str:
    return str(to_checksum_address(address))
