"""What plugins and scripts use of gfc-kit is public: no module of ``gfc_kit``, ``plugins/`` or
``benchmarks/`` imports a ``_private`` module or name from another package of gfc-kit."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sources() -> list[Path]:
    files = [*(ROOT / "gfc_kit").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    for plugin in (ROOT / "plugins").iterdir():
        files += [p for p in plugin.rglob("*.py") if "tests" not in p.parts]
    return files


def _package(path: Path) -> str:
    """The dotted package a file of gfc_kit belongs to (``gfc_kit.components.masks``), or its path."""
    relative = path.relative_to(ROOT)
    return ".".join(relative.parts[:-1]) if relative.parts[0] == "gfc_kit" else str(relative)


def test_nothing_imports_a_private_name_from_another_package():
    offences = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("gfc_kit"):
                continue
            is_package = (ROOT / Path(*node.module.split("."))).is_dir()
            if (node.module if is_package else node.module.rsplit(".", 1)[0]) == _package(path):
                continue  # a module's own package may share its private helpers
            names = [*node.module.split("."), *(a.name for a in node.names)]
            private = [n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
            if private:
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module} {private}")
    assert not offences, "\n".join(offences)


def _packages() -> dict[str, Path]:
    """Each top-level package whose import graph is checked: gfc_kit and every plugin's, by the
    folder its dotted names start from."""
    roots = {"gfc_kit": ROOT}
    for plugin in (ROOT / "plugins").iterdir():
        roots |= {init.parent.name: plugin for init in plugin.glob("*/__init__.py")}
    return roots


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the checked packages (a package is its ``__init__``)."""
    modules = {}
    for package, root in _packages().items():
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_time_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports that run when the module is imported, or that a type checker follows: every
    one outside a function body (so those under ``if TYPE_CHECKING:``, ``try:`` or in a class
    body count), none inside one (a function's import is a deliberate lazy import)."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    """The modules an import statement depends on: ``from a.b import c`` is ``a.b.c`` when that is
    a module, else ``a.b`` itself (for a package, its ``__init__``, re-exports and all)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's own package, one level up per extra dot
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def _import_graph() -> dict[str, dict[str, int]]:
    """Module → {module it imports at import time: line of the import}, within the checked packages."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for node in _import_time_imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, module, path.name == "__init__.py", modules):
                if target in modules and target != module:
                    edges.setdefault(target, node.lineno)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = stack[stack.index(node):]
                    del stack[stack.index(node):]
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_the_cycle_finder_finds_a_cycle_and_only_cycles():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {"e": 1}, "e": {}, "f": {"f": 1}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle():
    """No module of gfc_kit or of a plugin package imports, at import time, a module that
    imports it back, directly or through others.

    What counts as an import: every ``import``/``from … import`` outside a function body,
    including those under ``if TYPE_CHECKING:`` (a type checker follows them, and they are
    the ones that turn into real imports the day an annotation is evaluated); imports inside
    functions are deliberate lazy imports and do not count.

    Packages and re-exports: ``from gfc_kit.recipe import Stage`` depends on
    ``gfc_kit/recipe/__init__.py`` and so on everything that ``__init__`` imports to re-export,
    because that is what Python executes; naming the defining module
    (``gfc_kit.recipe.schema``) depends on that module alone. The implicit import of a
    module's parent packages (Python runs ``gfc_kit/__init__.py`` before any ``gfc_kit.x``)
    does not count: Python hands a partly initialised parent to its submodules, so a package
    whose ``__init__`` imports its own submodules is the normal layout, not a cycle. A
    submodule that imports a name from its package (``from gfc_kit import __version__``) does
    depend on that ``__init__`` and is counted.
    """
    graph = _import_graph()
    report = []
    for component in _cycles(graph):
        report.append(f"a cycle of {len(component)} modules:")
        report += [f"  {a}:{line} imports {b}" for a in component for b, line in sorted(graph[a].items())
                   if b in component]
    assert not report, "\n".join(report)
