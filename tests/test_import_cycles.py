"""No import cycles among forgetmap's modules: the layers read one way (docs/ARCHITECTURE.md).

Every module of ``src/forgetmap`` is parsed, not imported. An import counts wherever it is
written, inside a function too (a lazy import is still a dependency), except under
``if TYPE_CHECKING:``. ``from pkg import name`` depends on ``pkg`` and, when ``name`` is a
submodule, on ``pkg.name``; importing ``a.b.c`` from outside ``a.b`` also runs ``a/b/__init__``,
so it depends on that package too.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((SRC / "forgetmap").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported_modules(
    name: str, source: str, is_package: bool, modules: Mapping[str, object]
) -> set[str]:
    """The modules among ``modules`` that module ``name`` (with this ``source``) imports."""
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            stem = node.module or ""
            if node.level:  # relative: level 1 is this package, 2 its parent, ...
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([stem] if stem else []))
            targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target not in modules or target == name:
                continue
            found.add(target)
            parts = target.split(".")
            for end in range(1, len(parts)):  # packages run on the way, unless ours already
                ancestor = ".".join(parts[:end])
                if ancestor in modules and not (name + ".").startswith(ancestor + "."):
                    found.add(ancestor)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: imported_modules(
            name, path.read_text(encoding="utf-8"), path.name == "__init__.py", modules
        )
        for name, path in modules.items()
    }


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first search: empty when the graph is acyclic."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []  # the modules on the current search path, in order

    def visit(node: str) -> None:
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node)
    return cycles


def test_no_module_imports_itself_through_others():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_the_imports_that_matter():
    """Guards the test above against passing on an empty graph."""
    graph = import_graph()
    assert "forgetmap.data" in graph["forgetmap.lm._encode"]  # a module-level import
    assert "forgetmap.collect" in graph["forgetmap.stored_run"]
    assert "forgetmap.replay._execute" in graph["forgetmap.replay._experiment"]  # in a function
    assert "forgetmap.store" not in graph["forgetmap.stored_run"]  # only under TYPE_CHECKING


def test_relative_and_submodule_imports_resolve():
    modules = dict.fromkeys(["a", "a.b", "a.b.c", "a.b.d", "a.e", "a.f"])
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import d\n"  # a sibling, through the package
        "from ..e import thing\n"  # the parent's module
        "def later():\n"
        "    import a.f\n"  # a lazy import counts (package a is a.b.c's own: no extra edge)
        "if TYPE_CHECKING:\n"
        "    from a.b import c\n"
    )
    assert imported_modules("a.b.c", source, False, modules) == {"a.b", "a.b.d", "a.e", "a.f"}
    # importing a submodule from outside its package runs the package's __init__ as well
    assert imported_modules("a.e", "import a.b.d\n", False, modules) == {"a.b", "a.b.d"}


def test_a_cycle_is_named():
    graph = {"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}
    assert find_cycles(graph) == [["x", "y", "z", "x"]]
    assert find_cycles({"x": {"y"}, "y": set()}) == []
