"""The package's layers: no import cycle (imports inside functions count too), imports point downwards only,
and no module grows past about 400 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "lfwsiamese"

#: Lowest first. A module may import from its own layer or any layer below it, never above.
LAYERS = (
    ("errors", "config", "recipes", "files"),
    ("data",),
    ("models",),
    ("evaluate",),
    ("records",),
    ("training",),
    ("runs", "serve", "experiments"),  # serving, sweeps and record-writing experiments read records, never the book
    ("api",),
    ("report",),  # the book's read-only library over the records
    ("cli", "__init__", "__main__"),
)


def _module(path: Path) -> str:
    parts = path.relative_to(PKG).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for k, names in enumerate(LAYERS):
        if top in names:
            return k
    raise AssertionError(f"module {module!r} belongs to no layer: add its folder to LAYERS")


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its body."""
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]
        if mod == "__init__":
            here = []
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}" if target else alias.name
                    deps.add(full if full in modules else target)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lfwsiamese"):
                target = node.module.removeprefix("lfwsiamese").lstrip(".")
                for alias in node.names:
                    full = f"{target}.{alias.name}" if target else alias.name
                    deps.add(full if full in modules else target)
        graph[mod] = {d for d in deps if d and d != mod and d in modules}
    return graph


def test_no_import_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if d.startswith(m + "."):  # a package importing its own modules is not a cycle
                continue
            if state.get(d) == 1 and not m.startswith(d + "."):
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_imports_point_downwards(module: str) -> None:
    up = sorted(d for d in import_graph()[module] if _layer(d) > _layer(module))
    assert not up, f"{module} (layer {_layer(module)}) imports from a higher layer: {up}"


def test_the_command_line_and_serving_never_import_the_books_library() -> None:
    graph = import_graph()
    users = sorted(m for m, deps in graph.items() if m.split(".")[0] in ("cli", "serve", "api", "__init__")
                   and any(d.split(".")[0] == "report" for d in deps))
    assert not users, f"these import lfwsiamese.report (the book's library): {users}"


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_over_400_lines(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= 420, f"{path.relative_to(PKG)} has {n} lines: split it by what it holds"


def test_the_checker_sees_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cycle test can fail: a graph with a cycle is refused."""
    monkeypatch.setattr(__import__(__name__), "import_graph", lambda: {"a": {"b"}, "b": {"a"}})
    with pytest.raises(AssertionError, match="import cycle: a -> b -> a"):
        test_no_import_cycles()
