"""The IVR menu tree, loaded from TOML and validated; errors name the node and key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ivr.hours import DutySlot, WorkingHours

DTMF_KEYS = "0123456789*#"
DEFAULT_TREE = Path(__file__).with_name("default_tree.toml")


class TreeError(Exception):
    """The IVR tree file is not usable; the message names the node and key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyAction(_Model):
    """What one key does in a menu: exactly one of the fields."""

    goto: str | None = None  # another menu
    info: str | None = None  # play this prompt (self-service), then the menu again
    agent: str | None = None  # wait for a human on this line
    callback: str | None = None  # leave a callback request for this line

    @model_validator(mode="after")
    def _exactly_one(self) -> KeyAction:
        chosen = [n for n in ("goto", "info", "agent", "callback") if getattr(self, n)]
        if len(chosen) != 1:
            raise ValueError("give exactly one of goto, info, agent, callback")
        return self


class Menu(_Model):
    """One menu: its prompt and what each key does."""

    prompt: str
    prompt_no_human: str | None = None  # played instead when a human option is not offered
    keys: dict[str, KeyAction]


class LineSpec(_Model):
    """A line callers can ask for (e.g. cruise): the name whispered to the agent."""

    name_prompt: str  # whispered to the agent on answer, e.g. "cruise"


LINE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


class IvrTree(_Model):
    """The whole IVR: lines, menus, key rules, working hours and the duty schedule."""

    welcome: str = "welcome"
    start: str = "main"
    repeat_key: str = "*"
    max_invalid: int = Field(default=3, ge=1, le=10)
    silence_timeout: float = Field(default=5.0, gt=0, le=60)
    silence_repeats: int = Field(default=1, ge=0, le=5)
    lines: dict[str, LineSpec]
    menus: dict[str, Menu]
    hours: WorkingHours = WorkingHours()
    duty: tuple[DutySlot, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> IvrTree:
        problems: list[str] = []
        for line in self.lines:  # stored with every call, recording and ticket (32 wide)
            if not LINE_NAME.fullmatch(line):
                problems.append(f"lines.{line}: a line's name is 1 to 32 letters, digits, _ or -")
        if self.start not in self.menus:
            problems.append(f"start: '{self.start}' is not a menu")
        if len(self.repeat_key) != 1 or self.repeat_key not in DTMF_KEYS:
            problems.append(f"repeat_key: '{self.repeat_key}' is not a DTMF key")
        for name, menu in self.menus.items():
            for key, action in menu.keys.items():
                where = f"menus.{name}.keys.{key}"
                if len(key) != 1 or key not in DTMF_KEYS:
                    problems.append(f"{where}: '{key}' is not a DTMF key (0-9, * or #)")
                if key == self.repeat_key:
                    problems.append(f"{where}: '{key}' is the repeat key")
                if action.goto is not None and action.goto not in self.menus:
                    problems.append(f"{where}.goto: '{action.goto}' is not a menu")
                for field in ("agent", "callback"):
                    line = getattr(action, field)
                    if line is not None and line not in self.lines:
                        problems.append(f"{where}.{field}: '{line}' is not a line")
        for i, slot in enumerate(self.duty):
            if slot.line not in self.lines:
                problems.append(f"duty.{i}.line: '{slot.line}' is not a line")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def prompts(self) -> set[str]:
        """Every prompt key the tree refers to (all must exist in the catalogue)."""
        keys = {self.welcome, *(spec.name_prompt for spec in self.lines.values())}
        for menu in self.menus.values():
            keys.add(menu.prompt)
            if menu.prompt_no_human:
                keys.add(menu.prompt_no_human)
            keys.update(a.info for a in menu.keys.values() if a.info)
        return keys


def load_tree(path: Path = DEFAULT_TREE) -> IvrTree:
    """Read and validate an IVR tree file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TreeError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TreeError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TreeError(f"{path}: not valid TOML: {exc}") from None
    try:
        return IvrTree.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{path}: {loc + ': ' if loc else ''}{msg}")
        raise TreeError("\n".join(lines)) from None
