"""The import graph keeps its layers (read with grimp, the graph library behind import-linter).

cli/ on top; the commands' packages; ``lookups`` (every lookup by name) above the plugin
manager; the plugin kinds' packages below both, never reaching up. No import circle,
``TYPE_CHECKING`` imports included.
"""

from __future__ import annotations

import grimp
import pytest

KINDS = ("advq_cli.attacks", "advq_cli.methods", "advq_cli.models", "advq_cli.datasets")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("advq_cli", include_external_packages=True, exclude_type_checking_imports=False)


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of advq modules that import each other round a circle (Tarjan's strongly connected components)."""
    ours = sorted(m for m in graph.modules if m == "advq_cli" or m.startswith("advq_cli."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith("advq_cli"):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while (top := stack.pop()) != module:
                component.append(top)
            if component:
                found.append(sorted([module, *component]))

    for module in ours:
        if module not in index:
            visit(module)
    return found


def test_no_import_circle(graph):
    assert circles(graph) == []


def test_the_circle_check_finds_a_circle():
    """The check itself fails where it should, on a graph with a circle in it."""
    looped = grimp.ImportGraph()
    for a, b in (("advq_cli.a", "advq_cli.b"), ("advq_cli.b", "advq_cli.c"), ("advq_cli.c", "advq_cli.a")):
        looped.add_import(importer=a, imported=b)
    assert circles(looped) == [["advq_cli.a", "advq_cli.b", "advq_cli.c"]]


@pytest.mark.parametrize("kind", KINDS)
def test_plugin_kinds_never_reach_up_to_the_plugin_manager_or_the_lookups(graph, kind):
    for above in ("advq_cli.plugins", "advq_cli.lookups", "advq_cli.cli"):
        assert not graph.chain_exists(importer=kind, imported=above, as_packages=True), (kind, above)


def test_only_the_command_line_imports_typer_rich_or_click(graph):
    for tool in ("typer", "rich", "click"):
        if tool in graph.modules:
            importers = graph.find_modules_that_directly_import(tool)
            assert {m for m in importers if not m.startswith("advq_cli.cli")} == set(), tool


def test_nothing_below_the_command_line_imports_it(graph):
    for module in graph.find_children("advq_cli") - {"advq_cli.cli", "advq_cli.__main__"}:
        assert not graph.chain_exists(importer=module, imported="advq_cli.cli", as_packages=True), module
