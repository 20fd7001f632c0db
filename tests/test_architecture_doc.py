"""docs/ARCHITECTURE.md describes the house as built: every module, file and function it names exists.

The page names things in backticks. A path (``chain/store.py``, ``rpc/deadline.py``,
``tests/node/ui/``) is looked up from the repository root and from the package whose section
it appears in. A dotted name (``node.rpc.eth``, ``versions.read_model_at``,
``Chain.build_block``) must be a module, or a module or class followed by names defined in it,
found by reading the sources (``ast``), so that the test imports nothing.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("chain", "vm_contracts", "node", "bench", "tests")
CODE_FILE = re.compile(r"^[\w./-]+\.(py|sol|js|cjs)$")
FOLDER = re.compile(r"^[\w.-]+(/[\w.-]+)*/$")
DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(\(\))?$")
SECTION = re.compile(r"^##+ +`?([a-z_]+)/")
# Dotted names in the page that are not our code: files a run writes, JSON-RPC fields, stdlib.
DATA_FILE = re.compile(r"\.(md|mdb|json|jsonl|toml|csv|png|gz|txt|html|rlp)$")
NOT_CODE = {"error.data", "json.loads"}


def _backticked(text: str) -> list[tuple[str | None, str]]:
    """Each backticked token with the package of the section it appears in."""
    found = []
    section = None
    for line in text.splitlines():
        heading = SECTION.match(line)
        if heading:
            section = heading.group(1) if heading.group(1) in PACKAGES else None
        elif line.startswith("## "):
            section = None
        found += [(section, token) for token in re.findall(r"`([^`\s]+)`", line)]
    return found


class Sources:
    """What the packages define, read from their source: modules, and names per module and class."""

    def __init__(self) -> None:
        self.modules: dict[str, Path] = {}
        self.by_basename: dict[str, list[str]] = defaultdict(list)
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                parts = list(path.relative_to(ROOT).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                dotted = ".".join(parts)
                self.modules[dotted] = path
                self.by_basename[parts[-1]].append(dotted)
        self._names: dict[str, dict[str, set[str]]] = {}
        self.classes: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for dotted in self.modules:
            for class_name in self.names(dotted):
                if class_name:
                    self.classes[class_name].append((dotted, class_name))

    def names(self, module: str) -> dict[str, set[str]]:
        """``{"": module-level names, "Class": names defined in that class}``."""
        if module not in self._names:
            tree = ast.parse(self.modules[module].read_text())
            table: dict[str, set[str]] = {"": set()}
            for node in tree.body:
                table[""] |= _defined(node)
                if isinstance(node, ast.ClassDef):
                    table[node.name] = set().union(*(_defined(item) for item in node.body))
                    # instance attributes set in methods (self.x = ...)
                    for item in ast.walk(node):
                        if isinstance(item, ast.Attribute) and isinstance(item.ctx, ast.Store):
                            table[node.name].add(item.attr)
            self._names[module] = table
        return self._names[module]

    def resolves(self, token: str, section: str | None) -> bool:
        parts = token.removesuffix("()").split(".")
        for split in range(len(parts), 0, -1):
            for module in self._modules_named(".".join(parts[:split]), section):
                if self._attributes_exist(module, parts[split:]):
                    return True
        return any(
            self._attributes_exist(module, [class_name, *parts[1:]])
            for module, class_name in self.classes[parts[0]]
        )

    def _modules_named(self, name: str, section: str | None) -> list[str]:
        if name in self.modules:
            return [name]
        if section and f"{section}.{name}" in self.modules:
            return [f"{section}.{name}"]
        tail = name.split(".")[-1]
        return [m for m in self.by_basename.get(tail, []) if m.endswith(name)]

    def _attributes_exist(self, module: str, attributes: list[str]) -> bool:
        if not attributes:
            return True
        table = self.names(module)
        if attributes[0] not in table[""]:
            return False
        if len(attributes) == 1:
            return True
        return attributes[0] in table and attributes[1] in table[attributes[0]] and len(attributes) == 2


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.ImportFrom | ast.Import):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return set()


def _path_exists(token: str, section: str | None) -> bool:
    """From the root or the section's package, else anywhere below a package (``lib/X.sol``)."""
    if (ROOT / token).exists() or (section and (ROOT / section / token).exists()):
        return True
    return any(any((ROOT / package).rglob(token.rstrip("/"))) for package in PACKAGES)


@pytest.fixture(scope="module")
def tokens() -> list[tuple[str | None, str]]:
    return _backticked(DOC.read_text())


def test_every_file_and_folder_the_page_names_exists(tokens: list[tuple[str | None, str]]) -> None:
    named = [(s, t) for s, t in tokens if CODE_FILE.match(t) or FOLDER.match(t)]
    assert len(named) > 30, "the page names the modules it describes"
    missing = [t for s, t in named if not _path_exists(t, s)]
    assert not missing, f"docs/ARCHITECTURE.md names files that do not exist: {missing}"


def test_every_module_and_function_the_page_names_exists(tokens: list[tuple[str | None, str]]) -> None:
    sources = Sources()
    named = [
        (s, t)
        for s, t in tokens
        if DOTTED.match(t) and not CODE_FILE.match(t) and not DATA_FILE.search(t) and t not in NOT_CODE
    ]
    assert len(named) > 10, "the data-flow sections name the real functions"
    missing = [t for s, t in named if not sources.resolves(t, s)]
    assert not missing, f"docs/ARCHITECTURE.md names modules or functions that do not exist: {missing}"


def test_the_check_catches_a_name_that_does_not_exist() -> None:
    sources = Sources()
    assert sources.resolves("Chain.build_block", None)
    assert sources.resolves("node.rpc.eth", None)
    assert not sources.resolves("Chain.build_blocks", None)
    assert not sources.resolves("node.rpc.nothing_here", None)
    assert not _path_exists("chain/nothing_here.py", "chain")
