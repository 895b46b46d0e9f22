"""What a report over a period reads: call events, agents' state changes, tickets.

A month is a lot of rows. They are read in slices of a couple of hours, as
plain columns, so that the event loop (which also reads AMI, where Asterisk
drops a client that stalls for 100 ms) is never held for long.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.core.agents import AgentState, AgentStateChanged, NotReadyReason
from acd.core.followups import Ticket
from acd.core.reports import CallFact
from acd.storage.events import as_epoch
from acd.storage.followups import as_ticket
from acd.storage.models import AgentStateRow, CallEventRow, FollowUpRow

# A call queued just before the period's end is answered, held, wrapped up and
# rated after it: read that far past the end.
AFTER_END = 6 * 3600.0
SLICE = 2 * 3600.0

STATE_COLUMNS = (
    AgentStateRow.job_number,
    AgentStateRow.old,
    AgentStateRow.new,
    AgentStateRow.reason,
    AgentStateRow.at,
    AgentStateRow.call_id,
)


class ReportSource:
    """Reads a period's call events, agents' state changes and follow-up tickets."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def read(
        self, start: float, end: float
    ) -> tuple[list[CallFact], list[AgentStateChanged], list[Ticket]]:
        until = end + AFTER_END
        events: list[CallFact] = []
        states: list[AgentStateChanged] = []
        async with self._sessions() as session:
            # Each agent's state as the period starts...
            before = (
                select(func.max(AgentStateRow.id))
                .where(AgentStateRow.at < start)
                .group_by(AgentStateRow.job_number)
            )
            rows = await session.execute(select(*STATE_COLUMNS).where(AgentStateRow.id.in_(before)))
            states += [_change(*r) for r in rows]
            # ...then everything in the period, a slice at a time.
            since = start
            while since < until:
                upto = min(since + SLICE, until)
                facts = await session.execute(
                    select(
                        CallEventRow.call_id, CallEventRow.at, CallEventRow.kind, CallEventRow.data
                    )
                    .where(CallEventRow.at >= _utc(since))
                    .where(CallEventRow.at < _utc(upto))
                    .order_by(CallEventRow.at, CallEventRow.id)
                )
                events += [CallFact(c, as_epoch(at), k, d) for c, at, k, d in facts]
                rows = await session.execute(
                    select(*STATE_COLUMNS)
                    .where(AgentStateRow.at >= since)
                    .where(AgentStateRow.at < upto)
                    .order_by(AgentStateRow.at, AgentStateRow.id)
                )
                states += [_change(*r) for r in rows]
                since = upto
                await asyncio.sleep(0)  # let AMI and HTTP in between slices
            tickets = await session.scalars(
                select(FollowUpRow)
                .where(FollowUpRow.opened_at >= start)
                .where(FollowUpRow.opened_at < until)
            )
            return events, states, [as_ticket(t) for t in tickets]


def _change(
    job_number: str, old: str, new: str, reason: str | None, at: float, call_id: str | None
) -> AgentStateChanged:
    return AgentStateChanged(
        job_number,
        AgentState(old),
        AgentState(new),
        NotReadyReason(reason) if reason else None,
        at,
        call_id,
    )


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
