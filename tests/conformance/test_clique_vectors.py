"""go-ethereum's Clique (EIP-225) signer-voting vectors, run through chain.consensus.

The 24 cases live in tests/conformance/data/clique-vectors.json; clique-vectors.md beside it
says how geth's harness (``cliqueTest.run``) reads them, and this file follows it step
by step: a fresh random key per label, one empty block per vote 10 s apart, coinbase =
voted address, nonce = add/drop vote, checkpoint signer lists, difficulty 2, sealed by
the label's key, imported batch by batch (``newbatch``) through SnapshotCache and
verify_header with the in-turn difficulty check off (geth's ``fakeDiff``).

Each case runs twice: with one SnapshotCache for the whole chain (as geth's single
engine instance) and with a fresh cache per batch that only has the persisted
snapshots (a node restarted between batches), which must agree.

Keys are random per run, as in geth; set CLIQUE_VECTOR_SEED to replay a failing run.

Two known answers pin the seal itself: geth's ``TestSealHash`` value, and the real
seal of Goerli's block 1 (a public Clique network).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field

import pytest
from eth.abc import BlockHeaderAPI
from eth.chains.goerli import GOERLI_GENESIS_HEADER
from eth.rlp.headers import BlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth_keys import keys
from eth_typing import Address, BlockNumber, Hash32

from chain.config import DEFAULT_EPOCH
from chain.consensus import (
    DIFF_IN_TURN,
    NONCE_AUTH,
    NONCE_DROP,
    Snapshot,
    SnapshotCache,
    make_extra_data,
    recover_signer,
    seal_hash,
    sign_header,
    verify_header,
)
from chain.errors import InvalidBlock, RecentlySigned, UnauthorizedSigner
from tests.testdata import CLIQUE_VECTORS

VECTORS = CLIQUE_VECTORS
EXPECTED_CASES = 24  # entries in geth's TestClique table
PERIOD = 1  # seconds; geth's harness configures Clique{Period: 1}
BLOCK_SPACING = 10  # seconds between generated blocks (core.GenerateChain)
INITIAL_BASE_FEE = 1_000_000_000  # wei; params.InitialBaseFee, London active at genesis
GAS_LIMIT = 4_712_388  # gas; geth's default genesis gas limit (not checked by Clique)
FAILURES: dict[str | None, type[InvalidBlock] | None] = {
    None: None,
    "unauthorized_signer": UnauthorizedSigner,
    "recently_signed": RecentlySigned,
}
ZERO_HASH = Hash32(b"\x00" * 32)
SEED = int(os.environ.get("CLIQUE_VECTOR_SEED", random.SystemRandom().randrange(2**32)))


def _load_cases() -> list[dict]:
    cases = json.loads(VECTORS.read_text())
    if len(cases) != EXPECTED_CASES:
        raise ValueError(f"{VECTORS} holds {len(cases)} cases, expected {EXPECTED_CASES}")
    return cases


CASES = _load_cases()


def _case_id(index: int, case: dict) -> str:
    words = "".join(c if c.isalnum() else " " for c in case["name"].split("(")[0]).split()
    return f"{index:02d}-" + "-".join(words[:7]).lower()


@dataclass
class AccountPool:
    """geth's testerAccountPool: a fresh secp256k1 key per label, on first use."""

    rng: random.Random
    keys: dict[str, bytes] = field(default_factory=dict)

    def key(self, label: str) -> bytes:
        if label not in self.keys:
            while True:
                candidate = self.rng.randbytes(32)
                try:
                    keys.PrivateKey(candidate)
                except Exception:  # out of range, astronomically rare
                    continue
                break
            self.keys[label] = candidate
        return self.keys[label]

    def address(self, label: str) -> bytes:
        if label == "":
            return b"\x00" * 20
        return keys.PrivateKey(self.key(label)).public_key.to_canonical_address()

    def addresses(self, labels: list[str]) -> list[bytes]:
        return sorted(self.address(label) for label in labels)


def _build_chain(case: dict, pool: AccountPool) -> tuple[BlockHeaderAPI, list[BlockHeaderAPI]]:
    genesis: BlockHeaderAPI = LondonBlockHeader(
        difficulty=1,
        block_number=BlockNumber(0),
        gas_limit=GAS_LIMIT,
        timestamp=0,
        extra_data=make_extra_data(signers=pool.addresses(case["signers"])),
        nonce=NONCE_DROP,
        base_fee_per_gas=INITIAL_BASE_FEE,
    )
    headers: list[BlockHeaderAPI] = []
    parent = genesis
    for index, vote in enumerate(case["votes"]):
        header: BlockHeaderAPI = LondonBlockHeader(
            parent_hash=parent.hash,
            coinbase=Address(pool.address(vote["voted"])),
            nonce=NONCE_AUTH if vote["auth"] else NONCE_DROP,
            difficulty=DIFF_IN_TURN,
            block_number=BlockNumber(index + 1),
            gas_limit=GAS_LIMIT,
            timestamp=parent.timestamp + BLOCK_SPACING,
            extra_data=make_extra_data(signers=pool.addresses(vote["checkpoint"])),
            base_fee_per_gas=INITIAL_BASE_FEE,
        )
        header = sign_header(header, pool.key(vote["signer"]))
        headers.append(header)
        parent = header
    return genesis, headers


def _batches(case: dict, headers: list[BlockHeaderAPI]) -> list[list[BlockHeaderAPI]]:
    batches: list[list[BlockHeaderAPI]] = [[]]
    for vote, header in zip(case["votes"], headers, strict=True):
        if vote["newbatch"] and batches[-1]:
            batches.append([])
        batches[-1].append(header)
    return batches


