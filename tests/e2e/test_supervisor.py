"""Team leads on live calls: listen, whisper, barge, force hang-up, and the snapshot's figures."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from tests.e2e.ami import Event
from tests.e2e.asterisk import Asterisk
from tests.e2e.audio import read_wav, tone_ratio
from tests.e2e.callers import Caller
from tests.e2e.centre import ADMIN, SUPERVISOR, Centre, zone_at_midday
from tests.e2e.phones import PhoneCall

AGENT_HZ, SUPERVISOR_HZ = 1000.0, 1500.0  # what the agent's and the supervisor's phones say


# -- helpers -------------------------------------------------------------------------------


def voice(seconds: float, frequency: float) -> bytes:
    """A phone's "voice": a pure tone at a moderate level (8-bit unsigned PCM), so that two
    voices mixed by Asterisk (barge) do not clip."""
    return bytes(
        int(128 + 45 * math.sin(2 * math.pi * frequency * i / 8000))
        for i in range(int(seconds * 8000))
    )


def _tone_seconds(samples: np.ndarray, frequency: float, rate: int = 8000) -> float:
    """Seconds (per 100 ms window) in which ``frequency`` carries at least a third of the
    energy: found alone, and also mixed with one other voice of the same level."""
    window = rate // 10
    return sum(
        0.1
        for i in range(0, len(samples) - window + 1, window)
        if tone_ratio(samples[i : i + window], frequency, rate) > 0.33
    )


def phone_heard(call: PhoneCall, frequency: float, start: float, end: float) -> float:
    """Seconds of that voice in what a phone received between two monotonic times."""
    audio = b"".join(chunk for at, chunk in call.chunks if start <= at < end)
    return _tone_seconds(np.frombuffer(audio, dtype=np.uint8).astype(np.float64), frequency)


def received_seconds(call: PhoneCall, start: float, end: float) -> float:
    """Seconds of audio a phone received between two monotonic times (8 kHz, 8-bit)."""
    return sum(len(chunk) for at, chunk in call.chunks if start <= at < end) / 8000


def caller_heard(caller: Caller, frequency: float, start: float, end: float) -> float:
    """Seconds of that voice in the caller's recording between two monotonic times."""
    assert caller.recording is not None
    rate, samples = read_wav(caller.recording)
    first, last = int(caller.offset(start) * rate), int(caller.offset(end) * rate)
    return _tone_seconds(samples[max(0, first) : last], frequency, rate)


async def spying(asterisk: Asterisk, mode: str, since: int, timeout: float = 15) -> Event:
    """Asterisk started ChanSpy on the supervisor's phone in that mode (acd-spy,<mode>)."""
    return await asterisk.ami.wait(
        lambda e: (
            e.name == "Newexten"
            and e.get("Context") == "acd-spy"
            and e.get("Exten") == mode
            and e.get("Application") == "ChanSpy"
        ),
        timeout,
        since,
    )


async def supervisor_actions(c: Centre) -> list[tuple[str, str, str]]:
    """The audit log's entries made by the supervisor, as the admin reads them."""
    admin = await c.login(ADMIN)
    audit = await admin.get("/admin/audit")
    return [(a["actor"], a["action"], a["target"]) for a in audit if a["actor"] == SUPERVISOR]


# -- listen, whisper, barge, force hang-up ----------------------------------------------------


