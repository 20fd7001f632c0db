"""History as files and new chains: export/import round trips, replay stops at the first
bad block naming the block and the check, damaged files name the byte offset, rewind
and fork refuse what they cannot do and never overwrite anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp
from eth_utils import to_checksum_address

from chain import consensus, history
from chain.chain import Chain
from chain.config import ChainConfig
from chain.errors import DataDirError, ExportFileError, ReplayFailed, UnknownBlock

from .conftest import LOGGER_RUNTIME, Sender, init_code, open_chain, pool_of

GENESIS_TIME = 1_700_000_000
AUTHORITY_KEY = ChainConfig().dev_accounts[0][1]
BLOCKS = 6  # blocks of the source chain: a contract creation, then calls and transfers


@pytest.fixture
def source(tmp_path: Path) -> Chain:
    """A chain on disk: block 1 creates a logger contract, blocks 2..6 call it and pay."""
    chain = open_chain(ChainConfig(), data_dir=tmp_path / "source", sync=False)
    sender = Sender(chain)
    chain.build_block([sender.tx(data=init_code(LOGGER_RUNTIME))])
    logger = to_checksum_address(chain.receipts(chain.head)[0].contract_address)
    for index in range(BLOCKS - 1):
        chain.build_block(
            [
                sender.tx(to=logger, data=(index + 7).to_bytes(32, "big")),
                sender.tx(to=chain.config.dev_accounts[3][0], value=index + 1),
            ]
        )
    yield chain
    chain.close()


@pytest.fixture
def exported(source: Chain, tmp_path: Path) -> Path:
    path = tmp_path / "chain.rlp"
    assert history.export_blocks(source, path) == BLOCKS
    return path


def block_offsets(path: Path) -> list[tuple[int, bytes]]:
    with open(path, "rb") as stream:
        return list(history.iter_raw_blocks(stream))


def rewrite_block(path: Path, number: int, change) -> None:  # type: ignore[no-untyped-def]
    """Replace block ``number`` of an export with ``change(raw bytes)``."""
    pieces = [raw for _offset, raw in block_offsets(path)]
    pieces[number - 1] = change(pieces[number - 1])
    path.write_bytes(b"".join(pieces))


def flip(raw: bytes, position: int) -> bytes:
    return raw[:position] + bytes([raw[position] ^ 0x01]) + raw[position + 1 :]


def test_export_is_concatenated_block_rlp_as_geth_writes(source: Chain, exported: Path) -> None:
    expected = b"".join(rlp.encode(source.block(n)) for n in range(1, BLOCKS + 1))
    assert exported.read_bytes() == expected
    assert history.read_genesis_file(exported)["genesis_hash"] == "0x" + source.genesis.hash.hex()


def test_replay_rebuilds_every_block_and_state_of_the_source(source: Chain, exported: Path) -> None:
    seen: list[history.Progress] = []
    replayed, result = history.replay(exported, progress=seen.append)
    try:
        assert result.imported == BLOCKS and result.head == BLOCKS
        assert [p.number for p in seen] == list(range(1, BLOCKS + 1))
        assert seen[-1].gas == sum(source.header(n).gas_used for n in range(1, BLOCKS + 1))
        assert seen[-1].mgas_per_second > 0 and seen[-1].blocks_per_second > 0
        for number in range(BLOCKS + 1):
            assert replayed.header(number) == source.header(number)
    finally:
        replayed.close()


def test_replay_stops_at_the_requested_block(exported: Path, source: Chain) -> None:
    replayed, result = history.replay(exported, to_block=3)
    try:
        assert replayed.head.hash == source.header(3).hash and result.imported == 3
    finally:
        replayed.close()


def test_import_into_a_data_directory_then_again_skips_known_blocks(exported: Path, tmp_path: Path) -> None:
    chain = history.open_for_import(exported, tmp_path / "copy")
    try:
        assert history.import_blocks(chain, exported).imported == BLOCKS
        again = history.import_blocks(chain, exported)
        assert (again.imported, again.skipped) == (0, BLOCKS)
    finally:
        chain.close()


def test_import_into_a_non_empty_directory_is_refused_and_left_alone(exported: Path, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match="not empty"):
        history.open_for_import(exported, target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_a_byte_changed_in_a_transaction_is_caught_at_its_block(exported: Path) -> None:
    def tamper(raw: bytes) -> bytes:
        block = rlp.decode(raw)
        tx = block[1][0]  # typed transaction bytes of the first transaction
        return raw.replace(tx, flip(tx, len(tx) - 40), 1)

    rewrite_block(exported, 4, tamper)
    with pytest.raises(ReplayFailed) as raised:
        history.replay(exported)
    assert raised.value.number == 4
    assert raised.value.check == "transaction_root"
    assert "block 4" in str(raised.value)


def test_a_byte_changed_in_a_state_root_breaks_the_seal_at_its_block(exported: Path) -> None:
    def tamper(raw: bytes) -> bytes:
        state_root = rlp.decode(raw)[0][3]
        return raw.replace(state_root, flip(state_root, 5), 1)

    rewrite_block(exported, 3, tamper)
    with pytest.raises(ReplayFailed) as raised:
        history.replay(exported)
    assert (raised.value.number, raised.value.check) == (3, "unauthorized_signer")


def test_a_wrong_state_root_resealed_by_the_authority_fails_re_execution(
    source: Chain, exported: Path
) -> None:
    block_class = source.vm_class.get_block_class()

    def tamper(raw: bytes) -> bytes:
        block = rlp.decode(raw, sedes=block_class)
        header = block.header.copy(state_root=b"\x33" * 32)
        return rlp.encode(block.copy(header=consensus.sign_header(header, AUTHORITY_KEY)))

    rewrite_block(exported, 5, tamper)
    with pytest.raises(ReplayFailed) as raised:
        history.replay(exported)
    assert (raised.value.number, raised.value.check) == (5, "state_root")


def test_a_byte_changed_in_a_seal_is_caught_at_its_block(exported: Path) -> None:
    def tamper(raw: bytes) -> bytes:
        extra = rlp.decode(raw)[0][12]
        return raw.replace(extra, flip(extra, len(extra) - 10), 1)

    rewrite_block(exported, 2, tamper)
    with pytest.raises(ReplayFailed) as raised:
        history.replay(exported)
    assert raised.value.number == 2
    assert raised.value.check in ("seal", "unauthorized_signer")


def test_a_truncated_export_names_the_offset_of_the_cut_block(exported: Path) -> None:
    offsets = block_offsets(exported)
    cut = offsets[3][0] + 20
    exported.write_bytes(exported.read_bytes()[:cut])
    with pytest.raises(
        ExportFileError,
        match=f"truncated export at byte {offsets[3][0]} "
        r"\(block #4 of the file\)",
    ):
        history.replay(exported)


def test_garbage_in_an_export_names_its_offset(exported: Path) -> None:
    offsets = block_offsets(exported)
    data = bytearray(exported.read_bytes())
    data[offsets[2][0]] = 0x05  # not a list prefix
    exported.write_bytes(bytes(data))
    with pytest.raises(ExportFileError, match=f"damaged export at byte {offsets[2][0]}"):
        history.replay(exported)


def test_an_export_without_its_genesis_file_is_refused(exported: Path) -> None:
    history.genesis_path(exported).unlink()
    with pytest.raises(ExportFileError, match="genesis file"):
        history.replay(exported)


def test_export_beyond_the_head_is_refused_and_writes_nothing(source: Chain, tmp_path: Path) -> None:
    with pytest.raises(UnknownBlock, match="beyond the head"):
        history.export_blocks(source, tmp_path / "x.rlp", last=BLOCKS + 1)
    assert not (tmp_path / "x.rlp").exists()


def test_rewind_returns_dropped_transactions_to_the_pool(source: Chain) -> None:
    dropped = history.rewind(source, 4)
    assert source.head.block_number == 4 and len(dropped) == 2
    assert len(pool_of(source).pending()) == 4


def test_rewind_with_drop_txs_leaves_the_pool_empty(source: Chain) -> None:
    history.rewind(source, 2, drop_txs=True)
    assert source.head.block_number == 2 and not pool_of(source).pending()


def test_rewind_beyond_the_head_is_refused(source: Chain) -> None:
    with pytest.raises(UnknownBlock, match="beyond the head"):
        history.rewind(source, BLOCKS + 5)
    assert source.head.block_number == BLOCKS


def test_fork_starts_from_the_state_at_a_block_and_continues(source: Chain, tmp_path: Path) -> None:
    at = 3
    expected = source.state_at(source.header(at))
    payee = bytes.fromhex(source.config.dev_accounts[3][0][2:])
    logger = source.receipts(source.header(1))[0].contract_address
    want = (expected.get_balance(payee), expected.get_storage(logger, 0), expected.get_code(logger))
    src_dir = source.data_dir
    source.close()
    result = history.fork_chain(src_dir, at, tmp_path / "fork", chain_id=4242)
    fork = open_chain(data_dir=tmp_path / "fork", sync=False)
    try:
        state = fork.state_at()
        assert fork.genesis.state_root == expected.state_root
        assert (
            state.get_balance(payee),
            state.get_storage(logger, 0),
            state.get_code(logger),
        ) == want
        assert result.contracts == 1 and fork.config.chain_id == 4242
        sender = Sender(fork)
        fork.build_block([sender.tx(to=to_checksum_address(payee), value=5)])
        assert fork.state_at().get_balance(payee) == want[0] + 5
    finally:
        fork.close()


def test_a_forked_chain_exports_and_replays_with_its_genesis_state(source: Chain, tmp_path: Path) -> None:
    src_dir = source.data_dir
    source.close()
    history.fork_chain(src_dir, 2, tmp_path / "fork")
    fork = open_chain(data_dir=tmp_path / "fork", sync=False)
    sender = Sender(fork)
    fork.build_block([sender.tx(to=fork.config.dev_accounts[4][0], value=9)])
    history.export_blocks(fork, tmp_path / "fork.rlp")
    head = fork.head.hash
    fork.close()
    replayed, _ = history.replay(tmp_path / "fork.rlp")
    try:
        assert replayed.head.hash == head
    finally:
        replayed.close()


def test_fork_refuses_a_source_that_is_not_a_sumchain_directory(tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    with pytest.raises(DataDirError, match="not a sumchain data directory"):
        history.fork_chain(tmp_path / "random", 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fork_refuses_a_non_empty_destination(source: Chain, tmp_path: Path) -> None:
    src_dir = source.data_dir
    source.close()
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(DataDirError, match="not empty"):
        history.fork_chain(src_dir, 1, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_fork_refuses_a_block_beyond_the_head(source: Chain, tmp_path: Path) -> None:
    src_dir = source.data_dir
    source.close()
    with pytest.raises(UnknownBlock):
        history.fork_chain(src_dir, BLOCKS + 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()
