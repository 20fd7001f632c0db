"""The chain's history as files and new chains: export, import, replay, rewind, fork.

* :func:`export_blocks` writes blocks ``first..last`` as their RLP encodings one after
  another, exactly as ``geth export`` does, and beside it a small JSON *genesis file*
  (``<export>.genesis.json``) holding the chain configuration with the genesis
  timestamp fixed, and the genesis hash. Genesis itself is not in the block file
  (as with geth): the importing side rebuilds it from the genesis file and checks
  that its hash matches before taking any block.
* :func:`import_blocks` reads such a file block by block (never the whole file) and
  hands each to :meth:`chain.chain.Chain.import_block`, which verifies the seal, the
  signer rules, the header rules, the transactions root and, by re-executing the
  block, the state root, receipts root, bloom and gas used. The first invalid block
  stops it with :class:`ReplayFailed` naming the block and the check; a damaged or
  truncated file stops it with :class:`ExportFileError` naming the byte offset.
* :func:`replay` imports an export into a fresh chain (in memory unless a data
  directory is given) up to a block, reporting blocks/s and Mgas/s as it goes: the
  slow, trustless way to reach the model of any block.
* :func:`rewind` moves a node's head back; the dropped blocks' transactions return
  to the pool unless asked not to.
* :func:`fork_chain` makes a new data directory whose genesis *is* the state after
  block N of another chain: every trie node reachable from block N's state root
  (accounts, contract code, storage) is copied, so nothing depends on knowing the
  preimages of hashed trie keys. The new chain keeps the source's chain id unless
  told otherwise (so transactions signed for one are valid on the other: give a new
  id when both chains will live on) and seals with the signers of block N.

Blocks whose state was edited outside a transaction (the dev controls' cheats, see
``chain.edits``) travel with their records in ``<export>.edits.jsonl`` (one JSON record
per edited block, with its number and hash); the genesis file lists their numbers, so an
import refuses an export whose records are missing. Import applies each record before
verifying its block, and :class:`ImportResult` names the edited blocks.

A forked chain's genesis cannot be rebuilt from a configuration alone; exporting it
also writes ``<export>.genesis-state`` (the copied trie nodes, RLP pairs one after
another), which import reads when present.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import rlp
from eth.abc import BlockAPI
from eth.chains.base import Chain as PyEvmChain
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account as AccountRlp

from chain import consensus
from chain.chain import Chain
from chain.config import ChainConfig
from chain.edits import EDITS_SUFFIX, PREIMAGE_KEY_PREFIX, BlockEdits
from chain.errors import DataDirError, ExportFileError, InvalidBlock, ReplayFailed, UnknownBlock
from chain.genesis import write_genesis
from chain.store import LMDB_DIRNAME, META_FILENAME, TABLE_AUX, Store
from chain.vm import vm_class_for

GENESIS_SUFFIX = ".genesis.json"  # appended to the export file's name
GENESIS_STATE_SUFFIX = ".genesis-state"  # trie nodes of a forked chain's genesis
GENESIS_FILE_FORMAT = 1  # bump when the genesis file's fields change
GENESIS_STATE_FILENAME = "genesis-state.rlp"  # in a forked data directory: its genesis nodes
STATE_ROOT_KEY = b"root"  # the first pair of a genesis-state file: (this, the state root)
READ_CHUNK = 1 << 16  # bytes read from an export file at a time
MAX_BLOCK_BYTES = 1 << 28  # bytes: an RLP item claiming more than this is damage, not a block
RLP_LONG_LIST = 0xF7  # first byte above this: a list with a length-of-length prefix
RLP_SHORT_LIST = 0xC0  # first byte from here to RLP_LONG_LIST: a list of < 56 bytes
MEGA = 1_000_000


# --- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """How far an import or replay has come; passed to the progress callback.

    Fields:
        number: the number of the block just imported.
        blocks: blocks imported so far in this run (skipped known blocks excluded).
        gas: gas used by those blocks (gas).
        seconds: wall time since the run started (s).
        offset: bytes of the file read so far.
        file_bytes: size of the export file (bytes).
    """

    number: int
    blocks: int
    gas: int
    seconds: float
    offset: int
    file_bytes: int

    @property
    def blocks_per_second(self) -> float:
        return self.blocks / self.seconds if self.seconds > 0 else 0.0

    @property
    def mgas_per_second(self) -> float:
        return self.gas / MEGA / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import did.

    Fields:
        imported: blocks verified and added.
        skipped: blocks already on the chain (same hash), passed over as geth does.
        gas: gas used by the imported blocks (gas).
        seconds: wall time (s).
        head: the chain's head number afterwards.
        edited: (block number, what was done to it outside its transactions) for each
            imported block with a record of edits, in order.
    """

    imported: int
    skipped: int
    gas: int
    seconds: float
    head: int
    edited: tuple[tuple[int, tuple[str, ...]], ...] = ()

    @property
    def mgas_per_second(self) -> float:
        return self.gas / MEGA / self.seconds if self.seconds > 0 else 0.0

    @property
    def blocks_per_second(self) -> float:
        return self.imported / self.seconds if self.seconds > 0 else 0.0


