"""After the call: the agent's registration and the team leads' follow-up tickets.

Rules (due times, who gets a ticket, escalation, chasing) are in
``acd.core.followups``; this service stores, publishes on the event stream and
runs the sweep that escalates overdue tickets and chases untaken ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

import structlog

from acd.core.access import User, UserRole, may_act_on_agent, may_supervise
from acd.core.agents import Role
from acd.core.distributor import CallDistributor, NoSuchCall, Refused
from acd.core.followups import (
    Category,
    FollowUpRules,
    TicketNotTaken,
    TicketOverdue,
    TicketReason,
    Urgency,
    needs_follow_up,
    sweep,
)
from acd.eventbus import EventBus
from acd.periodic import Periodic
from acd.storage.events import CallEventLog
from acd.storage.followups import FollowUpStore, as_ticket
from acd.storage.models import CallRegistrationRow, FollowUpRow

log = structlog.get_logger("acd.aftercall")


class AfterCall:
    """Stores call registrations and follow-up tickets, publishes them, sweeps overdue ones."""

    def __init__(
        self,
        store: FollowUpStore,
        events: CallEventLog,
        core: CallDistributor,
        bus: EventBus,
        rules: FollowUpRules,
        clock: Callable[[], float],
        sweep_every: float = 15.0,
    ) -> None:
        self.store = store
        self.rules = rules
        self._events = events
        self._core = core
        self._bus = bus
        self._clock = clock
        self._sweeper = Periodic("acd-follow-ups", sweep_every, self.sweep_once)

    # -- registration ------------------------------------------------------------

    async def register(
        self,
        user: User,
        call_id: str,
        category: Category,
        urgency: Urgency,
        notes: str,
        follow_up: bool | None,
    ) -> dict[str, Any]:
        """The agent registers a call they handled; a ticket is opened when it needs one."""
        facts = await self._call_facts(call_id)
        if user.role is UserRole.AGENT and user.job_number not in facts["agents"]:
            raise Refused(f"call {call_id} was not handled by {user.job_number}")
        now = self._clock()
        agent = user.job_number if user.job_number in facts["agents"] else facts["agents"][-1]
        registration = CallRegistrationRow(
            call_id=call_id,
            agent=agent,
            line=facts["line"],
            caller=facts["caller"],
            category=category.value,
            urgency=urgency.value,
            notes=notes,
            at=now,
        )
        ticket = None
        if needs_follow_up(category, urgency, follow_up):
            ticket = self._new_ticket(
                call_id,
                TicketReason.REGISTRATION,
                urgency,
                now,
                line=facts["line"],
                agent=agent,
                caller=facts["caller"],
                details={"category": category.value, "notes": notes},
            )
        await self.store.register(registration, ticket)
        # Also in the call's own event log: the next screen pop shows it.
        await self._events.append(
            call_id, "registered", category=category.value, urgency=urgency.value, agent=agent
        )
        published = {"call_id": call_id, "agent": agent, "line": facts["line"]}
        self._bus.publish(
            "call_registered", now, category=category.value, urgency=urgency.value, **published
        )
        if urgency is Urgency.CRITICAL:
            log.warning("critical_call", call_id=call_id, agent=agent, line=facts["line"])
            self._bus.publish(
                "critical_call",
                now,
                category=category.value,
                notes=notes,
                supervisors=self._supervisors_of(agent),
                **published,
            )
        if ticket is not None:
            self._published_opened(ticket)
        return {**registration_json(registration), "follow_up": ticket_json(ticket, now)}

    async def _call_facts(self, call_id: str) -> dict[str, Any]:
        """Who handled the call, on which line, and who called (stored events, else live)."""
        agents: list[str] = []
        facts: dict[str, Any] = {"line": "", "caller": "", "agents": agents}
        for event in await self._events.for_call(call_id):
            if event.kind == "ivr_entered":
                facts["caller"] = str(event.data.get("caller", ""))
            elif event.kind == "answered":
                facts["line"] = str(event.data.get("line", ""))
                agents.append(str(event.data.get("agent", "")))
            elif event.kind == "dial_out":
                facts["line"] = "outbound"
                facts["caller"] = str(event.data.get("number", ""))
                agents.append(str(event.data.get("agent", "")))
        live = self._core.connected.get(call_id)
        if live is not None:  # answered a moment ago: the event may not be stored yet
            facts["line"] = facts["line"] or live.line
            if live.job_number not in agents:
                agents.append(live.job_number)
        if not agents:
            raise NoSuchCall(f"no answered call {call_id}")
        return facts

    # -- tickets ---------------------------------------------------------------

    async def low_score(
        self, call_id: str, agent: str, line: str, score: int, *, caller: str | None = None
    ) -> None:
        """A caller rated the service 1-3: the team lead calls back within 2 hours."""
        now = self._clock()
        ticket = self._new_ticket(
            call_id,
            TicketReason.LOW_SCORE,
            Urgency.URGENT,
            now,
            line=line,
            agent=agent,
            caller=caller if caller is not None else await self._caller(call_id),
            details={"score": score},
        )
        await self.store.open_ticket(ticket)
        self._published_opened(ticket)

    async def _caller(self, call_id: str) -> str:
        for event in await self._events.for_call(call_id):
            if event.kind == "ivr_entered":
                return str(event.data.get("caller", ""))
        return ""

    def _new_ticket(
        self,
        call_id: str,
        reason: TicketReason,
        urgency: Urgency,
        now: float,
        **fields: Any,
    ) -> FollowUpRow:
        return FollowUpRow(
            call_id=call_id,
            reason=reason.value,
            urgency=urgency.value,
            opened_at=now,
            due_at=now + self.rules.due_in(reason, urgency),
            **fields,
        )

    def _published_opened(self, row: FollowUpRow) -> None:
        self._bus.publish(
            "follow_up_opened",
            row.opened_at,
            **ticket_json(row, row.opened_at),
            supervisors=self._supervisors_of(row.agent),
        )

    async def take(self, user: User, ticket_id: int) -> dict[str, Any]:
        """A team lead takes the ticket (it is theirs to close)."""
        row = self._on_their_team(user, await self.store.get(ticket_id))
        if row.closed_at is not None:
            raise Refused(f"follow-up {ticket_id} is closed")
        if row.taken_by not in (None, user.job_number):
            raise Refused(f"follow-up {ticket_id} is taken by {row.taken_by}")
        now = self._clock()
        row = await self.store.update(ticket_id, taken_by=user.job_number, taken_at=now)
        self._bus.publish("follow_up_taken", now, id=ticket_id, by=user.job_number)
        return ticket_json(row, now)

    async def close(self, user: User, ticket_id: int, outcome: str) -> dict[str, Any]:
        """Done: the caller was called back, the complaint handled; ``outcome`` says how."""
        row = self._on_their_team(user, await self.store.get(ticket_id))
        if row.closed_at is not None:
            raise Refused(f"follow-up {ticket_id} is closed already")
        if row.taken_by not in (None, user.job_number):
            raise Refused(f"follow-up {ticket_id} is taken by {row.taken_by}")
        now = self._clock()
        values: dict[str, Any] = {"closed_by": user.job_number, "closed_at": now}
        values["outcome"] = outcome
        if row.taken_at is None:
            values.update(taken_by=user.job_number, taken_at=now)
        row = await self.store.update(ticket_id, **values)
        ticket = ticket_json(row, now)
        self._bus.publish("follow_up_closed", now, id=ticket_id, met=ticket["met_in_time"])
        return ticket

    async def tickets(self, user: User, *, open_only: bool) -> list[dict[str, Any]]:
        """The tickets of the user's team (all for admins and team-less supervisors)."""
        now = self._clock()
        return [
            ticket_json(r, now)
            for r in await self.store.tickets(open_only=open_only)
            if self._team_may(user, r.agent)
        ]

    async def ticket(self, user: User, ticket_id: int) -> dict[str, Any]:
        """One ticket, if it is of the user's team."""
        row = self._on_their_team(user, await self.store.get(ticket_id))
        return ticket_json(row, self._clock())

    def _team_may(self, user: User, agent: str | None) -> bool:
        status = self._core.agents.get(agent or "")
        return may_act_on_agent(user, agent or "", status.agent.team if status else "")

    def _on_their_team(self, user: User, row: FollowUpRow) -> FollowUpRow:
        if not self._team_may(user, row.agent):
            raise TicketDenied(f"follow-up {row.id} is for agent {row.agent}, outside your team")
        return row

    # -- the sweep -----------------------------------------------------------------

    async def sweep_once(self) -> None:
        """Escalate overdue tickets to the supervisors; chase tickets nobody took."""
        now = self._clock()
        rows = {r.id: r for r in await self.store.to_sweep(now, self.rules.take_within)}
        for raised in sweep([as_ticket(r) for r in rows.values()], now, self.rules):
            row = rows[raised.ticket_id]
            supervisors = self._supervisors_of(row.agent)
            if isinstance(raised, TicketOverdue):
                await self.store.update(row.id, escalated_at=now)
                log.warning("follow_up_overdue", ticket=row.id, call_id=row.call_id)
                self._bus.publish(
                    "follow_up_overdue", now, **ticket_json(row, now), supervisors=supervisors
                )
            elif isinstance(raised, TicketNotTaken):
                await self.store.update(row.id, chased_at=now)
                self._bus.publish(
                    "follow_up_not_taken", now, **ticket_json(row, now), supervisors=supervisors
                )

    def _supervisors_of(self, agent: str) -> list[str]:
        """The supervisors of the agent's team (all supervisors if the agent has no team)."""
        status = self._core.agents.get(agent)
        team = status.agent.team if status else ""
        return sorted(
            s.agent.job_number
            for s in self._core.agents.values()
            if s.agent.role is Role.SUPERVISOR and (not team or s.agent.team in ("", team))
        )

    async def start(self) -> None:
        await self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()


