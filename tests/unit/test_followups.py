"""Follow-up rules (pure, fake clock): who gets a ticket, when it is due, escalation, chasing."""

from acd.core.followups import (
    Category,
    FollowUpRules,
    Ticket,
    TicketNotTaken,
    TicketOverdue,
    TicketReason,
    Urgency,
    needs_follow_up,
    sweep,
)

RULES = FollowUpRules()
H = 3600.0


def test_due_times_follow_the_manual():
    assert RULES.due_in(TicketReason.LOW_SCORE, Urgency.URGENT) == 2 * H
    assert RULES.due_in(TicketReason.REGISTRATION, Urgency.NORMAL) == 24 * H
    assert RULES.due_in(TicketReason.REGISTRATION, Urgency.URGENT) == 2 * H
    assert RULES.due_in(TicketReason.REGISTRATION, Urgency.CRITICAL) == 2 * H


def test_complaints_and_critical_calls_always_get_a_ticket_others_as_the_agent_says():
    assert needs_follow_up(Category.COMPLAINT, Urgency.NORMAL, False)
    assert needs_follow_up(Category.CONSULTATION, Urgency.CRITICAL, False)
    assert needs_follow_up(Category.SERVICE_REQUEST, Urgency.NORMAL, None)
    assert not needs_follow_up(Category.SERVICE_REQUEST, Urgency.NORMAL, False)
    assert not needs_follow_up(Category.CONSULTATION, Urgency.NORMAL, None)
    assert needs_follow_up(Category.SUGGESTION, Urgency.NORMAL, True)


def _ticket(**kw) -> Ticket:
    base = dict(
        id=1,
        call_id="c1",
        reason=TicketReason.LOW_SCORE,
        urgency=Urgency.URGENT,
        opened_at=0.0,
        due_at=2 * H,
    )
    return Ticket(**(base | kw))


def test_a_ticket_nobody_takes_in_30_minutes_is_chased_once():
    ticket = _ticket()
    assert sweep([ticket], 29 * 60, RULES) == []
    assert sweep([ticket], 30 * 60, RULES) == [TicketNotTaken(1, 30 * 60)]
    ticket.chased_at = 30 * 60
    assert sweep([ticket], 31 * 60, RULES) == []
    taken = _ticket(taken_by="1901", taken_at=10 * 60)
    assert sweep([taken], 45 * 60, RULES) == []


def test_an_overdue_ticket_escalates_once_and_a_closed_one_never():
    ticket = _ticket(taken_by="1901", taken_at=60.0)
    assert sweep([ticket], 2 * H, RULES) == []  # due at 2 h: still in time
    assert sweep([ticket], 2 * H + 1, RULES) == [TicketOverdue(1, 2 * H + 1)]
    ticket.escalated_at = 2 * H + 1
    assert sweep([ticket], 3 * H, RULES) == []
    closed = _ticket(closed_at=3 * H)
    assert sweep([closed], 5 * H, RULES) == []


def test_met_in_time_is_decided_when_closed_or_overdue():
    assert _ticket(closed_at=H).met_in_time(5 * H) is True
    assert _ticket(closed_at=3 * H).met_in_time(5 * H) is False
    assert _ticket().met_in_time(H) is None
    assert _ticket().met_in_time(3 * H) is False
