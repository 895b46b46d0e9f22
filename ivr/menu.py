"""The hotline's main menu: 1 cruise, 2 tour, 3 free travel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Line(StrEnum):
    """A dedicated product line of the hotline."""

    CRUISE = "cruise"
    TOUR = "tour"
    FREE_TRAVEL = "free_travel"


MAIN_MENU: dict[str, Line] = {"1": Line.CRUISE, "2": Line.TOUR, "3": Line.FREE_TRAVEL}
DTMF_KEYS = "0123456789*#"


@dataclass(frozen=True, slots=True)
class MenuChoice:
    """What a keypress in the main menu means."""

    digit: str
    line: Line | None

    @property
    def valid(self) -> bool:
        return self.line is not None


def choose(digit: str) -> MenuChoice:
    """Interpret one key pressed in the main menu."""
    if len(digit) != 1 or digit not in DTMF_KEYS:
        raise ValueError(f"not a DTMF key: {digit!r}")
    return MenuChoice(digit=digit, line=MAIN_MENU.get(digit))
