"""A block's writes to one contract's storage trie applied in one pass.

py-evm writes a contract's storage into its trie one slot at a time when the state root
is made (``StorageLookup.__setitem__``, a ``HexaryTrie.set`` each): every write decodes
the nodes on its path from the root, re-encodes and re-hashes them, and prunes the ones
it replaced. A model update writes about a hundred slots of one trie, so the nodes near
the root are rebuilt about a hundred times each, to keep only the last.

:func:`apply_writes` takes all the writes at once (sorted by their trie key) and walks
the trie once: each node on a written path is decoded once, rebuilt once from its
children's new references and stored once. The result is the same trie (the same root,
the same nodes reachable from it) as the writes applied one by one, because a hexary
trie's shape is a function of its keys and values alone. Nodes it replaced stay in the
database as py-evm's archive keeps them.

It handles the storage trie's shape: keys of one length (32-byte hashes of the slots),
so no value sits on a branch node. Anything else raises :class:`Unbatchable` before the
root is moved, and the caller writes slot by slot (``chain.vm._StorageView.flush``).
tests/chain/test_storage_trie.py compares it with ``HexaryTrie`` on random batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import groupby
from typing import Any

from eth_hash.auto import keccak
from rlp.codec import encode_raw
from trie.constants import BLANK_NODE, BLANK_NODE_HASH

Nibbles = tuple[int, ...]
Update = tuple[Nibbles, bytes | None]  # (the rest of the key, the new value or None: deleted)
BLANK, LEAF, EXTENSION, BRANCH = range(4)
HASHED_AT = 32  # bytes: an encoded node this long or longer is stored under its hash


# Nibbles through hex text, each step one C call: bytes.hex, then each hex digit
# translated to its value (and back).
_TO_NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_TO_HEX = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
_LEAF_FLAG = 2  # hex-prefix flag nibble: 2 (leaf) or 0 (extension), plus 1 for an odd length


def to_nibbles(data: bytes) -> Nibbles:
    """``data`` as its nibbles, high one first (what ``trie.utils.nibbles.bytes_to_nibbles`` gives)."""
    return tuple(data.hex().encode().translate(_TO_NIBBLES))


def hex_prefix(path: Nibbles, leaf: bool) -> bytes:
    """The hex-prefix encoding of a leaf's or extension's ``path`` (Yellow Paper, appendix C)."""
    flag = (_LEAF_FLAG if leaf else 0) + (len(path) & 1)
    nibbles = (flag, *path) if len(path) & 1 else (flag, 0, *path)
    return bytes.fromhex(bytes(nibbles).translate(_TO_HEX).decode())


def _from_hex_prefix(encoded: bytes) -> tuple[bool, Nibbles]:
    """(is a leaf, path) of a hex-prefix encoded path."""
    nibbles = to_nibbles(encoded)
    flag = nibbles[0]
    return bool(flag & _LEAF_FLAG), nibbles[1:] if flag & 1 else nibbles[2:]


class Unbatchable(Exception):
    """Raised when a trie or a batch has a shape :func:`apply_writes` does not handle
    (keys of different lengths, a value on a branch node); nothing was moved."""


def apply_writes(trie: Any, writes: Mapping[bytes, bytes | None]) -> None:
    """Apply ``writes`` (trie key -> value; None or b"" deletes) to ``trie`` (a
    ``HexaryTrie``): its new nodes go to ``trie.db`` and its root moves to theirs."""
    if not writes:
        return
    updates = sorted((to_nibbles(key), value or None) for key, value in writes.items())
    if len({len(key) for key, _value in updates}) != 1:
        raise Unbatchable("keys of different lengths")
    root = _Batch(trie).update(trie.get_node(trie.root_hash), updates)
    if root == BLANK_NODE:
        trie.root_hash = BLANK_NODE_HASH
        return
    encoded = encode_raw(root)
    root_hash = keccak(encoded)
    trie.db[root_hash] = encoded  # the root is stored under its hash even when short
    trie.root_hash = root_hash


def _kind(node: Any) -> tuple[int, Nibbles]:
    if node == BLANK_NODE:
        return BLANK, ()
    if len(node) == 17:
        return BRANCH, ()
    leaf, path = _from_hex_prefix(node[0])
    return (LEAF if leaf else EXTENSION), path


def _leaf(path: Nibbles, value: bytes) -> list[Any]:
    return [hex_prefix(path, leaf=True), value]


def _extension(path: Nibbles, child: Any) -> list[Any]:
    return [hex_prefix(path, leaf=False), child]


def _common(a: Nibbles, b: Nibbles) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class _Batch:
    def __init__(self, trie: Any) -> None:
        self.trie = trie
        self.db = trie.db

    def ref(self, node: Any) -> Any:
        """How a parent refers to ``node``: itself when short, else its stored hash."""
        if node == BLANK_NODE:
            return BLANK_NODE
        encoded = encode_raw(node)
        if len(encoded) < HASHED_AT:
            return node
        node_hash = keccak(encoded)
        self.db[node_hash] = encoded
        return node_hash

    def build(self, items: list[tuple[Nibbles, bytes]]) -> Any:
        """The subtrie holding exactly ``items`` (sorted, distinct keys of one length)."""
        if not items:
            return BLANK_NODE
        if len(items) == 1:
            return _leaf(*items[0])
        shared = _common(items[0][0], items[-1][0])
        if shared:
            return self.join(items[0][0][:shared], self.build([(k[shared:], v) for k, v in items]))
        branch: list[Any] = [BLANK_NODE] * 17
        for nibble, group in groupby(items, key=lambda item: item[0][0]):
            branch[nibble] = self.ref(self.build([(k[1:], v) for k, v in group]))
        return branch

    def join(self, prefix: Nibbles, node: Any) -> Any:
        """``node`` reached through ``prefix`` more nibbles (an extension, or merged)."""
        if not prefix:
            return node
        kind, path = _kind(node)
        if kind == BLANK:
            return BLANK_NODE
        if kind == LEAF:
            return _leaf(prefix + path, node[1])
        if kind == EXTENSION:
            return _extension(prefix + path, node[1])
        return _extension(prefix, self.ref(node))

    def update(self, node: Any, updates: list[Update]) -> Any:
        """``node`` with ``updates`` (sorted, keys relative to it) applied."""
        kind, path = _kind(node)
        if kind == BLANK:
            return self.build([(k, v) for k, v in updates if v is not None])
        if kind == LEAF:
            if len(path) != len(updates[0][0]):
                raise Unbatchable("keys of different lengths")
            items = {path: node[1]}
            for key, value in updates:
                if value is None:
                    items.pop(key, None)
                else:
                    items[key] = value
            return self.build(sorted(items.items()))
        if kind == EXTENSION:
            n = len(path)
            if all(key[:n] == path for key, _value in updates):
                child = self.trie.get_node(node[1])
                return self.join(path, self.update(child, [(k[n:], v) for k, v in updates]))
            # some keys leave the extension: it becomes a branch with one child
            branch: list[Any] = [BLANK_NODE] * 17
            below = _extension(path[1:], node[1]) if n > 1 else None
            if below is None:
                branch[path[0]] = node[1]
                return self.update_branch(branch, {}, updates)
            return self.update_branch(branch, {path[0]: below}, updates)
        if node[16] != BLANK_NODE:
            raise Unbatchable("a value on a branch node")
        return self.update_branch(list(node), {}, updates)

    def update_branch(self, branch: list[Any], unstored: dict[int, Any], updates: list[Update]) -> Any:
        """A branch (children as references, some given as nodes not yet stored in
        ``unstored``) with ``updates`` applied, normalised as the trie keeps it."""
        for nibble, group in groupby(updates, key=lambda update: update[0][0]):
            child = unstored.pop(nibble) if nibble in unstored else self.trie.get_node(branch[nibble])
            branch[nibble] = self.ref(self.update(child, [(k[1:], v) for k, v in group]))
        for nibble, child in unstored.items():
            branch[nibble] = self.ref(child)
        live = [nibble for nibble in range(16) if branch[nibble] != BLANK_NODE]
        if not live:
            return BLANK_NODE
        if len(live) == 1:
            only = live[0]
            child = self.trie.get_node(branch[only])
            if _kind(child)[0] == BRANCH:
                return _extension((only,), branch[only])
            return self.join((only,), child)
        return branch
