"""Proof of authority: the block seal and signer voting of EIP-225 (Clique).

A block is sealed by one authorised signer. The seal lives in the header's
``extra_data``::

    32 bytes vanity | signer addresses (checkpoint blocks only) | 65 bytes signature

The signature is ``r || s || v`` (``v`` in {0, 1}) over :func:`seal_hash`, the
keccak of the header's RLP with the last 65 bytes of ``extra_data`` cut off.

Signers vote other addresses in or out: a block's ``coinbase`` names the target
and its ``nonce`` says which way (:data:`NONCE_AUTH` / :data:`NONCE_DROP`). A
target changes status once more than half of the signers agree. Every ``epoch``
blocks a checkpoint block drops all pending votes and lists the signers in its
``extra_data``. A signer may seal at most one of any ``floor(N/2) + 1``
consecutive blocks (N signers). The in-turn signer of block ``n`` is
``signers[n % N]``; it seals with difficulty 2, anyone else with difficulty 1.

:class:`Snapshot` is the voting state after some block, following geth's
``Snapshot.apply`` rule for rule; :class:`SnapshotCache` computes it for any
header by walking back to genesis (or to a persisted snapshot);
:func:`verify_header` is the header check, a flat list of the EIP's rules.

Recovered signers are cached by header hash, so each seal is checked once with
eth-keys (coincurve backend) however often a header is looked at.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, TypeVar

import coincurve
import rlp
from eth.abc import BlockHeaderAPI
from eth.constants import EMPTY_UNCLE_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.exceptions import HeaderNotFound
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.datatypes import PrivateKey
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from eth_typing import Hash32
from eth_utils import to_checksum_address
from rlp.sedes import Binary, CountableList, big_endian_int, boolean

from chain.errors import (
    ConfigError,
    DataDirError,
    InvalidBlock,
    InvalidSeal,
    RecentlySigned,
    UnauthorizedSigner,
    UnknownAncestor,
)

# --- constants -----------------------------------------------------------------------

EXTRA_VANITY = 32  # bytes of free-form vanity at the start of extra_data
EXTRA_SEAL = 65  # bytes of signature (r || s || v) at the end of extra_data
ADDRESS_LENGTH = 20  # bytes per signer address in a checkpoint's signer list
NONCE_AUTH = b"\xff" * 8  # nonce of a vote to add the coinbase as a signer
NONCE_DROP = b"\x00" * 8  # nonce of a vote to remove the coinbase (or of no vote)
DIFF_IN_TURN = 2  # difficulty of a block sealed by the in-turn signer
DIFF_NO_TURN = 1  # difficulty of a block sealed by any other signer
CHECKPOINT_INTERVAL = 1024  # blocks between snapshots persisted to the store
SIGNATURE_CACHE_SIZE = 4096  # recovered signers kept in memory (headers), as geth
SIGNING_KEY_CACHE_SIZE = 16  # signer key objects kept (a node seals with one)
SNAPSHOT_CACHE_SIZE = 128  # snapshots kept in memory per SnapshotCache, as geth
SNAPSHOT_FORMAT = 1  # version of Snapshot.to_bytes's encoding


# --- small helpers -------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """A thread-safe least-recently-used map of bounded size."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _hex(address: bytes) -> str:
    return to_checksum_address(address) if len(address) == ADDRESS_LENGTH else "0x" + address.hex()


def _check_address(address: bytes, what: str) -> bytes:
    if not isinstance(address, bytes | bytearray) or len(address) != ADDRESS_LENGTH:
        raise ConfigError(f"{what}: expected a 20-byte address, got {address!r}")
    return bytes(address)


# --- the seal ------------------------------------------------------------------------

_signer_cache: _LRU[bytes, bytes] = _LRU(SIGNATURE_CACHE_SIZE)


def seal_hash(header: BlockHeaderAPI) -> bytes:
    """The 32-byte hash a signer signs: keccak of the header's RLP with ``extra_data``
    less its last 65 bytes; every other field (base fee and later ones) included."""
    if len(header.extra_data) < EXTRA_SEAL:
        raise InvalidSeal(
            f"extra-data is {len(header.extra_data)} bytes, too short to hold a {EXTRA_SEAL}-byte seal"
        )
    unsealed = header.copy(extra_data=header.extra_data[:-EXTRA_SEAL])
    return keccak(rlp.encode(unsealed))


