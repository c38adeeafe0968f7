"""The package's rooms: no import circle anywhere in ``photoqc/``, counting imports inside
functions, and the layers of DESIGN.md (the service reaches the core, not the pipelines)."""

from __future__ import annotations

import ast
from pathlib import Path

import photoqc

ROOT = Path(photoqc.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Each photoqc module -> the photoqc modules it imports anywhere in its text (at the
    top, in functions, under TYPE_CHECKING): ``from a.b import c`` counts as importing
    ``a.b.c`` where that is a module, else ``a.b``."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_is_read_from_real_imports():
    graph = import_graph()
    # A top-level import, one inside a function and a relative one are all edges.
    assert "photoqc.assess.recipe" in graph["photoqc.assess.scorer"]
    assert "photoqc.pipelines.batch.features" in graph["photoqc.cli.score"]  # in a function
    assert "photoqc.models.nima.predictor" in graph["photoqc.models.nima"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_its_way_back_to_itself():
    assert cycles(import_graph()) == []


def test_the_service_calls_the_core_not_the_pipelines():
    graph = import_graph()
    service = {m for m in graph if m.startswith("photoqc.service")}
    reached = {t for m in service for t in graph[m]}
    assert not {t for t in reached if t.startswith("photoqc.pipelines")}, reached


def test_no_cli_module_is_over_400_lines():
    for path in (ROOT / "cli").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path.name


def test_no_nima_file_is_left_at_the_top_of_models():
    assert not list((ROOT / "models").glob("nima_*.py"))
