"""After the call: the caller's rating, the registration, follow-ups and the day's report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.asterisk import Asterisk, Played
from tests.e2e.callers import Caller, assert_heard, prompt_seconds
from tests.e2e.centre import SUPERVISOR, Api, zone_at_midday
from tests.e2e.waiting import until

TWO_HOURS = 7200.0
SURVEY_PROMPTS = ("survey_question", "survey_invalid", "survey_thanks")


# -- helpers -------------------------------------------------------------------------------


def survey_heard(caller: Caller) -> list[str]:
    """The survey's prompts the caller was played, in order."""
    return [key for key in caller.heard_keys() if key in SURVEY_PROMPTS]


def entered_survey(asterisk: Asterisk, caller: Caller) -> bool:
    """Did the hotline leg enter the acd-survey context (Asterisk's own dialplan events)?"""
    return bool(
        asterisk.ami.find(
            lambda e: (
                e.name == "Newexten"
                and e.get("Uniqueid") == caller.call_id
                and e.get("Context") == "acd-survey"
            )
        )
    )


async def report_line(lead: Api, line: str, predicate: Callable[[dict[str, Any]], bool]) -> Any:
    """Today's report until that line's row satisfies ``predicate`` (events are stored
    moments after they happen); (the whole report, the line's row)."""

    async def check() -> tuple[dict[str, Any], dict[str, Any]] | None:
        report = await lead.get("/reports/day")
        row = next((r for r in report["lines"] if r["line"] == line), None)
        return (report, row) if row is not None and predicate(row) else None

    return await until(check, 15, f"the report's {line} row")


# -- the rating -------------------------------------------------------------------------------


async def test_a_caller_who_rates_2_opens_a_low_score_ticket_and_the_next_screen_pop_shows_it(
    centre, callers, phones, asterisk
):
    number = "13900000071"
    c = await centre()
    agent = await c.agent_logged_in("1001")
    lead = await c.login(SUPERVISOR)
    lead_stream = await lead.events()
    agent_stream = await agent.events()
    phone = await phones("1001", answer_after=0.5, talk_for=4)
    caller, _ = await callers.tour_call(phone, number=number, record=True)

    # The agent hangs up; the caller is asked and presses 2 while the question plays.
    question = await caller.hears("survey_question", timeout=30)
    await caller.press("2", after=1.5)
    thanks = await caller.hears("survey_thanks", timeout=10)
    await caller.gone(timeout=15)
    assert entered_survey(asterisk, caller)
    assert survey_heard(caller) == ["survey_question", "survey_thanks"]

    survey = await lead_stream.next("survey", timeout=10, call_id=caller.call_id)
    assert survey["data"] == {
        "call_id": caller.call_id,
        "score": 2,
        "agent": "1001",
        "line": "tour",
    }
    opened = await lead_stream.next("follow_up_opened", timeout=10, call_id=caller.call_id)
    assert opened["data"]["reason"] == "low_score" and SUPERVISOR in opened["data"]["supervisors"]
    (ticket,) = await lead.get("/follow-ups")
    assert ticket["id"] == opened["data"]["id"]
    assert (ticket["call_id"], ticket["reason"], ticket["agent"], ticket["line"]) == (
        caller.call_id,
        "low_score",
        "1001",
        "tour",
    )
    assert ticket["caller"] == number and ticket["details"] == {"score": 2}
    assert ticket["closed_at"] is None and ticket["overdue"] is False
    assert abs(ticket["due_at"] - ticket["opened_at"] - TWO_HOURS) < 1
    assert abs(ticket["due_at"] - (time.time() + TWO_HOURS)) < 120

    # What the caller heard: the question (until the key) and the thanks, the very audio.
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(question, prefix=1.2))
    # The hotline hangs up as the thanks ends: its last moment may miss the recording.
    thanks_heard = prompt_seconds(asterisk, "survey_thanks") - 0.3
    assert_heard(caller.heard_in_recording(thanks, prefix=thanks_heard))

    # The same number calls again: the agent's screen pop shows the earlier call and its 2.
    await agent.wait_agent(lambda v: v["state"] == "ready")
    mark = agent_stream.mark()
    again, _ = await callers.tour_call(phone, number=number, rings=2)
    ringing = await agent_stream.next("call_ringing", timeout=10, after=mark)
    assert ringing["data"]["call_id"] == again.call_id
    view = await agent.wait_agent(lambda v: v["state"] == "talking")
    assert view["call"]["call_id"] == again.call_id and view["call"]["caller_number"] == number
    for pop in (ringing["data"], view["call"]):
        earlier = pop["history"][0]
        assert (earlier["call_id"], earlier["outcome"], earlier["agent"]) == (
            caller.call_id,
            "answered",
            "1001",
        )
        assert earlier["satisfaction"] == 2 and earlier["line"] == "tour"
    await again.hang_up()


