"""Call registrations and follow-up tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.core.followups import Ticket, TicketReason, Urgency
from acd.storage.models import CallRegistrationRow, FollowUpRow


class AlreadyRegistered(Exception):
    """The call has been registered already."""


class NoSuchTicket(Exception):
    """No follow-up ticket with that id."""


def as_ticket(row: FollowUpRow) -> Ticket:
    return Ticket(
        row.id,
        row.call_id,
        TicketReason(row.reason),
        Urgency(row.urgency),
        row.opened_at,
        row.due_at,
        row.line,
        row.agent,
        row.taken_by,
        row.taken_at,
        row.closed_at,
        row.escalated_at,
        row.chased_at,
    )


class FollowUpStore:
    """Call registrations and follow-up tickets in the database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def register(
        self, registration: CallRegistrationRow, ticket: FollowUpRow | None
    ) -> FollowUpRow | None:
        """Store a registration and its ticket together (both or neither)."""
        async with self._sessions.begin() as session:
            if await session.get(CallRegistrationRow, registration.call_id) is not None:
                raise AlreadyRegistered(f"call {registration.call_id} is registered already")
            session.add(registration)
            if ticket is not None:
                session.add(ticket)
        return ticket

    async def registration(self, call_id: str) -> CallRegistrationRow | None:
        async with self._sessions() as session:
            return await session.get(CallRegistrationRow, call_id)

    async def open_ticket(self, ticket: FollowUpRow) -> FollowUpRow:
        async with self._sessions.begin() as session:
            session.add(ticket)
        return ticket

    async def get(self, ticket_id: int) -> FollowUpRow:
        async with self._sessions() as session:
            row = await session.get(FollowUpRow, ticket_id)
        if row is None:
            raise NoSuchTicket(f"no follow-up ticket {ticket_id}")
        return row

    async def update(self, ticket_id: int, **values: Any) -> FollowUpRow:
        async with self._sessions.begin() as session:
            row = await session.get(FollowUpRow, ticket_id)
            if row is None:
                raise NoSuchTicket(f"no follow-up ticket {ticket_id}")
            for name, value in values.items():
                setattr(row, name, value)
        return row

    async def tickets(
        self, *, open_only: bool = False, since: float | None = None, until: float | None = None
    ) -> list[FollowUpRow]:
        """Tickets oldest first: the open ones, or those opened in a period."""
        query = select(FollowUpRow).order_by(FollowUpRow.opened_at, FollowUpRow.id)
        if open_only:
            query = query.where(FollowUpRow.closed_at.is_(None))
        if since is not None:
            query = query.where(FollowUpRow.opened_at >= since)
        if until is not None:
            query = query.where(FollowUpRow.opened_at < until)
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def to_sweep(self, now: float, take_within: float) -> list[FollowUpRow]:
        """The open tickets the sweep may raise something for now: not taken (nor chased)
        for ``take_within`` seconds, or overdue and not escalated. Not every open ticket:
        those already chased and escalated may stay open for days."""
        t = FollowUpRow
        query = (
            select(t)
            .where(t.closed_at.is_(None))
            .where(
                or_(
                    and_(
                        t.taken_at.is_(None),
                        t.chased_at.is_(None),
                        t.opened_at <= now - take_within,
                    ),
                    and_(t.escalated_at.is_(None), t.due_at < now),
                )
            )
            .order_by(t.opened_at, t.id)
        )
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def held_calls(self, call_ids: list[str]) -> set[str]:
        """Of these calls, those with an open ticket (a complaint always has one until closed)."""
        if not call_ids:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(FollowUpRow.call_id)
                .where(FollowUpRow.call_id.in_(call_ids))
                .where(FollowUpRow.closed_at.is_(None))
            )
            return set(rows)
