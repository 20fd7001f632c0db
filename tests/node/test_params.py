"""Parameter decoding: the spec's encodings are accepted, everything else is refused
with InvalidParams (never another exception)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc import params as p
from node.rpc.errors import InvalidParams

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
DECODERS = [
    p.quantity,
    p.uint64,
    p.data,
    p.address,
    p.hash32,
    p.storage_slot,
    p.boolean,
    p.block_id,
    p.block_number_or_tag,
    p.tx_request,
    p.state_overrides,
    p.log_filter,
    p.integer_or_quantity,
    p.access_list,
]


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_quantity_round_trips_canonical_hex(number: int) -> None:
    assert p.quantity(hex(number)) == number


@given(st.binary(max_size=64))
def test_data_round_trips_hex(raw: bytes) -> None:
    assert p.data("0x" + raw.hex()) == raw


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DECODERS), JSON)
def test_any_json_value_decodes_or_raises_invalid_params(decode, value) -> None:  # type: ignore[no-untyped-def]
    try:
        decode(value, "x")
    except InvalidParams as exc:
        assert exc.code == -32602 and exc.message
    # any other exception fails the test


@pytest.mark.parametrize("text", ["0x01", "0x", "1", "0xg", "-0x1", "0x" + "1" * 65, " 0x1"])
def test_bad_quantities_are_refused(text: str) -> None:
    with pytest.raises(InvalidParams):
        p.quantity(text)


def test_block_ids_cover_tags_numbers_and_objects() -> None:
    assert p.block_id("safe") == p.BlockId(tag="safe")
    assert p.block_id("0x10") == p.BlockId(number=16)
    assert p.block_id({"blockNumber": "0x2"}) == p.BlockId(number=2)
    block_hash = "0x" + "ab" * 32
    decoded = p.block_id({"blockHash": block_hash, "requireCanonical": True})
    assert decoded.hash == bytes.fromhex("ab" * 32) and decoded.require_canonical
    with pytest.raises(InvalidParams, match="beyond any possible block"):
        p.block_id("0x8000000000000000")
    with pytest.raises(InvalidParams, match="number or tag"):
        p.block_number_or_tag({"blockNumber": "0x1"})


def test_topics_accept_null_single_and_alternatives() -> None:
    topic = "0x" + "11" * 32
    decoded = p.log_filter({"topics": [None, topic, [topic, topic], []]})
    assert decoded.topics == [
        None,
        [bytes.fromhex("11" * 32)],
        [bytes.fromhex("11" * 32)] * 2,
        None,
    ]
    with pytest.raises(InvalidParams, match="more than 4"):
        p.log_filter({"topics": [None] * 5})


def test_call_object_input_and_data_must_agree() -> None:
    assert p.tx_request({"input": "0x12", "data": "0x12"}).data == b"\x12"
    with pytest.raises(InvalidParams, match="differ"):
        p.tx_request({"input": "0x12", "data": "0x13"})
