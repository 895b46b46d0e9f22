"""Supervisors through the API on the real Asterisk: whisper, barge, force hang-up."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from acd.app import Daemon
from acd.core.agents import AgentState
from acd.storage.db import create_engine
from acd.storage.users import UserStore
from tests.e2e.audio import tone, tone_seconds_u8, tone_seconds_wav
from tests.e2e.conftest import Callers, add_users, api_login, eventually, make_settings


async def test_whisper_is_heard_by_the_agent_only_barge_by_both_and_force_hangup_ends_it(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    await add_users(settings, {"1901": "supervisor", "1001": "agent"})
    db = create_engine(settings.database.url)
    users = UserStore(db)
    agent = await phones("1001", answer_after=0.5, talk_for=90)
    supervisor = await phones("1901", answer_after=0.5, talk_for=90, speak=tone(60))
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        sup = await api_login(http, base, "1901")
        agt = await api_login(http, base, "1001")
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        started = time.monotonic()
        call_id, heard = await callers.call(digits="2", delay=2, hold=120, record=True)
        await eventually(lambda: _has(daemon, call_id, "greeted"), timeout=30)

        # An agent may neither listen in nor force calls down.
        resp = await http.post(
            f"{base}/supervisor/agents/1001/monitor", json={"mode": "listen"}, headers=agt
        )
        assert resp.status == 403
        resp = await http.post(f"{base}/supervisor/calls/{call_id}/hangup", headers=agt)
        assert resp.status == 403

        resp = await http.post(
            f"{base}/supervisor/agents/1001/monitor", json={"mode": "whisper"}, headers=sup
        )
        assert resp.status == 200, await resp.text()
        await eventually(lambda: supervisor.calls and supervisor.calls[0].answered_at, timeout=15)
        whisper_from = supervisor.calls[0].answered_at + 1.5
        await asyncio.sleep(6)
        whisper_to = time.monotonic()
        # The same phone switches to barge: the caller hears the supervisor too.
        resp = await http.post(
            f"{base}/supervisor/agents/1001/monitor", json={"mode": "barge"}, headers=sup
        )
        assert resp.status == 200, await resp.text()
        barge_from = time.monotonic() + 1.5
        await asyncio.sleep(6)
        barge_to = time.monotonic()
        assert len(supervisor.calls) == 1  # switched in place, not a new call

        resp = await http.post(f"{base}/supervisor/calls/{call_id}/hangup", headers=sup)
        assert resp.status == 200, await resp.text()
        await eventually(lambda: call_id not in running_pbx.channels(), timeout=10)
        status = daemon.centre.core.status("1001")
        await eventually(
            lambda: status.state in (AgentState.AFTER_CALL, AgentState.READY), timeout=5
        )

    # The agent heard the supervisor in both modes; the caller only while barging.
    chunks = agent.calls[0].chunks
    assert tone_seconds_u8(chunks, whisper_from, whisper_to) >= 2
    assert tone_seconds_u8(chunks, barge_from, barge_to) >= 2
    assert tone_seconds_wav(heard, whisper_from - started, whisper_to - started) < 0.5
    assert tone_seconds_wav(heard, barge_from - started, barge_to - started) >= 2
    audit = [(a.actor, a.action, a.target) for a in await users.audit_log()]
    assert audit == [
        ("1901", "whisper", "1001"),
        ("1901", "barge", "1001"),
        ("1901", "force_hangup", call_id),
    ]
    await db.dispose()


async def _has(daemon: Daemon, call_id: str, kind: str) -> bool:
    return any(e.kind == kind for e in await daemon.events.for_call(call_id))


async def test_an_agent_transfers_an_unhappy_caller_to_the_team_lead(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    await add_users(settings, {"1001": "agent"})
    agent = await phones("1001", answer_after=0.5, talk_for=60)
    lead = await phones("1901", answer_after=1, talk_for=8)
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        agt = await api_login(http, base, "1001")
        for job in ("1001", "1901"):
            daemon.centre.log_in(job)
            daemon.centre.ready(job)
        call_id, _ = await callers.call(digits="2", delay=2, hold=90, number="13900000041")
        await eventually(lambda: _has(daemon, call_id, "greeted"), timeout=30)
        resp = await http.post(
            f"{base}/agents/1001/transfer", json={"to_agent": "1901"}, headers=agt
        )
        assert resp.status == 200, await resp.text()
        # The lead's phone rings with the same caller; the caller hears "agent 1901".
        await eventually(lambda: lead.calls, timeout=20)
        assert lead.calls[0].caller_number == "13900000041"
        greetings = await eventually(lambda: _greeted_by(daemon, call_id, "1901"), timeout=20)
        assert greetings == ["1001", "1901"]
        lead_status = daemon.centre.core.status("1901")
        assert lead_status.state is AgentState.TALKING
        assert daemon.centre.core.status("1001").state in (AgentState.AFTER_CALL, AgentState.READY)
        assert agent.calls[0].ended_at is not None or agent.calls[0].answered_at is not None
        bad = await http.post(
            f"{base}/agents/1001/transfer",
            json={"to_line": "tour", "to_agent": "1901"},
            headers=agt,
        )
        assert bad.status == 400


async def _greeted_by(daemon: Daemon, call_id: str, last: str) -> list[str] | None:
    agents = [e.data["agent"] for e in await daemon.events.for_call(call_id) if e.kind == "greeted"]
    return agents if agents and agents[-1] == last else None