@dataclass(frozen=True)
class _SigningKey:
    """A sealing key's objects, derived once (deriving a public key costs more than the
    signature a node makes with it every block)."""

    key: PrivateKey  # eth-keys' object: validates the secret
    native: coincurve.PrivateKey  # signs directly; eth-keys would rebuild it per signature
    address: bytes  # 20-byte signer address


@functools.lru_cache(maxsize=SIGNING_KEY_CACHE_SIZE)
def _signing_key(secret: bytes) -> _SigningKey:
    key = keys.PrivateKey(secret)
    return _SigningKey(key, coincurve.PrivateKey(secret), key.public_key.to_canonical_address())


def sign_header(header: BlockHeaderAPI, private_key: bytes) -> BlockHeaderAPI:
    """Return a copy of ``header`` sealed by ``private_key`` (32 bytes): the 65-byte
    signature ``r || s || v`` (v in {0, 1}) replaces the last 65 bytes of extra_data."""
    if not isinstance(private_key, bytes | bytearray) or len(private_key) != 32:
        raise ConfigError("signer private key: must be 32 bytes")
    if len(header.extra_data) < EXTRA_VANITY + EXTRA_SEAL:
        raise InvalidSeal(
            f"extra-data is {len(header.extra_data)} bytes; a sealed header needs at least "
            f"{EXTRA_VANITY + EXTRA_SEAL} (vanity + seal), see make_extra_data"
        )
    try:
        signing = _signing_key(bytes(private_key))
    except KeyValidationError as error:
        raise ConfigError(f"signer private key: {error}") from error
    # the same 65 bytes as eth-keys' sign_msg_hash(...).to_bytes(): RFC 6979 r || s || v
    signature = signing.native.sign_recoverable(seal_hash(header), hasher=None)
    sealed = header.copy(extra_data=header.extra_data[:-EXTRA_SEAL] + signature)
    # the signer is known here; recording it spares the snapshot an ecrecover
    _signer_cache.put(sealed.hash, signing.address)
    return sealed


def recover_signer(header: BlockHeaderAPI) -> bytes:
    """The 20-byte address that sealed ``header``; raises InvalidSeal if extra_data has
    no seal or the signature does not recover. Results are cached by header hash."""
    cached = _signer_cache.get(header.hash)
    if cached is not None:
        return cached
    if len(header.extra_data) < EXTRA_SEAL:
        raise InvalidSeal(
            f"extra-data is {len(header.extra_data)} bytes, too short to hold a {EXTRA_SEAL}-byte seal"
        )
    signature_bytes = header.extra_data[-EXTRA_SEAL:]
    try:
        signature = keys.Signature(signature_bytes=signature_bytes)
        public_key = signature.recover_public_key_from_msg_hash(seal_hash(header))
    except (BadSignature, KeyValidationError, ValueError) as error:
        raise InvalidSeal(f"block seal does not recover to a signer: {error}") from error
    signer = public_key.to_canonical_address()
    _signer_cache.put(header.hash, signer)
    return signer


def make_extra_data(vanity: bytes = b"", signers: Sequence[bytes] = ()) -> bytes:
    """extra_data for a header to be sealed: ``vanity`` right-padded with zeros to 32
    bytes, then ``signers`` sorted ascending (checkpoints and genesis only), then 65
    zero bytes that sign_header overwrites."""
    if len(vanity) > EXTRA_VANITY:
        raise ConfigError(f"extra-data vanity: {len(vanity)} bytes, at most {EXTRA_VANITY}")
    addresses = [_check_address(s, "signer") for s in signers]
    if len(set(addresses)) != len(addresses):
        raise ConfigError("signer list: names an address twice")
    return bytes(vanity).ljust(EXTRA_VANITY, b"\x00") + b"".join(sorted(addresses)) + b"\x00" * EXTRA_SEAL


