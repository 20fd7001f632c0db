"""Parameter decoding for every JSON-RPC method, in one place.

Each decoder takes the raw JSON value and returns a Python value or raises
:class:`InvalidParams` with a message naming what is wrong. Encodings are the
specification's: quantities ``^0x(0|[1-9a-f][0-9a-f]*)$`` (upper-case hex digits
accepted on input, as geth does; leading zeros refused), byte strings ``0x`` + an
even number of hex digits, addresses 20 bytes, hashes 32 bytes, block identifiers a
tag, a quantity, or an object ``{blockHash, requireCanonical}`` /
``{blockNumber}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chain.chain import BLOCK_TAGS
from node.rpc.errors import InvalidParams

QUANTITY_RE = re.compile(r"^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$")
DATA_RE = re.compile(r"^0x([0-9a-fA-F]{2})*$")
MAX_QUANTITY_DIGITS = 64  # hex digits: a uint256
MAX_BLOCK_NUMBER = 2**63 - 1  # as geth's int64 block numbers; larger is refused as absurd
MAX_DATA_BYTES = 4 * 1024 * 1024  # bytes in one hex-encoded data parameter
MAX_FILTER_ADDRESSES = 1000
MAX_TOPIC_POSITIONS = 4
MAX_TOPIC_ALTERNATIVES = 1000


# --- decoded values ---------------------------------------------------------------------


@dataclass(frozen=True)
class BlockId:
    """Which block a method reads: exactly one of ``tag``, ``number`` or ``hash`` is set."""

    tag: str | None = None
    """One of ``BLOCK_TAGS``."""
    number: int | None = None
    """A block number."""
    hash: bytes | None = None
    """A 32-byte block hash (EIP-1898 ``{blockHash}``)."""
    require_canonical: bool = False
    """EIP-1898: refuse a ``hash`` that is not on the canonical chain."""

    @property
    def key(self) -> str | int | bytes:
        """The value the chain's ``resolve`` takes."""
        if self.hash is not None:
            return self.hash
        if self.number is not None:
            return self.number
        assert self.tag is not None
        return self.tag


@dataclass
class TxRequest:
    """A transaction-like object as sent to eth_call, eth_estimateGas, eth_sendTransaction.

    Every field is optional; None means "not given" and the backend fills a default.
    Amounts are wei, gas is gas units, addresses 20 raw bytes.
    """

    sender: bytes | None = None
    to: bytes | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int | None = None
    data: bytes | None = None
    nonce: int | None = None
    type: int | None = None
    chain_id: int | None = None
    access_list: list[tuple[bytes, list[int]]] | None = None
    authorization_list: list[dict[str, Any]] | None = None
    """EIP-7702 tuples (chain_id, address, nonce, y_parity, r, s) of a set-code call."""


@dataclass
class AccountOverride:
    """State override for one account in eth_call / eth_estimateGas (geth's format)."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: dict[int, int] | None = None
    """Replaces the account's whole storage: slot -> value."""
    state_diff: dict[int, int] = field(default_factory=dict)
    """Changes only the listed slots."""


@dataclass
class LogFilter:
    """The criteria of eth_getLogs / eth_newFilter.

    ``topics[i]`` is None (any) or a list of accepted 32-byte topics at position i.
    """

    from_block: BlockId | None = None
    to_block: BlockId | None = None
    block_hash: bytes | None = None
    addresses: list[bytes] = field(default_factory=list)
    topics: list[list[bytes] | None] = field(default_factory=list)


# --- scalar decoders ------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def quantity(value: Any, what: str = "quantity") -> int:
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a hex string, got {_type_name(value)}")
    if not value.startswith("0x"):
        raise InvalidParams(f"{what}: hex string without 0x prefix")
    if len(value) > MAX_QUANTITY_DIGITS + 2:
        raise InvalidParams(f"{what}: hex number larger than 256 bits")
    if not QUANTITY_RE.match(value):
        raise InvalidParams(
            f"{what}: invalid hex quantity {value[:80]!r} (no leading zeros, at least one digit)"
        )
    return int(value, 16)


def uint64(value: Any, what: str = "quantity") -> int:
    number = quantity(value, what)
    if number >= 2**64:
        raise InvalidParams(f"{what}: hex number larger than 64 bits")
    return number