# --- export -----------------------------------------------------------------------------------


def genesis_path(export_path: str | Path) -> Path:
    """Where the genesis file of an export lives: beside it, ``<name>.genesis.json``."""
    path = Path(export_path)
    return path.with_name(path.name + GENESIS_SUFFIX)


def edits_path(export_path: str | Path) -> Path:
    """Where an export's records of edited blocks live: beside it, ``<name>.edits.jsonl``."""
    path = Path(export_path)
    return path.with_name(path.name + EDITS_SUFFIX)


def genesis_description(chain: Chain) -> dict[str, Any]:
    """What an importer needs to rebuild ``chain``'s genesis: the configuration (with
    the genesis timestamp the chain really has) and the genesis hash to check against."""
    genesis = chain.genesis
    config = chain.config.with_changes(genesis_timestamp=genesis.timestamp, data_dir=None)
    return {
        "format": GENESIS_FILE_FORMAT,
        "config": config.to_dict(),
        "genesis_hash": "0x" + genesis.hash.hex(),
        "forked": _genesis_state_file(chain) is not None,
    }


def export_blocks(chain: Chain, path: str | Path, first: int = 1, last: int | None = None) -> int:
    """Write canonical blocks ``first..last`` (default: to the head) to ``path`` as
    concatenated RLP, plus the genesis file beside it; returns the number of blocks.

    Refuses a range outside the chain. Files are written under a temporary name and
    renamed at the end, so an interrupted export leaves no half file behind.
    """
    head = chain.head.block_number
    last = head if last is None else last
    if first < 1:
        raise UnknownBlock(
            f"export starts at block 1 or later (genesis is rebuilt from {GENESIS_SUFFIX}), got {first}"
        )
    if last > head:
        raise UnknownBlock(f"block {last} is beyond the head (block {head})")
    if first > last:
        raise UnknownBlock(f"empty range: first block {first} is after last block {last}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    edited: list[int] = []
    edits_tmp = edits_path(path).with_name(edits_path(path).name + ".tmp")
    with open(tmp, "wb") as out, open(edits_tmp, "w") as edits_out:
        for number in range(first, last + 1):
            block = chain.block(number)
            out.write(rlp.encode(block))
            record = chain.block_edits(block.header)
            if record is not None:
                edited.append(number)
                line = {"block": number, "hash": "0x" + block.hash.hex(), **record.to_json()}
                edits_out.write(json.dumps(line, sort_keys=True) + "\n")
    description = genesis_description(chain)
    description["edited_blocks"] = edited
    meta_tmp = genesis_path(path).with_name(genesis_path(path).name + ".tmp")
    meta_tmp.write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    state_file = _genesis_state_file(chain)
    if state_file is not None:
        state_target = path.with_name(path.name + GENESIS_STATE_SUFFIX)
        state_target.write_bytes(state_file.read_bytes())
    os.replace(tmp, path)
    if edited:
        os.replace(edits_tmp, edits_path(path))
    else:
        edits_tmp.unlink()
        edits_path(path).unlink(missing_ok=True)
    os.replace(meta_tmp, genesis_path(path))
    return last - first + 1


def read_edits(export_path: str | Path) -> dict[bytes, BlockEdits]:
    """The records of edited blocks beside an export (block hash -> record); none when the
    genesis file lists no edited blocks. A listed block without its record is refused."""
    path = edits_path(export_path)
    listed: list[int] = []
    if genesis_path(export_path).is_file():
        listed = list(read_genesis_file(export_path).get("edited_blocks", []))
    if not path.is_file():
        if listed:
            raise ExportFileError(
                f"{path}: missing; the export's blocks {_numbers(listed)} were edited outside a "
                "transaction and their records travel in that file"
            )
        return {}
    records: dict[bytes, BlockEdits] = {}
    numbers: set[int] = set()
    with open(path) as stream:
        for line_number, line in enumerate(stream, 1):
            try:
                raw = json.loads(line)
                records[bytes.fromhex(raw["hash"][2:])] = BlockEdits.from_json(raw)
                numbers.add(int(raw["block"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ExportFileError(
                    f"{path}: line {line_number} is not a record of edits ({exc})"
                ) from None
    missing = [n for n in listed if n not in numbers]
    if missing:
        raise ExportFileError(f"{path}: no record for the edited blocks {_numbers(missing)}")
    return records


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def _genesis_state_file(chain: Chain) -> Path | None:
    if chain.data_dir is None:
        return None
    candidate = chain.data_dir / GENESIS_STATE_FILENAME
    return candidate if candidate.is_file() else None


# --- reading an export ------------------------------------------------------------------------


def _list_length(head: bytes, offset: int, index: int) -> tuple[int, int]:
    """(prefix bytes, payload bytes) of the RLP list starting with ``head``."""
    first = head[0]
    if first < RLP_SHORT_LIST:
        raise ExportFileError(
            f"damaged export at byte {offset} (block #{index + 1} of the file): "
            f"expected an RLP list, found byte 0x{first:02x}"
        )
    if first <= RLP_LONG_LIST:
        return 1, first - RLP_SHORT_LIST
    size_bytes = first - RLP_LONG_LIST
    if len(head) < 1 + size_bytes:
        raise ExportFileError(
            f"truncated export at byte {offset} (block #{index + 1} of the file): "
            "the file ends inside a block's length prefix"
        )
    length = int.from_bytes(head[1 : 1 + size_bytes], "big")
    if length > MAX_BLOCK_BYTES:
        raise ExportFileError(
            f"damaged export at byte {offset} (block #{index + 1} of the file): "
            f"a block of {length} bytes is not plausible"
        )
    return 1 + size_bytes, length


def iter_raw_blocks(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(byte offset, RLP bytes) of each block in an export stream, reading it piece by
    piece. A truncated last block raises :class:`ExportFileError` naming its offset."""
    offset = 0
    index = 0
    buffer = b""
    while True:
        if len(buffer) < 9:
            buffer += stream.read(READ_CHUNK)
        if not buffer:
            return
        prefix, length = _list_length(buffer[:9], offset, index)
        total = prefix + length
        while len(buffer) < total:
            more = stream.read(max(READ_CHUNK, total - len(buffer)))
            if not more:
                raise ExportFileError(
                    f"truncated export at byte {offset} (block #{index + 1} of the file): "
                    f"the block needs {total} bytes, the file holds {len(buffer)} more"
                )
            buffer += more
        yield offset, buffer[:total]
        buffer = buffer[total:]
        offset += total
        index += 1


def decode_block(raw: bytes, block_class: type[BlockAPI], offset: int, index: int) -> BlockAPI:
    """One block of an export file, or :class:`ExportFileError` naming where it broke."""
    try:
        return rlp.decode(raw, sedes=block_class)
    except Exception as exc:  # noqa: BLE001 - rlp raises many kinds on damaged bytes
        raise ExportFileError(
            f"damaged export at byte {offset} (block #{index + 1} of the file): "
            f"not a {block_class.__name__} ({type(exc).__name__}: {exc})"
        ) from None


def read_genesis_file(export_path: str | Path) -> dict[str, Any]:
    """The genesis file of an export, checked for the fields import needs."""
    path = genesis_path(export_path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportFileError(
            f"{path}: missing; an export's genesis file must sit beside it "
            f"(or give the chain configuration with --config)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ExportFileError(f"{path}: not a readable genesis file ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != GENESIS_FILE_FORMAT:
        raise ExportFileError(f"{path}: not a sumchain genesis file (format {GENESIS_FILE_FORMAT})")
    if "config" not in raw or "genesis_hash" not in raw:
        raise ExportFileError(f"{path}: no config or genesis_hash")
    return raw


def open_for_import(
    export_path: str | Path, data_dir: str | Path | None = None, config: ChainConfig | None = None
) -> Chain:
    """A fresh chain with the export's genesis, in ``data_dir`` (which must be empty or
    absent) or in memory; ``config`` overrides the export's genesis file."""
    export_path = Path(export_path)
    if not export_path.is_file():
        raise ExportFileError(f"{export_path}: no such export file")
    expected_hash: str | None = None
    state_nodes = export_path.with_name(export_path.name + GENESIS_STATE_SUFFIX)
    if config is None:
        description = read_genesis_file(export_path)
        config = ChainConfig.from_dict(description["config"])
        expected_hash = description["genesis_hash"]
        if description.get("forked") and not state_nodes.is_file():
            raise ExportFileError(
                f"{state_nodes}: missing; this export comes from a forked chain whose "
                "genesis state travels in that file"
            )
    if data_dir is not None:
        _require_empty(Path(data_dir), "import into")
    if state_nodes.is_file():
        chain = _open_with_genesis_nodes(config, state_nodes, data_dir)
    else:
        chain = Chain.open(config.with_changes(data_dir=None), data_dir=data_dir, sync=False)
    got = "0x" + chain.genesis.hash.hex()
    if expected_hash is not None and got != expected_hash:
        chain.close()
        raise ExportFileError(
            f"{genesis_path(export_path)}: rebuilding genesis gives {got}, the export was made "
            f"on a chain with genesis {expected_hash}"
        )
    return chain


def _require_empty(path: Path, doing: str) -> None:
    if path.exists() and not path.is_dir():
        raise DataDirError(f"cannot {doing} {path}: it is a file")
    if path.exists() and any(path.iterdir()):
        raise DataDirError(
            f"cannot {doing} {path}: the directory is not empty (nothing was changed; use a new directory)"
        )


# --- import and replay --------------------------------------------------------------------------


def import_blocks(
    chain: Chain,
    path: str | Path,
    to_block: int | None = None,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Verify and add the blocks of export file ``path`` to ``chain``, up to block
    ``to_block`` (default: all). Blocks the chain already has are skipped.

    Raises :class:`ReplayFailed` at the first invalid block (nothing of it is written;
    the blocks before it stay) and :class:`ExportFileError` on a damaged file.
    """
    path = Path(path)
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise ExportFileError(f"{path}: cannot read ({exc.strerror})") from None
    file_bytes = path.stat().st_size
    block_class = chain.vm_class.get_block_class()
    records = read_edits(path)
    edited: list[tuple[int, tuple[str, ...]]] = []
    start = time.perf_counter()
    imported = skipped = gas = 0
    with stream:
        for index, (offset, raw) in enumerate(iter_raw_blocks(stream)):
            block = decode_block(raw, block_class, offset, index)
            number = block.header.block_number
            if to_block is not None and number > to_block:
                break
            if _already_canonical(chain, block):
                skipped += 1
                continue
            record = records.get(block.hash)
            try:
                chain.import_block(block, edits=record)
            except InvalidBlock as exc:
                raise ReplayFailed(number, _root_cause(block, exc)) from None
            if record is not None:
                edited.append((number, tuple(record.describe())))
            imported += 1
            gas += block.header.gas_used
            if progress is not None:
                progress(
                    Progress(
                        number,
                        imported,
                        gas,
                        time.perf_counter() - start,
                        offset + len(raw),
                        file_bytes,
                    )
                )
    head = chain.head.block_number
    if to_block is not None and head < to_block:
        raise ExportFileError(f"{path}: ends at block {head}, before the requested block {to_block}")
    return ImportResult(imported, skipped, gas, time.perf_counter() - start, head, tuple(edited))


SEAL_CHECKS = ("seal", "unauthorized_signer", "recently_signed", "parent", "number")


def _root_cause(block: BlockAPI, exc: InvalidBlock) -> InvalidBlock:
    """The failure to report. py-evm executes a block's transactions before it compares
    their root with the header, so a changed transaction first shows up as an odd
    execution error (e.g. an unknown sender without funds); the real fault is that the
    body no longer matches the sealed header, and that is what is reported."""
    if exc.check in SEAL_CHECKS or exc.check == "transaction_root":
        return exc
    root = transactions_root(block)
    if root != block.header.transaction_root:
        return InvalidBlock(
            f"block {block.header.block_number}: the transactions do not match the header's "
            f"transaction_root (header says 0x{block.header.transaction_root.hex()}, the body "
            f"gives 0x{root.hex()}); execution then failed with: {exc}",
            check="transaction_root",
        )
    return exc


def transactions_root(block: BlockAPI) -> bytes:
    """The transactions root the block's body gives."""
    from eth.db.trie import make_trie_root_and_nodes

    root, _nodes = make_trie_root_and_nodes(tuple(block.transactions))
    return root


def _already_canonical(chain: Chain, block: BlockAPI) -> bool:
    number = block.header.block_number
    if number > chain.head.block_number:
        return False
    return chain.header(number).hash == block.header.hash


def replay(
    path: str | Path,
    to_block: int | None = None,
    config: ChainConfig | None = None,
    data_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Chain, ImportResult]:
    """Re-execute an export from genesis into a fresh chain (memory, or an empty
    ``data_dir``), verifying every block, and stop at ``to_block``. Returns the chain
    (the caller closes it) and what the import did."""
    chain = open_for_import(path, data_dir, config)
    try:
        result = import_blocks(chain, path, to_block, progress)
    except BaseException:
        chain.close()
        raise
    return chain, result


# --- rewind -----------------------------------------------------------------------------------


def rewind(chain: Chain, number: int, drop_txs: bool = False) -> list[BlockAPI]:
    """Make block ``number`` the head. The dropped blocks (returned, newest first) stay
    in the archive; their transactions are offered back to the chain's head-change hooks
    (a node's pool takes the ones still valid) unless ``drop_txs``."""
    head = chain.head.block_number
    if number < 0:
        raise UnknownBlock(f"block number {number} is negative")
    if number > head:
        raise UnknownBlock(f"block {number} is beyond the head (block {head})")
    return chain.set_head(number, reinject=not drop_txs)


# --- fork ---------------------------------------------------------------------------------------


def _trie_children(node: Any) -> Iterator[Any]:
    """Child references of a decoded trie node (hashes, or nodes embedded inline)."""
    if len(node) == 17:
        for child in node[:16]:
            if child:
                yield child
    elif len(node) == 2 and node[0] and (node[0][0] >> 4) in (0, 1):  # an extension
        yield node[1]


def _trie_leaves(node: Any) -> Iterator[bytes]:
    if len(node) == 17:
        if node[16]:
            yield node[16]
    elif len(node) == 2 and node[0] and (node[0][0] >> 4) in (2, 3):  # a leaf
        yield node[1]


def walk_trie(db: Any, root: bytes, copy: Callable[[bytes, bytes], None]) -> Iterator[bytes]:
    """Every leaf value of the trie at ``root``, calling ``copy(hash, node)`` for each
    stored node on the way (nodes under 32 bytes live inside their parent)."""
    if root == BLANK_ROOT_HASH:
        return
    pending: list[Any] = [root]
    while pending:
        ref = pending.pop()
        if isinstance(ref, bytes):
            encoded = db[ref]
            copy(ref, encoded)
            node = rlp.decode(encoded)
        else:
            node = ref
        yield from _trie_leaves(node)
        pending.extend(_trie_children(node))


@dataclass(frozen=True)
class ForkResult:
    """What :func:`fork_chain` made.

    Fields:
        data_dir: the new chain's directory.
        block: the source block whose state is the new genesis.
        accounts: accounts in that state.
        contracts: accounts with code.
        trie_nodes: state and storage trie nodes copied.
        genesis_hash: the new chain's genesis hash (hex).
        chain_id: the new chain's chain id.
    """

    data_dir: Path
    block: int
    accounts: int
    contracts: int
    trie_nodes: int
    genesis_hash: str
    chain_id: int


def fork_chain(
    src_dir: str | Path, block: int | str, dst_dir: str | Path, chain_id: int | None = None
) -> ForkResult:
    """A new chain in ``dst_dir`` whose genesis state is the state after ``block`` of
    the chain in ``src_dir``; it then continues on its own (same signers, same fork and
    gas limit; the source's chain id unless ``chain_id`` is given).

    Refuses a source that is not a sumchain data directory, a block beyond its head
    and a destination that exists and is not empty.
    """
    src, dst = Path(src_dir), Path(dst_dir)
    if not (src / META_FILENAME).is_file() or not (src / LMDB_DIRNAME).is_dir():
        raise DataDirError(
            f"{src} is not a sumchain data directory (no {META_FILENAME} and {LMDB_DIRNAME} in it)"
        )
    _require_empty(dst, "fork into")
    source = Chain.open(data_dir=src, sync=False)
    try:
        header = source.resolve(block) if isinstance(block, str) else source.header(block)
        signers = source.snapshots.snapshot(header).signers
        config = source.config.with_changes(
            chain_id=chain_id or source.config.chain_id,
            genesis_timestamp=header.timestamp,
            base_fee=getattr(header, "base_fee_per_gas", None) or source.config.base_fee,
            authorities=tuple(consensus.signers_as_hex(signers)),
            data_dir=None,
        )
        nodes: dict[bytes, bytes] = {}
        accounts = contracts = 0
        db = source.store.db

        def keep(key: bytes, value: bytes) -> None:
            nodes[key] = value

        for leaf in walk_trie(db, header.state_root, keep):
            account = rlp.decode(leaf, sedes=AccountRlp)
            accounts += 1
            if account.code_hash != EMPTY_SHA3:
                contracts += 1
                nodes[account.code_hash] = db[account.code_hash]
            for _slot in walk_trie(db, account.storage_root, keep):
                pass
        source_genesis = source.genesis.hash.hex()
        # the addresses and slots behind the hashed trie keys, so the fork's state can be dumped
        preimages = [(k, v) for k, v in source.store.items(TABLE_AUX) if k.startswith(PREIMAGE_KEY_PREFIX)]
    finally:
        source.close()
    fork_meta = {
        "source_genesis_hash": "0x" + source_genesis,
        "source_block": header.block_number,
        "source_block_hash": "0x" + header.hash.hex(),
    }
    store = Store.open(dst, sync=True)
    with open(dst / GENESIS_STATE_FILENAME, "wb") as out:
        out.write(rlp.encode([STATE_ROOT_KEY, header.state_root]))
        for key, value in nodes.items():
            out.write(rlp.encode([key, value]))
    try:
        for key, value in preimages:
            store.put(TABLE_AUX, key, value)
        genesis_hash = _write_genesis(store, config, header.state_root, nodes.items(), dst, fork_meta)
    finally:
        store.close()
    return ForkResult(
        dst, header.block_number, accounts, contracts, len(nodes), genesis_hash, config.chain_id
    )


def _write_genesis(
    store: Store,
    config: ChainConfig,
    state_root: bytes,
    nodes: Any,
    data_dir: Path | None,
    extra_meta: dict[str, Any],
) -> str:
    """Write a genesis block whose state is the given trie nodes (rooted at
    ``state_root``), the way :class:`Chain` writes its own genesis otherwise."""
    evm_class = PyEvmChain.configure(
        __name__="SumchainForkEVM",
        vm_configuration=((0, vm_class_for(config.fork)),),
        chain_id=config.chain_id,
    )
    for key, value in nodes:
        store.db[key] = value
    genesis = write_genesis(store, config, evm_class, data_dir, state_root=state_root, extra_meta=extra_meta)
    return "0x" + genesis.hash.hex()


def _read_node_pairs(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with open(path, "rb") as stream:
        for index, (offset, raw) in enumerate(iter_raw_blocks(stream)):
            try:
                key, value = rlp.decode(raw)
            except Exception:  # noqa: BLE001 - damaged pair
                raise ExportFileError(f"{path}: damaged at byte {offset} (entry #{index + 1})") from None
            yield key, value


def _open_with_genesis_nodes(config: ChainConfig, state_nodes: Path, data_dir: str | Path | None) -> Chain:
    """A ledger whose genesis state comes from a forked chain's exported trie nodes: the
    genesis is written into ``data_dir`` (or a memory store) and the ledger opened on it.
    A node on it (pool, producer, RPC) is the caller's to assemble (``node.assemble``)."""
    pairs = list(_read_node_pairs(state_nodes))
    if not pairs or pairs[0][0] != STATE_ROOT_KEY:
        raise ExportFileError(f"{state_nodes}: does not start with the state root")
    state_root = pairs.pop(0)[1]
    if data_dir is None:
        store = Store.memory()
    else:
        store = Store.open(data_dir, sync=False)
        (Path(data_dir) / GENESIS_STATE_FILENAME).write_bytes(state_nodes.read_bytes())
    _write_genesis(store, config, state_root, pairs, Path(data_dir) if data_dir else None, {})
    if data_dir is None:
        from chain.genesis import default_signer

        return Chain(config, store, signer_key=default_signer(config, None))
    store.close()
    return Chain.open(data_dir=data_dir, sync=False)
