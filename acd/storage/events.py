"""The call event log: append what happened to a call, read it back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.storage.models import CallEventRow


@dataclass(frozen=True, slots=True)
class CallEvent:
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
        row = CallEventRow(call_id=call_id, at=self._clock(), kind=kind, data=data)
        async with self._sessions.begin() as session:
            session.add(row)
        return CallEvent(call_id, row.at, kind, data)

    async def for_call(self, call_id: str) -> list[CallEvent]:
        """Every event of one call, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallEventRow)
                .where(CallEventRow.call_id == call_id)
                .order_by(CallEventRow.at, CallEventRow.id)
            )
            return [CallEvent(r.call_id, r.at, r.kind, r.data) for r in rows]
