"""Storing the core's facts in order, off the AMI event path, and never dropping one.

Facts become rows when they happen (with their own time) and are written a
batch at a time, each batch in one transaction. When the database refuses
(locked, down, unreachable) the batch is retried with backoff and the
"database" alarm is raised; if it stays down, batches go to a local spill
file, in order, and the spill is written to the database first once it is
back. A batch the database can never take (a bad row) is written again a
row at a time: the rows it refuses alone are set aside in a "rejected" file
for an operator, the others are stored, and nothing behind them is blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from acd.centre.tasks import is_transient
from acd.core.commands import Fact
from acd.eventbus import EventBus
from acd.storage.facts import FactStore, Row, rows_for

log = structlog.get_logger("acd.facts")

DATABASE_ALARM = "database"


class NotSetAside(OSError):
    """A row the database refuses could not be written to the rejected file either."""


@dataclass(frozen=True, slots=True)
class RetryRules:
    """How long to keep trying a batch before it waits in the spill file instead."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    spill_after: float = 30.0


class FactWriter:
    """A queue of facts and the task that writes them; nothing is lost on a database error."""

    def __init__(
        self,
        store: FactStore,
        spill: Path,
        bus: EventBus,
        alarms: dict[str, dict[str, Any]],
        stored_at: Callable[[], datetime],
        clock: Callable[[], float],
        rules: RetryRules | None = None,
        *,
        on_written: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._on_written = on_written  # seconds each batch took to store
        self._spill = spill
        self._rejected = spill.with_name(spill.name + ".rejected")
        self._bus = bus
        self._alarms = alarms
        self._stored_at = stored_at
        self._clock = clock
        self._rules = rules or RetryRules()
        self._queue: asyncio.Queue[list[Row]] = asyncio.Queue()
        self._in_hand: list[Row] = []  # the batch being written (kept if a stop cancels it)
        self._spilled: bool | None = None  # rows wait in the spill file (None: not looked yet)

    @property
    def pending(self) -> int:
        """Facts queued, and rows of the batch being written (not those in the spill file)."""
        return self._queue.qsize() + len(self._in_hand)

    @property
    def spilled(self) -> bool:
        """Whether rows wait in the spill file (written first once the database is back)."""
        return bool(self._spilled)

    def put(self, fact: Fact) -> None:
        """Queue one fact (stamped now); it is stored after every fact queued before it."""
        self._queue.put_nowait(rows_for(fact, self._stored_at()))

    async def run(self) -> None:
        """Store what arrives, a batch at a time, until cancelled."""
        while True:
            self._in_hand = [*await self._queue.get(), *self._drain()]
            await self._write(self._in_hand, patient=True)
            self._in_hand = []

    async def flush(self) -> None:
        """Store what is in hand and still queued, or spill it (a clean stop loses nothing)."""
        batch, self._in_hand = [*self._in_hand, *self._drain()], []
        await self._write(batch, patient=False)

    async def replay_spill(self) -> None:
        """At start, before anything is read: facts spilled by an earlier run go in first."""
        try:
            await self._replay_spill()
            self._clear_alarm()
        except Exception as exc:  # the database is down: the first write tries again
            if not is_transient(exc):
                raise
            self._raise_alarm(exc)

    def _drain(self) -> list[Row]:
        rows: list[Row] = []
        while not self._queue.empty():
            rows += self._queue.get_nowait()
        return rows

    async def _write(self, batch: list[Row], *, patient: bool) -> None:
        """Write the spill (older) then the batch; retry, spill or set aside on failure."""
        delay, started = self._rules.first_delay, time.monotonic()
        while True:
            try:
                try:
                    await self._attempt(batch)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    # A row the database can never take: which one(s)? The rest is stored.
                    log.warning("facts_refused", rows=len(batch), error=str(exc)[:300])
                    await self._sift(batch)
                self._clear_alarm()
                return
            except Exception as exc:
                if not is_transient(exc):  # (``_sift`` raises only transient errors)
                    raise
                # (A refused row the disk would not take either waits in hand: no alarm
                # for the database, which is fine; no spill, on that same disk.)
                if not isinstance(exc, NotSetAside):
                    self._raise_alarm(exc)
                    waited = time.monotonic() - started
                    if not patient or self._spilled or waited >= self._rules.spill_after:
                        # Behind older spilled rows, or down too long: wait on disk, in order.
                        if await self._save(self._spill, batch):
                            self._spilled = True
                            log.warning("facts_spilled", rows=len(batch), file=str(self._spill))
                            return
                    else:
                        log.warning("facts_retry", rows=len(batch), in_s=delay, error=str(exc))
                if not patient:
                    log.error("facts_lost_at_stop", rows=len(batch))  # nowhere left to keep them
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._rules.max_delay)

    async def _attempt(self, batch: list[Row]) -> None:
        """One try: the spill, then the batch. A stop does not cut a write in half: it
        waits for it, so the batch is known to be stored (and is not written twice)."""

        async def write() -> None:
            await self._replay_spill()
            if batch:
                started = time.perf_counter()
                await self._store.write(batch)
                if self._on_written is not None:
                    self._on_written(time.perf_counter() - started)
                if batch is self._in_hand:
                    self._in_hand = []  # stored: nothing for a stop to keep

        attempt = asyncio.ensure_future(write())
        try:
            await asyncio.shield(attempt)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await attempt
            raise

    async def _sift(self, rows: list[Row]) -> None:
        """Store ``rows`` one at a time, setting aside (in the rejected file) each one the
        database refuses alone. Each leaves ``rows`` once stored or set aside (so a batch
        in hand is never written twice); a transient error stops it, raised, with the
        rest still in ``rows``. A stop does not cut a row's write in half."""
        while rows:
            write = asyncio.ensure_future(self._store.write(rows[:1]))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await write
                    del rows[0]
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("fact_rejected", row=_summary(rows[0]), file=str(self._rejected))
                if not await self._save(self._rejected, rows[:1]):
                    where = self._rejected
                    raise NotSetAside(f"cannot set a refused fact aside in {where}") from exc
            del rows[0]

    async def _save(self, path: Path, rows: list[Row]) -> bool:
        """Append rows to a local file; False (and logged) when even the disk refuses."""
        try:
            await asyncio.to_thread(_append, path, rows)
            return True
        except OSError as exc:
            log.critical("facts_file_failed", file=str(path), error=str(exc), rows=len(rows))
            return False

    async def _replay_spill(self) -> None:
        if self._spilled is None:  # once, at the first write: left by an earlier run?
            self._spilled = await asyncio.to_thread(self._spill.exists)
        if not self._spilled:
            return
        rows, bad = await asyncio.to_thread(_read, self._spill)
        if bad:  # e.g. the last line half written when acd was killed
            log.error("spill_lines_unreadable", lines=bad, file=str(self._spill))
        try:
            await self._store.write(rows)  # all of the spill in one transaction
        except Exception as exc:
            if is_transient(exc):
                raise
            # A row in it the database can never take: the others are stored all the same.
            log.warning("spill_refused", rows=len(rows), error=str(exc)[:300])
            try:
                await self._sift(rows)
            finally:
                if rows:  # the database went away meanwhile: the rest waits in the spill
                    await asyncio.to_thread(_rewrite, self._spill, rows)
        await asyncio.to_thread(self._spill.unlink)
        self._spilled = False
        log.warning("facts_replayed", rows=len(rows), file=str(self._spill))

    def _raise_alarm(self, exc: BaseException) -> None:
        if DATABASE_ALARM in self._alarms:
            return
        now = self._clock()
        details = {"error": str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}
        log.error("database_alarm", **details)
        self._alarms[DATABASE_ALARM] = {"since": now, **details}
        self._bus.publish("alarm", now, alarm=DATABASE_ALARM, raised=True, **details)

    def _clear_alarm(self) -> None:
        if self._alarms.pop(DATABASE_ALARM, None) is None:
            return
        log.warning("database_ok")
        self._bus.publish("alarm", self._clock(), alarm=DATABASE_ALARM, raised=False)


def _append(path: Path, rows: list[Row]) -> None:
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        f.flush()


def _read(path: Path) -> tuple[list[Row], int]:
    """The rows of a spill file, and how many lines could not be read."""
    rows, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1
    return rows, bad


def _rewrite(path: Path, rows: list[Row]) -> None:
    """Replace a spill file's rows (whole: written aside, then moved over it)."""
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    _append(fresh, rows)
    fresh.replace(path)


def _summary(row: Row) -> dict[str, Any]:
    """What names a fact in the log (its table, call, kind; not its data)."""
    return {k: row.get(k) for k in ("table", "call_id", "kind", "job_number", "new")}