async def test_an_invalid_survey_key_is_asked_again_once_and_a_valid_rating_then_counts(
    centre, callers, phones, asterisk
):
    c = await centre()
    await c.agent_logged_in("1001")
    lead = await c.login(SUPERVISOR)
    lead_stream = await lead.events()
    phone = await phones("1001", answer_after=0.5, talk_for=2)
    caller, _ = await callers.tour_call(phone, number="13900000072", record=True)

    question = await caller.hears("survey_question", timeout=30)
    await caller.press("7", after=1.0)
    invalid = await caller.hears_next("survey_invalid", question)
    again = await caller.hears_next("survey_question", invalid)
    await caller.press("4", after=1.0)
    await caller.hears("survey_thanks", timeout=10)
    await caller.gone(timeout=15)
    assert survey_heard(caller) == [
        "survey_question",
        "survey_invalid",
        "survey_question",
        "survey_thanks",
    ]
    survey = await lead_stream.next("survey", timeout=10, call_id=caller.call_id)
    assert survey["data"]["score"] == 4
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(invalid))
    assert_heard(caller.heard_in_recording(again, prefix=0.8))

    await asyncio.sleep(2)  # negative check: a 4 opens no ticket
    assert not lead_stream.of("follow_up_opened")
    assert await lead.get("/follow-ups?status=all") == []
    assert len(lead_stream.of("survey")) == 1  # one rating for the call, not two


