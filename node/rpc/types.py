"""Typed shapes of the JSON-RPC responses (as on the wire: hex strings, camelCase keys).

They follow the execution-apis specification; ``total=False`` marks objects whose
fields depend on the fork or the transaction type.
"""

from __future__ import annotations

from typing import TypedDict

Hex = str  # "0x..."; quantities without leading zeros, byte strings lower-case


class LogJson(TypedDict):
    address: Hex
    blockHash: Hex | None
    blockNumber: Hex | None
    blockTimestamp: Hex | None
    data: Hex
    logIndex: Hex | None
    removed: bool
    topics: list[Hex]
    transactionHash: Hex
    transactionIndex: Hex | None


class AccessListEntryJson(TypedDict):
    address: Hex
    storageKeys: list[Hex]


class AuthorizationJson(TypedDict):
    """One EIP-7702 authorization tuple of a set-code transaction."""

    chainId: Hex
    address: Hex
    nonce: Hex
    yParity: Hex
    r: Hex
    s: Hex


class TransactionJson(TypedDict, total=False):
    blockHash: Hex | None
    blockNumber: Hex | None
    blockTimestamp: Hex | None
    transactionIndex: Hex | None
    hash: Hex
    type: Hex
    nonce: Hex
    to: Hex | None
    gas: Hex
    value: Hex
    input: Hex
    gasPrice: Hex
    maxFeePerGas: Hex
    maxPriorityFeePerGas: Hex
    accessList: list[AccessListEntryJson]
    chainId: Hex
    v: Hex
    r: Hex
    s: Hex
    yParity: Hex
    authorizationList: list[AuthorizationJson]


class BlockJson(TypedDict, total=False):
    hash: Hex
    parentHash: Hex
    sha3Uncles: Hex
    miner: Hex
    stateRoot: Hex
    transactionsRoot: Hex
    receiptsRoot: Hex
    logsBloom: Hex
    difficulty: Hex
    number: Hex
    gasLimit: Hex
    gasUsed: Hex
    timestamp: Hex
    extraData: Hex
    mixHash: Hex
    nonce: Hex
    size: Hex
    baseFeePerGas: Hex
    withdrawalsRoot: Hex
    withdrawals: list[dict[str, Hex]]
    blobGasUsed: Hex
    excessBlobGas: Hex
    parentBeaconBlockRoot: Hex
    requestsHash: Hex
    transactions: list[Hex] | list[TransactionJson]
    uncles: list[Hex]


class FeeHistoryJson(TypedDict, total=False):
    oldestBlock: Hex
    baseFeePerGas: list[Hex]
    gasUsedRatio: list[float]
    baseFeePerBlobGas: list[Hex]
    blobGasUsedRatio: list[float]
    reward: list[list[Hex]]


class SyncingJson(TypedDict):
    startingBlock: Hex
    currentBlock: Hex
    highestBlock: Hex


class TxPoolStatusJson(TypedDict):
    pending: Hex
    queued: Hex
