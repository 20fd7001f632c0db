"""A damaged data directory is always refused: one line on stderr, exit code 2, and every
file left byte for byte as it was -- never a new chain where one was expected.

Each case damages a copy of a real store (made by the ledger, a few blocks long) the way a
disk, a crash or a user might, then runs the real ``sumchain`` command line on it as a
subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import lmdb
import pytest

from chain.config import ChainConfig
from chain.store import FILE_MODE, LMDB_DIRNAME, META_FILENAME
from node.assemble import assemble

from .conftest import OTHER_ADDRESS

pytestmark = pytest.mark.xdist_group("damaged-store")  # one shared pristine store per worker

SUMCHAIN = [sys.executable, "-m", "node.cli"]
TIMEOUT = 120  # seconds; a command that does not refuse would serve forever


def _lmdb(directory: Path) -> Path:
    return directory / LMDB_DIRNAME


def _data(directory: Path) -> Path:
    return _lmdb(directory) / "data.mdb"


def _lock(directory: Path) -> Path:
    return _lmdb(directory) / "lock.mdb"


def _meta(directory: Path) -> Path:
    return directory / META_FILENAME


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)


def _replace_with_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _lmdb_as_file(directory: Path) -> None:
    shutil.rmtree(_lmdb(directory))
    _lmdb(directory).write_text("x")


def _edit_meta(directory: Path) -> None:
    meta = json.loads(_meta(directory).read_text())
    meta["config"]["chain_id"] = 1
    _meta(directory).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _foreign_lmdb(directory: Path) -> None:
    shutil.rmtree(_lmdb(directory))
    env = lmdb.open(str(_lmdb(directory)), max_dbs=4)
    with env.begin(write=True, db=env.open_db(b"other")) as txn:
        txn.put(b"key", b"value")
    env.close()


def _unfinished_store(directory: Path) -> None:
    """A store whose creation was cut before its genesis commit: tables, no metadata."""
    shutil.rmtree(_lmdb(directory))
    env = lmdb.open(str(_lmdb(directory)), max_dbs=8)
    for table in (b"chain", b"meta", b"txjournal", b"aux"):
        env.open_db(table)
    env.close()


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


#: (case id, damage, words the one line must contain)
CASES: list[tuple[str, Callable[[Path], object], str]] = [
    ("zero-length data.mdb", lambda d: _truncate(_data(d), 0), "data.mdb is empty (0 bytes)"),
    ("data.mdb cut inside the first meta page", lambda d: _truncate(_data(d), 100), "data.mdb is truncated"),
    ("data.mdb cut after one page", lambda d: _truncate(_data(d), 4096), "less than its 2 meta pages"),
    (
        "data.mdb missing its last page",
        lambda d: _truncate(_data(d), _data(d).stat().st_size - 4096),
        "its pages reach",
    ),
    ("data.mdb overwritten with garbage", lambda d: _garbage(_data(d)), "data.mdb is not an LMDB file"),
    ("data.mdb is a directory", lambda d: _replace_with_dir(_data(d)), "data.mdb is not a regular file"),
    ("data.mdb missing", lambda d: _data(d).unlink(), "data.mdb is missing"),
    ("chain.lmdb missing", lambda d: shutil.rmtree(_lmdb(d)), "the store chain.lmdb/ is missing"),
    (
        "chain.lmdb is a file",
        lambda d: _lmdb_as_file(d),
        "chain.lmdb is not a directory",
    ),
    ("foreign LMDB store", _foreign_lmdb, "an LMDB file but not a sumchain store"),
    ("store cut before its genesis", _unfinished_store, "the store has no metadata"),
    (
        "lock.mdb overwritten with garbage",
        lambda d: _lock(d).write_bytes(b"garbage!" * 1024),
        "lock.mdb is damaged",
    ),
    ("zero-length lock.mdb", lambda d: _truncate(_lock(d), 0), "lock.mdb is damaged"),
    ("lock.mdb is a directory", lambda d: _replace_with_dir(_lock(d)), "lock.mdb is not a regular file"),
    ("sumchain.json missing", lambda d: _meta(d).unlink(), "sumchain.json"),
    ("sumchain.json not JSON", lambda d: _meta(d).write_text("{not json"), "sumchain.json is damaged"),
    ("zero-length sumchain.json", lambda d: _truncate(_meta(d), 0), "sumchain.json is damaged"),
    ("sumchain.json edited", _edit_meta, "does not match the store's own metadata (it differs in: config)"),
    (
        "sumchain.json is a directory",
        lambda d: _replace_with_dir(_meta(d)),
        "sumchain.json is not a regular file",
    ),
    ("LOCK is a directory", lambda d: _replace_with_dir(d / "LOCK"), "cannot open its LOCK file"),
]


@pytest.fixture(scope="module")
def pristine() -> Iterator[Path]:
    """A real store, three blocks long, in a directory anyone may read (for the uid case)."""
    root = Path(tempfile.mkdtemp(prefix="sumchain-damage-"))
    root.chmod(0o755)
    directory = root / "pristine"
    node = assemble(ChainConfig(), data_dir=directory, sync=True, mode="manual")
    ledger, producer = node.chain, node.producer
    try:
        from eth_account import Account

        address, key = ledger.config.dev_accounts[1]
        for nonce in range(3):
            raw = Account.sign_transaction(
                {
                    "nonce": nonce,
                    "to": OTHER_ADDRESS,
                    "value": 1,
                    "gas": 21_000,
                    "maxFeePerGas": 10**10,
                    "maxPriorityFeePerGas": 10**9,
                    "chainId": 31337,
                },
                key,
            ).raw_transaction
            node.pool.add(bytes(raw))
            producer.mine()
    finally:
        ledger.close()
    yield directory
    shutil.rmtree(root, ignore_errors=True)


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry under ``directory`` (or the file itself): path -> bytes, or a kind."""
    if directory.is_file():
        return {".": directory.read_bytes()}
    if not directory.exists():
        return {}
    out: dict[str, bytes | str] = {}
    for path in sorted(directory.rglob("*")):
        key = str(path.relative_to(directory))
        out[key] = path.read_bytes() if path.is_file() else "dir"
    return out


