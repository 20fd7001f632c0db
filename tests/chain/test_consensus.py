"""Tests of chain.consensus: the proof-of-authority seal, header rules, snapshots.

geth's voting vectors live in tests/conformance/test_clique_vectors.py; this file
checks each header rule on its own, in-turn difficulty, persistence of snapshots,
and properties of random vote sequences.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import rlp
from eth.abc import BlockHeaderAPI
from eth.constants import ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth_keys import keys
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chain import consensus
from chain.consensus import (
    CHECKPOINT_INTERVAL,
    DIFF_IN_TURN,
    DIFF_NO_TURN,
    EXTRA_SEAL,
    EXTRA_VANITY,
    NONCE_AUTH,
    NONCE_DROP,
    Snapshot,
    SnapshotCache,
    Tally,
    Vote,
    make_extra_data,
    next_difficulty,
    recover_signer,
    seal_hash,
    sign_header,
    verify_header,
    vote_fields,
)
from chain.errors import (
    ConfigError,
    DataDirError,
    InvalidBlock,
    InvalidSeal,
    RecentlySigned,
    UnauthorizedSigner,
    UnknownAncestor,
)

PERIOD = 5  # seconds between blocks in these tests
EPOCH = 30_000  # blocks; no checkpoint is reached unless a test picks a small epoch
GAS_LIMIT = 30_000_000  # gas
BASE_FEE = 1_000_000_000  # wei
KEYS = [bytes([i + 1]) * 32 for i in range(7)]  # fixed private keys, key i = (i+1) repeated
KEY_OF = {keys.PrivateKey(k).public_key.to_canonical_address(): k for k in KEYS}
ADDRESSES = sorted(KEY_OF)  # sorted, so ADDRESSES[:n] is also the in-turn order


def make_genesis(signers: list[bytes], header_class: type = LondonBlockHeader) -> BlockHeaderAPI:
    return header_class(
        difficulty=1,
        block_number=0,
        gas_limit=GAS_LIMIT,
        timestamp=1_700_000_000,
        extra_data=make_extra_data(b"sumchain", signers),
        nonce=NONCE_DROP,
        base_fee_per_gas=BASE_FEE,
    )


def make_child(
    parent: BlockHeaderAPI,
    signer: bytes | None,
    *,
    sign: bool = True,
    checkpoint_signers: list[bytes] | None = None,
    **fields: object,
) -> BlockHeaderAPI:
    """A child of ``parent`` sealed by ``signer``'s key; ``fields`` override header fields
    before sealing (so the seal still verifies)."""
    values: dict[str, object] = dict(
        parent_hash=parent.hash,
        coinbase=ZERO_ADDRESS,
        nonce=NONCE_DROP,
        difficulty=DIFF_IN_TURN,
        block_number=parent.block_number + 1,
        gas_limit=GAS_LIMIT,
        timestamp=parent.timestamp + PERIOD,
        extra_data=make_extra_data(signers=checkpoint_signers or ()),
        base_fee_per_gas=BASE_FEE,
    )
    values.update(fields)
    header = type(parent)(**values)
    if sign and signer is not None:
        header = sign_header(header, KEY_OF[signer])
    return header


@pytest.fixture
def three_signers() -> tuple[BlockHeaderAPI, Snapshot]:
    genesis = make_genesis(ADDRESSES[:3])
    return genesis, Snapshot.genesis(genesis, EPOCH)


def lookup(headers: list[BlockHeaderAPI]) -> Callable[[bytes], BlockHeaderAPI | None]:
    """A chain's get_header: hash -> header, None when unknown."""
    by_hash: dict[bytes, BlockHeaderAPI] = {h.hash: h for h in headers}
    return by_hash.get


# --- the seal ------------------------------------------------------------------------


