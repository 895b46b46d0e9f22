"""The end-to-end suite judges the engine from outside: it never imports it."""

from __future__ import annotations

import ast
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"
# The engine's own packages, and the drivers of its database: read through the API only.
ENGINE_PACKAGES = {"acd", "ivr", "recording", "sqlite3", "sqlalchemy", "aiosqlite", "asyncpg"}


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_end_to_end_module_imports_the_engine():
    offenders = {
        path.name: sorted(n for n in _imported(path) if n.split(".")[0] in ENGINE_PACKAGES)
        for path in sorted(E2E.glob("*.py"))
    }
    offenders = {name: found for name, found in offenders.items() if found}
    assert offenders == {}, f"e2e modules import the engine or its database: {offenders}"
    assert len(list(E2E.glob("test_*.py"))) >= 5  # the check looked at the real suite