async def test_a_second_invalid_key_or_silence_is_stored_as_no_answer(
    centre, callers, phones, asterisk
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    await c.agent_logged_in("1001")
    await c.agent_logged_in("1003")  # tour too: the two callers are served side by side
    lead = await c.login(SUPERVISOR)
    lead_stream = await lead.events()
    phones_by_job = {
        job: await phones(job, answer_after=0.5, talk_for=2) for job in ("1001", "1003")
    }

    async def call(number: str) -> tuple[Caller, Played]:
        """Through the menu to an agent, who hangs up; the survey's question starts."""
        caller = await callers.tour_caller(number=number)
        return caller, await caller.hears("survey_question", timeout=40)

    async def presses_two_wrong_keys() -> Caller:
        caller, question = await call("13900000073")
        await caller.press("8", after=1.0)
        invalid = await caller.hears_next("survey_invalid", question)
        await caller.hears_next("survey_question", invalid)
        await caller.press("#", after=1.0)
        await caller.hears("survey_thanks", timeout=10)
        await caller.gone(timeout=15)  # the hotline says goodbye and hangs up
        return caller

    async def stays_silent() -> tuple[Caller, float]:
        caller, question = await call("13900000074")
        ended = await caller.gone(timeout=30)  # the hotline hangs up: nobody pressed anything
        return caller, ended.at - question.at

    wrong, (silent, silent_for) = await asyncio.gather(presses_two_wrong_keys(), stays_silent())
    assert {phone.calls[0].caller_number for phone in phones_by_job.values()} == {
        "13900000073",
        "13900000074",
    }
    # Asked again only once: a second wrong key ends the survey (with thanks), unanswered.
    assert survey_heard(wrong) == [
        "survey_question",
        "survey_invalid",
        "survey_question",
        "survey_thanks",
    ]
    # Silence: asked once, no thanks, hung up after the question and the 5 s wait for a key.
    assert survey_heard(silent) == ["survey_question"]
    asked_and_waited = prompt_seconds(asterisk, "survey_question") + 5.0
    assert asked_and_waited - 0.5 <= silent_for <= asked_and_waited + 8, silent_for
    for caller in (wrong, silent):
        survey = await lead_stream.next("survey", timeout=10, call_id=caller.call_id)
        assert survey["data"]["score"] is None

    # Stored as surveys without an answer: counted, no average, no score, no ticket.
    _, tour = await report_line(lead, "tour", lambda r: r["surveys"] == 2)
    assert tour["survey_no_answer"] == 2 and tour["survey_average"] is None
    assert sum(tour["survey_distribution"].values()) == 0
    assert tour["low_score_follow_ups"] == 0
    assert await lead.get("/follow-ups?status=all") == []


async def test_a_caller_who_hangs_up_first_is_not_surveyed_and_the_agent_wraps_up(
    centre, callers, phones, asterisk
):
    c = await centre()
    agent = await c.agent_logged_in("1001")
    lead = await c.login(SUPERVISOR)
    lead_stream = await lead.events()
    agent_stream = await agent.events()
    phone = await phones("1001", answer_after=0.5)  # talks until the other side hangs up
    caller, call = await callers.tour_call(phone, number="13900000075")
    await caller.hears("agent_greeting_before")
    await asterisk.bridged_with(caller.call_id, "1001")
    await agent.wait_agent(lambda v: v["state"] == "talking")
    mark = agent_stream.mark()
    await asyncio.sleep(1.5)  # they talk
    await caller.hang_up()

    await phone.ended(call, timeout=10)
    wrapping = await agent_stream.next("agent_state", 10, mark, agent="1001", state="after_call")
    assert wrapping["data"]["old"] == "talking"
    await agent_stream.next("agent_state", 10, mark, agent="1001", state="ready")

    await asyncio.sleep(3)  # negative check: no survey comes for this call
    assert not entered_survey(asterisk, caller)
    assert survey_heard(caller) == []
    assert lead_stream.of("survey") == []
    assert lead_stream.of("call_connected", call_id=caller.call_id)  # the stream did carry it


async def test_a_caller_who_hangs_up_during_the_greeting_frees_the_agents_phone_before_the_next(
    centre, callers, phones, asterisk
):
    c = await centre()
    agent = await c.agent_logged_in("1001")
    phone = await phones("1001", answer_after=0.5)  # talks until the other side hangs up
    stream = await agent.events()  # the 2 s of wrap-up, seen as they happen (not polled)
    caller, call = await callers.tour_call(phone, number="13900000078")
    await caller.hears("agent_greeting_before")
    mark = stream.mark()
    await caller.hang_up()  # before "... at your service" ends: never bridged

    await stream.next("agent_state", 5, mark, agent="1001", state="after_call")
    await stream.next("agent_state", 10, mark, agent="1001", state="ready")
    await stream.close()
    # Ready for the next caller: the agent's phone must no longer be on the last call.
    assert call.ended_at is not None, "the agent's phone is still on the call"
    assert not await asterisk.channels_of("PJSIP/1001-")


# -- a day ---------------------------------------------------------------------------------


async def test_a_short_day_registered_followed_up_and_reported(centre, callers, phones):
    c = await centre(ivr={"timezone": zone_at_midday()})  # "today" cannot straddle midnight
    agent = await c.agent_logged_in("1001")
    lead = await c.login(SUPERVISOR)
    lead_stream = await lead.events()
    phone = await phones("1001", answer_after=0.5, talk_for=5)

    # Call 1: answered by 1001, who hangs up after 5 s; the caller rates 2.
    answered, _ = await callers.tour_call(phone, number="13900000076")
    await answered.hears("survey_question", timeout=30)
    await answered.press("2", after=1.0)
    await lead_stream.next("survey", timeout=15, call_id=answered.call_id, score=2)
    await answered.gone(timeout=15)

    # The agent registers it: a critical complaint goes to the team lead at once.
    body = {"category": "complaint", "urgency": "critical", "notes": "missed the ferry"}
    registered = await agent.post(f"/calls/{answered.call_id}/registration", body, expect=201)
    assert registered["follow_up"]["reason"] == "registration"
    critical = await lead_stream.next("critical_call", timeout=5, call_id=answered.call_id)
    assert critical["data"]["agent"] == "1001" and critical["data"]["notes"] == "missed the ferry"
    assert critical["data"]["supervisors"] == [SUPERVISOR]
    twice = await agent.post(f"/calls/{answered.call_id}/registration", body, expect=409)
    assert twice["error_id"] == "already_registered"
    assert (await agent.get(f"/calls/{answered.call_id}/registration"))["category"] == "complaint"

    # Two tickets for the team lead, both due within 2 hours: the low score and the complaint.
    tickets = await lead.get("/follow-ups")
    assert sorted(t["reason"] for t in tickets) == ["low_score", "registration"]
    assert all(t["call_id"] == answered.call_id for t in tickets)
    assert all(abs(t["due_at"] - (time.time() + TWO_HOURS)) < 120 for t in tickets), tickets
    low = next(t for t in tickets if t["reason"] == "low_score")

    # The team lead listens to the recording before calling back, then closes the ticket.
    await lead.finished_recording(answered.call_id, timeout=15)
    async with lead.session.get(f"{c.base}{low['recording']}", headers=lead.headers) as resp:
        assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"
    closed = await lead.post(f"/follow-ups/{low['id']}/close", {"outcome": "called back"})
    assert closed["met_in_time"] is True and closed["closed_by"] == SUPERVISOR
    closing = await lead_stream.next("follow_up_closed", timeout=5, id=low["id"])
    assert closing["data"]["met"] is True
    assert [t["reason"] for t in await lead.get("/follow-ups")] == ["registration"]

    # Call 2: nobody is ready; the caller gives up after waiting longer than a short abandon.
    await agent.wait_agent(lambda v: v["state"] == "ready")
    await agent.post("/agents/1001/not-ready", {"reason": "break"})
    abandoned = await callers.dial(number="13900000077")
    await abandoned.hears("main_menu")
    await abandoned.press("2")
    await abandoned.on_hold()

    await lead.snapshot_until(lambda s: s["lines"]["tour"]["longest_wait"] >= 6.5, timeout=15)
    await abandoned.hang_up()
    await lead_stream.next("call_abandoned", timeout=10, call_id=abandoned.call_id)

    report, tour = await report_line(lead, "tour", lambda r: r["abandoned"] == 1)
    assert (tour["offered"], tour["answered"], tour["abandoned"], tour["short_abandoned"]) == (
        2,
        1,
        1,
        0,
    )
    assert tour["service_level_pct"] == 50.0  # answered at once / (1 answered + 1 abandoned)
    assert tour["longest_wait_s"] >= 6.5
    assert tour["surveys"] == 1 and tour["survey_distribution"]["2"] == 1
    assert tour["survey_average"] == 2.0
    assert (tour["low_score_follow_ups"], tour["follow_ups_met_in_time"]) == (1, 1)
    li = next(a for a in report["agents"] if a["agent"] == "1001")
    assert li["answered"] == 1 and 4.0 <= li["talk_s"] <= 8.0, li
    assert li["average_handle_time_s"] >= li["talk_s"] + li["after_call_s"] - 0.1
    assert li["after_call_s"] > 0 and li["break_s"]["break"] > 0, li