@pytest.mark.parametrize("header_class", [LondonBlockHeader, CancunBlockHeader])
def test_sealed_header_recovers_its_signer(header_class: type) -> None:
    genesis = make_genesis(ADDRESSES[:1], header_class)
    header = make_child(genesis, ADDRESSES[0])
    assert recover_signer(header) == ADDRESSES[0]
    assert header.extra_data[EXTRA_VANITY:-EXTRA_SEAL] == b""
    assert header.extra_data[-1] in (0, 1)  # v of r || s || v
    # The seal hash ignores the seal itself, so it is the same before and after signing.
    unsealed = make_child(genesis, None)
    assert seal_hash(unsealed) == seal_hash(header)
    assert len(rlp.encode(header)) > 0


def test_seal_hash_covers_base_fee() -> None:
    genesis = make_genesis(ADDRESSES[:1])
    header = make_child(genesis, ADDRESSES[0])
    tampered = header.copy(base_fee_per_gas=BASE_FEE + 1)
    assert seal_hash(tampered) != seal_hash(header)
    assert recover_signer(tampered) != ADDRESSES[0]


def test_two_signers_give_two_different_seals() -> None:
    genesis = make_genesis(ADDRESSES[:2])
    by_first = make_child(genesis, ADDRESSES[0])
    by_second = make_child(genesis, ADDRESSES[1])
    assert (recover_signer(by_first), recover_signer(by_second)) == (ADDRESSES[0], ADDRESSES[1])


@pytest.mark.parametrize(
    "signature",
    [
        b"\x00" * 65,  # r = s = 0
        b"\x01" * 64 + b"\x05",  # v outside {0, 1}
        b"\xff" * 64 + b"\x00",  # r and s above the curve order
    ],
    ids=["zero", "bad-v", "out-of-range"],
)
def test_malformed_signature_is_invalid_seal(signature: bytes) -> None:
    genesis = make_genesis(ADDRESSES[:1])
    header = make_child(genesis, None, extra_data=b"\x00" * EXTRA_VANITY + signature)
    with pytest.raises(InvalidSeal):
        recover_signer(header)


def test_extra_data_too_short_for_a_seal_is_invalid_seal() -> None:
    genesis = make_genesis(ADDRESSES[:1])
    header = make_child(genesis, None, extra_data=b"\x00" * 40)
    with pytest.raises(InvalidSeal):
        recover_signer(header)
    with pytest.raises(InvalidSeal):
        sign_header(header, KEYS[0])


def test_sign_header_refuses_a_malformed_key() -> None:
    genesis = make_genesis(ADDRESSES[:1])
    with pytest.raises(ConfigError):
        sign_header(make_child(genesis, None), b"\x01" * 31)
    with pytest.raises(ConfigError):
        sign_header(make_child(genesis, None), b"\x00" * 32)


def test_make_extra_data_pads_vanity_and_sorts_signers() -> None:
    extra = make_extra_data(b"hi", [ADDRESSES[2], ADDRESSES[0], ADDRESSES[1]])
    assert extra[:EXTRA_VANITY] == b"hi" + b"\x00" * 30
    assert extra[EXTRA_VANITY:-EXTRA_SEAL] == b"".join(sorted(ADDRESSES[:3]))
    assert extra[-EXTRA_SEAL:] == b"\x00" * EXTRA_SEAL
    with pytest.raises(ConfigError):
        make_extra_data(b"x" * 33)
    with pytest.raises(ConfigError):
        make_extra_data(signers=[ADDRESSES[0], ADDRESSES[0]])
    with pytest.raises(ConfigError):
        make_extra_data(signers=[b"\x01" * 19])


def test_vote_fields_name_target_and_direction() -> None:
    assert vote_fields(ADDRESSES[3], True) == (ADDRESSES[3], NONCE_AUTH)
    assert vote_fields(ADDRESSES[3], False) == (ADDRESSES[3], NONCE_DROP)
    assert vote_fields(None, True) == (ZERO_ADDRESS, NONCE_DROP)


# --- header rules, one error each ----------------------------------------------------

