"""The dev accounts' keys and what the node signs with them: transactions
(eth_sendTransaction, eth_signTransaction), messages (eth_sign, personal_sign) and
EIP-712 typed data (eth_signTypedData_v4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils import to_canonical_address, to_checksum_address

from chain.config import ChainConfig
from node.fees import Fees
from node.rpc import errors
from node.rpc import format as fmt
from node.rpc.params import TxRequest


class Signer:
    """Signs for the chain's dev accounts (``ChainConfig.dev_accounts``) and no one else."""

    def __init__(self, config: ChainConfig) -> None:
        self.config = config
        self.accounts: dict[bytes, bytes] = {
            to_canonical_address(address): key for address, key in config.dev_accounts
        }
        """Dev account (20 bytes) -> its private key (32 bytes)."""

    def key_for(self, account: bytes | None) -> bytes:
        if account is None:
            raise errors.InvalidParams("transaction: from is required")
        key = self.accounts.get(account)
        if key is None:
            raise errors.ServerError(
                f"unknown account {to_checksum_address(account)} (this node signs only for its dev accounts)"
            )
        return key

    def sign_transaction(
        self,
        request: TxRequest,
        pending_nonce: Callable[[bytes], int],
        fees: Fees,
        estimate: Callable[[TxRequest], int],
    ) -> bytes:
        """``request`` signed, its gaps filled as geth fills them: the pending nonce, the
        suggested fees (legacy before London or when a gas price is given), the estimate."""
        key = self.key_for(request.sender)
        signed = Account.sign_transaction(self.fill_transaction(request, pending_nonce, fees, estimate), key)
        return bytes(signed.raw_transaction)

    def fill_transaction(
        self,
        request: TxRequest,
        pending_nonce: Callable[[bytes], int],
        fees: Fees,
        estimate: Callable[[TxRequest], int],
    ) -> dict[str, Any]:
        """``request`` with its gaps filled (see :meth:`sign_transaction`), as eth_account's
        transaction dict; for any sender (an impersonated one too: ``node.dev``)."""
        if request.sender is None:
            raise errors.InvalidParams("transaction: from is required")
        tx: dict[str, Any] = {
            "chainId": self.config.chain_id if request.chain_id is None else request.chain_id,
            "nonce": pending_nonce(request.sender) if request.nonce is None else request.nonce,
            "value": request.value or 0,
            "data": request.data or b"",
        }
        if request.to is not None:
            tx["to"] = to_checksum_address(request.to)
        london = self.config.fork_at_least("london")
        legacy = request.gas_price is not None or not london or request.type in (0, 1)
        if legacy:
            tx["gasPrice"] = request.gas_price if request.gas_price is not None else fees.gas_price()
            if request.access_list is not None or request.type == 1:
                tx["type"] = 1
        else:
            tip = (
                request.max_priority_fee_per_gas
                if request.max_priority_fee_per_gas is not None
                else fees.suggested_tip()
            )
            base_fee = fees.next_base_fee()
            max_fee = request.max_fee_per_gas if request.max_fee_per_gas is not None else 2 * base_fee + tip
            tx.update(type=2, maxFeePerGas=max_fee, maxPriorityFeePerGas=min(tip, max_fee))
        if request.access_list is not None:
            tx["accessList"] = [
                {"address": to_checksum_address(a), "storageKeys": [fmt.word(s) for s in slots]}
                for a, slots in request.access_list
            ]
        if request.gas is not None:
            tx["gas"] = request.gas
        else:
            tx["gas"] = estimate(
                TxRequest(sender=request.sender, to=request.to, value=request.value, data=request.data)
            )
        return tx

    def sign_message(self, account: bytes, message: bytes) -> bytes:
        signed = Account.sign_message(encode_defunct(primitive=message), self.key_for(account))
        return bytes(signed.signature)

    def sign_typed_data(self, account: bytes, typed: dict[str, Any]) -> bytes:
        try:
            message = encode_typed_data(full_message=typed)
        except Exception as exc:  # noqa: BLE001 - eth_account raises many kinds on bad input
            raise errors.InvalidParams(f"typedData: {exc}") from None
        return bytes(Account.sign_message(message, self.key_for(account)).signature)
