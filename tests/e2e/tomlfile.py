"""Write a settings dict as a TOML file, for running `acd` as its own process."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    lines: list[str] = []

    def table(name: str, body: dict[str, Any]) -> None:
        plain = {k: v for k, v in body.items() if not isinstance(v, dict) or k == "skills"}
        nested = {k: v for k, v in body.items() if isinstance(v, dict) and k != "skills"}
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_value(v)}" for k, v in plain.items() if v is not None)
        for key, sub in nested.items():
            table(f"{name}.{key}", sub)

    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"[[{key}]]")
                lines.extend(f"{k} = {_value(v)}" for k, v in item.items())
        elif isinstance(value, dict):
            table(key, value)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