# (test id, epoch, how to build the bad child of genesis, expected error class, check)
BAD_HEADERS: list[tuple[str, int, Callable[[BlockHeaderAPI], BlockHeaderAPI], type[InvalidBlock], str]] = [
    (
        "vanity-missing",
        EPOCH,
        lambda g: make_child(g, None, extra_data=b"\x00" * 31),
        InvalidBlock,
        "missing_vanity",
    ),
    (
        "seal-missing",
        EPOCH,
        lambda g: make_child(g, None, extra_data=b"\x00" * (EXTRA_VANITY + 64)),
        InvalidBlock,
        "missing_signature",
    ),
    (
        "signers-outside-checkpoint",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], checkpoint_signers=ADDRESSES[:3]),
        InvalidBlock,
        "extra_signers",
    ),
    (
        "checkpoint-signers-not-whole-addresses",
        1,
        lambda g: make_child(g, ADDRESSES[1], extra_data=b"\x00" * (EXTRA_VANITY + 30 + EXTRA_SEAL)),
        InvalidBlock,
        "invalid_checkpoint_signers",
    ),
    (
        "checkpoint-signers-mismatch",
        1,
        lambda g: make_child(g, ADDRESSES[1], checkpoint_signers=ADDRESSES[:2]),
        InvalidBlock,
        "mismatching_checkpoint_signers",
    ),
    (
        "checkpoint-with-coinbase",
        1,
        lambda g: make_child(g, ADDRESSES[1], checkpoint_signers=ADDRESSES[:3], coinbase=ADDRESSES[4]),
        InvalidBlock,
        "invalid_checkpoint_beneficiary",
    ),
    (
        "checkpoint-with-auth-nonce",
        1,
        lambda g: make_child(g, ADDRESSES[1], checkpoint_signers=ADDRESSES[:3], nonce=NONCE_AUTH),
        InvalidBlock,
        "invalid_checkpoint_vote",
    ),
    (
        "nonce-neither-auth-nor-drop",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], nonce=b"\x00" * 7 + b"\x01"),
        InvalidBlock,
        "invalid_vote",
    ),
    (
        "mix-hash-not-zero",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], mix_hash=b"\x01" * 32),
        InvalidBlock,
        "invalid_mix_digest",
    ),
    (
        "uncles",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], uncles_hash=b"\x02" * 32),
        InvalidBlock,
        "invalid_uncle_hash",
    ),
    (
        "difficulty-3",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], difficulty=3),
        InvalidBlock,
        "invalid_difficulty",
    ),
    (
        "timestamp-before-period",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], timestamp=g.timestamp + PERIOD - 1),
        InvalidBlock,
        "invalid_timestamp",
    ),
    (
        "signer-not-authorised",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[5]),
        UnauthorizedSigner,
        "unauthorized_signer",
    ),
    (
        "parent-hash-wrong",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], parent_hash=b"\x03" * 32),
        UnknownAncestor,
        "unknown_ancestor",
    ),
    (
        "out-of-turn-with-in-turn-difficulty",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[0], difficulty=DIFF_IN_TURN),
        InvalidBlock,
        "wrong_difficulty",
    ),
    (
        "in-turn-with-out-of-turn-difficulty",
        EPOCH,
        lambda g: make_child(g, ADDRESSES[1], difficulty=DIFF_NO_TURN),
        InvalidBlock,
        "wrong_difficulty",
    ),
]


@pytest.mark.parametrize(
    "epoch, build, error, check", [row[1:] for row in BAD_HEADERS], ids=[r[0] for r in BAD_HEADERS]
)
def test_each_header_rule_raises_its_own_error(
    epoch: int, build: Callable, error: type[InvalidBlock], check: str
) -> None:
    # ADDRESSES[:3] sorted is the signer order; block 1's in-turn signer is signers[1].
    genesis = make_genesis(ADDRESSES[:3])
    snapshot = Snapshot.genesis(genesis, epoch)
    bad = build(genesis)
    with pytest.raises(error) as raised:
        verify_header(bad, genesis, snapshot, PERIOD, epoch)
    assert type(raised.value) is error
    assert raised.value.check == check
    assert str(raised.value)  # a message for the user


