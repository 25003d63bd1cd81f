"""The package's imports point one way: no module reaches itself again through its imports.

Read from the source (no import is executed), counting every import: at module level, inside
functions (where a cycle hides from Python's import machinery) and under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sentiment_mlops

PACKAGE_DIR = Path(sentiment_mlops.__file__).parent
PACKAGE = PACKAGE_DIR.name


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: set[str]
) -> set[str]:
    """The modules of `modules` an import statement names.

    `from a import b` names the module `a.b` when there is one, else the module `a`.
    """
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & modules
    base = node.module or ""
    if node.level:  # relative: `from . import x` in a.b.c (or in the package a.b) is a.b.x
        parts = module.split(".")
        anchor = parts[: len(parts) - node.level + is_package]
        base = ".".join([*anchor, base] if base else anchor)
    named = {f"{base}.{alias.name}" for alias in node.names}
    return named & modules or {base} & modules


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports."""
    sources = {_module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = {
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in _imported(node, module, path.name == "__init__.py", set(sources))
        } - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (a list of modules ending where it starts), or None: a depth-first search."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph.get(module, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert find_cycle(graph) == ["p.a", "p.b", "p.c", "p.a"]
    assert find_cycle({"p.a": {"p.b"}, "p.b": set()}) is None


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    # The CLI imports the flows only inside its functions (it answers --help at once).
    assert f"{PACKAGE}.flows.local_prefect" in graph[f"{PACKAGE}.cli.runtime"]
    assert f"{PACKAGE}.flows.inputs" in graph[f"{PACKAGE}.cli.main"]
    assert f"{PACKAGE}.settings" in graph[f"{PACKAGE}.cli.main"]


def test_no_command_module_imports_the_app_that_mounts_it() -> None:
    # `main` builds the app from the command modules; what they share is in cli/runtime.py.
    graph = import_graph()
    importers = [
        module
        for module, imported in graph.items()
        if module.startswith(f"{PACKAGE}.cli.") and f"{PACKAGE}.cli.main" in imported
    ]
    assert importers == []
