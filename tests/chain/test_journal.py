"""Tests for chain.journal's StoreJournal, the journal a node really uses, on a real
LMDB data directory: order, restarts, damaged and torn records, removals."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.chain import Chain
from chain.config import ChainConfig
from chain.journal import StoreJournal
from chain.store import TABLE_JOURNAL, Store
from tests.chain.test_mempool import ALICE, sign

JOURNAL_RAWS = [sign(ALICE, n) for n in range(6)]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed chain data directory that tests copy (making one per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "data"
    Chain.open(ChainConfig(), data_dir=path, sync=False).close()
    return path


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "data"))


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = Store.open(data_dir, sync=False)
    yield opened
    opened.close()


def reopened(store: Store, data_dir: Path) -> Store:
    """Close ``store`` (a stopped node) and open the data directory again."""
    store.close()
    return Store.open(data_dir, sync=False)


def damage_last_entry(store: Store, damage: object) -> None:
    key, raw = list(store.items(TABLE_JOURNAL))[-1]
    store.put_now(TABLE_JOURNAL, key, damage(raw))  # type: ignore[operator]


@pytest.mark.parametrize("cut", [1, 5, 30])
def test_journal_cut_anywhere_never_crashes(store: Store, data_dir: Path, cut: int) -> None:
    raw = sign(ALICE, 0)
    StoreJournal(store).add(keccak(raw), raw)
    damage_last_entry(store, lambda value: value[:cut])
    again = reopened(store, data_dir)
    try:
        assert StoreJournal(again).load() == []
    finally:
        again.close()


def test_journal_with_a_corrupted_record_keeps_the_records_before_it(store: Store, data_dir: Path) -> None:
    journal = StoreJournal(store)
    first, second = sign(ALICE, 0), sign(ALICE, 1)
    journal.add(keccak(first), first)
    journal.add(keccak(second), second)

    def flip(value: bytes) -> bytes:
        damaged = bytearray(value)
        damaged[-3] ^= 0xFF  # a flipped byte inside the last record's body
        return bytes(damaged)

    damage_last_entry(store, flip)
    again = reopened(store, data_dir)
    try:
        assert StoreJournal(again).load() == [first]
    finally:
        again.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(
        st.tuples(st.booleans(), st.integers(min_value=0, max_value=len(JOURNAL_RAWS) - 1)),
        max_size=12,
    ),
)
def test_journal_loads_what_was_recorded_in_arrival_order_after_a_restart(
    template: Path, tmp_path: Path, operations: list[tuple[bool, int]]
) -> None:
    data_dir = Path(
        shutil.copytree(template, tmp_path / f"data-{abs(hash(tuple(operations)))}", dirs_exist_ok=True)
    )
    store = Store.open(data_dir, sync=False)
    try:
        journal = StoreJournal(store)
        for raw in journal.load():  # a copy left by an earlier example with the same name
            journal.remove([keccak(raw)])
        model: dict[bytes, bytes] = {}
        for is_add, index in operations:
            raw = JOURNAL_RAWS[index]
            if is_add:
                journal.add(keccak(raw), raw)
                model.setdefault(keccak(raw), raw)
            else:
                journal.remove([keccak(raw)])
                model.pop(keccak(raw), None)
        store = reopened(store, data_dir)
        reloaded = StoreJournal(store)
        assert reloaded.load() == list(model.values())
        # Whatever was recorded, the journal appends cleanly afterwards.
        reloaded.add(keccak(JOURNAL_RAWS[0]), JOURNAL_RAWS[0])
        store = reopened(store, data_dir)
        assert JOURNAL_RAWS[0] in StoreJournal(store).load()
    finally:
        store.close()


def test_removed_entries_leave_the_store(store: Store, data_dir: Path) -> None:
    journal = StoreJournal(store)
    raws = [sign(ALICE, n) for n in range(20)]
    for raw in raws:
        journal.add(keccak(raw), raw)
    journal.remove([keccak(raw) for raw in raws[:19]])
    assert [raw for _key, raw in store.items(TABLE_JOURNAL)] == [raws[19]]
    again = reopened(store, data_dir)
    try:
        assert StoreJournal(again).load() == [raws[19]]
    finally:
        again.close()