@pytest.mark.parametrize("epoch", [EPOCH, 1], ids=["plain", "checkpoint"])
def test_well_formed_header_passes_every_rule(epoch: int) -> None:
    genesis = make_genesis(ADDRESSES[:3])
    snapshot = Snapshot.genesis(genesis, epoch)
    listed = ADDRESSES[:3] if epoch == 1 else None
    good = make_child(genesis, ADDRESSES[1], checkpoint_signers=listed)
    verify_header(good, genesis, snapshot, PERIOD, epoch)


def test_recent_signer_is_refused_until_the_window_passes(three_signers) -> None:
    genesis, snap = three_signers  # 3 signers: at most one seal in any 2 consecutive blocks
    known: dict[bytes, BlockHeaderAPI] = {genesis.hash: genesis}
    cache = SnapshotCache(EPOCH, known.get)
    first = make_child(genesis, ADDRESSES[1])
    verify_header(first, genesis, snap, PERIOD, EPOCH)
    known[first.hash] = first
    again = make_child(first, ADDRESSES[1], difficulty=DIFF_NO_TURN)
    with pytest.raises(RecentlySigned):
        verify_header(again, first, cache.snapshot(first), PERIOD, EPOCH)
    with pytest.raises(RecentlySigned):
        cache.snapshot(first).apply([again])
    other = make_child(first, ADDRESSES[2])
    verify_header(other, first, cache.snapshot(first), PERIOD, EPOCH)
    known[other.hash] = other
    back = make_child(other, ADDRESSES[1], difficulty=DIFF_NO_TURN)  # block 3: 3 % 3 = 0
    verify_header(back, other, cache.snapshot(other), PERIOD, EPOCH)


def test_future_block_is_refused_only_when_now_is_given(three_signers) -> None:
    genesis, snap = three_signers
    header = make_child(genesis, ADDRESSES[1])
    verify_header(header, genesis, snap, PERIOD, EPOCH)
    with pytest.raises(InvalidBlock) as raised:
        verify_header(header, genesis, snap, PERIOD, EPOCH, now=header.timestamp - 1)
    assert raised.value.check == "future_block"


def test_turn_check_can_be_skipped_as_geth_harness_does(three_signers) -> None:
    genesis, snap = three_signers
    out_of_turn_claiming_in_turn = make_child(genesis, ADDRESSES[0], difficulty=DIFF_IN_TURN)
    verify_header(out_of_turn_claiming_in_turn, genesis, snap, PERIOD, EPOCH, check_turn=False)


# --- turns ---------------------------------------------------------------------------


def test_in_turn_signer_rotates_through_sorted_signers(three_signers) -> None:
    genesis, snap = three_signers
    signers = sorted(ADDRESSES[:3])
    for number in range(1, 7):
        for signer in signers:
            expected = signer == signers[number % 3]
            assert snap.in_turn(number, signer) is expected
            assert next_difficulty(snap, number, signer) == (DIFF_IN_TURN if expected else DIFF_NO_TURN)
    assert not snap.in_turn(1, ADDRESSES[5])


def test_producer_difficulty_passes_the_turn_check_for_every_signer() -> None:
    genesis = make_genesis(ADDRESSES[:3])
    snap = Snapshot.genesis(genesis, EPOCH)
    for signer in ADDRESSES[:3]:
        header = make_child(genesis, signer, difficulty=next_difficulty(snap, 1, signer))
        verify_header(header, genesis, snap, PERIOD, EPOCH)


def test_snapshot_with_no_signers_has_no_turns() -> None:
    genesis = make_genesis([])
    snap = Snapshot.genesis(genesis, EPOCH)
    assert snap.signers == () and not snap.in_turn(1, ADDRESSES[0])


# --- snapshots -----------------------------------------------------------------------


