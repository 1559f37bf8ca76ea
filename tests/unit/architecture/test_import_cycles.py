"""No import cycles in src/: the imports between opsroom's own modules form a graph without
cycles — at module level, and also counting imports inside functions (deliberately lazy: an
SDK only when configured), which hide a tangle just as well. Imports under ``TYPE_CHECKING``
(types only) are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def top_level_imports(path: Path, name: str, modules: set[str], *, lazy: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse)
                continue
            if lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With)):
                visit(node.body)
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)

    visit(tree.body)
    return found


def import_graph(*, lazy: bool = False) -> dict[str, set[str]]:
    files = {module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts}
    modules = set(files)
    return {name: top_level_imports(path, name, modules, lazy=lazy) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            # importing a.b runs a/__init__ first; a package's own __init__ importing its
            # submodules is not a cycle with them.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = walk(start)
            if found:
                return found
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_src_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "opsroom.engine.core" in graph and graph["opsroom.engine.core"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_src_has_no_import_cycle_through_imports_inside_functions() -> None:
    graph = import_graph(lazy=True)
    assert "opsroom.app" in graph["opsroom.cli.common"], "the lazy imports are counted"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (counting imports inside functions): " + " → ".join(cycle or [])


def test_policy_imports_nothing_above_it() -> None:
    """policy/ is Cedar and its YAML shorthand: it may use core and config, never the
    engine, guardrails, runs, chat or the web."""
    above = (
        "opsroom.engine",
        "opsroom.guardrails",
        "opsroom.runs",
        "opsroom.chat",
        "opsroom.web",
        "opsroom.app",
        "opsroom.plugins",
        "opsroom.features",
        "opsroom.reporter",
    )
    graph = import_graph()
    bad = {
        m: sorted(t for t in targets if t.startswith(above))
        for m, targets in graph.items()
        if m.startswith("opsroom.policy")
    }
    assert not {m: t for m, t in bad.items() if t}
