"""Call registration and follow-up tickets: due times, escalation, chasing. Pure.

From the hotline manual: a low satisfaction score (1-3) is followed up by the
team lead within 2 hours; a registered call that needs a follow-up is due
within 24 hours (normal) or 2 hours (urgent, critical); overdue tickets go up
to the supervisor by themselves; a ticket nobody has taken within 30 minutes
is chased.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """What a call was about, as the agent registers it."""

    CONSULTATION = "consultation"
    SERVICE_REQUEST = "service_request"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"


class Urgency(StrEnum):
    """How soon a follow-up is due."""

    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"  # the supervisors are told at once


class TicketReason(StrEnum):
    """Why a follow-up ticket was opened: a low rating or the agent's registration."""

    LOW_SCORE = "low_score"  # the caller rated the service 1-3
    REGISTRATION = "registration"  # the agent registered a call that needs a follow-up


@dataclass(frozen=True, slots=True)
class FollowUpRules:
    """Deadlines for follow-up tickets, and which rating counts as low."""

    low_score_max: int = 3
    low_score_within: float = 2 * 3600.0
    normal_within: float = 24 * 3600.0
    urgent_within: float = 2 * 3600.0
    take_within: float = 30 * 60.0

    def due_in(self, reason: TicketReason, urgency: Urgency) -> float:
        """Seconds from opening to the deadline."""
        if reason is TicketReason.LOW_SCORE:
            return self.low_score_within
        return self.normal_within if urgency is Urgency.NORMAL else self.urgent_within


def needs_follow_up(category: Category, urgency: Urgency, asked: bool | None) -> bool:
    """Complaints and critical calls always get a ticket; service requests unless the agent
    says no; consultations and suggestions only if asked."""
    if category is Category.COMPLAINT or urgency is Urgency.CRITICAL:
        return True
    if asked is not None:
        return asked
    return category is Category.SERVICE_REQUEST


@dataclass(slots=True)
class Ticket:
    """A follow-up for the team lead: who, why, due when, taken and closed by whom."""

    id: int
    call_id: str
    reason: TicketReason
    urgency: Urgency
    opened_at: float
    due_at: float
    line: str = ""
    agent: str = ""  # who had the call
    taken_by: str | None = None
    taken_at: float | None = None
    closed_at: float | None = None
    escalated_at: float | None = None
    chased_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def met_in_time(self, now: float) -> bool | None:
        """Closed by the deadline: True/False; still open and not yet due: None (undecided)."""
        if self.closed_at is not None:
            return self.closed_at <= self.due_at
        return False if now > self.due_at else None


@dataclass(frozen=True, slots=True)
class TicketOverdue:
    """An open ticket passed its deadline: it goes up to the supervisor."""

    ticket_id: int
    at: float


@dataclass(frozen=True, slots=True)
class TicketNotTaken:
    """Nobody took the ticket within the allowed time: chase it."""

    ticket_id: int
    at: float


def sweep(
    tickets: list[Ticket], now: float, rules: FollowUpRules
) -> list[TicketOverdue | TicketNotTaken]:
    """What to raise now; each ticket is escalated once and chased once."""
    out: list[TicketOverdue | TicketNotTaken] = []
    for t in tickets:
        if not t.is_open:
            continue
        if t.taken_at is None and t.chased_at is None and now - t.opened_at >= rules.take_within:
            out.append(TicketNotTaken(t.id, now))
        if t.escalated_at is None and now > t.due_at:
            out.append(TicketOverdue(t.id, now))
    return out