def build_chain(
    signers: list[bytes], length: int, epoch: int = EPOCH
) -> tuple[BlockHeaderAPI, list[BlockHeaderAPI]]:
    """A chain of ``length`` blocks sealed in turn (no votes), checkpoints filled in."""
    genesis = make_genesis(signers)
    ordered = sorted(signers)
    headers, parent = [], genesis
    for number in range(1, length + 1):
        listed = ordered if number % epoch == 0 else None
        parent = make_child(parent, ordered[number % len(ordered)], checkpoint_signers=listed)
        headers.append(parent)
    return genesis, headers


@functools.cache
def long_chain() -> tuple[BlockHeaderAPI, list[BlockHeaderAPI]]:
    """A 3-signer chain just past the first persisted snapshot (built once: ~1 s)."""
    return build_chain(ADDRESSES[:3], CHECKPOINT_INTERVAL + 5)


def test_snapshot_round_trips_through_bytes() -> None:
    snap = Snapshot(
        epoch=100,
        number=7,
        hash=b"\x07" * 32,
        signers=tuple(sorted(ADDRESSES[:3])),
        recents={6: ADDRESSES[0], 7: ADDRESSES[1]},
        votes=(
            Vote(ADDRESSES[0], 5, ADDRESSES[4], True),
            Vote(ADDRESSES[2], 6, ADDRESSES[1], False),
        ),
        tally={ADDRESSES[4]: Tally(True, 1), ADDRESSES[1]: Tally(False, 1)},
    )
    assert Snapshot.from_bytes(snap.to_bytes()) == snap
    assert Snapshot.from_bytes(snap.to_bytes()).to_bytes() == snap.to_bytes()


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01\x02", rlp.encode([2, 1, 1, b"\x00" * 32, [], [], [], []])],
    ids=["empty", "garbage", "future-format"],
)
def test_damaged_snapshot_bytes_raise_data_dir_error(data: bytes) -> None:
    with pytest.raises(DataDirError):
        Snapshot.from_bytes(data)


def test_persisted_snapshot_reload_matches_recomputation() -> None:
    genesis, headers = long_chain()
    by_hash = lookup([genesis, *headers])
    persisted: dict[bytes, bytes] = {}
    writer = SnapshotCache(EPOCH, by_hash, load=persisted.get, save=persisted.__setitem__)
    head = headers[-1]
    recomputed = writer.snapshot(head)
    checkpoint = headers[CHECKPOINT_INTERVAL - 1]
    assert checkpoint.hash in persisted  # a long walk leaves the interval snapshot behind

    # A restarted node that has only the checkpoint's successors reaches the same snapshot.
    recent_only = lookup(headers[CHECKPOINT_INTERVAL - 1 :])
    reader = SnapshotCache(EPOCH, recent_only, load=persisted.get)
    assert reader.snapshot(head) == recomputed
    # Without the persisted snapshot, the same node cannot get there.
    with pytest.raises(UnknownAncestor):
        SnapshotCache(EPOCH, recent_only).snapshot(head)


def test_persisted_snapshot_of_another_epoch_is_refused() -> None:
    genesis, headers = long_chain()
    by_hash = lookup([genesis, *headers])
    persisted: dict[bytes, bytes] = {}
    SnapshotCache(EPOCH, by_hash, save=persisted.__setitem__).snapshot(headers[-1])
    assert headers[CHECKPOINT_INTERVAL - 1].hash in persisted
    with pytest.raises(DataDirError):
        SnapshotCache(EPOCH - 1, by_hash, load=persisted.get).snapshot(headers[-1])


def test_checkpoint_clears_votes_but_keeps_recents() -> None:
    genesis = make_genesis(ADDRESSES[:3])
    snap = Snapshot.genesis(genesis, 2)
    vote = make_child(genesis, ADDRESSES[1], coinbase=ADDRESSES[4], nonce=NONCE_AUTH)
    after_vote = snap.apply([vote])
    assert after_vote.tally == {ADDRESSES[4]: Tally(True, 1)}
    checkpoint = make_child(vote, ADDRESSES[2], checkpoint_signers=ADDRESSES[:3])
    after_checkpoint = after_vote.apply([checkpoint])
    assert after_checkpoint.votes == () and after_checkpoint.tally == {}
    assert after_checkpoint.recents == {1: ADDRESSES[1], 2: ADDRESSES[2]}


