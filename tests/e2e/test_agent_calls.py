"""An agent's calls through the API: screen pop, hang-up, wrap-up, break, hold, transfer, dial."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.asterisk import Asterisk
from tests.e2e.audio import loud_seconds_between
from tests.e2e.callers import Callers, assert_heard, greeting_of
from tests.e2e.waiting import until

# -- the screen pop ----------------------------------------------------------------------


async def test_the_screen_pop_arrives_before_the_phone_is_answered_with_the_callers_history(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = await phones("1001", answer_after=3)
    api = await c.agent_logged_in("1001", ready=False)  # logged in: the tour line has a human
    lead = await (await c.login("1901")).events()

    # An earlier call from the same number: the caller gave up while waiting.
    earlier = await callers.tour_caller(number="13900000031")
    await earlier.on_hold()
    await earlier.hang_up()
    await lead.next("call_abandoned", timeout=10, call_id=earlier.call_id)

    stream = await api.events()
    await api.post("/agents/1001/ready")
    caller = await callers.tour_caller(number="13900000031", name="张伟")
    ringing = await stream.next("call_ringing", timeout=20, call_id=caller.call_id)
    popped_at = time.monotonic()
    assert not any(call.answered_at for call in phone.calls), "the phone answered first"
    pop = ringing["data"]
    assert (pop["agent"], pop["caller_number"], pop["caller_name"], pop["line"]) == (
        "1001",
        "13900000031",
        "张伟",
        "tour",
    )
    assert pop["ivr_path"] == ["main", "2"]
    assert isinstance(pop["waited"], int | float) and 0 <= pop["waited"] < 10
    history = [(h["call_id"], h["outcome"]) for h in pop["history"]]
    assert history == [(earlier.call_id, "abandoned")], pop["history"]

    call = await phone.ringing()
    assert call.caller_number == "13900000031"
    assert await phone.answered(call) > popped_at
    connected = await stream.next("call_connected", timeout=10, call_id=caller.call_id)
    assert connected["seq"] > ringing["seq"] and connected["data"]["agent"] == "1001"
    view = await api.agent()
    assert (view["state"], view["call_id"]) == ("talking", caller.call_id), view
    assert (view["call"]["caller_number"], view["call"]["caller_name"]) == ("13900000031", "张伟")


# -- hanging up and after-call work -----------------------------------------------------


async def test_the_agent_hangs_up_through_the_api_and_the_caller_is_asked_for_a_rating(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"wrap_up": 10})
    phone = await phones("1001", answer_after=0.5)  # talks until someone hangs up
    api = await c.agent_logged_in("1001")
    caller, call, _ = await callers.put_through(phone)
    await api.post("/agents/1001/hangup")
    await phone.ended(call, timeout=5)  # the phone heard the call end (it never hangs up itself)
    await caller.hears("survey_question", timeout=10)
    view = await api.agent()
    assert (view["state"], view["call_id"]) == ("after_call", caller.call_id), view
    await api.post("/agents/1001/hangup", expect=409)  # nothing left to hang up


async def test_the_agent_extends_and_then_ends_wrap_up_and_the_next_caller_rings_at_once(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"wrap_up": 8})
    phone = await phones("1001", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    stream = await api.events()
    _, call, _ = await callers.put_through(phone)
    await phone.hang_up(call)
    wrap = await stream.next("agent_state", timeout=15, agent="1001", state="after_call")
    ended_at = time.monotonic()
    extended = await api.post("/agents/1001/wrap-up/extend", {"seconds": 60})
    assert extended["state"] == "after_call"

    # Another caller waits meanwhile; the original 8 s of wrap-up pass, the agent is still in
    # after-call work (time passes: a negative check).
    waiting = await callers.tour_caller(number="13900000032")
    await waiting.on_hold()
    await asyncio.sleep(max(0.0, ended_at + 8 + 2 - time.monotonic()))
    assert (await api.agent())["state"] == "after_call"
    assert len(phone.calls) == 1
    since_wrap = stream.events[stream.events.index(wrap) + 1 :]
    assert not [e for e in since_wrap if e["kind"] == "agent_state"], since_wrap

    mark = stream.mark()
    ending = time.monotonic()
    await api.post("/agents/1001/wrap-up/end")
    await stream.next("agent_state", timeout=5, after=mark, agent="1001", state="ready")
    assert time.monotonic() - ending < 2  # at once, not when the 68 s are up
    call = await phone.ringing(count=2, timeout=10)
    assert call.caller_number == "13900000032"
    await api.post("/agents/1001/wrap-up/extend", {"seconds": 60}, expect=409)


async def test_a_break_asked_for_during_the_call_starts_when_wrap_up_ends(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()  # wrap_up 2 s
    phone = await phones("1001", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    stream = await api.events()
    _, call, _ = await callers.put_through(phone)
    mark = stream.mark()
    await api.post("/agents/1001/break-after-call")
    assert (await api.agent())["state"] == "talking"  # the break waits for the call's end
    await phone.hang_up(call)
    await stream.next("agent_state", timeout=15, after=mark, agent="1001", state="after_call")
    view = await api.wait_agent(lambda v: v["state"] != "after_call", timeout=10)
    assert (view["state"], view["reason"]) == ("not_ready", "break"), view
    changes = [e["data"]["state"] for e in stream.events[mark:] if e["kind"] == "agent_state"]
    assert changes == ["after_call", "not_ready"], changes  # never ready in between

    caller = await callers.tour_caller(number="13900000033")
    await caller.on_hold()
    await asyncio.sleep(4)  # the caller waits; the agent on break must not be rung (negative)
    assert len(phone.calls) == 1
    assert (await api.agent())["state"] == "not_ready"


# -- hold -------------------------------------------------------------------------------


async def test_on_hold_the_caller_hears_music_and_unhold_puts_them_back_with_the_agent(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = await phones("1001", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    caller, call, leg = await callers.put_through(phone, record=True)
    talk_from = time.monotonic()
    await asyncio.sleep(2)  # they talk a moment (the agent's phone sends no sound)
    mark = asterisk.ami.mark()
    await api.post("/agents/1001/hold")
    moh = await asterisk.ami.wait(
        lambda e: e.name == "MusicOnHoldStart" and e.get("Uniqueid") == caller.call_id, 5, mark
    )
    assert await asterisk.is_up(leg) and call.ended_at is None  # the agent is still there
    assert not await asterisk.bridged_together(caller.call_id, leg)
    assert (await api.agent())["state"] == "talking"
    await api.post("/agents/1001/hold", expect=409)
    await asyncio.sleep(5)  # the caller is on hold a while
    resumed = time.monotonic()
    await api.post("/agents/1001/unhold")
    await asterisk.wait_bridged(caller.call_id, leg, timeout=10)
    await api.post("/agents/1001/unhold", expect=409)
    await phone.hang_up(call)
    await caller.hears("survey_question")
    await caller.hang_up()
    recording = await caller.recording_done()

    # Music in the caller's ear while held; the (silent) agent's line before it.
    held = loud_seconds_between(recording, caller.offset(moh.at) + 0.5, caller.offset(resumed))
    window = resumed - moh.at - 0.5
    assert held >= 0.6 * window, (held, window)
    before = loud_seconds_between(
        recording, caller.offset(talk_from), caller.offset(moh.at), threshold=50
    )
    assert before <= 0.5, before


# -- transfers ----------------------------------------------------------------------------


async def test_a_blind_transfer_to_the_cruise_line_rings_the_cruise_agent_with_the_same_caller(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"wrap_up": 10})
    tour = await phones("1001", answer_after=0.5)
    cruise = await phones("1002", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    await c.agent_logged_in("1002")
    caller, call, _ = await callers.put_through(tour, number="13900000034", record=True)
    both = {"to_line": "cruise", "to_agent": "1002"}
    await api.post("/agents/1001/transfer", both, expect=400)
    assert (await api.agent())["state"] == "talking"  # a bad request changes nothing

    mark = asterisk.ami.mark()
    await api.post("/agents/1001/transfer", {"to_line": "cruise"})
    second = await cruise.ringing(timeout=15)
    assert second.caller_number == "13900000034"
    await cruise.answered(second)
    greeting = await asterisk.wait_played(caller.call_id, "agent_greeting_before", 15, mark)
    assert greeting.keys == greeting_of("1002")
    await asterisk.wait_bridged(caller.call_id, await asterisk.agent_leg("1002"), timeout=15)
    await tour.ended(call, timeout=5)
    view = await api.agent()
    assert view["state"] == "after_call", view
    assert len(tour.calls) == 1
    await caller.recorded_until(time.monotonic())  # the greeting's end is on file
    await caller.hang_up()
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(greeting))


async def test_a_caller_on_hold_transferred_reaches_the_new_agent_and_then_the_survey(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"wrap_up": 10})
    tour = await phones("1001", answer_after=0.5)
    cruise = await phones("1002", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    await c.agent_logged_in("1002")
    caller, call, _ = await callers.put_through(tour, number="13900000035")
    mark = asterisk.ami.mark()
    await api.post("/agents/1001/hold")
    await asterisk.ami.wait(
        lambda e: e.name == "MusicOnHoldStart" and e.get("Uniqueid") == caller.call_id, 5, mark
    )
    await api.post("/agents/1001/transfer", {"to_line": "cruise"})  # while on hold
    await tour.ended(call, timeout=10)  # the first agent's parked phone is let go
    second = await cruise.ringing(timeout=15)
    assert second.caller_number == "13900000035"
    assert await asterisk.is_up(caller.call_id)
    await cruise.answered(second)
    await asterisk.wait_bridged(caller.call_id, await asterisk.agent_leg("1002"), timeout=15)
    await cruise.hang_up(second)
    await caller.hears("survey_question", timeout=15)  # not hung up, not back to music
    await caller.hang_up()


async def test_a_transfer_during_the_greeting_frees_the_first_agents_phone(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    tour = await phones("1001", answer_after=0.5)  # talks until the other side hangs up
    cruise = await phones("1002", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    await c.agent_logged_in("1002")
    caller, call = await callers.tour_call(tour, number="13900000036")
    # The agent sends the caller on while "... agent 1001 at your service" still plays.
    greeting = await caller.hears("agent_greeting_before")
    mark = asterisk.ami.mark()
    await api.post("/agents/1001/transfer", {"to_line": "cruise"})
    moved = await asterisk.ami.wait(
        lambda e: (
            e.name == "Newexten"
            and e.get("Uniqueid") == caller.call_id
            and (e.get("Context"), e.get("Exten")) == ("acd-wait", "s")
        ),
        10,
        mark,
    )
    # It was during the greeting: the caller never reached the bridge with 1001.
    events = asterisk.ami.events
    between = events[asterisk.index_of(greeting) : events.index(moved)]
    assert not [
        e
        for e in between
        if e.get("Uniqueid") == caller.call_id
        and (e.get("Application") == "Bridge" or e.get("UserEvent") == "AcdGreeted")
    ], "the greeting had ended before the transfer"
    second = await cruise.ringing(timeout=15)
    assert second.caller_number == "13900000036"
    # The first agent's phone is off that call (it was never bridged) before the engine
    # counts them as free for the next caller.
    await tour.ended(call, timeout=5)
    await asterisk.no_channel_of("PJSIP/1001-", timeout=5)
    view = await api.wait_agent(lambda v: v["state"] == "ready", timeout=10)
    assert view["call_id"] is None
    await cruise.answered(second)
    await asterisk.wait_bridged(caller.call_id, await asterisk.agent_leg("1002"), timeout=15)
    assert len(tour.calls) == 1


async def test_a_blind_transfer_to_the_team_lead_rings_the_lead_with_the_same_caller(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = await phones("1001", answer_after=0.5)
    lead_phone = await phones("1901", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    await c.agent_logged_in("1901")
    mark = asterisk.ami.mark()
    caller, _, _ = await callers.put_through(phone, number="13900000035", record=True)
    first = await asterisk.wait_played(caller.call_id, "agent_greeting_before", 5, mark)
    assert lead_phone.calls == []  # the lead's phone rings only once the call is sent to them

    mark = asterisk.ami.mark()
    await api.post("/agents/1001/transfer", {"to_agent": "1901"})
    call = await lead_phone.ringing(timeout=15)
    assert call.caller_number == "13900000035"
    await lead_phone.answered(call)
    second = await asterisk.wait_played(caller.call_id, "agent_greeting_before", 15, mark)
    assert (first.keys, second.keys) == (greeting_of("1001"), greeting_of("1901"))
    await asterisk.wait_bridged(caller.call_id, await asterisk.agent_leg("1901"), timeout=15)
    await caller.recorded_until(time.monotonic())  # the greeting's end is on file
    await caller.hang_up()
    await caller.recording_done()
    agent_greeting = caller.heard_in_recording(first)
    lead_greeting = caller.heard_in_recording(second)
    assert_heard(agent_greeting + lead_greeting)
    assert agent_greeting[-1][1] < lead_greeting[0][1], (agent_greeting, lead_greeting)


# -- click-to-dial --------------------------------------------------------------------------


async def test_click_to_dial_rings_the_agent_first_then_the_customer(
    asterisk: Asterisk, centre, phones, customer_trunk
):
    c = await centre()
    phone = await phones("1001", answer_after=2)
    api = await c.agent_logged_in("1001", ready=False)
    await api.post("/agents/1001/dial", {"number": "12; hangup"}, expect=400)
    stream = await api.events()
    mark = asterisk.ami.mark()
    customer = "Local/13900000051@customer-probe"
    dialled = await api.post("/agents/1001/dial", {"number": "13900000051"})
    call = await phone.ringing(timeout=10)
    assert call.caller_number == "13900000051"  # the agent sees whom they are calling
    assert await asterisk.channels_of(customer) == []  # the customer is not rung yet
    answered_at = await phone.answered(call)
    created = await asterisk.ami.wait(
        lambda e: e.name == "Newchannel" and e.get("Channel").startswith(customer), 10, mark
    )
    # (answered_at is taken in the phone's thread just after it sent 200 OK; allow for that.)
    assert created.at > answered_at - 0.2, created.at - answered_at
    legs = await until(
        lambda: asterisk.channels_of(customer), 5, "the customer's leg"
    )  # Local/...;1 is the leg the agent's Dial() talks to
    names = await asterisk.channel_names()
    dialled_side = next(u for u in legs if names[u].endswith(";1"))
    await asterisk.wait_bridged(dialled["call_id"], dialled_side, timeout=10)
    view = await api.agent()
    assert (view["state"], view["call_id"]) == ("talking", dialled["call_id"]), view
    mark = stream.mark()
    await asyncio.sleep(1)  # the agent talks to the customer a moment
    await phone.hang_up(call)
    await stream.next("agent_state", timeout=10, after=mark, agent="1001", state="after_call")
    await stream.next("agent_state", timeout=10, after=mark, agent="1001", state="ready")
    assert (await api.agent())["state"] == "ready"