async def test_a_supervisor_listens_unheard_and_stopping_leaves_caller_and_agent_talking(
    centre, callers, phones, asterisk
):
    c = await centre()
    agent = await c.agent_logged_in("1001")
    lead = await c.login(SUPERVISOR)
    agent_phone = await phones("1001", answer_after=0.5, speak=voice(60, AGENT_HZ))
    lead_phone = await phones(SUPERVISOR, answer_after=0.5, speak=voice(60, SUPERVISOR_HZ))
    caller, agent_call, agent_leg = await callers.put_through(agent_phone, record=True)

    since = asterisk.ami.mark()
    assert await lead.post("/supervisor/agents/1001/monitor", {"mode": "listen"}) == {
        "agent": "1001",
        "mode": "listen",
        "supervisor": SUPERVISOR,
    }
    lead_call = await lead_phone.ringing()
    await lead_phone.answered(lead_call)
    started = (await spying(asterisk, "listen", since)).at
    await asyncio.sleep(5)  # the supervisor listens for a while (and speaks into the phone)
    heard_from, heard_to = started + 1.0, time.monotonic()

    # The supervisor hears the agent; nobody hears the supervisor.
    assert phone_heard(lead_call, AGENT_HZ, heard_from, heard_to) >= 3.0
    assert phone_heard(agent_call, SUPERVISOR_HZ, heard_from, heard_to) == 0
    assert received_seconds(agent_call, heard_from, heard_to) >= 3.5  # the agent heard the line

    assert await lead.request("DELETE", "/supervisor/monitor") == {"stopped": True}
    await lead_phone.ended(lead_call, timeout=10)
    await asyncio.sleep(2)  # the caller and the agent talk on without the supervisor
    assert await asterisk.bridged_together(caller.call_id, agent_leg)
    assert (await agent.agent())["state"] == "talking"
    assert agent_call.ended_at is None
    talked_on_to = time.monotonic()

    await caller.hang_up()
    await caller.recording_done()
    assert await asyncio.to_thread(caller_heard, caller, SUPERVISOR_HZ, heard_from, heard_to) == 0
    # The recording does hold what the caller heard then: the agent's voice.
    assert await asyncio.to_thread(caller_heard, caller, AGENT_HZ, heard_from, heard_to) >= 3.0
    after = await asyncio.to_thread(caller_heard, caller, AGENT_HZ, heard_to + 0.5, talked_on_to)
    assert after >= 1.0, after  # and the agent went on talking to them
    assert await supervisor_actions(c) == [(SUPERVISOR, "listen", "1001")]


async def test_whisper_is_heard_by_the_agent_only_barge_by_both_and_force_hangup_ends_the_call(
    centre, callers, phones, asterisk
):
    c = await centre(acd={"wrap_up": 30})
    agent = await c.agent_logged_in("1001")
    lead = await c.login(SUPERVISOR)
    agent_phone = await phones("1001", answer_after=0.5, speak=voice(60, AGENT_HZ))
    lead_phone = await phones(SUPERVISOR, answer_after=0.5, speak=voice(60, SUPERVISOR_HZ))
    caller, agent_call, agent_leg = await callers.put_through(agent_phone, record=True)

    # An agent may neither listen in nor force a call down.
    refused = await agent.post("/supervisor/agents/1001/monitor", {"mode": "listen"}, expect=403)
    assert refused["error_id"] == "forbidden"
    refused = await agent.post(f"/supervisor/calls/{caller.call_id}/hangup", expect=403)
    assert refused["error_id"] == "forbidden"

    since = asterisk.ami.mark()
    await lead.post("/supervisor/agents/1001/monitor", {"mode": "whisper"})
    lead_call = await lead_phone.ringing()
    await lead_phone.answered(lead_call)
    whisper_from = (await spying(asterisk, "whisper", since)).at + 1.0
    await asyncio.sleep(5)  # the supervisor whispers advice for a while
    whisper_to = time.monotonic()

    # The same phone switches to barge in place: no second call.
    since = asterisk.ami.mark()
    assert (await lead.post("/supervisor/agents/1001/monitor", {"mode": "barge"}))["mode"] == (
        "barge"
    )
    barge_from = (await spying(asterisk, "barge", since)).at + 1.0
    await asyncio.sleep(5)  # the supervisor talks to both
    barge_to = time.monotonic()
    assert len(lead_phone.calls) == 1 and lead_call.ended_at is None
    assert len(agent_phone.calls) == 1  # the refused requests rang nobody
    assert await asterisk.bridged_together(caller.call_id, agent_leg)

    hung_up = await lead.post(f"/supervisor/calls/{caller.call_id}/hangup")
    assert hung_up["hung_up"] is True
    await caller.gone(timeout=10)
    await agent_phone.ended(agent_call, timeout=10)
    await lead_phone.ended(lead_call, timeout=10)
    # Hung up for good: the caller was not sent on to the survey.
    assert "survey_question" not in caller.heard_keys()
    assert not asterisk.ami.find(
        lambda e: e.get("Uniqueid") == caller.call_id and e.get("Context") == "acd-survey"
    )
    view = await agent.wait_agent(lambda v: v["state"] == "after_call", timeout=10)
    assert view["call_id"] == caller.call_id, view

    await caller.recording_done()
    assert phone_heard(agent_call, SUPERVISOR_HZ, whisper_from, whisper_to) >= 3.0
    assert phone_heard(agent_call, SUPERVISOR_HZ, barge_from, barge_to) >= 3.0
    whispered = await asyncio.to_thread(
        caller_heard, caller, SUPERVISOR_HZ, whisper_from, whisper_to
    )
    assert whispered == 0, whispered
    barged = await asyncio.to_thread(caller_heard, caller, SUPERVISOR_HZ, barge_from, barge_to)
    assert barged >= 3.0, barged
    # The caller heard the agent all along (the recording covers both windows).
    agent_voice = await asyncio.to_thread(caller_heard, caller, AGENT_HZ, whisper_from, barge_to)
    assert agent_voice >= 7.0, agent_voice

    assert await supervisor_actions(c) == [
        (SUPERVISOR, "whisper", "1001"),
        (SUPERVISOR, "barge", "1001"),
        (SUPERVISOR, "force_hangup", caller.call_id),
    ]
    admin = await c.login(ADMIN)
    assert not [a for a in await admin.get("/admin/audit") if a["actor"] == "1001"]