def test_majority_vote_adds_a_signer() -> None:
    genesis = make_genesis(ADDRESSES[:2])
    first = make_child(genesis, ADDRESSES[1], coinbase=ADDRESSES[4], nonce=NONCE_AUTH)
    second = make_child(first, ADDRESSES[0], coinbase=ADDRESSES[4], nonce=NONCE_AUTH)
    snap = Snapshot.genesis(genesis, EPOCH).apply([first, second])
    assert snap.signers == tuple(sorted([*ADDRESSES[:2], ADDRESSES[4]]))
    assert snap.votes == () and snap.tally == {}


def test_apply_refuses_headers_that_do_not_follow() -> None:
    genesis, headers = build_chain(ADDRESSES[:3], 3)
    snap = Snapshot.genesis(genesis, EPOCH)
    with pytest.raises(InvalidBlock) as raised:
        snap.apply([headers[0], headers[2]])
    assert raised.value.check == "invalid_voting_chain"


def test_snapshot_of_unknown_parent_raises_unknown_ancestor() -> None:
    genesis, headers = build_chain(ADDRESSES[:3], 3)
    cache = SnapshotCache(EPOCH, lookup(headers[:1]))
    with pytest.raises(UnknownAncestor):
        cache.snapshot(headers[2])


def test_snapshots_read_headers_from_a_py_evm_chain_database() -> None:
    genesis, headers = build_chain(ADDRESSES[:3], 6)
    chaindb = ChainDB(AtomicDB())
    chaindb.persist_header_chain([genesis, *headers[:5]])
    cache = SnapshotCache(EPOCH, chaindb.get_block_header_by_hash)
    assert cache.snapshot(headers[4]) == Snapshot.genesis(genesis, EPOCH).apply(headers[:5])
    # The orphan's parent is not in the database: HeaderNotFound becomes UnknownAncestor.
    orphan = make_child(headers[5], ADDRESSES[1])
    with pytest.raises(UnknownAncestor):
        cache.snapshot(orphan)


def test_recovered_signers_are_cached_by_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    genesis = make_genesis(ADDRESSES[:1])
    header = make_child(genesis, ADDRESSES[0], timestamp=genesis.timestamp + 12_345)
    assert recover_signer(header) == ADDRESSES[0]

    def no_recovery(*args: object, **kwargs: object) -> None:
        raise AssertionError("signature recovered twice")

    monkeypatch.setattr(consensus.keys, "Signature", no_recovery)
    assert recover_signer(header) == ADDRESSES[0]


# --- properties ----------------------------------------------------------------------