@pytest.mark.parametrize("restart_between_batches", [False, True], ids=["one-cache", "restart"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(i, c) for i, c in enumerate(CASES)])
def test_clique_vector(case: dict, restart_between_batches: bool) -> None:
    pool = AccountPool(random.Random(f"{SEED}:{case['name']}"))
    epoch = case["epoch"] or DEFAULT_EPOCH  # clique.New replaces an unset epoch
    genesis, headers = _build_chain(case, pool)
    batches = _batches(case, headers)
    context = f"(CLIQUE_VECTOR_SEED={SEED})"

    chain: dict[bytes, BlockHeaderAPI] = {genesis.hash: genesis}
    persisted: dict[bytes, bytes] = {}

    def new_cache() -> SnapshotCache:
        return SnapshotCache(epoch, chain.get, load=persisted.get, save=persisted.__setitem__)

    def import_batch(cache: SnapshotCache, batch: list[BlockHeaderAPI]) -> None:
        for header in batch:
            parent = chain[header.parent_hash]
            verify_header(header, parent, cache.snapshot(parent), PERIOD, epoch, check_turn=False)
            chain[header.hash] = header
            cache.snapshot(header)  # the chain advances its snapshot with each import

    cache = new_cache()
    for batch in batches[:-1]:
        if restart_between_batches:
            cache = new_cache()
        import_batch(cache, batch)  # every batch but the last must import cleanly
    if restart_between_batches:
        cache = new_cache()

    expected_failure = FAILURES[case["failure"]]
    if expected_failure is not None:
        with pytest.raises(InvalidBlock) as raised:
            import_batch(cache, batches[-1])
        assert type(raised.value) is expected_failure, f"{raised.value!r} {context}"
        return
    import_batch(cache, batches[-1])

    head = headers[-1]
    assert list(cache.snapshot(head).signers) == pool.addresses(case["results"]), context
    # The same signer set when recomputed from genesis with nothing cached or persisted.
    fresh = SnapshotCache(epoch, chain.get)
    assert fresh.snapshot(head) == cache.snapshot(head), context


def test_vectors_cover_both_failures_and_batches() -> None:
    failures = [c["failure"] for c in CASES]
    assert failures.count("unauthorized_signer") == 1
    assert failures.count("recently_signed") == 3
    assert CASES[23]["failure"] == "recently_signed"
    assert any(v["newbatch"] for v in CASES[23]["votes"])


def test_seal_hash_matches_geth_known_answer() -> None:
    """go-ethereum consensus/clique/clique_test.go ``TestSealHash``: an all-zero London
    header (zero base fee) with 32 + 65 zero bytes of extra-data."""
    header = LondonBlockHeader(  # every field at Go's zero value
        parent_hash=ZERO_HASH,
        uncles_hash=ZERO_HASH,
        coinbase=Address(b"\x00" * 20),
        state_root=ZERO_HASH,
        transaction_root=ZERO_HASH,
        receipt_root=ZERO_HASH,
        bloom=0,
        difficulty=0,
        block_number=BlockNumber(0),
        gas_limit=0,
        gas_used=0,
        timestamp=0,
        extra_data=b"\x00" * (32 + 65),
        mix_hash=ZERO_HASH,
        nonce=b"\x00" * 8,
        base_fee_per_gas=0,
    )
    assert seal_hash(header).hex() == ("bd3d1fa43fbc4c5bfcc91b179ec92e2861df3654de60468beb908ff805359e8f")


# Goerli (a public Clique network, period 15 s, epoch 30000) block 1, sealed by the
# genesis signer. Genesis ships with py-evm; block 1's fields are public chain data.
GOERLI_PERIOD = 15  # seconds
GOERLI_SIGNER = bytes.fromhex("e0a2bd4258d2768837baa26a28fe71dc079f84c7")
GOERLI_BLOCK_ONE_HASH = "8f5bab218b6bb34476f51ca588e9f4553a3a7ce5e13a66c660a5283e97e9a85a"
EMPTY_TRIE = "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"


def test_goerli_block_one_seal_verifies() -> None:
    block_one = BlockHeader(
        difficulty=2,
        block_number=BlockNumber(1),
        gas_limit=10_475_521,
        timestamp=1_548_947_453,
        coinbase=Address(b"\x00" * 20),
        parent_hash=GOERLI_GENESIS_HEADER.hash,
        uncles_hash=Hash32(bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")),
        state_root=Hash32(bytes.fromhex("5d6cded585e73c4e322c30c2f782a336316f17dd85a4863b9d838d2d4b8b3008")),
        transaction_root=Hash32(bytes.fromhex(EMPTY_TRIE)),
        receipt_root=Hash32(bytes.fromhex(EMPTY_TRIE)),
        bloom=0,
        gas_used=0,
        extra_data=bytes.fromhex(
            "506172697479205465636820417574686f72697479000000000000000000000"
            "02bbf886181970654ed46e3fae0ded41ee53fec702c47431988a7ae80e6576f35"
            "52684f069af80ba11d36327aaf846d470526e4a1c461601b2fd4ebdcdc2b734a01"
        ),
        mix_hash=ZERO_HASH,
        nonce=b"\x00" * 8,
    )
    assert block_one.hash.hex() == GOERLI_BLOCK_ONE_HASH  # the fields are transcribed exactly
    genesis_snapshot = Snapshot.genesis(GOERLI_GENESIS_HEADER, DEFAULT_EPOCH)
    assert genesis_snapshot.signers == (GOERLI_SIGNER,)
    assert recover_signer(block_one) == GOERLI_SIGNER
    verify_header(block_one, GOERLI_GENESIS_HEADER, genesis_snapshot, GOERLI_PERIOD, DEFAULT_EPOCH)
    assert genesis_snapshot.apply([block_one]).recents == {1: GOERLI_SIGNER}
