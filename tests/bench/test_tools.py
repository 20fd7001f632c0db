"""Outside tools are found where the user keeps them, or refused in one line that says
how to install them; outputs default to a new folder under the current directory."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.outputs import default_out
from bench.tools import (
    EDR_PACKAGE,
    ToolMissing,
    find_anvil,
    find_edr,
    find_npm_package,
    node_modules_dirs,
)
from node.cli import main

REPO = Path(__file__).resolve().parents[2]
CHECKOUT_MODULES = REPO / "node_modules"


def test_current_directory_node_modules_come_before_the_checkout(tmp_path, monkeypatch) -> None:
    edr = CHECKOUT_MODULES / EDR_PACKAGE
    assert (edr / "package.json").is_file(), "make test installs node_modules"
    (tmp_path / "node_modules" / "@nomicfoundation").mkdir(parents=True)
    (tmp_path / "node_modules" / EDR_PACKAGE).symlink_to(edr, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert node_modules_dirs() == [tmp_path / "node_modules", CHECKOUT_MODULES]
    assert find_npm_package(EDR_PACKAGE) == tmp_path / "node_modules" / EDR_PACKAGE
    assert find_edr(None, "test") == tmp_path / "node_modules" / EDR_PACKAGE


def test_checkout_node_modules_are_found_from_anywhere(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    node = shutil.which("node")
    assert node is not None, "Node.js runs EDR"
    monkeypatch.setenv("PATH", str(Path(node).parent))  # Node.js, but no anvil, on PATH
    assert shutil.which("anvil") is None
    assert find_anvil(None, "test") == CHECKOUT_MODULES / ".bin" / "anvil"
    assert find_edr(None, "test") == CHECKOUT_MODULES / EDR_PACKAGE


def test_a_flag_naming_nothing_is_refused_with_the_install_command(tmp_path) -> None:
    with pytest.raises(ToolMissing, match=r"--anvil .* is not an executable file"):
        find_anvil(tmp_path / "anvil", "--verify")
    with pytest.raises(ToolMissing, match=r"npm install @nomicfoundation/edr@0\.22\.0") as raised:
        find_edr(tmp_path, "--verify")
    assert raised.value.tool == "EDR" and "\n" not in str(raised.value)


def test_verify_without_edr_exits_2_with_one_line_before_measuring(tmp_path, capsys) -> None:
    code = main(
        ["bench", "gas", "--quick", "--verify", "--edr", str(tmp_path), "-q", "--out", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "npm install" in err
    assert not (tmp_path / "out").exists(), "nothing is measured or written"


def test_outputs_default_to_a_folder_named_after_the_run_in_the_current_directory() -> None:
    out = default_out("gas")
    assert not out.is_absolute() and out.parent == Path(".")
    assert re.fullmatch(r"sumchain-gas-\d{8}-\d{6}", out.name)
