"""bench reaches other packages through public names only: no ``from x import _name`` and
no private module (``eth._utils``) imported from outside ``bench``."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
# bench/gas.py becomes a package in the SDK stream of issue 17, which removes its private
# imports; until then it is the one module this rule does not cover yet.
NOT_YET = {BENCH / "gas.py"}


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "__future__" or node.module.split(".")[0] == "bench":
                continue
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(f"{path.name}:{node.lineno} from {node.module}")
            private = [alias.name for alias in node.names if alias.name.startswith("_")]
            found += [f"{path.name}:{node.lineno} {name}" for name in private]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(part.startswith("_") for part in alias.name.split(".")):
                    found.append(f"{path.name}:{node.lineno} import {alias.name}")
    return found


def test_bench_imports_no_private_name_from_another_package() -> None:
    modules = sorted(set(BENCH.rglob("*.py")) - NOT_YET)
    assert len(modules) > 10
    assert [hit for path in modules for hit in _private_imports(path)] == []


def test_the_rule_sees_a_private_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from eth._utils.address import generate_contract_address\nfrom x import _y\n")
    assert _private_imports(module) == ["m.py:1 from eth._utils.address", "m.py:2 _y"]