def registration_json(row: CallRegistrationRow) -> dict[str, Any]:
    return {
        "call_id": row.call_id,
        "agent": row.agent,
        "line": row.line,
        "caller": row.caller,
        "category": row.category,
        "urgency": row.urgency,
        "notes": row.notes,
        "at": row.at,
    }


@overload
def ticket_json(row: FollowUpRow, now: float) -> dict[str, Any]: ...
@overload
def ticket_json(row: None, now: float) -> None: ...
def ticket_json(row: FollowUpRow | None, now: float) -> dict[str, Any] | None:
    if row is None:
        return None
    ticket = as_ticket(row)
    return {
        "id": row.id,
        "call_id": row.call_id,
        "reason": row.reason,
        "urgency": row.urgency,
        "line": row.line,
        "agent": row.agent,
        "caller": row.caller,
        "details": row.details or {},
        "opened_at": row.opened_at,
        "due_at": row.due_at,
        "taken_by": row.taken_by,
        "taken_at": row.taken_at,
        "closed_by": row.closed_by,
        "closed_at": row.closed_at,
        "outcome": row.outcome,
        "overdue": ticket.is_open and now > row.due_at,
        "escalated_at": row.escalated_at,
        "not_taken_flagged_at": row.chased_at,
        "met_in_time": ticket.met_in_time(now),
        "recording": f"/api/v1/recordings/{row.call_id}/audio",
    }


class TicketDenied(Exception):
    """The ticket belongs to another team."""


def may_handle_tickets(user: User) -> bool:
    return may_supervise(user)
