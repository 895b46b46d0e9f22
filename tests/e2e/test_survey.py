"""The satisfaction survey on the real Asterisk, after the agent hangs up."""

from __future__ import annotations

import time

from acd.app import Daemon
from tests.e2e.conftest import Callers, eventually, stored_event


async def test_after_the_agent_hangs_up_the_caller_rates_2_and_a_follow_up_is_due_in_2_hours(
    daemon: Daemon, callers: Callers, phones
):
    await phones("1001", answer_after=0.5, talk_for=6)
    daemon.centre.log_in("1001")
    daemon.centre.ready("1001")
    # "2" for tour, then (after the call, during the question) "2" as the rating.
    call_id, _ = await callers.call(digits="2" + "w" * 30 + "2", delay=2, hold=40)
    survey = await eventually(lambda: stored_event(daemon, call_id, "survey"), timeout=45)
    assert survey.data == {"score": 2, "agent": "1001", "line": "tour"}
    tickets = await eventually(lambda: daemon.aftercall.store.tickets(open_only=True), timeout=5)
    (ticket,) = [t for t in tickets if t.call_id == call_id]
    assert (ticket.reason, ticket.agent, ticket.line) == ("low_score", "1001", "tour")
    assert ticket.details == {"score": 2}
    assert abs(ticket.due_at - (time.time() + 7200)) < 120
    # The agent's next screen pop for this customer shows the rating.
    history = await daemon.events.history("13800138000")
    assert history[0]["call_id"] == call_id and history[0]["satisfaction"] == 2


async def test_a_caller_who_hangs_up_first_is_not_surveyed(
    daemon: Daemon, callers: Callers, phones
):
    await phones("1001", answer_after=0.5, talk_for=60)
    daemon.centre.log_in("1001")
    daemon.centre.ready("1001")
    call_id, _ = await callers.call(digits="2", delay=2, hold=14)
    await eventually(lambda: stored_event(daemon, call_id, "greeted"), timeout=30)
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=30)
    status = daemon.centre.core.status("1001")
    await eventually(lambda: status.state.value in ("after_call", "ready"), timeout=10)
    assert await stored_event(daemon, call_id, "survey") is None
