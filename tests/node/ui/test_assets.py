"""The dashboard ships everything it loads: no network at run time, the vendored chart
library is the pinned npm release, and the package data lists every asset."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from bench.nodes import free_port
from tests.node.ui.conftest import REPO

STATIC = REPO / "node" / "ui" / "static"
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def test_vendored_uplot_is_the_pinned_npm_release() -> None:
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["uplot"]
    installed = REPO / "node_modules" / "uplot"
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        assert (STATIC / "vendor" / name).read_bytes() == (installed / "dist" / name).read_bytes()
    assert (STATIC / "vendor" / "uPlot.LICENSE").read_bytes() == (installed / "LICENSE").read_bytes()
    assert pinned in (STATIC / "vendor" / "PROVENANCE.md").read_text()


def test_pages_load_nothing_from_another_host() -> None:
    for path in STATIC.glob("*"):
        if path.suffix in (".html", ".js", ".css"):
            assert not REMOTE.search(path.read_text()), path
    assert 'fetch(new URL("api/"' in (STATIC / "app.js").read_text()  # relative: same server


def test_package_data_lists_every_static_file() -> None:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "node"
    ]
    for path in STATIC.rglob("*"):
        if path.is_file():
            relative = str(path.relative_to(REPO / "node"))
            assert any(fnmatch(relative, pattern) for pattern in patterns), relative


def test_ui_on_a_busy_port_is_one_line_and_exit_2() -> None:
    import socket

    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        done = subprocess.run(
            [sys.executable, "-m", "node.cli", "ui", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_ui_with_an_unreadable_vocabulary_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "vocabulary.json"
    bad.write_text("not json")
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "ui", "--vocabulary", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "not a readable vocabulary file" in done.stderr
