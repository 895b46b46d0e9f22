"""What a report over a period reads: call events, agents' state changes, tickets."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.core.agents import AgentStateChanged
from acd.core.followups import Ticket
from acd.core.reports import CallFact
from acd.storage.agent_states import as_change
from acd.storage.followups import as_ticket
from acd.storage.models import AgentStateRow, CallEventRow, FollowUpRow

# A call queued just before the period's end is answered, held, wrapped up and
# rated after it: read that far past the end.
AFTER_END = 6 * 3600.0


class ReportSource:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def read(
        self, start: float, end: float
    ) -> tuple[list[CallFact], list[AgentStateChanged], list[Ticket]]:
        until = end + AFTER_END
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallEventRow)
                .where(CallEventRow.at >= _utc(start))
                .where(CallEventRow.at < _utc(until))
                .order_by(CallEventRow.at, CallEventRow.id)
            )
            events = [CallFact(r.call_id, _epoch(r.at), r.kind, r.data) for r in rows]
            # Each agent's state as the period starts, then every change in it.
            before = (
                select(func.max(AgentStateRow.id))
                .where(AgentStateRow.at < start)
                .group_by(AgentStateRow.job_number)
            )
            changes = await session.scalars(
                select(AgentStateRow)
                .where(
                    AgentStateRow.id.in_(before)
                    | ((AgentStateRow.at >= start) & (AgentStateRow.at < until))
                )
                .order_by(AgentStateRow.at, AgentStateRow.id)
            )
            states = [as_change(r) for r in changes]
            tickets = await session.scalars(
                select(FollowUpRow)
                .where(FollowUpRow.opened_at >= start)
                .where(FollowUpRow.opened_at < until)
            )
            return events, states, [as_ticket(t) for t in tickets]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _epoch(at: datetime) -> float:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
