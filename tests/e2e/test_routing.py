"""Routing as callers, agents and team leads see it: skills, greeting, waiting, restarts, peaks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from tests.e2e.asterisk import Asterisk
from tests.e2e.audio import find_audio, find_prompts, loud_seconds_between, prompt_audio
from tests.e2e.callers import Caller, Callers, assert_heard, greeting_of
from tests.e2e.centre import SUPERVISOR

# What a caller presses for each line (the bundled IVR tree: 1 cruise, 2 tour, 3 free travel).
KEYS = {
    "cruise": ("1", "cruise_menu", "0"),
    "tour": ("2",),
    "free_travel": ("3", "free_travel_menu", "0"),
}


async def choose(caller: Caller, line: str) -> None:
    """The caller listens to the main menu and chooses the line (and "an agent" in sub-menus)."""
    await caller.hears("main_menu")
    first, *rest = KEYS[line]
    await caller.press(first)
    if rest:
        menu, key = rest
        await caller.hears(menu)
        await caller.press(key)


async def waiting_caller(callers: Callers, line: str, **dial: Any) -> Caller:
    """A caller who chose the line and now hears music on hold."""
    caller = await callers.dial(**dial)
    await choose(caller, line)
    await caller.on_hold()
    return caller


def phone_audio(chunks: list[tuple[float, bytes]]) -> np.ndarray:
    """A phone's received audio (8-bit unsigned PCM) on the 16-bit scale of the prompt files."""
    pcm = np.frombuffer(b"".join(c for _, c in chunks), dtype=np.uint8).astype(np.float64)
    return (pcm - 128.0) * 256.0


# -- skills ------------------------------------------------------------------------------


