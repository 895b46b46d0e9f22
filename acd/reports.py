"""Reports for team leads: read a period's facts, compute (``acd.core.reports``), render."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gc
import io
from collections.abc import Callable, Iterator
from datetime import date, datetime, tzinfo
from typing import Any

from acd.core.reports import Period, ReportRules, build_report, period_bounds
from acd.storage.reports import ReportSource

CSV_ROWS = ("lines", "agents")
# Every agent's desktop asks for its own figures today after each call: they share
# one day report, computed at most this often (seconds), instead of one each.
TODAY_MAX_AGE = 2.0


class ReportService:
    """Computes the report of a day, week or month in the centre's time zone."""

    def __init__(
        self,
        source: ReportSource,
        rules: ReportRules,
        zone: tzinfo,
        clock: Callable[[], float],
    ) -> None:
        self._source = source
        self._rules = rules
        self._zone = zone
        self._clock = clock
        self._today: tuple[date, float, dict[str, Any]] | None = None  # day, when, report
        self._computing: asyncio.Task[dict[str, Any]] | None = None

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), self._zone).date()

    async def today_report(self) -> dict[str, Any]:
        """Today's report, at most ``TODAY_MAX_AGE`` seconds old, shared by everyone asking."""
        day = self.today()
        cached = self._today
        if cached is not None and cached[0] == day and self._clock() - cached[1] < TODAY_MAX_AGE:
            return cached[2]
        if self._computing is None:
            self._computing = asyncio.create_task(self._compute_today(day), name="acd-today")
        # One asker giving up (a closed page) does not cancel it for the others.
        return await asyncio.shield(self._computing)

    async def _compute_today(self, day: date) -> dict[str, Any]:
        try:
            at = self._clock()
            report = await self.report("day", day)
            self._today = (day, at, report)
            return report
        finally:
            self._computing = None

    async def report(self, period: Period, day: date) -> dict[str, Any]:
        """The day, ISO week or month containing ``day`` (the centre's local time)."""
        start, end, label = period_bounds(period, day, self._zone)
        with _collector_paused():
            events, changes, tickets = await self._source.read(start, end)
            # Pure but not instant for a month: off the event loop.
            return await asyncio.to_thread(
                build_report,
                period=period,
                label=label,
                start=start,
                end=end,
                now=self._clock(),
                events=events,
                changes=changes,
                tickets=tickets,
                rules=self._rules,
            )


# The collector is process-wide, so is this count of reports that paused it.
_pause = {"depth": 0, "was_enabled": True}


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No full garbage collection while a report's rows are in memory.

    A month is a few hundred thousand short-lived objects; a full collection
    over them holds every thread (and so the AMI reader) for ~100 ms. They are
    freed by reference counting when the report is done.
    """
    if _pause["depth"] == 0:
        _pause["was_enabled"] = gc.isenabled()
        gc.disable()
    _pause["depth"] += 1
    try:
        yield
    finally:
        _pause["depth"] -= 1
        if _pause["depth"] == 0 and _pause["was_enabled"]:
            gc.enable()


def as_csv(report: dict[str, Any], rows: str) -> str:
    """One CSV table: the lines (with a TOTAL row) or the agents; nested figures get columns."""
    if rows == "lines":
        table = [*report["lines"], {"line": "TOTAL", **report["total"]}]
    else:
        table = list(report["agents"])
    flat = [_flatten(row) for row in table]
    columns: list[str] = []
    for row in flat:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["period", *columns], lineterminator="\r\n")
    writer.writeheader()
    for row in flat:
        writer.writerow({"period": report["label"], **{k: _cell(v) for k, v in row.items()}})
    return out.getvalue()


# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text a spreadsheet would take for a formula is kept as text (a leading ')."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                flat[f"{key}_{sub}"] = item
        else:
            flat[key] = "" if value is None else value
    return flat