def data(value: Any, what: str = "data") -> bytes:
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a hex string, got {_type_name(value)}")
    if not value.startswith("0x"):
        raise InvalidParams(f"{what}: hex string without 0x prefix")
    if len(value) > 2 + 2 * MAX_DATA_BYTES:
        raise InvalidParams(f"{what}: longer than {MAX_DATA_BYTES} bytes")
    if len(value) % 2:
        raise InvalidParams(f"{what}: hex string of odd length")
    if not DATA_RE.match(value):
        raise InvalidParams(f"{what}: invalid hex string")
    return bytes.fromhex(value[2:])


def fixed_bytes(value: Any, size: int, what: str) -> bytes:
    raw = data(value, what)
    if len(raw) != size:
        raise InvalidParams(f"{what}: expected {size} bytes, got {len(raw)}")
    return raw


def address(value: Any, what: str = "address") -> bytes:
    return fixed_bytes(value, 20, what)


def hash32(value: Any, what: str = "hash") -> bytes:
    return fixed_bytes(value, 32, what)


def storage_slot(value: Any, what: str = "storage slot") -> int:
    """A storage key: geth accepts any hex up to 32 bytes, with or without leading zeros."""
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a hex string, got {_type_name(value)}")
    if not value.startswith("0x") or len(value) < 3 or len(value) > 66:
        raise InvalidParams(f"{what}: expected 0x and 1 to 64 hex digits")
    try:
        return int(value[2:], 16)
    except ValueError:
        raise InvalidParams(f"{what}: invalid hex string") from None


def boolean(value: Any, what: str = "flag") -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"{what}: expected true or false, got {_type_name(value)}")
    return value


def string(value: Any, what: str = "string") -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a string, got {_type_name(value)}")
    return value


def integer_or_quantity(value: Any, what: str = "number") -> int:
    """Dev-control amounts: hardhat and anvil accept plain JSON numbers as well as hex."""
    if isinstance(value, bool):
        raise InvalidParams(f"{what}: expected a number, got bool")
    if isinstance(value, int):
        if value < 0 or value >= 2**64:
            raise InvalidParams(f"{what}: must be from 0 to 2**64-1")
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return int(value)
    return uint64(value, what)


def block_number(value: Any, what: str = "block number") -> int:
    number = quantity(value, what)
    if number > MAX_BLOCK_NUMBER:
        raise InvalidParams(f"{what}: {value} is beyond any possible block (max 2**63-1)")
    return number


# --- structured decoders ----------------------------------------------------------------


def block_id(value: Any, what: str = "block") -> BlockId:
    """A tag, a block number, or an EIP-1898 object."""
    if isinstance(value, str):
        if value in BLOCK_TAGS:
            return BlockId(tag=value)
        if value.startswith("0x"):
            return BlockId(number=block_number(value, what))
        raise InvalidParams(f"{what}: expected a block number or one of {', '.join(BLOCK_TAGS)}")
    if isinstance(value, dict):
        unknown = set(value) - {"blockHash", "blockNumber", "requireCanonical"}
        if unknown:
            raise InvalidParams(f"{what}: unknown field {sorted(unknown)[0]!r}")
        if "blockHash" in value and "blockNumber" in value:
            raise InvalidParams(f"{what}: give blockHash or blockNumber, not both")
        if "blockHash" in value:
            canonical = boolean(value.get("requireCanonical", False), f"{what}.requireCanonical")
            return BlockId(hash=hash32(value["blockHash"], f"{what}.blockHash"), require_canonical=canonical)
        if "requireCanonical" in value:
            raise InvalidParams(f"{what}: requireCanonical needs blockHash")
        if "blockNumber" in value:
            inner = value["blockNumber"]
            if isinstance(inner, str) and inner in BLOCK_TAGS:
                return BlockId(tag=inner)
            return BlockId(number=block_number(inner, f"{what}.blockNumber"))
        raise InvalidParams(f"{what}: object needs blockHash or blockNumber")
    raise InvalidParams(f"{what}: expected a block number, tag or object, got {_type_name(value)}")


def block_number_or_tag(value: Any, what: str = "block") -> BlockId:
    """A tag or a block number only (methods by number refuse EIP-1898 objects, as geth)."""
    if isinstance(value, dict):
        raise InvalidParams(f"{what}: expected a block number or tag, got an object")
    return block_id(value, what)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object, got {_type_name(value)}")
    return value


