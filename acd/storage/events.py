"""The call event log: append what happened to a call, read it back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.core.figures import CALL_KINDS, CallFact
from acd.storage.models import FIRST_EVENT, CallEventRow, caller_column, fit_caller


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One stored event of a call."""

    call_id: str
    at: datetime
    kind: str
    data: dict[str, Any]


class CallEventLog:
    """Append-only store of call events."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock

    async def append(self, call_id: str, kind: str, **data: Any) -> CallEvent:
        """Store one event now and return it."""
        row = CallEventRow(
            call_id=call_id,
            at=self._clock(),
            kind=kind,
            data=data,
            caller=caller_column(kind, data),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return CallEvent(call_id, row.at, kind, data)

    async def pending_callbacks(self, since_epoch: float) -> list[CallEvent]:
        """Callback requests made since a moment that no agent has taken yet, oldest first."""
        since = datetime.fromtimestamp(since_epoch, tz=UTC)
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(CallEventRow)
                    .where(CallEventRow.kind == "callback_requested")
                    .where(CallEventRow.at >= since)
                    .order_by(CallEventRow.at, CallEventRow.id)
                )
            )
            ids = {r.call_id for r in rows}
            done = set(
                await session.scalars(
                    select(CallEventRow.call_id)
                    .where(CallEventRow.kind == "answered")
                    .where(CallEventRow.call_id.in_(ids))
                )
            )
        pending: dict[str, CallEvent] = {}
        for r in rows:
            if r.call_id not in done:
                pending.setdefault(r.call_id, CallEvent(r.call_id, r.at, r.kind, r.data))
        return list(pending.values())

    async def history(
        self, caller: str, *, exclude: str = "", limit: int = 10
    ) -> list[dict[str, Any]]:
        """A caller's earlier calls, newest first, each with its outcome (for the screen pop).

        Found by the caller's number on each call's first event (an index), then
        those calls' events (another): a few rows read, however long the log.
        """
        number = fit_caller(caller)
        # On the async engine, not the hot writes' thread: in WAL mode a read is never
        # held up by a lock, but it would wait in that thread behind a write that is.
        async with self._sessions() as session:
            return await session.run_sync(
                lambda s: _history(s.connection(), number, exclude, limit)
            )

    async def call_facts(
        self, since_epoch: float, kinds: Iterable[str] = CALL_KINDS
    ) -> list[CallFact]:
        """Events of these kinds (by default what a call counts as) at or after a moment.

        Oldest first, as the reports read them.
        """
        since = datetime.fromtimestamp(since_epoch, tz=UTC)
        async with self._sessions() as session:
            rows = await session.execute(
                select(CallEventRow.call_id, CallEventRow.at, CallEventRow.kind, CallEventRow.data)
                .where(CallEventRow.kind.in_(tuple(kinds)))
                .where(CallEventRow.at >= since)
                .order_by(CallEventRow.at, CallEventRow.id)
            )
            return [CallFact(c, as_epoch(at), k, d) for c, at, k, d in rows]

    async def for_call(self, call_id: str) -> list[CallEvent]:
        """Every event of one call, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallEventRow)
                .where(CallEventRow.call_id == call_id)
                .order_by(CallEventRow.at, CallEventRow.id)
            )
            return [CallEvent(r.call_id, r.at, r.kind, r.data) for r in rows]


def _history(conn: Connection, number: str, exclude: str, limit: int) -> list[dict[str, Any]]:
    """A caller's earlier calls (see ``CallEventLog.history``), read on one connection."""
    calls = conn.execute(
        select(CallEventRow.call_id, CallEventRow.at)
        .where(CallEventRow.caller == number)
        .where(CallEventRow.kind == FIRST_EVENT)
        .where(CallEventRow.call_id != exclude)
        .order_by(CallEventRow.at.desc(), CallEventRow.id.desc())
        .limit(limit)
    ).all()
    if not calls:
        return []
    ids = [c.call_id for c in calls] + [f"cb-{c.call_id}" for c in calls]
    rows = conn.execute(
        select(CallEventRow.call_id, CallEventRow.kind, CallEventRow.data)
        .where(CallEventRow.call_id.in_(ids))
        .order_by(CallEventRow.at, CallEventRow.id)
    ).all()
    by_call: dict[str, list[Any]] = {}
    for row in rows:
        by_call.setdefault(row.call_id.removeprefix("cb-"), []).append(row)
    return [_summary(c.call_id, c.at, by_call.get(c.call_id, [])) for c in calls]


def _summary(call_id: str, at: datetime, rows: list[Any]) -> dict[str, Any]:
    """One earlier call in a word: answered (by whom), abandoned, callback, or IVR only."""
    kinds = {r.kind: r for r in rows}
    entry: dict[str, Any] = {"call_id": call_id, "at": at.isoformat(), "line": None, "agent": None}
    if "queued" in kinds:
        entry["line"] = kinds["queued"].data.get("line")
    if "answered" in kinds:
        entry.update(outcome="answered", agent=kinds["answered"].data.get("agent"))
    elif "abandoned" in kinds:
        entry["outcome"] = "abandoned"
    elif "callback_requested" in kinds:
        entry.update(
            outcome="callback_requested", line=kinds["callback_requested"].data.get("line")
        )
    else:
        entry["outcome"] = "ivr_only"
    entry["satisfaction"] = kinds["survey"].data.get("score") if "survey" in kinds else None
    registered = kinds.get("registered")
    entry["category"] = registered.data.get("category") if registered else None
    entry["urgency"] = registered.data.get("urgency") if registered else None
    return entry


def as_epoch(at: datetime) -> float:
    """Epoch seconds of a stored time."""
    # SQLite hands back naive datetimes; they were stored in UTC.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
