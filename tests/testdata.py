"""Where the tests find their data.

Everything a test reads is inside the repository (``tests/data``,
``tests/conformance/data``), with its provenance beside it, except the whole IMDB
dataset (50,000 reviews, 26 MB), which only the tests marked by ``full_imdb()`` need.
Those look in ``$SUMCHAIN_IMDB``, then ``../shared/data/imdb`` beside the repository,
and are skipped with the reason when neither holds it. CI always has the data, so
under ``CI`` (or ``SUMCHAIN_REQUIRE_FULL_DATA``) a missing copy fails them instead: a
skip there would mean something is broken.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMDB_SAMPLE = REPO / "tests" / "data" / "imdb-sample"  # 800 train + 500 test reviews
OPENRPC_SPEC = REPO / "tests" / "conformance" / "data" / "execution-apis-openrpc.json"
CLIQUE_VECTORS = REPO / "tests" / "conformance" / "data" / "clique-vectors.json"
FULL_IMDB_ENV = "SUMCHAIN_IMDB"
SHARED_IMDB = REPO.parent / "shared" / "data" / "imdb"


def full_data_required() -> bool:
    """True where the whole dataset must be present (CI)."""
    return any(
        os.environ.get(name, "").lower() not in ("", "0", "false")
        for name in ("CI", "SUMCHAIN_REQUIRE_FULL_DATA")
    )


def full_imdb() -> Path:
    """The folder (or file) holding the whole IMDB dataset; skips the calling test when
    there is none, or fails it where the data is required."""
    candidates = [Path(os.environ[FULL_IMDB_ENV])] if os.environ.get(FULL_IMDB_ENV) else []
    candidates.append(SHARED_IMDB)
    for path in candidates:
        if (path / "train.jsonl.gz").is_file() or (path / "aclImdb").is_dir() or path.is_file():
            return path
    test = os.environ.get("PYTEST_CURRENT_TEST", "this test").split(" ")[0]
    reason = (
        f"{test} needs the whole IMDB dataset: set {FULL_IMDB_ENV} to an aclImdb folder, its "
        f"tarball or a folder of train/test.jsonl.gz (looked in "
        f"{', '.join(str(p) for p in candidates)})"
    )
    if full_data_required():
        pytest.fail(f"{reason}; CI must have it, so this is a failure, not a skip")
    pytest.skip(reason)
