"""Agent state changes: appended as they happen, the latest read back at start."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.core.agents import AgentState, AgentStateChanged, NotReadyReason
from acd.storage.models import AgentStateRow


class AgentStateLog:
    """Agent state changes in the database: appended, and each agent's latest read back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def append(self, changes: Iterable[AgentStateChanged]) -> None:
        rows = [
            AgentStateRow(
                job_number=c.job_number,
                old=c.old.value,
                new=c.new.value,
                reason=c.reason.value if c.reason else None,
                call_id=c.call_id,
                at=c.at,
                endpoint=c.endpoint,
            )
            for c in changes
        ]
        if rows:
            async with self._sessions.begin() as session:
                session.add_all(rows)

    async def latest(self) -> dict[str, AgentStateChanged]:
        """Each agent's most recent state change (to restore states after a restart)."""
        newest = select(func.max(AgentStateRow.id)).group_by(AgentStateRow.job_number)
        async with self._sessions() as session:
            rows = await session.scalars(select(AgentStateRow).where(AgentStateRow.id.in_(newest)))
            return {r.job_number: as_change(r) for r in rows}


def as_change(row: AgentStateRow) -> AgentStateChanged:
    return AgentStateChanged(
        row.job_number,
        AgentState(row.old),
        AgentState(row.new),
        NotReadyReason(row.reason) if row.reason else None,
        row.at,
        row.call_id,
        row.endpoint,
    )