@st.composite
def vote_sequences(draw: st.DrawFn) -> list[tuple[int, int | None, bool | None]]:
    """(signer choice, vote target or None, authorize) per block; authorize None means
    "the direction that would change the target's status", so majorities do form."""
    step = st.tuples(
        st.integers(0, 20),
        st.one_of(st.none(), st.integers(0, 4)),
        st.one_of(st.none(), st.booleans()),
    )
    return draw(st.lists(step, min_size=1, max_size=30))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.integers(1, 5),
    epoch=st.sampled_from([3, 5, EPOCH]),
    steps=vote_sequences(),
)
def test_random_votes_keep_the_recently_signed_window(
    initial: int, epoch: int, steps: list[tuple[int, int | None, bool | None]]
) -> None:
    """Build a chain from random seals and votes, keeping only blocks that verify. Then:
    no signer sealed twice within floor(N/2)+1 blocks; verify_header and apply agree on
    every refusal; one batch gives the same snapshot as block by block; snapshots
    survive to_bytes."""
    genesis = make_genesis(ADDRESSES[:initial])
    snap = Snapshot.genesis(genesis, epoch)
    parent, accepted = genesis, []
    sealed_by: dict[int, bytes] = {}
    window_at: dict[int, int] = {}

    for choice, target, authorize in steps:
        number = parent.block_number + 1
        if not snap.signers:
            break
        # Mostly current signers, sometimes an outsider.
        pool = list(snap.signers) + ADDRESSES[5:]
        signer = pool[choice % len(pool)]
        checkpoint = number % epoch == 0
        voted = None if checkpoint or target is None else ADDRESSES[target]
        if authorize is None:
            authorize = voted not in snap.signers
        coinbase, nonce = vote_fields(voted, authorize)
        header = make_child(
            parent,
            signer,
            coinbase=coinbase,
            nonce=nonce,
            difficulty=next_difficulty(snap, number, signer),
            checkpoint_signers=list(snap.signers) if checkpoint else None,
        )
        try:
            verify_header(header, parent, snap, PERIOD, epoch)
        except (UnauthorizedSigner, RecentlySigned) as refused:
            event(f"refused: {type(refused).__name__}")
            with pytest.raises(type(refused)):
                snap.apply([header])
            continue
        window_at[number] = snap.signer_limit
        before = snap.signers
        snap = snap.apply([header])
        if snap.signers != before:
            event("signer set changed")
        sealed_by[number] = signer
        accepted.append(header)
        parent = header

    for number, signer in sealed_by.items():
        earlier = range(number - window_at[number] + 1, number)
        assert all(sealed_by.get(n) != signer for n in earlier)

    start = Snapshot.genesis(genesis, epoch)
    assert start.apply(accepted) == snap
    cache = SnapshotCache(epoch, lookup([genesis, *accepted]))
    assert cache.snapshot(parent) == snap
    assert Snapshot.from_bytes(snap.to_bytes()) == snap


def test_snapshot_mappings_are_read_only() -> None:
    genesis, headers = build_chain(ADDRESSES[:3], 2)
    snap = Snapshot.genesis(genesis, EPOCH).apply(headers)
    with pytest.raises(TypeError):
        snap.recents[99] = ADDRESSES[0]  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.tally[ADDRESSES[0]] = Tally(True, 1)  # type: ignore[index]


# --- prepare and seal: the sealing fields the engine owns (geth's clique.Prepare) ----------


def test_prepare_lists_the_signers_at_a_checkpoint_and_casts_no_vote_there() -> None:
    snap = Snapshot(epoch=10, number=9, hash=b"\x01" * 32, signers=tuple(ADDRESSES[:3]))
    fields = consensus.prepare(snap, 10, ADDRESSES[1], 10, b"v", {ADDRESSES[4]: True})
    assert fields["extra_data"] == make_extra_data(b"v", ADDRESSES[:3])
    assert (fields["coinbase"], fields["nonce"]) == (ZERO_ADDRESS, NONCE_DROP)
    assert fields["difficulty"] == DIFF_IN_TURN  # 10 % 3 == 1: ADDRESSES[1]'s turn


def test_prepare_votes_the_first_proposal_that_still_changes_the_signers() -> None:
    snap = Snapshot(epoch=EPOCH, number=4, hash=b"\x01" * 32, signers=tuple(ADDRESSES[:3]))
    proposals = {ADDRESSES[0]: True, ADDRESSES[5]: True}  # the first is a signer already
    fields = consensus.prepare(snap, 5, ADDRESSES[0], EPOCH, b"", proposals)
    assert (fields["coinbase"], fields["nonce"]) == (ADDRESSES[5], NONCE_AUTH)
    assert fields["extra_data"] == make_extra_data(b"", ())
    assert fields["difficulty"] == DIFF_NO_TURN  # 5 % 3 == 2: not ADDRESSES[0]'s turn


def test_prepare_refuses_a_signer_outside_the_set_or_without_a_key() -> None:
    snap = Snapshot(epoch=EPOCH, number=4, hash=b"\x01" * 32, signers=tuple(ADDRESSES[:3]))
    with pytest.raises(UnauthorizedSigner):
        consensus.prepare(snap, 5, ADDRESSES[6], EPOCH, b"", {})
    with pytest.raises(UnauthorizedSigner, match="no authority key"):
        consensus.prepare(snap, 5, None, EPOCH, b"", {})