def signers_in_extra(extra_data: bytes) -> tuple[bytes, ...]:
    """The signer addresses between vanity and seal, in the order written; raises
    InvalidBlock if that span is not a whole number of addresses."""
    if len(extra_data) < EXTRA_VANITY + EXTRA_SEAL:
        raise InvalidBlock(
            f"extra-data is {len(extra_data)} bytes, shorter than vanity + seal "
            f"({EXTRA_VANITY + EXTRA_SEAL})",
            check="missing_signature",
        )
    span = extra_data[EXTRA_VANITY:-EXTRA_SEAL]
    if len(span) % ADDRESS_LENGTH != 0:
        raise InvalidBlock(
            f"checkpoint signer list is {len(span)} bytes, not a multiple of {ADDRESS_LENGTH}",
            check="invalid_checkpoint_signers",
        )
    return tuple(span[i : i + ADDRESS_LENGTH] for i in range(0, len(span), ADDRESS_LENGTH))


def vote_fields(target: bytes | None, authorize: bool) -> tuple[bytes, bytes]:
    """(coinbase, nonce) for a header that votes ``target`` in (``authorize``) or out;
    ``target`` None casts no vote."""
    if target is None:
        return ZERO_ADDRESS, NONCE_DROP
    return _check_address(target, "vote target"), NONCE_AUTH if authorize else NONCE_DROP


# --- the voting state ----------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """One signer's pending vote, as recorded in a snapshot."""

    signer: bytes
    """20-byte address of the signer who cast the vote (recovered from the seal)."""
    block: int
    """Number of the block that carried the vote."""
    address: bytes
    """20-byte address voted on (the block's coinbase)."""
    authorize: bool
    """True to add ``address`` as a signer (nonce NONCE_AUTH), False to drop it."""


@dataclass(frozen=True)
class Tally:
    """The running count of pending votes on one address."""

    authorize: bool
    """Direction of every vote counted here (votes the other way are not counted)."""
    votes: int
    """Number of distinct signers currently voting this way."""


