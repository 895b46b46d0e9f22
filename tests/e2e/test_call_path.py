"""The inbound call path on the real Asterisk with real SIP phones (pyVoIP)."""

from __future__ import annotations

import asyncio

from acd.app import Daemon
from acd.core.agents import AgentState
from tests.e2e.audio import loud_seconds
from tests.e2e.conftest import Callers, eventually


async def kinds(daemon: Daemon, call_id: str) -> list[str]:
    return [e.kind for e in await daemon.events.for_call(call_id)]


async def test_caller_pressing_2_reaches_a_tour_agent_and_hears_the_job_number(
    daemon: Daemon, callers: Callers, phones
):
    tour_agent = await phones("1001", answer_after=1, talk_for=12)
    cruise_agent = await phones("1002", answer_after=1)
    for job in ("1001", "1002"):
        daemon.centre.log_in(job)
        daemon.centre.ready(job)

    call_id, heard = await callers.call(digits="2", delay=2, hold=30, record=True, name="张伟")

    # The tour agent's phone rings with the caller's number; the cruise agent's does not.
    await eventually(lambda: tour_agent.calls, timeout=20)
    assert tour_agent.calls[0].caller_number == "13800138000"
    # Answered: the caller hears "agent 1001 at your service", then they are bridged.
    events = await eventually(lambda: _with(daemon, call_id, "greeted"), timeout=20)
    greeted = next(e for e in events if e.kind == "greeted")
    assert greeted.data == {"agent": "1001", "status": "SUCCESS"}
    status = daemon.centre.core.status("1001")
    assert status.state is AgentState.TALKING
    leg = next(iter(daemon.centre.book.legs.values()))
    await eventually(lambda: callers.pbx.bridged_together(call_id, leg.leg_id), timeout=5)
    assert cruise_agent.calls == []

    # The agent hangs up: after-call work, then ready again.
    await eventually(lambda: status.state is AgentState.AFTER_CALL, timeout=15)
    await eventually(lambda: status.state is AgentState.READY, timeout=5)
    assert [k for k in await kinds(daemon, call_id) if k in ("queued", "answered", "greeted")] == [
        "queued",
        "answered",
        "greeted",
    ]
    # What the caller heard included speech (menu, hold, greeting), and the agent heard the whisper.
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=40)
    assert loud_seconds(heard) > 3
    assert any(abs(b - 128) > 8 for b in tour_agent.calls[0].heard)


async def _with(daemon: Daemon, call_id: str, kind: str):
    events = await daemon.events.for_call(call_id)
    return events if any(e.kind == kind for e in events) else None


async def test_a_caller_waits_with_music_until_an_agent_becomes_ready(
    daemon: Daemon, callers: Callers, phones
):
    phone = await phones("1002", answer_after=0.5, talk_for=3)
    daemon.centre.log_in("1002")  # logged in (so the line offers a human) but not ready
    call_id, _ = await callers.call(digits="10", delay=2, hold=40)
    await eventually(lambda: _with(daemon, call_id, "queued"), timeout=30)
    await asyncio.sleep(4)
    assert phone.calls == []
    assert call_id in callers.pbx.channels()
    daemon.centre.ready("1002")
    await eventually(lambda: _with(daemon, call_id, "greeted"), timeout=15)
    assert phone.calls[0].caller_number == "13800138000"


async def test_a_waiting_caller_hears_their_position(running_pbx, callers: Callers, tmp_path):
    from tests.e2e.conftest import make_settings

    settings = make_settings(running_pbx, tmp_path, acd={"announce_every": 10})
    async with Daemon(settings) as daemon:
        daemon.centre.log_in("1001")  # on duty, not ready: callers wait
        first, _ = await callers.call(digits="2", delay=2, hold=40)
        second, _ = await callers.call(digits="2", delay=2.5, hold=40)
        for call_id, position in ((first, "1"), (second, "2")):
            announced = await eventually(
                lambda c=call_id: _with(daemon, c, "position_announced"), timeout=30
            )
            event = next(e for e in announced if e.kind == "position_announced")
            assert event.data == {"position": position, "status": "SUCCESS"}
        # After the announcement the caller is back on hold, still waiting.
        assert {first, second} <= set(daemon.centre.core.waiting)
