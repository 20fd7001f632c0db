"""The dev accounts' keys and what the node signs with them: transactions
(eth_sendTransaction, eth_signTransaction), messages (eth_sign, personal_sign) and
EIP-712 typed data (eth_signTypedData_v4)."""

from __future__ import annotations

import re
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
        """EIP-712 typed data signed, once geth's checks pass (:func:`check_typed_data`)."""
        key = self.key_for(account)
        check_typed_data(typed)
        try:
            message = encode_typed_data(full_message=typed)
        except Exception as exc:  # noqa: BLE001 - eth_account raises many kinds on bad input
            raise errors.InvalidParams(f"typedData: {exc}") from None
        return bytes(Account.sign_message(message, key).signature)


# --- EIP-712 inputs checked as geth checks them (signer/core/apitypes) -------------------

HEX_ADDRESS = re.compile(r"^[0-9a-fA-F]{40}$")  # geth's common.IsHexAddress, without the 0x
REFERENCE_TYPE = re.compile(r"^[A-Za-z](\w*)(\[\d*\])*$")  # geth's typedDataReferenceTypeRegexp
PRIMITIVE_TYPES = frozenset(
    ["address", "bool", "string", "bytes", "int", "uint"]
    + [f"bytes{n}" for n in range(1, 33)]
    + [f"{kind}{bits}" for kind in ("int", "uint") for bits in range(8, 257, 8)]
)
DOMAIN_FIELDS = ("name", "version", "chainId", "verifyingContract", "salt")


class TypedDataRejected(errors.ServerError):
    """Raised when EIP-712 typed data breaks one of geth's rules; the message is geth's."""


def _go(value: Any) -> str:
    """A JSON value as Go's ``%v`` prints it in geth's messages (closely enough)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(_go(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _mismatch(kind: str, value: Any) -> TypedDataRejected:
    return TypedDataRejected(f"provided data '{_go(value)}' doesn't match type '{kind}'")


def _check_types(types: dict[str, Any]) -> None:
    for key, fields in types.items():
        if not key:
            raise TypedDataRejected("empty type key")
        if not isinstance(fields, list):
            raise errors.InvalidParams(f"typedData: types.{key} must be a list of fields")
        for index, entry in enumerate(fields):
            if not isinstance(entry, dict):
                raise errors.InvalidParams(f"typedData: types.{key}[{index}] must be an object")
            kind, name = entry.get("type") or "", entry.get("name") or ""
            if not kind:
                raise TypedDataRejected(f'type "{key}":{index}: empty Type')
            if not name:
                raise TypedDataRejected(f'type "{key}":{index}: empty Name')
            if key == kind:
                raise TypedDataRejected(f'type "{kind}" cannot reference itself')
            if kind.split("[")[0] in PRIMITIVE_TYPES:
                continue
            if kind.split("[")[0] not in types:
                raise TypedDataRejected(f'reference type "{kind}" is undefined')
            if not REFERENCE_TYPE.match(kind):
                raise TypedDataRejected(f'unknown reference type "{kind}"')


def _integer(kind: str, value: Any) -> None:
    bits = 256 if kind in ("int", "uint") else int(kind.removeprefix("u").removeprefix("int"))
    number: int | None = None
    if isinstance(value, str):
        try:
            number = int(value, 16) if value.lower().startswith(("0x", "-0x")) else int(value, 10)
        except ValueError:
            raise TypedDataRejected(f"invalid hex or decimal integer {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not value.is_integer():
            raise TypedDataRejected(f"invalid float value {_go(value)} for type {kind}")
        number = int(value)
    if number is None:
        raise TypedDataRejected(f"invalid integer value {_go(value)}/{type(value).__name__} for type {kind}")
    if abs(number).bit_length() > bits:
        raise TypedDataRejected(f"integer larger than '{kind}'")
    if kind.startswith("uint") and number < 0:
        raise TypedDataRejected(f"invalid negative value for unsigned type {kind}")


def _hex_bytes(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        return None
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        return None


def _check_value(types: dict[str, Any], kind: str, value: Any) -> None:
    if kind.endswith("]"):
        if not isinstance(value, list):
            raise _mismatch(kind, value)
        inner = kind[: kind.rindex("[")]
        for item in value:
            _check_value(types, inner, item)
        return
    if kind in types:
        if not isinstance(value, dict):
            raise _mismatch(kind, value)
        _check_struct(types, kind, value)
        return
    if kind == "address":
        text = value[2:] if isinstance(value, str) and value[:2] in ("0x", "0X") else value
        if not (isinstance(text, str) and HEX_ADDRESS.match(text)):
            raise _mismatch(kind, value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _mismatch(kind, value)
    elif kind == "string":
        if not isinstance(value, str):
            raise _mismatch(kind, value)
    elif kind == "bytes":
        if _hex_bytes(value) is None:
            raise _mismatch(kind, value)
    elif kind.startswith("bytes"):
        raw = _hex_bytes(value)
        if raw is None or len(raw) != int(kind[5:]):
            raise _mismatch(kind, value)
    elif kind.startswith(("int", "uint")):
        _integer(kind, value)
    else:
        raise TypedDataRejected(f"unrecognized type '{kind}'")


def _check_struct(types: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    fields = types.get(kind) or []
    if len(fields) < len(data):
        raise TypedDataRejected(f"there is extra data provided in the message ({len(fields)} < {len(data)})")
    for entry in fields:
        _check_value(types, entry["type"], data.get(entry["name"]))


def check_typed_data(typed: dict[str, Any]) -> None:
    """Refuse EIP-712 typed data as geth's ``TypedDataAndHash`` does, in its order and with
    its messages: the types (names, references), the domain (not all empty), the domain's
    and then the message's fields against their types (extra fields, mismatched values,
    integer ranges)."""
    types = typed.get("types")
    if not isinstance(types, dict):
        raise errors.InvalidParams("typedData: types must be an object")
    domain = typed.get("domain") or {}
    message = typed.get("message") or {}
    if not isinstance(domain, dict) or not isinstance(message, dict):
        raise errors.InvalidParams("typedData: domain and message must be objects")
    _check_types(types)
    present = {key: domain[key] for key in DOMAIN_FIELDS if domain.get(key) not in (None, "")}
    if not present:
        raise TypedDataRejected("domain is undefined")
    _check_struct(types, "EIP712Domain", present)
    primary = typed.get("primaryType")
    if not isinstance(primary, str):
        raise errors.InvalidParams("typedData: primaryType must be a string")
    _check_struct(types, primary, message)
