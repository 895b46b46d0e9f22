"""Supervisors through the API on the real Asterisk: whisper, barge, force hang-up."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from acd.app import Daemon
from acd.auth import hash_password
from acd.core.agents import AgentState
from acd.storage.db import create_engine, migrate
from acd.storage.users import UserStore
from tests.e2e.audio import tone, tone_seconds_u8, tone_seconds_wav
from tests.e2e.conftest import Callers, eventually, make_settings


async def test_whisper_is_heard_by_the_agent_only_barge_by_both_and_force_hangup_ends_it(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    db = create_engine(settings.database.url)
    await migrate(db)
    users = UserStore(db)
    await users.put("1901", "Chen Jie", "supervisor", hash_password("secret-1901"))
    await users.put("1001", "Li Na", "agent", hash_password("secret-1001"))
    agent = await phones("1001", answer_after=0.5, talk_for=90)
    supervisor = await phones("1901", answer_after=0.5, talk_for=90, speak=tone(60))
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        sup = await _login(http, base, "1901")
        agt = await _login(http, base, "1001")
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


async def _login(http: aiohttp.ClientSession, base: str, job: str) -> dict[str, str]:
    resp = await http.post(
        f"{base}/auth/login", json={"job_number": job, "password": f"secret-{job}"}
    )
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def _has(daemon: Daemon, call_id: str, kind: str) -> bool:
    return any(e.kind == kind for e in await daemon.events.for_call(call_id))