def run(args: list[str], prefix: tuple[str, ...] | list[str] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SUMCHAIN_DEBUG", None)
    return subprocess.run(
        [*prefix, *SUMCHAIN, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=Path(__file__).parents[2],
        env=env,
    )


def assert_refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "internal error" not in lines[0], lines[0]
    assert words in lines[0], lines[0]


@pytest.fixture
def damaged(pristine: Path) -> Iterator[Callable[[Callable[[Path], object]], Path]]:
    made: list[Path] = []

    def make(damage: Callable[[Path], object]) -> Path:
        target = pristine.parent / f"case-{len(made)}-{os.getpid()}-{id(made)}"
        shutil.copytree(pristine, target)
        damage(target)
        made.append(target)
        return target

    yield make
    for target in made:
        shutil.rmtree(target, ignore_errors=True)


@pytest.mark.parametrize(("case", "damage", "words"), CASES, ids=[c[0] for c in CASES])
def test_devnet_refuses_a_damaged_data_directory_and_changes_nothing(
    damaged: Callable[[Callable[[Path], object]], Path],
    case: str,
    damage: Callable[[Path], object],
    words: str,
) -> None:
    directory = damaged(damage)
    before = snapshot(directory)
    result = run(["devnet", "--datadir", str(directory), "--port", "0"])
    assert_refused(result, words)
    assert result.stderr.startswith("sumchain devnet: error: ")
    assert snapshot(directory) == before


OTHER_COMMANDS: list[tuple[str, Callable[[Path, Path], list[str]]]] = [
    ("export", lambda d, out: ["export", "--datadir", str(d), str(out / "chain.rlp")]),
    ("rewind", lambda d, out: ["rewind", "--datadir", str(d), "1"]),
    (
        "fork",
        lambda d, out: ["fork", "--datadir", str(d), "--block", "1", "--new-datadir", str(out / "forked")],
    ),
    ("model show", lambda d, out: ["model", "show", "--datadir", str(d), OTHER_ADDRESS]),
]
SAMPLE_CASES = [
    c
    for c in CASES
    if c[0]
    in (
        "zero-length data.mdb",
        "data.mdb missing its last page",
        "sumchain.json edited",
        "foreign LMDB store",
        "lock.mdb overwritten with garbage",
    )
]


@pytest.mark.parametrize(("command", "argv"), OTHER_COMMANDS, ids=[c[0] for c in OTHER_COMMANDS])
@pytest.mark.parametrize(("case", "damage", "words"), SAMPLE_CASES, ids=[c[0] for c in SAMPLE_CASES])
def test_every_command_refuses_a_damaged_data_directory_and_changes_nothing(
    damaged: Callable[[Callable[[Path], object]], Path],
    tmp_path: Path,
    command: str,
    argv: Callable[[Path, Path], list[str]],
    case: str,
    damage: Callable[[Path], object],
    words: str,
) -> None:
    directory = damaged(damage)
    before = snapshot(directory)
    result = run(argv(directory, tmp_path))
    assert_refused(result, words)
    assert snapshot(directory) == before
    assert list(tmp_path.iterdir()) == []  # no export file, no forked directory


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "datadir"
    target.write_text("not a directory\n")
    result = run(["devnet", "--datadir", str(target), "--port", "0"])
    assert_refused(result, "is a file, not a directory")
    assert target.read_text() == "not a directory\n"


def test_a_directory_holding_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    assert_refused(run(["devnet", "--datadir", str(tmp_path), "--port", "0"]), "holds no sumchain store")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--chain-id", "5"], "created with chain_id = 31337; it cannot be changed to 5"),
        (["--fork", "london"], "created with fork = 'cancun'"),
        (["--config", "{alloc}"], "created with alloc = {}"),
        (["--config", "{mnemonic}"], "created with mnemonic = (another mnemonic)"),
    ],
    ids=["chain id", "fork", "genesis alloc", "mnemonic"],
)
def test_a_config_whose_genesis_differs_from_the_store_is_refused(
    damaged: Callable[[Callable[[Path], object]], Path], tmp_path: Path, flags: list[str], words: str
) -> None:
    directory = damaged(lambda d: None)
    alloc = tmp_path / "alloc.json"
    alloc.write_text(json.dumps({"alloc": {OTHER_ADDRESS: "1"}}))
    mnemonic = tmp_path / "mnemonic.json"
    mnemonic.write_text(json.dumps({"mnemonic": " ".join(["abandon"] * 11 + ["about"])}))
    flags = [str(alloc) if f == "{alloc}" else str(mnemonic) if f == "{mnemonic}" else f for f in flags]
    before = snapshot(directory)
    result = run(["devnet", "--datadir", str(directory), "--port", "0", *flags])
    assert_refused(result, words)
    assert "abandon" not in result.stderr  # a mnemonic is never printed
    assert snapshot(directory) == before