# -- the snapshot ---------------------------------------------------------------------------


async def test_the_snapshot_shows_waiting_callers_agents_and_todays_answered_abandoned_and_level(
    centre, callers, phones
):
    zone = zone_at_midday()  # "today" cannot straddle the centre's midnight
    c = await centre(ivr={"timezone": zone}, acd={"service_level_seconds": 4})
    agent = await c.agent_logged_in("1001")
    await c.agent_logged_in("1002")  # cruise only: never takes a tour caller
    trainee = await c.agent_logged_in("1003")  # tour too, but at lunch
    await trainee.post("/agents/1003/not-ready", {"reason": "lunch"})
    lead = await c.login(SUPERVISOR)
    phone = await phones("1001", answer_after=0.5)  # talks until the test hangs up
    snap = await lead.get("/supervisor/snapshot")
    assert (snap["today"]["answered"], snap["today"]["abandoned"]) == (0, 0)
    assert snap["today"]["service_level"] is None
    assert snap["today"]["day"] == datetime.now(ZoneInfo(zone)).date().isoformat()

    # 1. Answered at once, within the service level (4 s here); 1001 stays on the call.
    first = await callers.dial()
    await first.hears("main_menu")
    await first.press("2")
    first_call = await phone.ringing()
    await phone.answered(first_call)
    await agent.wait_agent(lambda v: v["state"] == "talking")

    # 2. Nobody free for tour: the next caller waits, seen live on the tour line.
    second = await callers.dial()
    await second.hears("main_menu")
    await second.press("2")
    await second.on_hold()
    snap = await lead.snapshot_until(lambda s: s["lines"]["tour"]["waiting"] == 1)
    assert {line: v["waiting"] for line, v in snap["lines"].items()} == {
        "cruise": 0,
        "tour": 1,
        "free_travel": 0,
    }
    agents = {a["job_number"]: (a["state"], a["reason"]) for a in snap["agents"]}
    assert agents == {
        "1001": ("talking", None),
        "1002": ("ready", None),
        "1003": ("not_ready", "lunch"),
        SUPERVISOR: ("logged_out", None),
    }
    waited = snap["lines"]["tour"]["longest_wait"]
    later = await lead.snapshot_until(lambda s: s["lines"]["tour"]["longest_wait"] >= waited + 1)
    assert later["lines"]["tour"]["waiting"] == 1
    # The caller gives up after more than reports.short_abandon_seconds (5 s).
    await lead.snapshot_until(lambda s: s["lines"]["tour"]["longest_wait"] >= 6.5, timeout=15)
    await second.hang_up()
    snap = await lead.snapshot_until(lambda s: s["today"]["abandoned"] == 1)
    assert snap["lines"]["tour"] == {"waiting": 0, "longest_wait": 0.0, "callbacks": 0}

    # 3. Answered, but only after waiting longer than the service level.
    third = await callers.dial()
    await third.hears("main_menu")
    await third.press("2")
    await third.on_hold()
    await lead.snapshot_until(lambda s: s["lines"]["tour"]["longest_wait"] >= 4.5, timeout=15)
    await phone.hang_up(first_call)  # 1001 ends the first call, wraps up, takes the third
    await phone.answered(await phone.ringing(count=2))

    today = (await lead.snapshot_until(lambda s: s["today"]["answered"] == 2))["today"]
    assert (today["answered"], today["abandoned"]) == (2, 1)
    assert today["service_level"] == 33.3  # 1 answered in time / (2 answered + 1 abandoned)
    await first.hang_up()
    await third.hang_up()
