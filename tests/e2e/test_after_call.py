"""After the call on the real Asterisk: registration, follow-up and the day's report."""

from __future__ import annotations

import time

import aiohttp

from acd.app import Daemon
from tests.e2e.conftest import (
    Callers,
    add_users,
    api_login,
    eventually,
    make_settings,
    next_event,
    stored_event,
    zone_at_midday,
)


async def test_a_short_day_registered_followed_up_and_reported(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path, ivr={"timezone": zone_at_midday()})
    await add_users(settings, {"1001": "agent", "1901": "supervisor"})
    await phones("1001", answer_after=0.5, talk_for=6)
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        agent, lead = await api_login(http, base, "1001"), await api_login(http, base, "1901")
        ws = await http.ws_connect(f"{base}/events", headers=lead)
        await http.post(f"{base}/agents/1001/login", headers=agent)
        await http.post(f"{base}/agents/1001/ready", headers=agent)

        # Call 1: answered by 1001, who hangs up after 6 s; the caller rates 2.
        answered, _ = await callers.call(digits="2" + "w" * 30 + "2", delay=2, hold=40)
        await eventually(lambda: stored_event(daemon, answered, "survey"), timeout=45)
        body = {"category": "complaint", "urgency": "critical", "notes": "missed the ferry"}
        resp = await http.post(f"{base}/calls/{answered}/registration", headers=agent, json=body)
        assert resp.status == 201, await resp.text()
        critical = await next_event(ws, "critical_call")
        assert critical["data"]["call_id"] == answered and critical["data"]["agent"] == "1001"

        # Two tickets for the team lead: the low score (due in 2 h) and the complaint.
        tickets = await (await http.get(f"{base}/follow-ups", headers=lead)).json()
        assert sorted(t["reason"] for t in tickets) == ["low_score", "registration"]
        low = next(t for t in tickets if t["reason"] == "low_score")
        assert abs(low["due_at"] - (time.time() + 7200)) < 120
        # The team lead listens to the recording before calling back (audited).
        audio = await http.get(
            f"http://127.0.0.1:{settings.http.port}{low['recording']}", headers=lead
        )
        assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
        closed = await http.post(
            f"{base}/follow-ups/{low['id']}/close", headers=lead, json={"outcome": "called back"}
        )
        assert (await closed.json())["met_in_time"] is True

        # Call 2: nobody is ready; the caller gives up after waiting.
        await http.post(f"{base}/agents/1001/not-ready", headers=agent, json={"reason": "break"})
        abandoned, _ = await callers.call(digits="2", delay=2, hold=9)
        await eventually(lambda: stored_event(daemon, abandoned, "abandoned"), timeout=30)

        report = await (await http.get(f"{base}/reports/day", headers=lead)).json()
        (tour,) = report["lines"]
        assert (tour["line"], tour["offered"], tour["answered"], tour["abandoned"]) == (
            "tour",
            2,
            1,
            1,
        )
        assert tour["survey_distribution"]["2"] == 1 and tour["follow_ups_met_in_time"] == 1
        li = next(a for a in report["agents"] if a["agent"] == "1001")
        assert li["answered"] == 1 and li["talk_s"] >= 4
        assert li["average_handle_time_s"] >= li["talk_s"]
        await ws.close()
