"""The layers of docs/ARCHITECTURE.md, checked on the code's own imports.

Every ``import`` statement of the package is read (those inside functions too: a lazy
import is still a dependency), and each module must import only from its own layer or
the layers below, with no cycle among modules. A new top-level module must be given a
layer here (and in the architecture document) before it can be imported.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: module prefix -> layer, as in docs/ARCHITECTURE.md (higher imports lower)
LAYERS: dict[str, int] = {
    "effobj.cli": 7,
    "effobj.apps": 6,
    "effobj.rl": 5,
    "effobj.report": 5,
    "effobj.optuna": 4,
    "effobj.rerank": 4,
    "effobj.cost_models": 4,
    "effobj.nn": 4,
    "effobj.spaces": 3,
    "effobj.remote": 3,
    "effobj.profiler": 2,
    "effobj.metric": 1,
    "effobj._metric": 1,
    "effobj.spec": 1,
    "effobj.record": 1,
    "effobj.score_table": 1,
    "effobj.ratios": 1,
    "effobj.pareto": 1,
    "effobj.targets": 1,
    "effobj._validation": 1,
    "effobj.errors": 1,
}


#: package -> its folder (effobj.spaces is installed from search_spaces/, pyproject.toml)
PACKAGES: dict[str, Path] = {"effobj": ROOT / "effobj", "effobj.spaces": ROOT / "search_spaces"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if package == "effobj" and parts[0] == "spaces":
                continue  # effobj/spaces links to search_spaces/ (read as effobj.spaces)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _layer(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return None if best is None else best[1]


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports (any statement, any depth)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            # the deepest known module the name refers to
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name not in ("effobj", module):
                out.add(name)
    return out


MODULES = _modules()
GRAPH = {m: _imports(m, p, set(MODULES)) for m, p in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in MODULES if m != "effobj" and _layer(m) is None)
    assert missing == [], f"give these modules a layer in LAYERS and ARCHITECTURE.md: {missing}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "effobj"))
def test_imports_go_down_the_layers(module: str) -> None:
    up = sorted(
        f"{dep} (layer {_layer(dep)})"
        for dep in GRAPH[module]
        if (_layer(dep) or 0) > (_layer(module) or 0)
    )
    assert up == [], f"{module} (layer {_layer(module)}) imports from above: {up}"


def test_no_import_cycle() -> None:
    # Tarjan's strongly connected components; a component of two or more is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            # a package and its own submodules are one unit (its __init__ re-exports them)
            if w.startswith(v + ".") or v.startswith(w + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == [], f"modules that import each other: {cycles}"


def test_the_checker_sees_a_violation() -> None:
    # the checker itself: a lazy import of the CLI from the metric layer is found
    src = ROOT / "effobj" / "metric.py"
    tree_imports = _imports("effobj.metric", src, set(MODULES))
    assert "effobj._metric.dispatch" in tree_imports or "effobj._metric" in tree_imports
    assert _layer("effobj.cli.search") == 7 and _layer("effobj._metric.kernels") == 1
