"""The import rules between the packages, read from the source with ``ast`` (nothing is imported).

- No import cycle between the modules of ``node/``: every import counts, inside functions and
  under ``if TYPE_CHECKING:`` too, so a cycle cannot hide behind a late import.
- ``chain/`` (the ledger) and ``vm_contracts/`` (the framework) import nothing from ``node/``
  or ``bench/``.
- ``bench/`` uses no private name (``_x``) of another package: neither imports one nor reads
  one as an attribute of another package's module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("chain", "node", "vm_contracts", "bench")  # the project's own top-level packages


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a dotted name."""

    module: str
    """The module imported from (``from X import y``: X) or imported (``import X``: X)."""
    names: tuple[str, ...]
    """``from X import a, b``: (a, b); ``import X``: ()."""
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path) -> Iterator[Import]:
    """Every import in the file, anywhere in it; relative imports made absolute."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module_name(path)
                package = here if path.name == "__init__.py" else here.rpartition(".")[0]
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            yield Import(base, tuple(alias.name for alias in node.names), node.lineno)


def is_module(dotted: str) -> bool:
    path = REPO.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def top(dotted: str) -> str:
    return dotted.split(".")[0]


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def targets(found: Import) -> set[str]:
    """The project modules an import loads: ``from pkg import mod`` is the module pkg.mod
    when there is one, else the module pkg itself."""
    if not found.names:
        return {found.module}
    out = set()
    for name in found.names:
        child = f"{found.module}.{name}"
        out.add(child if is_module(child) else found.module)
    return out


def node_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in source_files("node"):
        here = module_name(path)
        edges = graph.setdefault(here, set())
        for found in imports(path):
            if top(found.module) == "node":
                edges.update(target for target in targets(found) if target != here)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_node_modules_import_each_other_without_a_cycle() -> None:
    graph = node_graph()
    assert "node.backend" in graph and "node.assemble" in graph  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in node/: " + " -> ".join(cycle or [])


def test_the_ledger_and_the_framework_import_nothing_from_node_or_bench() -> None:
    wrong = [
        f"{path.relative_to(REPO)}:{found.line}: {found.module}"
        for package in ("chain", "vm_contracts")
        for path in source_files(package)
        for found in imports(path)
        if top(found.module) in ("node", "bench")
    ]
    assert wrong == []


def private_uses(path: Path) -> Iterator[str]:
    """Private names of the other project packages that a bench/ file imports or reads."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: dict[str, str] = {}  # a local name bound to another package's module -> its dotted name
    for found in imports(path):
        if top(found.module) not in PACKAGES or top(found.module) == "bench":
            continue
        if any(is_private(part) for part in found.module.split(".")):
            yield f"{found.line}: {found.module}"
        for name in found.names:
            if is_private(name):
                yield f"{found.line}: {found.module}.{name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if top(alias.name) in PACKAGES and top(alias.name) != "bench":
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    else:
                        modules[top(alias.name)] = top(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if top(node.module) in PACKAGES and top(node.module) != "bench":
                for alias in node.names:
                    if is_module(f"{node.module}.{alias.name}"):
                        modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            dotted = _dotted(node.value)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head in modules:
                yield f"{node.lineno}: {modules[head]}{'.' + rest if rest else ''}.{node.attr}"


def _dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        inner = _dotted(expr.value)
        return None if inner is None else f"{inner}.{expr.attr}"
    return None


def test_the_private_name_check_sees_imports_and_attributes(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from vm_contracts.client import _adapter, deploy\n"
        "from vm_contracts import client\n"
        "import chain.store as store\n"
        "from bench.throughput import _free_port\n"
        "client._incentive_args(1)\n"
        "store.Store._tables\n"
        "client.deploy\n"
    )
    found = [use.split(": ", 1)[1] for use in private_uses(sample)]
    assert sorted(found) == [
        "chain.store.Store._tables",
        "vm_contracts.client._adapter",
        "vm_contracts.client._incentive_args",
    ]


def test_bench_uses_no_private_name_of_another_package() -> None:
    wrong = [
        f"{path.relative_to(REPO)}:{use}" for path in source_files("bench") for use in private_uses(path)
    ]
    assert wrong == []
