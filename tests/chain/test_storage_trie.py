"""Writes applied in one pass (chain.storage_trie) give the trie py-evm's trie library
builds one write at a time: the same root, every key readable from the stored nodes."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from chain.storage_trie import Unbatchable, apply_writes

SLOTS = st.integers(0, 400)  # few enough that batches overwrite and delete existing keys
VALUES = st.one_of(st.none(), st.binary(min_size=1, max_size=40))  # None: delete
BATCH = st.dictionaries(SLOTS, VALUES, max_size=60)


def _key(slot: int) -> bytes:
    return keccak(slot.to_bytes(32, "big"))  # a storage trie's key: the hashed slot


def _one_by_one(db: dict[bytes, bytes], root: bytes, writes: dict[bytes, bytes | None]) -> bytes:
    trie = HexaryTrie(db, root_hash=root, prune=False)
    for key, value in writes.items():
        if value is None:
            del trie[key]
        else:
            trie[key] = value
    return trie.root_hash


@settings(max_examples=100, deadline=None)
@given(batches=st.lists(BATCH, min_size=1, max_size=4))
def test_batched_writes_give_the_root_and_values_of_writes_one_by_one(batches: list[dict]) -> None:
    plain_db: dict[bytes, bytes] = {}
    batched_db: dict[bytes, bytes] = {}
    plain_root = batched_root = HexaryTrie.BLANK_NODE_HASH
    expected: dict[bytes, bytes] = {}
    for batch in batches:
        writes = {_key(slot): value for slot, value in batch.items()}
        plain_root = _one_by_one(plain_db, plain_root, writes)
        trie = HexaryTrie(batched_db, root_hash=batched_root)
        apply_writes(trie, writes)
        batched_root = trie.root_hash
        assert batched_root == plain_root
        for key, value in writes.items():
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
        reader = HexaryTrie(batched_db, root_hash=batched_root)  # only the stored nodes
        for slot in range(401):
            assert reader.get(_key(slot)) == expected.get(_key(slot), b"")


def test_deleting_every_key_leaves_the_blank_root() -> None:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    apply_writes(trie, {_key(slot): b"\x01" for slot in range(50)})
    apply_writes(trie, {_key(slot): None for slot in range(50)})
    assert trie.root_hash == HexaryTrie.BLANK_NODE_HASH


def test_keys_of_different_lengths_are_refused_before_the_root_moves() -> None:
    trie = HexaryTrie({})
    apply_writes(trie, {_key(1): b"\x01"})
    root = trie.root_hash
    with pytest.raises(Unbatchable):
        apply_writes(trie, {b"\x01": b"\x02", _key(2): b"\x03"})
    assert trie.root_hash == root


# Short keys from few bytes: long shared prefixes (extensions split and merged) and
# nodes short enough to be held inline by their parents.
ALPHABET = [0x00, 0x01, 0x10, 0x11, 0xF0]
SHORT_KEYS = st.lists(st.sampled_from(ALPHABET), min_size=3, max_size=3).map(bytes)
SHORT_BATCH = st.dictionaries(
    SHORT_KEYS, st.one_of(st.none(), st.binary(min_size=1, max_size=3)), max_size=20
)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(SHORT_BATCH, min_size=1, max_size=5))
def test_batched_writes_agree_on_extensions_and_inline_nodes(batches: list[dict]) -> None:
    plain_db: dict[bytes, bytes] = {}
    batched_db: dict[bytes, bytes] = {}
    plain_root = batched_root = HexaryTrie.BLANK_NODE_HASH
    for batch in batches:
        plain_root = _one_by_one(plain_db, plain_root, batch)
        trie = HexaryTrie(batched_db, root_hash=batched_root)
        apply_writes(trie, batch)
        batched_root = trie.root_hash
        assert batched_root == plain_root
        reader, expected = HexaryTrie(batched_db, root_hash=batched_root), HexaryTrie(plain_db, plain_root)
        for key in {bytes([a, b, c]) for a in ALPHABET for b in ALPHABET for c in ALPHABET}:
            assert reader.get(key) == expected.get(key)


@given(data=st.binary(max_size=40), cut=st.integers(0, 1), leaf=st.booleans())
def test_nibbles_and_hex_prefix_match_the_trie_library(data: bytes, cut: int, leaf: bool) -> None:
    from trie.utils.nibbles import bytes_to_nibbles, encode_nibbles
    from trie.utils.nodes import compute_extension_key, compute_leaf_key

    from chain.storage_trie import hex_prefix, to_nibbles

    assert to_nibbles(data) == bytes_to_nibbles(data)
    path = bytes_to_nibbles(data)[cut:]  # odd and even lengths
    want = compute_leaf_key(path) if leaf else compute_extension_key(path)
    assert hex_prefix(path, leaf) == want == encode_nibbles((*path, 16) if leaf else path)
