"""Reading a contract's storage words at one block in a few JSON-RPC requests.

The fast path of :meth:`vm_contracts.client.Framework.read_model` (the paged getters of
:mod:`vm_contracts.models` are the plain one): instead of running a getter over every
parameter, the SDK computes the storage slots the parameters live in (the models'
Solidity storage layout) and fetches the words, then unpacks them in Python.

Two ways to fetch, both standard JSON-RPC:

* ``call``: one ``eth_call`` to the contract itself with a state override that replaces
  its code (never its storage) by :data:`READER_CODE`, a 26-byte loop returning
  ``SLOAD`` of every 32-byte slot in the calldata. One request and one short execution
  for thousands of slots; geth, anvil, Hardhat, Erigon, Nethermind and sumchain take
  state overrides.
* ``batch``: one JSON-RPC batch of ``eth_getStorageAt``, for nodes that refuse overrides.

``auto`` tries ``call`` and falls back to ``batch`` when the node or the provider refuses
it in any way (eth-tester's provider raises ``TypeError`` on the third parameter). Requests go
straight to the web3 provider (``make_batch_request`` where it has one), without web3's
result formatters, which cost more than the node's work for thousands of values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_hash.auto import keccak
from web3 import Web3
from web3.exceptions import Web3Exception

from vm_contracts.errors import ClientError

# PUSH1 0; loop: JUMPDEST DUP1 CALLDATASIZE GT ISZERO PUSH1 end JUMPI
# DUP1 CALLDATALOAD SLOAD DUP2 MSTORE PUSH1 32 ADD PUSH1 loop JUMP
# end: JUMPDEST CALLDATASIZE PUSH1 0 RETURN   (no PUSH0: runs on every fork)
READER_CODE = bytes.fromhex("60005b8036111560155780355481526020016002565b366000f3")
SLOTS_PER_CALL = 4096  # ~8.7 M gas of cold SLOADs per eth_call, under every node's call cap
REQUESTS_PER_BATCH = 1000  # geth's default --rpc.batch-request-limit
WORD = 32  # bytes
FETCH_METHODS = ("auto", "call", "batch")


class StorageReadError(ClientError):
    """Raised when the node answers a storage read with an error (``method`` names the
    JSON-RPC method, ``message`` is the node's), or answers in a shape no node should."""

    def __init__(self, message: str, method: str, node_message: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.node_message = node_message


def mapping_slot(key: int, base: int) -> int:
    """The slot of ``mapping(uint256 => ...)`` entry ``key`` whose mapping sits at slot
    ``base`` (Solidity's layout: keccak256(key . base))."""
    return int.from_bytes(keccak(key.to_bytes(WORD, "big") + base.to_bytes(WORD, "big")), "big")


def rpc_batch(w3: Web3, requests: Sequence[tuple[str, list[Any]]]) -> list[Any]:
    """The results of ``requests`` ((method, params) each), in order, sent as JSON-RPC
    batches of at most :data:`REQUESTS_PER_BATCH` (a single request too: a batch of one
    skips web3's formatters; one request at a time to a provider without batches);
    :class:`StorageReadError` on the first error answer."""
    provider: Any = w3.provider
    results: list[Any] = []
    for first in range(0, len(requests), REQUESTS_PER_BATCH):
        chunk = list(requests[first : first + REQUESTS_PER_BATCH])
        answers = _as_batch(provider, chunk)
        if answers is None:  # no batches here: one request at a time, through web3's formatters
            results.extend(_one_by_one(w3, chunk))
            continue
        for (method, _params), answer in zip(chunk, answers, strict=True):
            results.append(_result(method, answer))
    return results


def _one_by_one(w3: Web3, chunk: list[tuple[str, list[Any]]]) -> list[Any]:
    """``chunk`` through web3's own methods (and so its formatters, which some providers
    need: eth-tester's takes block numbers as integers only from them)."""
    out: list[Any] = []
    for method, params in chunk:
        block = int(params[-1] if method == "eth_getStorageAt" else params[1], 16)
        try:
            if method == "eth_getStorageAt":
                out.append(w3.eth.get_storage_at(params[0], int(params[1], 16), block_identifier=block))
            elif method == "eth_call":
                out.append(w3.eth.call(params[0], block, *params[2:]))
            else:
                raise StorageReadError(f"{method} is not a storage read", method)
        except Web3Exception as exc:  # the node's error answer (a revert, a refusal)
            raise StorageReadError(f"{method} failed: {exc}", method, str(exc)) from None
    return out


def _as_batch(provider: Any, chunk: list[tuple[str, list[Any]]]) -> list[Any] | None:
    """The answers to ``chunk`` sent as one batch, in request order; None when the provider
    or the node does not take batches (no ``make_batch_request``, or one error answer)."""
    try:
        answers = provider.make_batch_request(chunk)
    except (AttributeError, NotImplementedError):
        return None
    if not isinstance(answers, list) or len(answers) != len(chunk):
        return None
    if all(isinstance(a, dict) and isinstance(a.get("id"), int) for a in answers):
        answers = sorted(answers, key=lambda a: a["id"])  # a node may answer out of order
    return answers


def _result(method: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        raise StorageReadError(f"{method}: the node's answer is not a JSON-RPC response", method)
    error = answer.get("error")
    if error is not None:
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        raise StorageReadError(f"{method} failed: {message}", method, str(message))
    if "result" not in answer:
        raise StorageReadError(f"{method}: the node's answer has no result", method)
    return answer["result"]


def _hex_bytes(value: Any, method: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str):
        raise StorageReadError(f"{method}: expected hex data, the node sent {type(value).__name__}", method)
    text = value[2:] if value.startswith("0x") else value
    try:
        return bytes.fromhex(text if len(text) % 2 == 0 else "0" + text)
    except ValueError:
        raise StorageReadError(f"{method}: the node sent data that is not hex", method) from None


def read_words(w3: Web3, address: str, slots: Sequence[int], block: int, method: str = "auto") -> list[int]:
    """The storage words at ``slots`` of ``address`` after block ``block``, as integers."""
    if method not in FETCH_METHODS:
        raise ClientError(f"unknown storage fetch method {method!r}; choose one of {FETCH_METHODS}")
    if not slots:
        return []
    checksum = Web3.to_checksum_address(address)
    if method == "call":
        return _words_by_call(w3, checksum, slots, block)
    if method == "auto":
        try:
            return _words_by_call(w3, checksum, slots, block)
        except Exception:  # noqa: BLE001 - providers refuse an override in many ways (eth-tester: TypeError)
            pass  # the batch below works on every node, or raises the node's own error
    return _words_by_batch(w3, checksum, slots, block)


def _words_by_call(w3: Web3, address: str, slots: Sequence[int], block: int) -> list[int]:
    override = {address: {"code": "0x" + READER_CODE.hex()}}
    requests: list[tuple[str, list[Any]]] = []
    sizes: list[int] = []  # bytes each call must return
    for first in range(0, len(slots), SLOTS_PER_CALL):
        chunk = slots[first : first + SLOTS_PER_CALL]
        # A zero word first: a node that ignored the override would run the contract's own
        # code on selector 0x00000000, which no model has, and revert instead of answering.
        data = b"".join(s.to_bytes(WORD, "big") for s in (0, *chunk))
        requests.append(("eth_call", [{"to": address, "data": "0x" + data.hex()}, hex(block), override]))
        sizes.append(len(data))
    words: list[int] = []
    for expected, output in zip(sizes, rpc_batch(w3, requests), strict=True):
        raw = _hex_bytes(output, "eth_call")
        if len(raw) != expected:
            raise StorageReadError(
                f"eth_call with a code override returned {len(raw)} bytes, not {expected}: "
                "the node did not apply the override",
                "eth_call",
            )
        words.extend(int.from_bytes(raw[i : i + WORD], "big") for i in range(WORD, len(raw), WORD))
    return words


def _words_by_batch(w3: Web3, address: str, slots: Sequence[int], block: int) -> list[int]:
    requests = [("eth_getStorageAt", [address, hex(slot), hex(block)]) for slot in slots]
    return [int.from_bytes(_hex_bytes(v, "eth_getStorageAt"), "big") for v in rpc_batch(w3, requests)]


def call_outputs(w3: Web3, address: str, calls: Sequence[bytes], block: int) -> list[bytes]:
    """The return data of ``eth_call`` of each calldata in ``calls`` to ``address`` at
    ``block``, in one batch (the models' immutables are in their code, not storage)."""
    checksum = Web3.to_checksum_address(address)
    requests = [("eth_call", [{"to": checksum, "data": "0x" + data.hex()}, hex(block)]) for data in calls]
    return [_hex_bytes(v, "eth_call") for v in rpc_batch(w3, requests)]
