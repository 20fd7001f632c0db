"""py-evm objects to JSON-RPC values, as the execution-apis specification shapes them."""

from __future__ import annotations

from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI

from chain.chain import LogInfo, ReceiptInfo
from node.rpc.types import AuthorizationJson, BlockJson, LogJson, TransactionJson

ZERO_ADDRESS_BYTES = b""  # py-evm's `to` of a contract creation
SET_CODE_TYPE = 4  # EIP-7702's transaction type (Prague on)


def qty(value: int) -> str:
    return hex(value)


def hexb(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def addr(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def word(value: int | bytes) -> str:
    """A 32-byte value (topic, storage word, hash) as 0x + 64 hex digits."""
    if isinstance(value, int):
        return "0x" + value.to_bytes(32, "big").hex()
    return "0x" + bytes(value).rjust(32, b"\0").hex()


def bloom(value: int) -> str:
    return "0x" + value.to_bytes(256, "big").hex()


def tx_type(tx: SignedTransactionAPI) -> int:
    type_id = getattr(tx, "type_id", None)
    return 0 if type_id is None else int(type_id)


def header_json(header: BlockHeaderAPI) -> dict[str, Any]:
    """The header fields of a block object (also the newHeads notification)."""
    out: dict[str, Any] = {
        "hash": hexb(header.hash),
        "parentHash": hexb(header.parent_hash),
        "sha3Uncles": hexb(header.uncles_hash),
        "miner": addr(header.coinbase),
        "stateRoot": hexb(header.state_root),
        "transactionsRoot": hexb(header.transaction_root),
        "receiptsRoot": hexb(header.receipt_root),
        "logsBloom": bloom(header.bloom),
        "difficulty": qty(header.difficulty),
        "number": qty(header.block_number),
        "gasLimit": qty(header.gas_limit),
        "gasUsed": qty(header.gas_used),
        "timestamp": qty(header.timestamp),
        "extraData": hexb(header.extra_data),
        "mixHash": hexb(header.mix_hash),
        "nonce": hexb(header.nonce),
    }
    optional = (
        ("base_fee_per_gas", "baseFeePerGas", qty),
        ("withdrawals_root", "withdrawalsRoot", hexb),
        ("blob_gas_used", "blobGasUsed", qty),
        ("excess_blob_gas", "excessBlobGas", qty),
        ("parent_beacon_block_root", "parentBeaconBlockRoot", hexb),
        ("requests_hash", "requestsHash", hexb),  # Prague on (EIP-7685)
    )
    for attribute, key, encode in optional:
        value = getattr(header, attribute, None)
        if value is not None:
            out[key] = encode(value)
    return out


def transaction_json(
    tx: SignedTransactionAPI, header: BlockHeaderAPI | None = None, index: int | None = None
) -> TransactionJson:
    """A transaction object; ``header`` None means not yet in a block (pool)."""
    type_id = tx_type(tx)
    out: dict[str, Any] = {
        "blockHash": hexb(header.hash) if header is not None else None,
        "blockNumber": qty(header.block_number) if header is not None else None,
        "blockTimestamp": qty(header.timestamp) if header is not None else None,
        "transactionIndex": qty(index) if index is not None else None,
        "hash": hexb(tx.hash),
        "type": qty(type_id),
        "from": addr(tx.sender),
        "nonce": qty(tx.nonce),
        "to": addr(tx.to) if tx.to else None,
        "gas": qty(tx.gas),
        "value": qty(tx.value),
        "input": hexb(tx.data),
        "r": qty(tx.r),
        "s": qty(tx.s),
    }
    if type_id == 0:
        out["gasPrice"] = qty(tx.gas_price)
        out["v"] = qty(tx.v)  # type: ignore[attr-defined]  # legacy transactions carry v
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is not None:
            out["chainId"] = qty(chain_id)
        return out  # type: ignore[return-value]
    out["chainId"] = qty(tx.chain_id or 0)  # typed transactions always carry one
    out["accessList"] = [
        {"address": addr(account), "storageKeys": [word(slot) for slot in slots]}
        for account, slots in tx.access_list
    ]
    out["yParity"] = qty(tx.y_parity)
    out["v"] = qty(tx.y_parity)
    if type_id == 1:
        out["gasPrice"] = qty(tx.gas_price)
    else:
        out["maxFeePerGas"] = qty(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = qty(tx.max_priority_fee_per_gas)
        base_fee = getattr(header, "base_fee_per_gas", None) if header is not None else None
        if base_fee is not None:
            price = min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)
        else:
            price = tx.max_fee_per_gas
        out["gasPrice"] = qty(price)
    if type_id == SET_CODE_TYPE:
        out["authorizationList"] = [authorization_json(auth) for auth in tx.authorization_list]  # type: ignore[attr-defined]  # set-code transactions carry one
    return out  # type: ignore[return-value]


def authorization_json(auth: Any) -> AuthorizationJson:
    """One EIP-7702 authorization tuple (py-evm's ``Authorization``), as geth shows it."""
    return {
        "chainId": qty(auth.chain_id),
        "address": addr(auth.address),
        "nonce": qty(auth.nonce),
        "yParity": qty(auth.y_parity),
        "r": qty(auth.r),
        "s": qty(auth.s),
    }


def log_json(info: LogInfo, timestamp: int, removed: bool = False) -> LogJson:
    """One log entry of a stored block (``timestamp``: its block's, unix seconds)."""
    return {
        "address": addr(info.address),
        "blockHash": hexb(info.block_hash),
        "blockNumber": qty(info.block_number),
        "blockTimestamp": qty(timestamp),
        "data": hexb(info.data),
        "logIndex": qty(info.log_index),
        "removed": removed,
        "topics": [word(t) for t in info.topics],
        "transactionHash": hexb(info.transaction_hash),
        "transactionIndex": qty(info.transaction_index),
    }


def receipt_json(info: ReceiptInfo) -> dict[str, Any]:
    """A receipt object (``gasUsed`` is the transaction's own gas, not cumulative)."""
    tx, header = info.transaction, info.header
    out: dict[str, Any] = {
        "transactionHash": hexb(tx.hash),
        "transactionIndex": qty(info.index),
        "blockHash": hexb(header.hash),
        "blockNumber": qty(header.block_number),
        "from": addr(info.sender),
        "to": addr(tx.to) if tx.to else None,
        "cumulativeGasUsed": qty(info.cumulative_gas_used),
        "gasUsed": qty(info.gas_used),
        "contractAddress": addr(info.contract_address) if info.contract_address else None,
        "logs": [log_json(entry, header.timestamp) for entry in info.logs],
        "logsBloom": bloom(info.receipt.bloom),
        "type": qty(tx_type(tx)),
        "status": qty(info.status),
        "effectiveGasPrice": qty(info.effective_gas_price),
    }
    if getattr(tx, "type_id", None) == 3:
        out["blobGasUsed"] = qty(getattr(tx, "blob_gas_used", 0))
    return out


def block_json(block: BlockAPI, full_transactions: bool) -> BlockJson:
    out = header_json(block.header)
    header = block.header
    if full_transactions:
        out["transactions"] = [transaction_json(tx, header, i) for i, tx in enumerate(block.transactions)]
    else:
        out["transactions"] = [hexb(tx.hash) for tx in block.transactions]
    out["uncles"] = [hexb(uncle.hash) for uncle in block.uncles]
    withdrawals = getattr(block, "withdrawals", None)
    if withdrawals is not None and getattr(header, "withdrawals_root", None) is not None:
        out["withdrawals"] = [
            {
                "index": qty(w.index),
                "validatorIndex": qty(w.validator_index),
                "address": addr(w.address),
                "amount": qty(w.amount),
            }
            for w in withdrawals
        ]
    out["size"] = qty(len(rlp.encode(block)))
    return out  # type: ignore[return-value]