def access_list(value: Any, what: str = "accessList") -> list[tuple[bytes, list[int]]]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list")
    out = []
    for index, entry in enumerate(value):
        entry = _object(entry, f"{what}[{index}]")
        keys = entry.get("storageKeys", [])
        if not isinstance(keys, list):
            raise InvalidParams(f"{what}[{index}].storageKeys: expected a list")
        slots = [int.from_bytes(hash32(k, f"{what}[{index}].storageKeys"), "big") for k in keys]
        out.append((address(entry.get("address"), f"{what}[{index}].address"), slots))
    return out


def authorization_list(value: Any, what: str = "authorizationList") -> list[dict[str, Any]]:
    """EIP-7702 authorization tuples as geth and ethers send them (hex quantities)."""
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list")
    out = []
    for index, entry in enumerate(value):
        entry = _object(entry, f"{what}[{index}]")
        parity = entry.get("yParity", entry.get("v"))
        out.append(
            {
                "chain_id": quantity(entry.get("chainId"), f"{what}[{index}].chainId"),
                "address": address(entry.get("address"), f"{what}[{index}].address"),
                "nonce": uint64(entry.get("nonce"), f"{what}[{index}].nonce"),
                "y_parity": quantity(parity, f"{what}[{index}].yParity"),
                "r": quantity(entry.get("r"), f"{what}[{index}].r"),
                "s": quantity(entry.get("s"), f"{what}[{index}].s"),
            }
        )
    return out


_TX_FIELDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "from": ("sender", address),
    "to": ("to", address),
    "gas": ("gas", uint64),
    "gasPrice": ("gas_price", quantity),
    "maxFeePerGas": ("max_fee_per_gas", quantity),
    "maxPriorityFeePerGas": ("max_priority_fee_per_gas", quantity),
    "value": ("value", quantity),
    "nonce": ("nonce", uint64),
    "type": ("type", uint64),
    "chainId": ("chain_id", quantity),
    "accessList": ("access_list", access_list),
    "authorizationList": ("authorization_list", authorization_list),
}


def tx_request(value: Any, what: str = "transaction") -> TxRequest:
    """A call or transaction object; unknown fields are ignored as geth does."""
    obj = _object(value, what)
    request = TxRequest()
    for key, (attribute, decode) in _TX_FIELDS.items():
        if obj.get(key) is not None:
            setattr(request, attribute, decode(obj[key], f"{what}.{key}"))
    payload = obj.get("input")
    legacy = obj.get("data")
    if payload is not None and legacy is not None and payload != legacy:
        raise InvalidParams(f"{what}: both input and data given, and they differ")
    chosen = payload if payload is not None else legacy
    if chosen is not None:
        request.data = data(chosen, f"{what}.input")
    if request.gas_price is not None and (
        request.max_fee_per_gas is not None or request.max_priority_fee_per_gas is not None
    ):
        raise InvalidParams(f"{what}: gasPrice and maxFeePerGas/maxPriorityFeePerGas are exclusive")
    return request


def state_overrides(value: Any, what: str = "state overrides") -> dict[bytes, AccountOverride]:
    obj = _object(value, what)
    out: dict[bytes, AccountOverride] = {}
    for key, raw in obj.items():
        account = address(key, f"{what} key")
        entry = _object(raw, f"{what}[{key}]")
        unknown = set(entry) - {"balance", "nonce", "code", "state", "stateDiff"}
        if unknown:
            raise InvalidParams(f"{what}[{key}]: unknown field {sorted(unknown)[0]!r}")
        override = AccountOverride()
        if entry.get("balance") is not None:
            override.balance = quantity(entry["balance"], f"{what}[{key}].balance")
        if entry.get("nonce") is not None:
            override.nonce = uint64(entry["nonce"], f"{what}[{key}].nonce")
        if entry.get("code") is not None:
            override.code = data(entry["code"], f"{what}[{key}].code")
        if entry.get("state") is not None and entry.get("stateDiff") is not None:
            raise InvalidParams(f"{what}[{key}]: state and stateDiff are exclusive")
        for name in ("state", "stateDiff"):
            if entry.get(name) is None:
                continue
            slots = _object(entry[name], f"{what}[{key}].{name}")
            decoded = {
                int.from_bytes(hash32(slot, f"{what}[{key}].{name} key"), "big"): int.from_bytes(
                    hash32(val, f"{what}[{key}].{name}[{slot}]"), "big"
                )
                for slot, val in slots.items()
            }
            if name == "state":
                override.state = decoded
            else:
                override.state_diff = decoded
        out[account] = override
    return out


