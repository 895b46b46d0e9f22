"""The peak plan: levels that follow a sustained queue, with hysteresis.

Level 1 ("callbacks and breaks stop") is reached when at least
``level1_waiting`` callers have been waiting continuously for
``level1_sustain`` seconds; level 2 ("all staff on the phones") when at least
``level2_waiting`` have for ``level2_sustain`` seconds. A level falls back one
step when waiting has stayed below its ``*_release`` count for
``release_sustain`` seconds. Defaults are the hotline manual's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class PeakLevel(IntEnum):
    """The peak plan's level: normal, callbacks and breaks stop, all staff on the phones."""

    NORMAL = 0
    CALLBACKS_AND_BREAKS_STOP = 1
    ALL_STAFF = 2


@dataclass(frozen=True, slots=True)
class PeakRules:
    """When the peak plan steps up and back down (waiting callers sustained for a time)."""

    level1_waiting: int = 8
    level1_sustain: float = 30 * 60
    level1_release: int = 4
    level2_waiting: int = 16
    level2_sustain: float = 30 * 60
    level2_release: int = 8
    release_sustain: float = 5 * 60
    max_callback_agents: int = 2  # in normal times

    def __post_init__(self) -> None:
        if not 0 < self.level1_waiting <= self.level2_waiting:
            raise ValueError("peak: need 0 < level1_waiting <= level2_waiting")
        if self.level1_release > self.level1_waiting or self.level2_release > self.level2_waiting:
            raise ValueError("peak: a release count must not exceed its threshold")


@dataclass(frozen=True, slots=True)
class PeakLevelChanged:
    """The peak plan changed level (a fact for storage and the wallboard)."""

    old: PeakLevel
    new: PeakLevel
    waiting: int
    at: float


class PeakPlan:
    """Tracks how long the queue has been above/below each threshold."""

    def __init__(self, rules: PeakRules | None = None) -> None:
        self.rules = rules or PeakRules()
        self.level = PeakLevel.NORMAL
        self._above1_since: float | None = None
        self._above2_since: float | None = None
        self._below_since: float | None = None

    def update(self, waiting: int, now: float) -> PeakLevelChanged | None:
        """Feed the current waiting count; return a change of level, if any."""
        r = self.rules
        self._above1_since = _since(waiting >= r.level1_waiting, self._above1_since, now)
        self._above2_since = _since(waiting >= r.level2_waiting, self._above2_since, now)
        self._below_since = _since(waiting < self._release(self.level), self._below_since, now)

        target = self.level
        if self._held(self._above2_since, r.level2_sustain, now):
            target = PeakLevel.ALL_STAFF
        elif self._held(self._above1_since, r.level1_sustain, now):
            target = max(target, PeakLevel.CALLBACKS_AND_BREAKS_STOP)
        if target == self.level and self._held(self._below_since, r.release_sustain, now):
            target = PeakLevel(self.level - 1)
        if target == self.level:
            return None
        change = PeakLevelChanged(self.level, target, waiting, now)
        self.level = target
        # The next level's release clock starts now if the queue is already low.
        self._below_since = now if waiting < self._release(target) else None
        return change

    def _release(self, level: PeakLevel) -> int:
        r = self.rules
        return (0, r.level1_release, r.level2_release)[level]

    @staticmethod
    def _held(since: float | None, duration: float, now: float) -> bool:
        return since is not None and now - since >= duration


def _since(condition: bool, since: float | None, now: float) -> float | None:
    if not condition:
        return None
    return now if since is None else since