#: Runs a command without root's power to write anywhere, so permission bits apply to it.
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root without setpriv(1)")
def test_a_data_directory_the_user_cannot_write_is_refused(
    damaged: Callable[[Callable[[Path], object]], Path],
) -> None:
    directory = damaged(lambda d: None)
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)  # readable, not writable
    before = snapshot(directory)
    prefix = WITHOUT_OVERRIDE if os.geteuid() == 0 else []
    try:
        result = run(["devnet", "--datadir", str(directory), "--port", "0"], prefix=prefix)
        assert_refused(result, "is not writable; nothing was changed")
        assert snapshot(directory) == before
    finally:
        for path in [directory, *directory.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.fixture
def read_only_mount(damaged: Callable[[Callable[[Path], object]], Path]) -> Iterator[Path]:
    """A real store on a read-only bind mount (root only; skipped where mounting is not allowed)."""
    directory = damaged(lambda d: None)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8)")
    done = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(directory), str(directory)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_read_only_data_directory_is_refused(read_only_mount: Path) -> None:
    before = snapshot(read_only_mount)
    assert_refused(
        run(["devnet", "--datadir", str(read_only_mount), "--port", "0"]),
        "is not writable; nothing was changed",
    )
    assert snapshot(read_only_mount) == before


def test_the_store_files_are_readable_by_their_owner_only(pristine: Path) -> None:
    for path in (_data(pristine), _lock(pristine), _meta(pristine), pristine / "LOCK"):
        assert path.stat().st_mode & 0o777 == FILE_MODE, path
    assert pristine.stat().st_mode & 0o077 == 0
