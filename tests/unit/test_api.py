"""The HTTP API over a real aiohttp server, SQLite and the real core (no Asterisk here)."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.apiapp import api_app


@pytest.fixture
async def api(tmp_path):
    async with api_app(tmp_path) as (app, services, users):
        async with TestClient(TestServer(app)) as client:
            client.services = services
            client.users = users
            yield client


async def token(client, job: str, password: str | None = None) -> dict[str, str]:
    resp = await client.post(
        "/api/v1/auth/login", json={"job_number": job, "password": password or f"secret-{job}"}
    )
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def test_login_gives_a_token_and_a_wrong_password_a_401(api):
    resp = await api.post("/api/v1/auth/login", json={"job_number": "1001", "password": "nope"})
    assert resp.status == 401
    assert (await resp.json())["error_id"] == "unauthorized"
    headers = await token(api, "1001")
    me = await (await api.get("/api/v1/me", headers=headers)).json()
    assert me == {"job_number": "1001", "name": "user 1001", "role": "agent", "team": "east"}
    await api.post("/api/v1/auth/logout", headers=headers)
    assert (await api.get("/api/v1/me", headers=headers)).status == 401


async def test_an_agent_logs_in_goes_ready_and_not_ready_with_a_reason(api):
    headers = await token(api, "1001")
    assert (await api.post("/api/v1/agents/1001/login", headers=headers)).status == 200
    body = await (await api.post("/api/v1/agents/1001/ready", headers=headers)).json()
    assert body["state"] == "ready"
    resp = await api.post(
        "/api/v1/agents/1001/not-ready", headers=headers, json={"reason": "lunch"}
    )
    assert (await resp.json())["reason"] == "lunch"
    assert api.services.centre.agent("1001").state == "not_ready"


async def test_bad_input_is_a_4xx_with_a_message_never_a_500(api):
    headers = await token(api, "1001")
    await api.post("/api/v1/agents/1001/login", headers=headers)
    resp = await api.post("/api/v1/agents/1001/not-ready", headers=headers, json={"reason": "nap"})
    assert resp.status == 400
    body = await resp.json()
    assert body["error_id"] == "invalid_input"
    assert body["details"][0]["field"] == "reason"
    resp = await api.post("/api/v1/agents/1001/not-ready", headers=headers, data=b"{not json")
    assert resp.status == 400 and "not valid JSON" in (await resp.json())["message"]
    resp = await api.post("/api/v1/agents/1001/wrap-up/end", headers=headers)
    assert resp.status == 409
    assert (await resp.json())["error_id"] == "refused"
    resp = await api.post("/api/v1/agents/1001/login", headers=headers)
    assert resp.status == 409 and (await resp.json())["error_id"] == "invalid_state"
    resp = await api.get("/api/v1/agents/4242", headers=headers)
    assert resp.status == 404 and (await resp.json())["error_id"] == "not_found"
    assert (await api.get("/api/v1/nothing-here", headers=headers)).status == 404


async def test_text_with_a_nul_character_is_refused_by_name_on_either_database(api):
    # PostgreSQL cannot store U+0000: it would have been a 500 at the first query.
    resp = await api.post("/api/v1/auth/login", json={"job_number": "10\x0001", "password": "x"})
    assert resp.status == 400
    assert (await resp.json())[
        "message"
    ] == "the body: job_number contains a NUL character (U+0000)"
    headers = await token(api, "1901")
    resp = await api.get("/api/v1/agents/10%0001", headers=headers)
    assert resp.status == 400 and "the path's job_number" in (await resp.json())["message"]
    resp = await api.get("/api/v1/recordings?caller=1%00", headers=headers)
    assert resp.status == 400 and "the query's caller" in (await resp.json())["message"]


async def test_an_agent_cannot_act_on_another_agent_or_see_the_supervisor_view(api):
    headers = await token(api, "1001")
    resp = await api.post("/api/v1/agents/1002/ready", headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "forbidden"
    assert (await api.get("/api/v1/supervisor/snapshot", headers=headers)).status == 403
    assert (await api.get("/api/v1/supervisor/snapshot")).status == 401


async def test_a_supervisor_acts_on_their_team_only_and_it_is_audited(api):
    headers = await token(api, "1901")  # team east
    assert (await api.post("/api/v1/agents/1001/login", headers=headers)).status == 200
    assert (await api.post("/api/v1/agents/1001/ready", headers=headers)).status == 200
    assert (await api.post("/api/v1/agents/1002/login", headers=headers)).status == 403
    audit = [(a.actor, a.action, a.target) for a in await api.users.audit_log()]
    assert audit == [("1901", "force_log_in", "1001"), ("1901", "force_ready", "1001")]
    snapshot = await (await api.get("/api/v1/supervisor/snapshot", headers=headers)).json()
    states = {a["job_number"]: a["state"] for a in snapshot["agents"]}
    assert states == {"1001": "ready", "1002": "logged_out", "1901": "logged_out"}
    assert set(snapshot["lines"]) == {"cruise", "tour", "free_travel"}


async def test_the_event_stream_starts_with_a_snapshot_then_numbered_changes(api):
    headers = await token(api, "1001")
    ws = await api.ws_connect("/api/v1/events", headers=headers)
    first = await ws.receive_json(timeout=5)
    assert first["kind"] == "snapshot"
    await api.post("/api/v1/agents/1001/login", headers=headers)
    await api.post("/api/v1/agents/1001/ready", headers=headers)
    events = [await ws.receive_json(timeout=5) for _ in range(2)]
    assert [e["data"]["state"] for e in events] == ["not_ready", "ready"]
    assert events[1]["seq"] == events[0]["seq"] + 1
    await ws.close()
    # Reconnecting with the epoch and last number seen replays exactly what was missed.
    await api.post("/api/v1/agents/1001/not-ready", headers=headers, json={"reason": "break"})
    epoch, seen = events[1]["epoch"], events[1]["seq"]
    ws = await api.ws_connect(f"/api/v1/events?epoch={epoch}&since={seen}", headers=headers)
    missed = await ws.receive_json(timeout=5)
    assert (missed["seq"], missed["data"]["state"]) == (seen + 1, "not_ready")
    await ws.close()


async def test_a_position_from_before_an_engine_restart_gets_a_fresh_snapshot(tmp_path):
    # The wallboard saw event 40 of the engine before; the new engine has sent fewer.
    async with api_app(tmp_path) as (app, services, _):
        async with TestClient(TestServer(app)) as client:
            lead = await token(client, "1901")
            await client.post("/api/v1/agents/1001/login", headers=lead)
            url = "/api/v1/events?epoch=1700000000-0badc0de&since=40"
            ws = await client.ws_connect(url, headers=lead)
            first = await ws.receive_json(timeout=5)
            assert first["kind"] == "snapshot"
            assert first["epoch"] == services.live.bus.epoch != "1700000000-0badc0de"
            states = {a["job_number"]: a["state"] for a in first["data"]["agents"]}
            assert states["1001"] == "not_ready"
            # Even in the same epoch, a position ahead of the stream starts from a snapshot.
            await ws.close()
            url = f"/api/v1/events?epoch={first['epoch']}&since={first['seq'] + 5}"
            ws = await client.ws_connect(url, headers=lead)
            assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
            await ws.close()


async def test_an_agent_only_sees_their_own_events(api):
    h1001, h1002 = await token(api, "1001"), await token(api, "1002")
    ws = await api.ws_connect("/api/v1/events", headers=h1001)
    snapshot = (await ws.receive_json(timeout=5))["data"]
    # Not the supervisors' view: no one else's state, no queue, no figures.
    assert [a["job_number"] for a in snapshot["agents"]] == ["1001"]
    assert "lines" not in snapshot and "today" not in snapshot
    await api.post("/api/v1/agents/1002/login", headers=h1002)
    await api.post("/api/v1/agents/1001/login", headers=h1001)
    event = await ws.receive_json(timeout=5)
    assert event["data"]["agent"] == "1001"
    await ws.close()


async def test_the_openapi_document_describes_every_route(api):
    doc = await (await api.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    served = {
        (route.method, route.resource.canonical)
        for route in api.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
        and not route.resource.canonical.endswith(("/openapi.json", "/events"))
    }
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert len(served) >= 38
    assert served == documented
    assert "/api/v1/agents/{job_number}/not-ready" in doc["paths"]
    body = doc["paths"]["/api/v1/agents/{job_number}/not-ready"]["post"]["requestBody"]
    assert (
        body["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/NotReadyBody"
    )
    assert "lunch" in doc["components"]["schemas"]["NotReadyBody"]["properties"]["reason"]["enum"]


async def test_an_agent_logs_in_at_another_phone_only_where_an_admin_allowed_it(api):
    headers = await token(api, "1001")
    admin = await token(api, "9000")
    at_1005 = {"endpoint": "PJSIP/1005"}
    resp = await api.post("/api/v1/agents/1001/login", headers=headers, json=at_1005)
    assert resp.status == 403 and (await resp.json())["error_id"] == "phone_not_allowed"
    assert api.services.pipeline.core.status("1001").state.value == "logged_out"
    allow = {"phones": ["PJSIP/1005"]}
    resp = await api.put("/api/v1/admin/agents/1001/phones", headers=admin, json=allow)
    assert resp.status == 200 and (await resp.json())["phones"] == ["PJSIP/1005"]
    resp = await api.post("/api/v1/agents/1001/login", headers=headers, json=at_1005)
    assert resp.status == 200
    assert api.services.pipeline.core.status("1001").agent.endpoint == "PJSIP/1005"
    await api.post("/api/v1/agents/1001/logout", headers=headers)
    # Without a phone given, the agent is back at their own.
    assert (await api.post("/api/v1/agents/1001/login", headers=headers)).status == 200
    assert api.services.pipeline.core.status("1001").agent.endpoint == "PJSIP/1001"
    await api.post("/api/v1/agents/1001/logout", headers=headers)
    resp = await api.post(
        "/api/v1/agents/1001/login", headers=headers, json={"endpoint": "SIP/x;y"}
    )
    assert resp.status == 400
    bad = await api.put(
        "/api/v1/admin/agents/1001/phones", headers=admin, json={"phones": ["SIP/x;y"]}
    )
    assert bad.status == 400 and "SIP/x;y" in str(await bad.json())
    # Another user's browser phone is theirs alone: never a hot desk.
    theirs = {"phones": ["PJSIP/web1002"]}
    bad = await api.put("/api/v1/admin/agents/1001/phones", headers=admin, json=theirs)
    assert bad.status == 400 and "browser phone" in str(await bad.json())
    agent_tries = await api.put("/api/v1/admin/agents/1001/phones", headers=headers, json=allow)
    assert agent_tries.status == 403


async def test_an_admin_manages_users_and_skills_others_may_not(api):
    admin = await token(api, "9000")
    agent = await token(api, "1001")
    assert (await api.get("/api/v1/admin/users", headers=agent)).status == 403
    body = {"name": "Zhou Min", "role": "agent", "password": "long-enough-1"}
    resp = await api.put("/api/v1/admin/users/1003", json=body, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await token(api, "1003", "long-enough-1"))["Authorization"].startswith("Bearer ")
    short = await api.put(
        "/api/v1/admin/users/1003", json={**body, "password": "short"}, headers=admin
    )
    assert short.status == 400
    users = {
        u["job_number"]: u
        for u in await (await api.get("/api/v1/admin/users", headers=admin)).json()
    }
    # With what an admin looks after: skills, team and phone (a new agent's own).
    assert users["1003"] == {
        "job_number": "1003",
        "name": "Zhou Min",
        "role": "agent",
        "skills": {},
        "team": "",
        "phone": "PJSIP/1003",
        "phone_kept": False,  # (no phone directory here: acd keeps no phones)
        "phone_secret_set": False,
        "hot_desks": [],
    }
    assert users["1001"]["skills"] == {"tour": 5} and users["1001"]["team"] == "east"
    assert users["9000"] == {"job_number": "9000", "name": "user 9000", "role": "admin"}
    # Renamed without a new password: the user keeps it, and their sessions.
    renamed = {"name": "Zhou Min (east)", "role": "agent"}
    newcomer = await token(api, "1003", "long-enough-1")
    resp = await api.put("/api/v1/admin/users/1003", json=renamed, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await api.get("/api/v1/me", headers=newcomer)).status == 200
    # A new user needs one.
    resp = await api.put("/api/v1/admin/users/1004", json=renamed, headers=admin)
    assert resp.status == 400 and (await resp.json())["details"]["field"] == "password"
    assert all("password" not in str(u) and "digest" not in str(u) for u in users.values())

    resp = await api.put(
        "/api/v1/admin/agents/1001/skills", json={"skills": {"cruise": 9}}, headers=admin
    )
    assert resp.status == 200
    assert api.services.pipeline.core.status("1001").agent.skills == {"cruise": 9}
    assert await api.users.skills() == {"1001": {"cruise": 9}}
    resp = await api.put(
        "/api/v1/admin/agents/1001/skills", json={"skills": {"ski": 3}}, headers=admin
    )
    assert resp.status == 400 and "'ski' is not a line" in (await resp.json())["message"]

    # Deleting a user ends their tokens at once.
    assert (await api.delete("/api/v1/admin/users/1001", headers=admin)).status == 200
    assert (await api.get("/api/v1/me", headers=agent)).status == 401
    actions = [a.action for a in await api.users.audit_log()]
    # (no phone directory here: acd keeps no phones, so no phone secret was issued)
    assert actions == ["user_saved", "user_saved", "skills_set", "user_deleted"]
    # Admins read the audit log through the API; nobody else may.
    audit = await (await api.get("/api/v1/admin/audit", headers=admin)).json()
    assert [(a["actor"], a["action"], a["target"]) for a in audit] == [
        ("9000", "user_saved", "1003"),
        ("9000", "user_saved", "1003"),
        ("9000", "skills_set", "1001"),
        ("9000", "user_deleted", "1001"),
    ]
    lead = await token(api, "1901")
    assert (await api.get("/api/v1/admin/audit", headers=lead)).status == 403


async def test_an_agent_registers_a_call_and_the_team_lead_works_the_ticket(api):
    await api.services.events.append("c9", "answered", line="tour", agent="1001", waited=3.0)
    agent, lead = await token(api, "1001"), await token(api, "1901")
    body = {"category": "complaint", "urgency": "urgent", "notes": "late pick-up"}
    resp = await api.post("/api/v1/calls/c9/registration", headers=agent, json=body)
    assert resp.status == 201, await resp.text()
    ticket = (await resp.json())["follow_up"]
    assert ticket["due_at"] - ticket["opened_at"] == 7200
    again = await api.post("/api/v1/calls/c9/registration", headers=agent, json=body)
    assert (again.status, (await again.json())["error_id"]) == (409, "already_registered")
    bad = await api.post(
        "/api/v1/calls/c9/registration", headers=agent, json={"category": "gossip"}
    )
    assert (bad.status, (await bad.json())["details"][0]["field"]) == (400, "category")
    assert (await api.get("/api/v1/follow-ups", headers=agent)).status == 403
    listed = await (await api.get("/api/v1/follow-ups", headers=lead)).json()
    assert [t["call_id"] for t in listed] == ["c9"]
    path = f"/api/v1/follow-ups/{ticket['id']}"
    assert (await api.post(path + "/take", headers=lead)).status == 200
    closed = await api.post(path + "/close", headers=lead, json={"outcome": "refunded"})
    assert (await closed.json())["met_in_time"] is True
    assert await (await api.get("/api/v1/follow-ups", headers=lead)).json() == []
    assert (await api.get("/api/v1/follow-ups/abc", headers=lead)).status == 400
    missing = await api.get("/api/v1/follow-ups/999", headers=lead)
    assert (missing.status, (await missing.json())["error_id"]) == (404, "no_such_ticket")


async def test_team_leads_get_a_days_report_as_json_and_csv(api):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    await api.services.events.append("r1", "queued", line="tour")
    await api.services.events.append("r1", "answered", line="tour", agent="1001", waited=4.0)
    await api.services.events.append("r2", "queued", line="tour")
    await api.services.events.append("r2", "abandoned", line="tour", waited=40.0)
    lead = await token(api, "1901")
    assert (await api.get("/api/v1/reports/day", headers=await token(api, "1001"))).status == 403
    body = await (await api.get(f"/api/v1/reports/day?date={today}", headers=lead)).json()
    (tour,) = body["lines"]
    assert (tour["offered"], tour["answered"], tour["abandoned"]) == (2, 1, 1)
    assert tour["service_level_pct"] == 50.0 and body["label"] == today
    resp = await api.get(f"/api/v1/reports/day?date={today}&format=csv", headers=lead)
    assert resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(r["line"], r["offered"], r["abandoned"]) for r in rows] == [
        ("tour", "2", "1"),
        ("TOTAL", "2", "1"),
    ]
    resp = await api.get("/api/v1/reports/week?format=csv&rows=agents", headers=lead)
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    # A token in a URL (browser history, proxies' logs) is refused: only the event
    # stream's WebSocket, where browsers set no header, may carry it there.
    raw = lead["Authorization"].removeprefix("Bearer ")
    link = await api.get(f"/api/v1/reports/week?format=csv&rows=agents&token={raw}")
    assert link.status == 401
    bad = await api.get("/api/v1/reports/day?date=2026-13-01", headers=lead)
    assert (bad.status, (await bad.json())["details"][0]["field"]) == (400, "date")
    assert (await api.get("/api/v1/reports/year", headers=lead)).status == 404


async def test_a_team_lead_plays_a_recording_through_the_api_and_it_is_audited(api, tmp_path):
    from acd.storage.models import RecordingRow

    path = tmp_path / "r1.wav"
    path.write_bytes(b"RIFF0000WAVEfmt data")
    await api.services.recordings.store.started(
        RecordingRow(
            call_id="r1",
            line="tour",
            agent="1001",
            caller="13800138000",
            path=str(path),
            started_at=time.time(),
            complete=True,
        )
    )
    lead, agent = await token(api, "1901"), await token(api, "1001")
    (row,) = await (await api.get("/api/v1/recordings", headers=lead)).json()
    assert row["call_id"] == "r1" and row["audio"] == "/api/v1/recordings/r1/audio"
    # Searched by the caller's number (the console's recordings search).
    found = await api.get("/api/v1/recordings?caller=13800138000", headers=lead)
    assert [r["call_id"] for r in await found.json()] == ["r1"]
    other = await api.get("/api/v1/recordings?caller=13900000000&line=tour", headers=lead)
    assert await other.json() == []
    resp = await api.get("/api/v1/recordings/r1/audio?download=true", headers=lead)
    assert resp.status == 200 and await resp.read() == path.read_bytes()
    assert resp.headers["Content-Type"] == "audio/wav"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    denied = await api.get("/api/v1/recordings/r1/audio", headers=agent)
    assert (denied.status, (await denied.json())["error_id"]) == (403, "forbidden")
    audit = [(a.actor, a.action, a.target) for a in await api.users.audit_log()]
    assert audit == [("1901", "recording_downloaded", "r1")]
    refused = await api.post(
        "/api/v1/agents/1001/recording", headers=agent, json={"action": "pause"}
    )
    assert (refused.status, (await refused.json())["error_id"]) == (409, "refused")


async def test_a_supervisor_listens_in_from_a_phone_of_their_own_only(api):
    headers = await token(api, "1901")
    # Not from the agent's own phone (or anyone else's): that would ring it into the call.
    resp = await api.post(
        "/api/v1/supervisor/agents/1001/monitor",
        json={"mode": "listen", "endpoint": "PJSIP/1001"},
        headers=headers,
    )
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "phone_not_allowed"
    # Nor from the agent's console phone.
    resp = await api.post(
        "/api/v1/supervisor/agents/1001/monitor",
        json={"mode": "listen", "endpoint": "PJSIP/webc1001"},
        headers=headers,
    )
    assert resp.status == 403
    # From their own browser phones (the console's, the desktop's) the request goes on
    # (refused here: nobody is on a call).
    for endpoint in ("PJSIP/webc1901", "PJSIP/web1901"):
        resp = await api.post(
            "/api/v1/supervisor/agents/1001/monitor",
            json={"mode": "listen", "endpoint": endpoint},
            headers=headers,
        )
        assert resp.status == 409, await resp.text()
        assert "not on a call" in (await resp.json())["message"]
