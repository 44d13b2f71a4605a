"""The layers of `src/servicetokens/` are kept by this test, not by good intentions.

Read from the source (every `import` statement, including those inside functions and under
`TYPE_CHECKING`): the domain imports only itself and the standard library; the service layer
never reaches an entrypoint; storage never reaches up; entrypoints never reach storage; only
the composition root (`bootstrap.py`) sees everything; and no module imports itself back
through others. See docs/architecture.md.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "servicetokens"
MAX_LINES = 350

ENTRYPOINTS = ("api", "gate", "cli", "dashboard")
ROOT = f"{PACKAGE}.bootstrap"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in sorted((SRC / PACKAGE).rglob("*.py"))
        if "migrations" not in path.parts
    }


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module `name` imports (absolute names; `from x import y` yields x.y when that
    is a module of ours, else x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in MODULES else base


GRAPH = {name: sorted(set(_imports(name, path))) for name, path in MODULES.items()}


def _ours(target: str) -> bool:
    return target == PACKAGE or target.startswith(f"{PACKAGE}.")


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _in(module: str, *layers: str) -> bool:
    return _layer(module) in layers


def _edges(source_layers: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for source, targets in GRAPH.items():
        if _in(source, *source_layers):
            for target in targets:
                if _ours(target):
                    yield source, target


def test_the_graph_is_read() -> None:
    assert f"{PACKAGE}.domain.tokens" in MODULES
    assert f"{PACKAGE}.domain.durations" in GRAPH[f"{PACKAGE}.domain.tokens"]
    assert any(t.startswith(f"{PACKAGE}.store") for t in GRAPH[ROOT])


def test_the_domain_imports_only_itself_and_the_standard_library() -> None:
    wrong = [
        (source, target)
        for source, targets in GRAPH.items()
        if _in(source, "domain")
        for target in targets
        if (_ours(target) and not _in(target, "domain"))
        or (not _ours(target) and target.split(".")[0] not in sys.stdlib_module_names)
    ]
    assert wrong == []


def test_entrypoints_never_import_storage() -> None:
    wrong = [(s, t) for s, t in _edges(ENTRYPOINTS) if _in(t, "store")]
    assert wrong == []


def test_the_api_and_the_gate_do_not_import_each_other() -> None:
    wrong = [(s, t) for s, t in _edges(("api",)) if _in(t, "gate", "cli")]
    wrong += [(s, t) for s, t in _edges(("gate",)) if _in(t, "api", "cli")]
    assert wrong == []


def test_the_dashboard_is_an_entrypoint_of_its_own() -> None:
    """Beside the API, never through it: it calls the use cases as the API does."""
    wrong = [(s, t) for s, t in _edges(("dashboard",)) if _in(t, "api", "gate", "cli")]
    wrong += [(s, t) for s, t in _edges(("api", "gate")) if _in(t, "dashboard")]
    assert wrong == []


def test_the_service_layer_never_imports_an_entrypoint_or_the_root() -> None:
    wrong = [
        (s, t) for s, t in _edges(("usecases", "signing")) if _in(t, *ENTRYPOINTS) or t == ROOT
    ]
    assert wrong == []


def test_storage_never_imports_upwards() -> None:
    wrong = [(s, t) for s, t in _edges(("store",)) if not _in(t, "store", "domain")]
    assert wrong == []


def test_only_the_composition_root_and_entrypoints_import_it() -> None:
    importers = sorted(s for s, targets in GRAPH.items() if ROOT in targets)
    assert all(_in(s, "cli") or s == f"{PACKAGE}.__main__" for s in importers), importers


def _cycle() -> list[str] | None:
    """One import cycle among our modules, if there is any (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in GRAPH.get(node, []):
            if target not in MODULES:
                continue
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for module in MODULES:
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_there_are_no_import_cycles() -> None:
    assert _cycle() is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by concept"
