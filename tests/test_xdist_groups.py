"""`make test` runs the suite with `-n 2 --dist loadgroup`, and several modules mark
themselves with `xdist_group` so that their module fixtures (a gas-benchmark chain, a
trained market, one pristine damaged-store template) are built once, on one worker.

pytest 9.2 moved a node's id out of `Node._nodeid`, which pytest-xdist 3.8.0 still writes
to tag a test with its group: under that pair every group was silently ignored and each
expensive fixture was built on both workers. This test runs a small suite under the same
options as `make test` and fails if a group is split again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_marked_module_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(
        textwrap.dedent(
            """
            import pytest

            pytestmark = pytest.mark.xdist_group("together")

            @pytest.mark.parametrize("i", range(8))
            def test_grouped(i):
                pass
            """
        )
    )
    (tmp_path / "test_free.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.parametrize("i", range(8))
            def test_free(i):
                pass
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2"]
        + ["--dist", "loadgroup", "-v", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    ran = re.findall(r"\[(gw\d)\] .*PASSED .*::(test_\w+)\[\d\](@\w+)?", run.stdout)
    assert len(ran) == 16, run.stdout
    grouped = [(worker, tag) for worker, name, tag in ran if name == "test_grouped"]
    assert {tag for _, tag in grouped} == {"@together"}, run.stdout
    assert len({worker for worker, _ in grouped}) == 1, run.stdout
