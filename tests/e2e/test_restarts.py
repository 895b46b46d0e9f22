"""An engine killed (kill -9) and started again while calls are on: nothing a user sees is lost.

The call that talks through the restart keeps its caller's call id (hold,
recording and survey go on), the rating asked around a restart is still
asked, and a caller who hung up while no engine ran still counts.
"""

from __future__ import annotations

import asyncio

from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import zone_at_midday
from tests.e2e.test_after_call import report_line


async def test_a_call_talking_through_a_kill_9_keeps_its_call_id_hold_recording_and_survey(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    phone = await phones("1001", answer_after=0.5)
    await c.agent_logged_in("1001")
    caller, call, leg = await callers.put_through(phone)

    await c.kill()
    await asyncio.sleep(1)
    assert await asterisk.bridged_together(caller.call_id, leg)  # the call goes on
    await c.start()

    agent = await c.login("1001")
    view = await agent.wait_agent(lambda v: v["state"] == "talking")
    assert view["call_id"] == caller.call_id, view  # the caller's id, not the phone's leg
    # Call control works on it as before the restart: hold (music), then back.
    held = await agent.post("/agents/1001/hold")
    assert held["call_id"] == caller.call_id
    await caller.on_hold()
    await agent.post("/agents/1001/unhold")
    await asterisk.wait_bridged(caller.call_id, leg)

    # The agent hangs up: the caller rates the call, and its recording is whole.
    await phone.hang_up(call)
    await caller.hears("survey_question")
    await caller.press("5", after=1.0)
    await caller.hears("survey_thanks")
    await caller.gone()
    lead = await c.login("1901")
    recording = await lead.finished_recording(caller.call_id)
    assert recording["complete"] is True and recording["agent"] == "1001", recording
    _, tour = await report_line(lead, "tour", lambda r: r["surveys"] == 1)
    assert (tour["offered"], tour["answered"]) == (1, 1)
    assert tour["survey_distribution"]["5"] == 1


async def test_a_kill_9_while_the_caller_hears_the_agents_greeting_still_puts_them_through(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    phone = await phones("1001", answer_after=0.5)
    await c.agent_logged_in("1001")
    caller, call = await callers.tour_call(phone, rings=1)
    await caller.hears("agent_greeting_before")  # put through; bridged once it has played

    await c.kill()
    await c.start()
    assert not await asterisk.channels_of("Surrogate/")
    rows = await asterisk.channels()
    assert rows[caller.call_id][-2] == "", "bridged before the engine was back: nothing tested"

    # The new engine lets the agent's answered leg wait for its caller: they talk.
    leg = await asterisk.bridged_with(caller.call_id, "1001")
    agent = await c.login("1001")
    view = await agent.wait_agent(lambda v: v["state"] == "talking")
    assert view["call_id"] == caller.call_id, view
    await phone.hang_up(call)
    await caller.hears("survey_question")
    await caller.press("5", after=1.0)
    await caller.hears("survey_thanks")
    await caller.gone()
    assert leg not in await asterisk.channels()

    # It counts as answered (the killed engine had no time to store that), recorded whole.
    lead = await c.login("1901")
    _, tour = await report_line(lead, "tour", lambda r: r["surveys"] == 1)
    assert (tour["offered"], tour["answered"], tour["abandoned"]) == (1, 1, 0)
    recording = await lead.finished_recording(caller.call_id)
    assert recording["complete"] is True and recording["agent"] == "1001", recording


async def test_the_survey_waits_in_music_while_the_engine_restarts_and_the_rating_counts(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    phone = await phones("1001", answer_after=0.5)
    await c.agent_logged_in("1001")
    caller, call, _ = await callers.put_through(phone)

    await c.kill()
    await phone.hang_up(call)  # the agent hangs up while no engine runs
    await caller.on_hold()  # not hung up: the caller hears music...
    await asyncio.sleep(3)
    assert await caller.on_line()
    await c.start()
    await caller.hears("survey_question", timeout=30)  # ...then the rating question
    await caller.press("4", after=1.0)
    await caller.hears("survey_thanks")
    await caller.gone()

    lead = await c.login("1901")
    _, tour = await report_line(lead, "tour", lambda r: r["surveys"] == 1)
    assert tour["survey_distribution"]["4"] == 1
    # The recording ran on through the restart and the rating; the call's end finished it.
    recording = await lead.finished_recording(caller.call_id)
    assert recording["complete"] is True and recording["duration_s"] > 3, recording


async def test_a_caller_who_hangs_up_while_the_engine_is_down_counts_as_abandoned(
    asterisk: Asterisk, centre, callers: Callers
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    lead = await c.login("1901")
    await c.agent_logged_in("1001", ready=False)  # on duty, but nobody is ready: callers wait
    caller = await callers.tour_caller()
    await caller.on_hold()
    await lead.snapshot_until(lambda s: s["lines"]["tour"]["waiting"] == 1)
    await c.facts_stored()  # the kill comes after the caller's queueing was stored

    await c.kill()
    await caller.hang_up()  # gives up while no engine runs
    await c.start()

    lead = await c.login("1901")
    snap = await lead.snapshot_until(lambda s: s["today"]["abandoned"] == 1, timeout=15)
    assert snap["today"]["offered"] == 1 and snap["lines"]["tour"]["waiting"] == 0
    _, tour = await report_line(lead, "tour", lambda r: r["abandoned"] == 1)
    assert (tour["offered"], tour["answered"], tour["abandoned"]) == (1, 0, 1)


async def test_a_restart_while_the_agents_phone_rings_stops_that_ring_before_ringing_again(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"ring_timeout": 15})
    phone = await phones("1001", answer_after=None)
    await c.agent_logged_in("1001")
    caller = await callers.tour_caller()
    first = await phone.ringing()

    await c.kill()
    await c.start()

    # The call is offered again, but never on two rings at once: the old one stops first.
    second = await phone.ringing(count=2, timeout=20)
    assert first.cancelled and first.ended_at is not None
    assert first.ended_at <= second.rang_at + 0.5, (first.ended_at, second.rang_at)
    await phone.answer(second)
    await caller.hears("agent_greeting_before")
    await asterisk.bridged_with(caller.call_id, "1001")
    assert len(phone.calls) == 2
