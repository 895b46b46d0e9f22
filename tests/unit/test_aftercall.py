"""Registration and follow-up tickets over SQLite, the real core and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from acd.aftercall import AfterCall
from acd.core.access import User, UserRole
from acd.core.distributor import CallDistributor
from acd.core.followups import Category, FollowUpRules, Urgency
from acd.core.queueing import NoSuchCall, Refused
from acd.eventbus import EventBus
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.followups import AlreadyRegistered, FollowUpStore
from tests import database
from tests.apiapp import AGENTS, api_app

AGENT = User("1001", "Li Na", UserRole.AGENT, "east")
OTHER = User("1002", "Wang Fang", UserRole.AGENT, "west")
LEAD = User("1901", "Chen Jie", UserRole.SUPERVISOR, "east")
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def service(tmp_path):
    db = create_engine(database.url_for(tmp_path))
    await migrate(db)
    clock = Clock()
    events = CallEventLog(db, lambda: datetime.fromtimestamp(clock.now, UTC))
    await events.append("c1", "ivr_entered", caller="13800138000")
    await events.append("c1", "answered", line="tour", agent="1001", waited=12.0)
    bus = EventBus()
    svc = AfterCall(
        FollowUpStore(db), events, CallDistributor(agents=AGENTS), bus, FollowUpRules(), clock
    )
    svc.clock, svc.bus, svc.log = clock, bus, events
    yield svc
    await db.dispose()


def kinds(bus: EventBus) -> list[str]:
    return [e.kind for e in bus.since(0) or []]


async def test_a_complaint_opens_a_ticket_due_by_its_urgency_with_the_recording_linked(service):
    result = await service.register(
        AGENT, "c1", Category.COMPLAINT, Urgency.URGENT, "room was dirty", None
    )
    assert (result["category"], result["line"], result["caller"]) == (
        "complaint",
        "tour",
        "13800138000",
    )
    ticket = result["follow_up"]
    assert ticket["due_at"] == T0 + 2 * 3600 and ticket["reason"] == "registration"
    assert ticket["recording"] == "/api/v1/recordings/c1/audio"
    assert kinds(service.bus) == ["call_registered", "follow_up_opened"]
    # The customer's next screen pop shows what this call was about.
    (earlier,) = await service.log.history("13800138000")
    assert (earlier["category"], earlier["urgency"]) == ("complaint", "urgent")


async def test_a_call_is_registered_once_and_only_by_who_handled_it(service):
    with pytest.raises(Refused, match="not handled by 1002"):
        await service.register(OTHER, "c1", Category.CONSULTATION, Urgency.NORMAL, "", None)
    with pytest.raises(NoSuchCall):
        await service.register(AGENT, "nope", Category.CONSULTATION, Urgency.NORMAL, "", None)
    result = await service.register(AGENT, "c1", Category.CONSULTATION, Urgency.NORMAL, "", None)
    assert result["follow_up"] is None  # a plain consultation needs none
    with pytest.raises(AlreadyRegistered):
        await service.register(AGENT, "c1", Category.COMPLAINT, Urgency.URGENT, "", None)
    assert await service.store.tickets() == []  # the refused second one left nothing behind


async def test_critical_tells_the_agents_team_lead_at_once(service):
    await service.register(AGENT, "c1", Category.SERVICE_REQUEST, Urgency.CRITICAL, "fire", None)
    critical = next(e for e in service.bus.since(0) if e.kind == "critical_call")
    assert critical.data["supervisors"] == ["1901"] and critical.data["notes"] == "fire"


async def test_untaken_tickets_are_chased_and_overdue_ones_escalate_once(service):
    await service.low_score("c1", "1001", "tour", 2)
    (ticket,) = await service.store.tickets(open_only=True)
    assert ticket.caller == "13800138000" and ticket.due_at == T0 + 7200
    service.clock.now = T0 + 29 * 60
    await service.sweep_once()
    assert "follow_up_not_taken" not in kinds(service.bus)
    service.clock.now = T0 + 30 * 60
    await service.sweep_once()
    await service.sweep_once()
    assert kinds(service.bus).count("follow_up_not_taken") == 1
    await service.take(LEAD, ticket.id)
    service.clock.now = T0 + 7201
    await service.sweep_once()
    await service.sweep_once()
    overdue = [e for e in service.bus.since(0) if e.kind == "follow_up_overdue"]
    assert len(overdue) == 1 and overdue[0].data["supervisors"] == ["1901"]
    closed = await service.close(LEAD, ticket.id, "called back, refund agreed")
    assert closed["met_in_time"] is False and closed["escalated_at"] == T0 + 7201


async def test_a_ticket_taken_by_one_lead_cannot_be_closed_by_another(service):
    await service.low_score("c1", "1001", "tour", 1)
    (ticket,) = await service.store.tickets(open_only=True)
    await service.take(LEAD, ticket.id)
    other_lead = User("1902", "Zhao", UserRole.SUPERVISOR, "east")  # the same team
    with pytest.raises(Refused, match="taken by 1901"):
        await service.close(other_lead, ticket.id, "done")
    service.clock.now = T0 + 3600
    closed = await service.close(LEAD, ticket.id, "apologised")
    assert closed["met_in_time"] is True and closed["closed_by"] == "1901"
    with pytest.raises(Refused, match="closed already"):
        await service.close(LEAD, ticket.id, "again")


async def test_a_low_rating_just_before_a_clean_stop_still_opens_its_ticket(tmp_path):
    async with api_app(tmp_path) as (_, services, _):
        await services.pipeline.start()
        services.centre.survey_result("c7", "1001", "tour", 2)
        await services.pipeline.stop()
        (ticket,) = await services.aftercall.store.tickets(open_only=True)
        assert (ticket.call_id, ticket.reason, ticket.agent) == ("c7", "low_score", "1001")
        survey = [e for e in await services.events.for_call("c7") if e.kind == "survey"]
        assert [e.data["score"] for e in survey] == [2]


async def test_the_sweep_reads_only_the_tickets_it_may_raise_something_for(service):
    # A day of open tickets already chased and escalated: the sweep no longer loads them
    # (it ran every 15 s over every open ticket, growing with each call of the day).
    for n in range(50):
        await service.low_score(f"old{n}", "1001", "tour", 2)
    service.clock.now = T0 + 7201
    await service.sweep_once()
    assert kinds(service.bus).count("follow_up_overdue") == 50
    assert await service.store.to_sweep(service.clock.now, service.rules.take_within) == []
    await service.low_score("new", "1001", "tour", 1)
    service.clock.now = T0 + 7201 + 30 * 60
    (due,) = await service.store.to_sweep(service.clock.now, service.rules.take_within)
    assert due.call_id == "new"
    await service.sweep_once()
    assert kinds(service.bus).count("follow_up_not_taken") == 51  # 50 at the first sweep
    assert len(await service.store.tickets(open_only=True)) == 51  # all still open
