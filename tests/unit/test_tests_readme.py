"""tests/README.md names, for each promise of the README, tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TOKEN = re.compile(r"\b(e2e|unit)\b|`([^`]+)`")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _references() -> list[tuple[str, str, str | None]]:
    """(folder, file, test or None) for every test named in the promises table."""
    text = (TESTS / "README.md").read_text(encoding="utf-8")
    table = text.split("## Which test guards which promise", 1)[1]
    found = []
    for row in table.splitlines():
        if not row.startswith("| ") or row.startswith("| README promise"):
            continue
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        folder, current = None, None
        for kind, ref in TOKEN.findall(cell):
            if kind:
                folder = kind
                continue
            name, _, test = ref.partition("::")
            if name.endswith(".py"):
                current = name
            elif not ref.startswith("::"):
                continue  # a command or a setting, not a test
            if folder is None or current is None:
                continue
            found.append((folder, current, test.split("[")[0] or None))
    return found


def test_every_test_the_promises_table_names_exists():
    references = _references()
    assert len(references) > 80  # the table was read
    missing = []
    for folder, name, test in references:
        path = TESTS / folder / name
        if not path.exists() or (test is not None and test not in _functions(path)):
            missing.append(f"{folder}/{name}::{test}")
    assert missing == []