def log_filter(value: Any, what: str = "filter") -> LogFilter:
    obj = _object(value, what)
    result = LogFilter()
    if obj.get("blockHash") is not None:
        if obj.get("fromBlock") is not None or obj.get("toBlock") is not None:
            raise InvalidParams(f"{what}: blockHash excludes fromBlock and toBlock")
        result.block_hash = hash32(obj["blockHash"], f"{what}.blockHash")
    if obj.get("fromBlock") is not None:
        result.from_block = block_number_or_tag(obj["fromBlock"], f"{what}.fromBlock")
    if obj.get("toBlock") is not None:
        result.to_block = block_number_or_tag(obj["toBlock"], f"{what}.toBlock")
    raw_address = obj.get("address")
    if isinstance(raw_address, list):
        if len(raw_address) > MAX_FILTER_ADDRESSES:
            raise InvalidParams(f"{what}.address: more than {MAX_FILTER_ADDRESSES} addresses")
        result.addresses = [address(a, f"{what}.address") for a in raw_address]
    elif raw_address is not None:
        result.addresses = [address(raw_address, f"{what}.address")]
    raw_topics = obj.get("topics")
    if raw_topics is not None:
        if not isinstance(raw_topics, list):
            raise InvalidParams(f"{what}.topics: expected a list")
        if len(raw_topics) > MAX_TOPIC_POSITIONS:
            raise InvalidParams(f"{what}.topics: more than {MAX_TOPIC_POSITIONS} positions")
        for index, position in enumerate(raw_topics):
            where = f"{what}.topics[{index}]"
            if position is None:
                result.topics.append(None)
            elif isinstance(position, list):
                if len(position) > MAX_TOPIC_ALTERNATIVES:
                    raise InvalidParams(f"{where}: more than {MAX_TOPIC_ALTERNATIVES} topics")
                if not position or any(t is None for t in position):
                    result.topics.append(None)  # [] and [null] both mean "any"
                else:
                    result.topics.append([hash32(t, where) for t in position])
            else:
                result.topics.append([hash32(position, where)])
    return result


# --- method signatures -----------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One positional parameter of a method."""

    name: str
    decode: Callable[[Any, str], Any]
    required: bool = True
    default: Any = None
    """Used when an optional parameter is missing or null (a raw JSON value, decoded)."""


def optional(name: str, decode: Callable[[Any, str], Any], default: Any = None) -> Param:
    return Param(name, decode, required=False, default=default)


def decode_params(method: str, spec: tuple[Param, ...], raw: Any) -> list[Any]:
    """Turn the request's ``params`` into decoded positional arguments."""
    if raw is None:
        raw = []
    if isinstance(raw, dict):
        raise InvalidParams(f"{method}: parameters must be given by position (a JSON array)")
    if not isinstance(raw, list):
        raise InvalidParams(f"{method}: params must be an array")
    if len(raw) > len(spec):
        raise InvalidParams(f"{method}: too many arguments, want at most {len(spec)}")
    args = []
    for index, param in enumerate(spec):
        value = raw[index] if index < len(raw) else None
        if value is None:
            if param.required:
                raise InvalidParams(f"{method}: missing value for required argument {index} ({param.name})")
            args.append(None if param.default is None else param.decode(param.default, param.name))
            continue
        args.append(param.decode(value, param.name))
    return args


TRACERS = (None, "callTracer")  # the struct logger (no tracer named) and geth's call tracer


@dataclass(frozen=True)
class TraceOptions:
    """debug_trace* options: which tracer, and the struct logger's switches."""

    tracer: str | None = None
    only_top_call: bool = False
    limit: int | None = None
    """geth's struct-logger ``limit``: record the first that many steps only."""


def trace_options(value: Any, what: str = "trace options") -> TraceOptions:
    if value is None:
        return TraceOptions()
    raw = _object(value, what)
    tracer = raw.get("tracer")
    if tracer is not None and tracer not in TRACERS:
        raise InvalidParams(
            f"{what}: tracer {tracer!r} is not supported (supported: callTracer, "
            "or none for the struct logger)"
        )
    config = raw.get("tracerConfig") or {}
    if not isinstance(config, dict):
        raise InvalidParams(f"{what}: tracerConfig must be an object")
    limit = raw.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidParams(f"{what}: limit must be a whole number of steps, 0 for no limit")
    return TraceOptions(
        tracer=tracer, only_top_call=bool(config.get("onlyTopCall", False)), limit=limit or None
    )