async def test_each_line_goes_to_the_agent_with_the_highest_skill_not_the_longest_idle(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = {job: await phones(job, answer_after=0.5) for job in ("1001", "1002", "1003")}
    # Ready in this order, longest idle first: 1003, 1001, 1002. Longest-idle routing would
    # give cruise to 1001 (cruise 2, idle longer than 1002) and tour to 1003 (tour 2).
    api = {job: await c.agent_logged_in(job) for job in ("1003", "1001", "1002")}

    expected = [  # line, the agent with the best skill for it, the caller's number
        ("cruise", "1002", "13900000001"),
        ("tour", "1001", "13900000002"),
        ("free_travel", "1003", "13900000003"),
    ]
    placed = []
    for line, job, number in expected:
        caller = await callers.dial(number=number)
        await choose(caller, line)
        call = await phone[job].ringing()
        assert call.caller_number == number
        await phone[job].answered(call)
        placed.append(caller)
    for caller, (line, job, _) in zip(placed, expected, strict=True):
        await asterisk.wait_bridged(caller.call_id, await asterisk.agent_leg(job), timeout=15)
        view = await api[job].agent()
        assert (view["state"], view["call_id"]) == ("talking", caller.call_id), view
        assert view["call"]["line"] == line
    # Each phone rang exactly once, for its own line's caller: the others never rang.
    for _, job, number in expected:
        assert [call.caller_number for call in phone[job].calls] == [number], job


# -- the greeting --------------------------------------------------------------------------


async def test_a_tour_caller_reaches_the_tour_agent_and_hears_their_job_number(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = await phones("1001", answer_after=0.5)
    api = await c.agent_logged_in("1001")
    stream = await api.events()
    caller = await callers.dial(record=True)
    menu = await caller.hears("main_menu")
    await caller.press("2")
    hold = await caller.hears("please_hold")
    call = await phone.ringing()
    await phone.answered(call)
    greeting = await caller.hears("agent_greeting_before")
    assert greeting.keys == greeting_of("1001")
    leg = await asterisk.agent_leg("1001")
    await asterisk.wait_bridged(caller.call_id, leg, timeout=15)

    # The agent put the phone down: after-call work, then ready again (wrap_up 2 s).
    mark = stream.mark()
    await phone.hang_up(call)
    await stream.next("agent_state", timeout=10, after=mark, agent="1001", state="after_call")
    await stream.next("agent_state", timeout=10, after=mark, agent="1001", state="ready")
    assert (await api.agent())["state"] == "ready"
    await caller.hears("survey_question")
    await caller.hang_up()
    recording = await caller.recording_done()

    # In what the caller heard: the menu, "please hold", then "agent 1-0-0-1 at your service".
    (_, menu_at, menu_score), *_ = caller.heard_in_recording(menu, prefix=0.3)
    (_, hold_at, hold_score), *_ = caller.heard_in_recording(hold)
    found = caller.heard_in_recording(greeting)
    assert menu_score > 0.9 and hold_score > 0.9, (menu_score, hold_score)
    assert [key for key, _, _ in found] == list(greeting.keys)
    assert_heard(found)
    offsets = [at for _, at, _ in found]
    assert menu_at < hold_at < offsets[0] and offsets == sorted(offsets), (menu_at, hold_at, found)
    # Where the last digit is, the caller heard "1", not another digit (say "2").
    prompts = asterisk.pbx.host_path("sounds/acd")
    last = offsets[4]
    (_, _, other), *_ = find_prompts(recording, prompts, "en", ["digit_2"], last - 0.2, slack=0.4)
    assert other < 0.5, other

    # The agent heard the line's name ("Tour.") on answering, in the phone's own audio.
    heard = phone_audio(call.chunks)
    _, score = find_audio(heard, prompt_audio(prompts, "en", ["line_tour"]))
    assert score > 0.8, score


# -- waiting --------------------------------------------------------------------------------


async def test_a_caller_waits_with_music_until_an_agent_becomes_ready(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = await phones("1002", answer_after=0.5)
    api = await c.agent_logged_in("1002", ready=False)  # the line has a human, not ready
    caller = await callers.dial(record=True, number="13900000011")
    await choose(caller, "cruise")
    await caller.hears("please_hold")
    music_at = await caller.on_hold()
    await asyncio.sleep(6)  # the caller waits a while (time passes; nothing may ring)
    assert phone.calls == []
    ready_at = time.monotonic()
    await api.post("/agents/1002/ready")
    call = await phone.ringing(timeout=10)
    assert call.caller_number == "13900000011"
    await phone.answered(call)
    await caller.hears("agent_greeting_before")
    await caller.hang_up()
    recording = await caller.recording_done()

    # From a second after the music began until the agent went ready the caller heard music.
    start, end = caller.offset(music_at) + 1, caller.offset(ready_at)
    # (Silence on the line measures about 10; the music has short rests, hence "most".)
    loud = loud_seconds_between(recording, start, end, threshold=50)
    assert end - start > 4 and loud >= 0.6 * (end - start), (loud, start, end)


async def test_a_waiting_caller_hears_their_position_in_the_queue(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"announce_every": 10})  # the shortest interval allowed
    await c.agent_logged_in("1001", ready=False)  # the tour line has a human; nobody is ready
    first = await waiting_caller(callers, "tour", record=True, number="13900000021")
    # The second caller speaks Mandarin: their position is spoken in Mandarin.
    second = await waiting_caller(callers, "tour", record=True, number="13900000022", language="zh")
    heard = {}
    for caller in (first, second):
        heard[caller.call_id] = await caller.hears("position_before", timeout=20)
        done = await asterisk.ami.wait(  # the whole announcement was played
            lambda e, c=caller: (
                e.name == "UserEvent"
                and e.get("UserEvent") == "AcdAnnounced"
                and e.get("Uniqueid") == c.call_id
            ),
            15,
        )
        await caller.recorded_until(done.at)
    for caller in (first, second):
        await caller.hang_up()
    prompts = asterisk.pbx.host_path("sounds/acd")
    cases = ((first, "en", "number_1", "number_2"), (second, "zh", "number_2", "number_1"))
    for caller, language, mine, other in cases:
        announced = heard[caller.call_id]
        # Nobody is ready and nothing handled yet: no expected wait is said.
        assert announced.keys == (
            "position_before",
            mine,
            "position_after",
            "position_hold",
        ), announced
        assert announced.languages == {language}
        recording = await caller.recording_done()
        found = caller.heard_in_recording(announced)
        assert_heard(found)
        number_at = found[1][1]
        (_, _, score), *_ = find_prompts(
            recording, prompts, language, [other], number_at - 0.2, slack=0.4
        )
        assert score < 0.5, (caller.number, other, score)
    # What the Mandarin caller heard was not the English announcement.
    english = second.heard_in_recording(heard[second.call_id], language="en")
    assert all(score < 0.5 for _, _, score in english), english


async def test_a_waiting_caller_hears_the_expected_wait_once_the_line_has_handled_a_call(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"announce_every": 10, "wrap_up": 2})
    api = await c.agent_logged_in("1001")
    phone = await phones("1001", answer_after=0.5)  # talks until hung up
    # One call handled on the tour line: its handle time (a few seconds) is known.
    first, call, _ = await callers.put_through(phone, number="13900000023")
    await asyncio.sleep(2)
    await phone.hang_up(call)
    await first.hears("survey_question")
    await first.hang_up()
    await api.wait_agent(lambda v: v["state"] == "ready", timeout=15)
    lead = await (await c.login(SUPERVISOR)).events()
    # The only tour agent talks to a second caller; a third (Mandarin) waits.
    second, talking, _ = await callers.put_through(phone, number="13900000024")
    waiting = await waiting_caller(
        callers, "tour", record=True, number="13900000025", language="zh"
    )
    announced = await waiting.hears("position_before", timeout=20)
    done = await asterisk.ami.wait(
        lambda e: (
            e.name == "UserEvent"
            and e.get("UserEvent") == "AcdAnnounced"
            and e.get("Uniqueid") == waiting.call_id
        ),
        20,
    )
    await waiting.recorded_until(done.at)
    await waiting.hang_up()
    await phone.hang_up(talking)
    await second.hang_up()
    # One agent staffed, a few seconds per call: "less than a minute", after the position.
    assert announced.keys == (
        "position_before",
        "number_1",
        "position_after",
        "wait_under_a_minute",
        "position_hold",
    ), announced
    assert announced.languages == {"zh"}
    # The team lead sees what the caller was told, in seconds.
    told = (await lead.next("position_announced", timeout=5, call_id=waiting.call_id))["data"]
    assert (told["line"], told["position"]) == ("tour", 1), told
    assert 0 < told["expected_wait"] < 60, told
    await waiting.recording_done()
    assert_heard(waiting.heard_in_recording(announced))


# -- unanswered and abandoned rings ------------------------------------------------------------


async def test_an_unanswered_phone_puts_the_agent_on_no_answer_and_the_next_agent_is_rung(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(acd={"ring_timeout": 4})
    sleepy = await phones("1001", answer_after=None)  # tour 5: rung first, nobody picks up
    backup = await phones("1003", answer_after=0.5)  # tour 2
    api = await c.agent_logged_in("1001")
    await c.agent_logged_in("1003")
    caller = await callers.dial(number="13900000031")
    await choose(caller, "tour")
    unanswered = await sleepy.ringing()
    call = await backup.ringing(timeout=15)
    assert (unanswered.caller_number, call.caller_number) == ("13900000031", "13900000031")
    await backup.answered(call)
    greeting = await caller.hears("agent_greeting_before")
    assert greeting.keys[1:5] == ("digit_1", "digit_0", "digit_0", "digit_3")
    view = await api.agent()
    assert (view["state"], view["reason"]) == ("not_ready", "no_answer"), view
    # 1001's phone stopped ringing (SIP CANCEL) and Asterisk has no channel of 1001 left.
    await sleepy.ended(unanswered, timeout=5)
    assert unanswered.cancelled and unanswered.answered_at is None
    await asterisk.no_channel_of("PJSIP/1001-")
    assert len(sleepy.calls) == 1


async def test_a_caller_hanging_up_while_the_agent_rings_frees_the_agent_within_2_seconds(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    phone = await phones("1001", answer_after=None)
    api = await c.agent_logged_in("1001")
    stream = await api.events()
    lead = await (await c.login("1901")).events()
    caller = await callers.dial(number="13900000041")
    await choose(caller, "tour")
    ringing = await phone.ringing()
    await stream.next("agent_state", timeout=10, agent="1001", state="ringing")

    async def ready_seen() -> float:
        await stream.next("agent_state", timeout=10, after=mark, agent="1001", state="ready")
        return time.monotonic()

    mark = stream.mark()
    seen = asyncio.create_task(ready_seen())
    hung_up_at = await caller.hang_up()  # the Hangup event of the caller's channel
    freed = await seen - hung_up_at
    assert freed < 2, f"the agent was ready again {freed:.2f} s after the caller left"

    abandoned = await lead.next("call_abandoned", timeout=5, call_id=caller.call_id)
    assert abandoned["data"]["while_ringing"] == "1001"
    assert abandoned["data"]["line"] == "tour"
    await phone.ended(ringing, timeout=5)
    assert ringing.cancelled
    await asterisk.no_channel_of("PJSIP/1001-")


# -- the engine dies -----------------------------------------------------------------------------


async def test_kill_9_while_two_callers_wait_keeps_both_callers_and_their_order(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    talking = await phones("1003", answer_after=0.5)  # talks until the test ends
    await c.agent_logged_in("1003")
    busy = await callers.dial(number="13900000050")
    await choose(busy, "free_travel")
    await talking.answered(await talking.ringing())
    leg = await asterisk.agent_leg("1003")
    await asterisk.wait_bridged(busy.call_id, leg, timeout=15)

    trainee = await c.agent_logged_in("1001", ready=False)
    await trainee.post("/agents/1001/not-ready", {"reason": "training"})
    lead = await c.login("1901")
    # The second caller dials first but chooses the line only after the first one: their
    # place in the queue is not the order in which Asterisk created their channels.
    second = await callers.dial(number="13900000052")
    first = await callers.dial(number="13900000051")
    await choose(first, "tour")
    await first.on_hold()
    snapshot = await lead.get("/supervisor/snapshot")
    assert snapshot["lines"]["tour"]["waiting"] == 1
    await choose(second, "tour")
    await second.on_hold()
    snapshot = await lead.get("/supervisor/snapshot")
    assert snapshot["lines"]["tour"]["waiting"] == 2

    await c.kill()
    await asyncio.sleep(3)  # the engine stays dead a while: nobody may be dropped meanwhile
    assert await first.on_line() and await second.on_line()
    assert await asterisk.bridged_together(busy.call_id, leg)

    phone = await phones("1001", answer_after=0.5, talk_for=3)
    await c.start()  # the same configuration and database
    trainee = await c.login("1001")
    view = await trainee.agent()
    assert (view["state"], view["reason"]) == ("not_ready", "training"), view
    assert (await (await c.login("1003")).agent())["state"] == "talking"
    await trainee.post("/agents/1001/ready")
    one = await phone.ringing(timeout=20)
    await first.hears("agent_greeting_before")
    two = await phone.ringing(count=2, timeout=30)  # after the first call and its wrap-up
    await second.hears("agent_greeting_before")
    assert (one.caller_number, two.caller_number) == ("13900000051", "13900000052")
    assert one.answered_at is not None and one.answered_at < two.rang_at
    assert await asterisk.bridged_together(busy.call_id, leg)  # went on through it all
    assert len(talking.calls) == 1  # 1003 (busy) never rang again


# -- the peak plan -------------------------------------------------------------------------------


async def test_the_peak_plan_stops_callbacks_and_breaks_then_puts_the_team_lead_on_the_phones(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    # A site's small thresholds: level 1 at 2 waiting for 3 s, level 2 at 3 waiting for 6 s.
    peak = {
        "level1_waiting": 2,
        "level1_sustain": 3,
        "level1_release": 1,
        "level2_waiting": 3,
        "level2_sustain": 6,
        "level2_release": 2,
        "release_sustain": 2,
    }
    c = await centre(acd={"peak": peak})
    callback_phone = await phones("1001", answer_after=0.5)
    lead_phone = await phones("1901", answer_after=0.5)
    a1001 = await c.agent_logged_in("1001", ready=False)
    await a1001.post("/agents/1001/not-ready", {"reason": "callback_work"})
    a1002 = await c.agent_logged_in("1002", ready=False)
    await a1002.post("/agents/1002/not-ready", {"reason": "lunch"})
    a1003 = await c.agent_logged_in("1003", ready=False)
    await a1003.post("/agents/1003/not-ready", {"reason": "other"})
    lead = await c.agent_logged_in("1901")
    watch = await lead.events()
    lunch = await a1002.events()

    numbers = [f"1390000006{i}" for i in range(4)]
    waiting = await asyncio.gather(*(waiting_caller(callers, "tour", number=n) for n in numbers))

    level1 = await watch.next("peak_level", timeout=20, level=1)
    # Callback work stops: 1001 is ready and their phone rings with a tour caller.
    back = await watch.next("agent_state", timeout=5, after=0, agent="1001", state="ready")
    assert back["seq"] > level1["seq"] and back["data"]["old"] == "not_ready"
    call = await callback_phone.ringing(timeout=10)
    assert call.caller_number in numbers
    await callback_phone.answered(call)
    # The agent on lunch is asked back, on their own stream.
    asked = await lunch.next("agent_message", timeout=5, agent="1002")
    assert "break" in asked["data"]["message"]
    assert asked["data"]["code"] == "peak_breaks_suspended"  # the desktop says it in Chinese too
    # Breaks are refused while the peak lasts, with the reason.
    refused = await a1003.post("/agents/1003/not-ready", {"reason": "break"}, expect=409)
    assert "peak" in refused["message"], refused
    # Supervisors take no calls at level 1.
    if not watch.of("peak_level", level=2):
        assert lead_phone.calls == []

    level2 = await watch.next("peak_level", timeout=20, level=2)
    call = await lead_phone.ringing(timeout=10)
    assert call.caller_number in numbers
    # On the supervisors' stream: 1001 was rung at level 1, the team lead only at level 2.
    agent_rung = await watch.next("call_ringing", timeout=5, agent="1001")
    lead_rung = await watch.next("call_ringing", timeout=5, agent="1901")
    assert level1["seq"] < agent_rung["seq"] < level2["seq"] < lead_rung["seq"]
    await lead_phone.answered(call)
    assert (await lead.get("/supervisor/snapshot"))["peak_level"] == 2

    # The callers leave: the levels fall back one step at a time, to normal.
    mark = watch.mark()
    for caller in waiting:
        await caller.hang_up()
    await watch.next("peak_level", timeout=15, after=mark, level=1)
    await watch.next("peak_level", timeout=15, after=mark, level=0)
    assert (await lead.get("/supervisor/snapshot"))["peak_level"] == 0
