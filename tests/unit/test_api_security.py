"""The API under a curious or hostile user: throttled logins, revoked tokens, safe exports."""

from __future__ import annotations

import asyncio
import csv
import io
import time

import pytest
from aiohttp import WSMsgType

import acd.http.stream
from acd.auth import AuthService
from acd.core.throttle import ThrottleRules
from acd.reports import as_csv
from tests.unit.test_api import api, token  # noqa: F401  (the fixture and the login helper)


async def wrong_login(api, job_number: str):  # noqa: F811
    return await api.post(
        "/api/v1/auth/login", json={"job_number": job_number, "password": "guess"}
    )


async def test_after_five_wrong_passwords_even_the_right_one_waits_with_a_429(api):  # noqa: F811
    for _ in range(5):
        assert (await wrong_login(api, "1001")).status == 401
    resp = await api.post(
        "/api/v1/auth/login", json={"job_number": "1001", "password": "secret-1001"}
    )
    assert resp.status == 429
    assert (await resp.json())["error_id"] == "too_many_attempts"
    assert 290 <= int(resp.headers["Retry-After"]) <= 300
    await token(api, "1002")  # a colleague at the same address still logs in


async def test_a_changed_password_ends_the_users_tokens_at_once(api):  # noqa: F811
    agent = await token(api, "1001")
    assert (await api.get("/api/v1/me", headers=agent)).status == 200
    admin = await token(api, "9000")
    resp = await api.put(
        "/api/v1/admin/users/1001",
        headers=admin,
        json={"name": "Li Na", "role": "agent", "password": "a-new-secret-1001"},
    )
    assert resp.status == 200
    assert (await api.get("/api/v1/me", headers=agent)).status == 401


async def test_the_event_stream_closes_when_its_token_is_revoked(api, monkeypatch):  # noqa: F811
    monkeypatch.setattr(acd.http.stream, "TOKEN_RECHECK_SECONDS", 0.2)
    agent = await token(api, "1001")
    ws = await api.ws_connect("/api/v1/events", headers=agent)
    assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
    await api.post("/api/v1/auth/logout", headers=agent)
    message = await ws.receive(timeout=5)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == acd.http.stream.CLOSE_TOKEN_ENDED
    # A page reconnecting with it is told the same way (a browser sees no HTTP status
    # on a refused WebSocket), so it asks to log in instead of retrying for ever.
    again = await api.ws_connect("/api/v1/events", headers=agent)
    message = await again.receive(timeout=5)
    assert message.type is WSMsgType.CLOSE
    assert again.close_code == acd.http.stream.CLOSE_TOKEN_ENDED
    # Without a WebSocket it is a plain 401.
    assert (await api.get("/api/v1/events", headers=agent)).status == 401


async def test_a_login_flood_does_not_starve_other_work_of_threads(api):  # noqa: F811
    # A generous throttle: here many right passwords arrive at once (a shift starting).
    auth = AuthService(api.users, 3600, time.time, lambda job: "", ThrottleRules(1000, 1000))
    logins = [asyncio.ensure_future(auth.login("1002", "secret-1002")) for _ in range(60)]
    await asyncio.sleep(0.5)  # every login has looked its user up and is hashing or queued
    # Other work that needs a thread (e.g. measuring a recording) gets one at once,
    # not after the queued password hashes.
    await asyncio.to_thread(lambda: None)
    still_hashing = sum(not t.done() for t in logins)
    await asyncio.gather(*logins)
    auth.close()
    assert still_hashing >= 20


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_a_csv_export_keeps_formula_like_text_as_text(text):
    report = {"label": "2026-11-24", "lines": [{"line": text, "offered": 1}], "total": {}}
    (row, _) = list(csv.DictReader(io.StringIO(as_csv(report, "lines"))))
    assert row["line"] == "'" + text
    assert row["offered"] == "1"


async def test_a_team_lead_sees_and_works_only_their_teams_recordings_and_tickets(api):  # noqa: F811
    import time

    from acd.storage.models import RecordingRow

    services = api.services
    for call_id, agent in (("c-east", "1001"), ("c-west", "1002")):  # 1001 east, 1002 west
        await services.recordings.store.started(
            RecordingRow(
                call_id=call_id,
                line="tour",
                agent=agent,
                caller="13800000000",
                path=f"/tmp/{call_id}.wav",
                started_at=time.time(),
                complete=False,
            )
        )
        await services.aftercall.low_score(call_id, agent, "tour", 2, caller="13800000000")
    lead, admin = await token(api, "1901"), await token(api, "9000")  # 1901 leads east

    listed = await (await api.get("/api/v1/recordings", headers=lead)).json()
    assert [r["call_id"] for r in listed] == ["c-east"]
    assert (await api.get("/api/v1/recordings/c-west", headers=lead)).status == 403
    tickets = await (await api.get("/api/v1/follow-ups", headers=lead)).json()
    assert [t["call_id"] for t in tickets] == ["c-east"]
    everyone = await (await api.get("/api/v1/follow-ups", headers=admin)).json()
    west = next(t for t in everyone if t["call_id"] == "c-west")
    resp = await api.post(f"/api/v1/follow-ups/{west['id']}/take", headers=lead)
    assert resp.status == 403
    listed = await (await api.get("/api/v1/recordings", headers=admin)).json()
    assert sorted(r["call_id"] for r in listed) == ["c-east", "c-west"]
