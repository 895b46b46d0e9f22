"""Working hours (seasonal, with lunch) and the duty schedule. Pure."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

END_OF_DAY = time.max
"""``close``/``end`` given as "24:00": the period runs to midnight, its last instant included."""


def _end_of_day(value: object) -> object:
    if isinstance(value, str) and value.strip() in ("24:00", "24:00:00"):
        return END_OF_DAY
    return value


EndTime = Annotated[time, BeforeValidator(_end_of_day)]
"""A time of day that may also be "24:00" (midnight at the end of the day)."""


def _before_end(at: time, end: time) -> bool:
    return at <= end if end == END_OF_DAY else at < end


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DayHours(_Model):
    """One day's opening hours, with an optional lunch break."""

    open: time
    close: EndTime
    lunch_start: time | None = None
    lunch_end: time | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DayHours:
        if not self.open < self.close:
            raise ValueError("open must be before close")
        if (self.lunch_start is None) != (self.lunch_end is None):
            raise ValueError("give both lunch_start and lunch_end, or neither")
        if self.lunch_start and self.lunch_end:
            if not self.open <= self.lunch_start < self.lunch_end <= self.close:
                raise ValueError("lunch must lie inside opening hours")
        return self

    def is_open(self, at: time) -> bool:
        if not (self.open <= at and _before_end(at, self.close)):
            return False
        if self.lunch_start and self.lunch_end and self.lunch_start <= at < self.lunch_end:
            return False
        return True


class WorkingHours(_Model):
    """The manual's defaults: 9:00-18:00 (lunch 12:00-13:30) in spring and summer,
    9:00-17:30 (lunch 12:00-13:00) in winter."""

    summer_months: frozenset[int] = frozenset(range(3, 9))  # March to August
    summer: DayHours = DayHours(
        open=time(9), close=time(18), lunch_start=time(12), lunch_end=time(13, 30)
    )
    winter: DayHours = DayHours(
        open=time(9), close=time(17, 30), lunch_start=time(12), lunch_end=time(13)
    )
    days: frozenset[int] = Field(default=frozenset(range(1, 8)))  # ISO weekdays, 1 = Monday

    def today(self, now: datetime) -> DayHours:
        return self.summer if now.month in self.summer_months else self.winter

    def is_open(self, now: datetime) -> bool:
        """Is ``now`` (local time of the call centre) within working hours?"""
        return now.isoweekday() in self.days and self.today(now).is_open(now.time())


class DutySlot(_Model):
    """Agents on duty for a line in a weekly time slot."""

    line: str
    days: frozenset[int] = frozenset(range(1, 8))
    start: time
    end: EndTime
    agents: tuple[str, ...]

    def covers(self, now: datetime) -> bool:
        return (
            now.isoweekday() in self.days
            and self.start <= now.time()
            and _before_end(now.time(), self.end)
        )


def lines_with_duty(slots: tuple[DutySlot, ...], now: datetime) -> frozenset[str]:
    """Lines that have at least one agent on duty now according to the schedule."""
    return frozenset(s.line for s in slots if s.agents and s.covers(now))
