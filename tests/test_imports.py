"""What plugins and scripts use of gfc-kit is public: no module of ``gfc_kit``, ``plugins/`` or
``benchmarks/`` imports a ``_private`` module or name from another package of gfc-kit."""

from __future__ import annotations

import ast
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
