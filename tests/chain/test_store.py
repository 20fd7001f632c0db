"""The store's public surface: size reporting on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.store import TABLE_AUX, Store


@pytest.fixture(params=["memory", "lmdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    opened = Store.memory() if request.param == "memory" else Store.open(tmp_path / "data", sync=False)
    yield opened
    opened.close()


def test_size_grows_with_committed_writes_only(store: Store) -> None:
    before = store.size_bytes()
    store.put(TABLE_AUX, b"key", b"v" * 100_000)
    assert store.size_bytes() == before  # buffered, not yet in the backend
    store.commit()
    assert store.size_bytes() >= before + 100_000