@dataclass(frozen=True)
class Snapshot:
    """The signer set and pending votes after block ``number``.

    Built by :meth:`genesis` from the genesis header and advanced by :meth:`apply`.
    The mappings are read-only views: apply returns a new snapshot.
    """

    epoch: int
    """Blocks between checkpoints (chain config ``epoch``), which reset pending votes."""
    number: int
    """Number of the block this snapshot is taken after."""
    hash: bytes
    """32-byte hash of that block."""
    signers: tuple[bytes, ...]
    """Authorised signers, 20-byte addresses sorted ascending (the in-turn order)."""
    recents: Mapping[int, bytes] = field(default_factory=dict)
    """Block number -> signer for the blocks still inside the recently-signed window."""
    votes: tuple[Vote, ...] = ()
    """Pending votes since the last checkpoint, in the order they were cast."""
    tally: Mapping[bytes, Tally] = field(default_factory=dict)
    """Address -> count of the pending votes on it."""

    def __post_init__(self) -> None:
        # Snapshots are shared through caches: make the mappings read-only views.
        object.__setattr__(self, "recents", MappingProxyType(dict(self.recents)))
        object.__setattr__(self, "tally", MappingProxyType(dict(self.tally)))

    @classmethod
    def genesis(cls, header: BlockHeaderAPI, epoch: int) -> Snapshot:
        """The snapshot after the genesis block: signers read from its extra_data."""
        if epoch < 1:
            raise ConfigError(f"epoch: must be a block count >= 1, got {epoch}")
        if len(header.extra_data) < EXTRA_VANITY:
            raise InvalidBlock(
                "genesis extra-data is shorter than the 32-byte vanity", check="missing_vanity"
            )
        signers = signers_in_extra(header.extra_data)
        if len(set(signers)) != len(signers):
            raise InvalidBlock(
                "genesis signer list names an address twice", check="invalid_checkpoint_signers"
            )
        return cls(
            epoch=epoch,
            number=header.block_number,
            hash=header.hash,
            signers=tuple(sorted(signers)),
        )

    @property
    def signer_limit(self) -> int:
        """A signer may seal one block in any run of this many: floor(N/2) + 1."""
        return len(self.signers) // 2 + 1

    def in_turn(self, number: int, signer: bytes) -> bool:
        """True if ``signer`` is the in-turn signer of block ``number``."""
        return bool(self.signers) and self.signers[number % len(self.signers)] == signer

    def recently_signed(self, number: int, signer: bytes) -> bool:
        """True if ``signer`` sealed one of the floor(N/2) blocks before block ``number``
        (``number`` is the block after this snapshot)."""
        return any(who == signer and seen > number - self.signer_limit for seen, who in self.recents.items())

    def apply(self, headers: Sequence[BlockHeaderAPI]) -> Snapshot:
        """The snapshot after ``headers``, the blocks following this one in order.

        Follows geth's ``Snapshot.apply``; raises UnauthorizedSigner or RecentlySigned
        for a bad sealer and InvalidBlock for a bad vote or a broken chain.
        """
        if not headers:
            return self
        expected_number, expected_parent = self.number + 1, self.hash
        for header in headers:
            if header.block_number != expected_number or header.parent_hash != expected_parent:
                raise InvalidBlock(
                    f"block {header.block_number} does not follow block {expected_number - 1} "
                    f"({expected_parent.hex()}) of the snapshot",
                    check="invalid_voting_chain",
                )
            expected_number, expected_parent = expected_number + 1, header.hash

        signers = set(self.signers)
        recents = dict(self.recents)
        votes = list(self.votes)
        tally = dict(self.tally)

        def cast(address: bytes, authorize: bool) -> bool:
            # A vote counts only if it would change the address's status.
            if (address in signers) == authorize:
                return False
            old = tally.get(address)
            if old is not None and old.authorize != authorize:
                return False
            tally[address] = Tally(authorize, 1 if old is None else old.votes + 1)
            return True

        def uncast(address: bytes, authorize: bool) -> None:
            old = tally.get(address)
            if old is None or old.authorize != authorize:
                return
            if old.votes > 1:
                tally[address] = Tally(authorize, old.votes - 1)
            else:
                del tally[address]

        for header in headers:
            number = header.block_number
            if number % self.epoch == 0:
                votes, tally = [], {}
            limit = len(signers) // 2 + 1
            if number >= limit:
                recents.pop(number - limit, None)

            signer = recover_signer(header)
            if signer not in signers:
                raise UnauthorizedSigner(_hex(signer))
            if signer in recents.values():
                raise RecentlySigned(_hex(signer))
            recents[number] = signer

            coinbase = header.coinbase
            for i, vote in enumerate(votes):
                if vote.signer == signer and vote.address == coinbase:
                    uncast(vote.address, vote.authorize)
                    del votes[i]
                    break

            if header.nonce == NONCE_AUTH:
                authorize = True
            elif header.nonce == NONCE_DROP:
                authorize = False
            else:
                raise InvalidBlock(
                    f"block {number}: nonce {header.nonce.hex()} is neither an add nor a drop vote",
                    check="invalid_vote",
                )
            if cast(coinbase, authorize):
                votes.append(Vote(signer, number, coinbase, authorize))

            current = tally.get(coinbase)
            if current is not None and current.votes > len(signers) // 2:
                if current.authorize:
                    signers.add(coinbase)
                else:
                    signers.discard(coinbase)
                    limit = len(signers) // 2 + 1
                    if number >= limit:
                        recents.pop(number - limit, None)
                    for vote in [v for v in votes if v.signer == coinbase]:
                        uncast(vote.address, vote.authorize)
                    votes = [v for v in votes if v.signer != coinbase]
                votes = [v for v in votes if v.address != coinbase]
                tally.pop(coinbase, None)

        return Snapshot(
            epoch=self.epoch,
            number=headers[-1].block_number,
            hash=headers[-1].hash,
            signers=tuple(sorted(signers)),
            recents=recents,
            votes=tuple(votes),
            tally=tally,
        )

    # --- persistence -----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """RLP encoding for the store: [format, epoch, number, hash, signers, recents,
        votes, tally], with recents and tally sorted so equal snapshots encode equally."""
        return rlp.encode(
            [
                SNAPSHOT_FORMAT,
                self.epoch,
                self.number,
                self.hash,
                list(self.signers),
                [[n, s] for n, s in sorted(self.recents.items())],
                [[v.signer, v.block, v.address, v.authorize] for v in self.votes],
                [[a, t.authorize, t.votes] for a, t in sorted(self.tally.items())],
            ],
            sedes=_SNAPSHOT_SEDES,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot:
        """Decode :meth:`to_bytes`; raises DataDirError if the bytes are not a snapshot."""
        try:
            fmt, epoch, number, hash_, signers, recents, votes, tally = rlp.decode(
                data, sedes=_SNAPSHOT_SEDES
            )
        except (rlp.DecodingError, rlp.DeserializationError, ValueError, TypeError) as error:
            raise DataDirError(f"stored consensus snapshot is damaged: {error}") from error
        if fmt != SNAPSHOT_FORMAT:
            raise DataDirError(
                f"stored consensus snapshot has format {fmt}; this version reads {SNAPSHOT_FORMAT}"
            )
        return cls(
            epoch=epoch,
            number=number,
            hash=hash_,
            signers=tuple(signers),
            recents={n: s for n, s in recents},
            votes=tuple(Vote(s, b, a, auth) for s, b, a, auth in votes),
            tally={a: Tally(auth, n) for a, auth, n in tally},
        )


_ADDRESS = Binary.fixed_length(ADDRESS_LENGTH)
_SNAPSHOT_SEDES = rlp.sedes.List(
    [
        big_endian_int,
        big_endian_int,
        big_endian_int,
        Binary.fixed_length(32),
        CountableList(_ADDRESS),
        CountableList(rlp.sedes.List([big_endian_int, _ADDRESS])),
        CountableList(rlp.sedes.List([_ADDRESS, big_endian_int, _ADDRESS, boolean])),
        CountableList(rlp.sedes.List([_ADDRESS, boolean, big_endian_int])),
    ]
)


# --- snapshots for any header --------------------------------------------------------


class SnapshotCache:
    """Computes the snapshot after any header of one chain.

    ``get_header(hash)`` returns a stored header, and None or raises py-evm's
    HeaderNotFound (or KeyError) for an unknown hash, so both a dict's ``get`` and
    ``ChainDB.get_block_header_by_hash`` fit. ``load(hash)`` / ``save(hash,
    bytes)`` read and write persisted snapshots (every CHECKPOINT_INTERVAL blocks); both
    optional. Only genesis signers are taken from a header: a later checkpoint's signer
    list is never used to restart the computation, because that would forget the recent
    signers (geth issue 17593).
    """

    def __init__(
        self,
        epoch: int,
        get_header: Callable[[Hash32], BlockHeaderAPI | None],
        load: Callable[[bytes], bytes | None] | None = None,
        save: Callable[[bytes, bytes], None] | None = None,
    ) -> None:
        if epoch < 1:
            raise ConfigError(f"epoch: must be a block count >= 1, got {epoch}")
        self.epoch = epoch
        self._get_header = get_header
        self._load = load
        self._save = save
        self._recent: _LRU[bytes, Snapshot] = _LRU(SNAPSHOT_CACHE_SIZE)

    def _persisted(self, header: BlockHeaderAPI) -> Snapshot | None:
        if self._load is None or header.block_number % CHECKPOINT_INTERVAL != 0:
            return None
        data = self._load(header.hash)
        if data is None:
            return None
        snapshot = Snapshot.from_bytes(data)
        if snapshot.hash != header.hash or snapshot.epoch != self.epoch:
            raise DataDirError(
                f"stored consensus snapshot for block {header.block_number} belongs to another "
                f"chain or epoch (epoch {snapshot.epoch}, configured {self.epoch})"
            )
        return snapshot

    def _remember(self, snapshot: Snapshot, computed: bool) -> None:
        self._recent.put(snapshot.hash, snapshot)
        if computed and self._save is not None and snapshot.number % CHECKPOINT_INTERVAL == 0:
            self._save(snapshot.hash, snapshot.to_bytes())

    def snapshot(self, header: BlockHeaderAPI) -> Snapshot:
        """The snapshot after applying ``header`` (genesis included)."""
        pending: list[BlockHeaderAPI] = []
        cursor = header
        while True:
            base = self._recent.get(cursor.hash)
            if base is not None:
                break
            base = self._persisted(cursor)
            if base is not None:
                self._remember(base, computed=False)
                break
            if cursor.block_number == 0:
                base = Snapshot.genesis(cursor, self.epoch)
                self._remember(base, computed=True)
                break
            pending.append(cursor)
            try:
                parent = self._get_header(cursor.parent_hash)
            except (HeaderNotFound, KeyError):
                parent = None
            if parent is None:
                raise UnknownAncestor(
                    f"block {cursor.block_number - 1} ({cursor.parent_hash.hex()}), parent of "
                    f"block {cursor.block_number}, is not in the chain"
                )
            cursor = parent
        pending.reverse()
        # Apply in runs ending on persistence boundaries so a long walk leaves
        # snapshots behind and the next cold start is short.
        start = 0
        while start < len(pending):
            end = start + 1
            while end < len(pending) and pending[end - 1].block_number % CHECKPOINT_INTERVAL:
                end += 1
            base = base.apply(pending[start:end])
            self._remember(base, computed=True)
            start = end
        return base


# --- header verification -------------------------------------------------------------


def verify_header(
    header: BlockHeaderAPI,
    parent: BlockHeaderAPI,
    snapshot_of_parent: Snapshot,
    period: int,
    epoch: int,
    *,
    check_turn: bool = True,
    now: int | None = None,
) -> None:
    """Check ``header`` against EIP-225's rules, one raise per rule in the EIP's order.

    ``snapshot_of_parent`` is the snapshot after ``parent``; ``period`` is the minimum
    number of seconds between blocks. ``check_turn=False`` skips the in-turn difficulty
    rule (geth's test harness does this with ``fakeDiff``). With ``now`` (unix seconds)
    a header from the future is refused.
    """
    number = header.block_number
    checkpoint = number % epoch == 0
    extra = header.extra_data
    signer_bytes = len(extra) - EXTRA_VANITY - EXTRA_SEAL

    if number != parent.block_number + 1 or header.parent_hash != parent.hash:
        raise UnknownAncestor(f"block {number} is not a child of block {parent.block_number}")
    if snapshot_of_parent.hash != parent.hash:
        raise InvalidBlock(
            f"snapshot is of block {snapshot_of_parent.number}, not the parent of block {number}",
            check="snapshot",
        )
    if now is not None and header.timestamp > now:
        raise InvalidBlock(
            f"block {number} has timestamp {header.timestamp}, in the future", check="future_block"
        )
    if len(extra) < EXTRA_VANITY:
        raise InvalidBlock(
            f"extra-data is {len(extra)} bytes, shorter than the {EXTRA_VANITY}-byte vanity",
            check="missing_vanity",
        )
    if len(extra) < EXTRA_VANITY + EXTRA_SEAL:
        raise InvalidBlock(
            f"extra-data is {len(extra)} bytes, too short for vanity and a {EXTRA_SEAL}-byte seal",
            check="missing_signature",
        )
    if not checkpoint and signer_bytes != 0:
        raise InvalidBlock(
            f"block {number} is not a checkpoint but lists signers in extra-data",
            check="extra_signers",
        )
    if checkpoint and signer_bytes % ADDRESS_LENGTH != 0:
        raise InvalidBlock(
            f"checkpoint signer list is {signer_bytes} bytes, not a multiple of {ADDRESS_LENGTH}",
            check="invalid_checkpoint_signers",
        )
    if checkpoint and extra[EXTRA_VANITY:-EXTRA_SEAL] != b"".join(snapshot_of_parent.signers):
        raise InvalidBlock(
            f"checkpoint block {number} lists signers other than the current set",
            check="mismatching_checkpoint_signers",
        )
    if checkpoint and header.coinbase != ZERO_ADDRESS:
        raise InvalidBlock(
            f"checkpoint block {number} has a non-zero coinbase (votes are not allowed on checkpoints)",
            check="invalid_checkpoint_beneficiary",
        )
    if checkpoint and header.nonce != NONCE_DROP:
        raise InvalidBlock(
            f"checkpoint block {number} has a non-zero nonce (votes are not allowed on checkpoints)",
            check="invalid_checkpoint_vote",
        )
    if header.nonce not in (NONCE_AUTH, NONCE_DROP):
        raise InvalidBlock(
            f"nonce {header.nonce.hex()} is neither an add (ff..ff) nor a drop (00..00) vote",
            check="invalid_vote",
        )
    if header.mix_hash != ZERO_HASH32:
        raise InvalidBlock("mix hash is not zero", check="invalid_mix_digest")
    if header.uncles_hash != EMPTY_UNCLE_HASH:
        raise InvalidBlock(
            "uncles hash is not the empty-list hash (blocks have no uncles)",
            check="invalid_uncle_hash",
        )
    if header.difficulty not in (DIFF_NO_TURN, DIFF_IN_TURN):
        raise InvalidBlock(
            f"difficulty {header.difficulty} is neither {DIFF_NO_TURN} nor {DIFF_IN_TURN}",
            check="invalid_difficulty",
        )
    if header.timestamp < parent.timestamp + period:
        raise InvalidBlock(
            f"block {number} timestamp {header.timestamp} is earlier than "
            f"parent's {parent.timestamp} + period {period}",
            check="invalid_timestamp",
        )
    signer = recover_signer(header)
    if signer not in snapshot_of_parent.signers:
        raise UnauthorizedSigner(_hex(signer))
    if snapshot_of_parent.recently_signed(number, signer):
        raise RecentlySigned(_hex(signer))
    if check_turn and header.difficulty != next_difficulty(snapshot_of_parent, number, signer):
        expected = next_difficulty(snapshot_of_parent, number, signer)
        raise InvalidBlock(
            f"block {number} has difficulty {header.difficulty}; its signer "
            f"{_hex(signer)} must use {expected} "
            f"({'in' if expected == DIFF_IN_TURN else 'out of'} turn)",
            check="wrong_difficulty",
        )


def next_difficulty(snapshot: Snapshot, number: int, signer: bytes) -> int:
    """The difficulty ``signer`` must put in block ``number`` (after ``snapshot``)."""
    return DIFF_IN_TURN if snapshot.in_turn(number, signer) else DIFF_NO_TURN


# --- making a block: the sealing fields (geth's clique.Prepare and clique.Seal) -------------


def prepare(
    snapshot: Snapshot,
    number: int,
    signer: bytes | None,
    epoch: int,
    vanity: bytes,
    proposals: Mapping[bytes, bool],
) -> dict[str, object]:
    """The header fields Clique owns for block ``number`` sealed by ``signer`` on top of
    ``snapshot`` (the voting state after its parent), as geth's ``clique.Prepare``.

    ``signer`` must be an authorised signer that has not sealed one of the last
    floor(N/2) blocks (``UnauthorizedSigner``, ``RecentlySigned``; None: the node has no
    key). Off checkpoints, ``coinbase``/``nonce`` carry the first of ``proposals``
    (address -> authorize) that would still change the signer set; at checkpoints no
    vote and ``extra_data`` lists the signers. ``difficulty`` is in turn or out of turn;
    ``extra_data`` ends in room for the seal (filled by :func:`seal`); ``mix_hash`` is 0.
    """
    if signer is None:
        raise UnauthorizedSigner("(none: this node has no authority key)")
    if signer not in snapshot.signers:
        raise UnauthorizedSigner(_hex(signer))
    if snapshot.recently_signed(number, signer):
        raise RecentlySigned(_hex(signer))
    checkpoint = number % epoch == 0
    coinbase: bytes = ZERO_ADDRESS
    nonce = NONCE_DROP
    if not checkpoint:
        for address, authorize in proposals.items():
            if authorize != (address in snapshot.signers):
                coinbase, nonce = vote_fields(address, authorize)
                break
    return {
        "coinbase": coinbase,
        "nonce": nonce,
        "extra_data": make_extra_data(vanity, snapshot.signers if checkpoint else ()),
        "difficulty": next_difficulty(snapshot, number, signer),
        "mix_hash": ZERO_HASH32,
    }


def seal(header: BlockHeaderAPI, private_key: bytes) -> BlockHeaderAPI:
    """The prepared and executed ``header`` with its seal, as geth's ``clique.Seal``:
    the signature of :func:`seal_hash` by ``private_key`` in the last 65 bytes of
    ``extra_data`` (see :func:`sign_header`)."""
    return sign_header(header, private_key)


def signers_as_hex(addresses: Iterable[bytes]) -> list[str]:
    """Checksummed hex of each address, for messages and RPC results."""
    return [_hex(a) for a in addresses]
