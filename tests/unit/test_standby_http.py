"""What a standby engine answers: 503 and where the leader is, for programs and for people."""

from __future__ import annotations

import dataclasses

from aiohttp.test_utils import TestClient, TestServer

from acd.http.app import build_http_app
from acd.http.standby import standby_app
from tests.apiapp import api_app


async def client(leader):
    return TestClient(TestServer(standby_app("b", lambda: leader)))


async def test_every_request_is_a_503_naming_the_leader():
    api = await client(("a", "http://10.0.0.1:8080"))
    await api.start_server()
    try:
        resp = await api.post("/api/v1/auth/login", json={"job_number": "1001"})
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
        body = await resp.json()
        assert body["error_id"] == "standby"
        assert body["details"]["leader"] == {"node": "a", "address": "http://10.0.0.1:8080"}
        assert "the leader is a at http://10.0.0.1:8080" in body["message"]
        health = await api.get("/healthz")
        assert health.status == 503
        assert (await health.json())["status"] == "standby"
    finally:
        await api.close()


async def test_a_browser_gets_a_page_with_the_leaders_address_escaped():
    api = await client(("a", 'http://x/"><script>alert(1)</script>'))
    await api.start_server()
    try:
        resp = await api.get("/", headers={"Accept": "text/html"})
        assert resp.status == 503
        page = await resp.text()
        assert "<script>" not in page and "&lt;script&gt;" in page
        assert "standby" in page and "备用引擎" in page
        assert resp.headers["Content-Security-Policy"] == "default-src 'none'"
    finally:
        await api.close()


async def test_before_any_leader_is_known_it_says_so():
    api = await client(None)
    await api.start_server()
    try:
        body = await (await api.get("/api/v1/agents")).json()
        assert body["details"]["leader"] is None and "no leader is known yet" in body["message"]
    finally:
        await api.close()


PEER = "http://10.0.0.2:8080"  # the pair's other engine, as [standby] peers names it


async def test_pages_opened_at_the_other_engine_may_call_this_ones_api_and_no_other_site(
    tmp_path,
):
    async with api_app(tmp_path) as (_, services, _):
        app = build_http_app(dataclasses.replace(services.api, peers=(PEER + "/",)))
        async with TestClient(TestServer(app)) as client:
            peer = {"Origin": PEER}
            asks = {
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            }
            preflight = await client.options("/api/v1/auth/login", headers=peer | asks)
            assert preflight.status == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == PEER
            assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
            login = {"job_number": "1001", "password": "secret-1001"}
            answer = await client.post("/api/v1/auth/login", json=login, headers=peer)
            assert answer.status == 200 and answer.headers["Access-Control-Allow-Origin"] == PEER
            assert "Content-Disposition" in answer.headers["Access-Control-Expose-Headers"]
            refused = await client.get("/api/v1/me", headers=peer)  # a refusal is readable too
            assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == PEER
            # Any other site: no cross-origin answer (the browser keeps it out, as before).
            stranger = {"Origin": "http://evil.example"}
            answer = await client.post("/api/v1/auth/login", json=login, headers=stranger)
            assert "Access-Control-Allow-Origin" not in answer.headers
            preflight = await client.options("/api/v1/auth/login", headers=stranger | asks)
            assert "Access-Control-Allow-Origin" not in preflight.headers
            # The pages may connect to the other engine (API and event stream).
            page = await client.get("/")
            policy = page.headers["Content-Security-Policy"]
            assert f"connect-src 'self' {PEER} ws://10.0.0.2:8080;" in policy


async def test_without_peers_no_origin_is_let_in(tmp_path):
    async with api_app(tmp_path) as (app, _, _):
        async with TestClient(TestServer(app)) as client:
            answer = await client.get("/api/v1/me", headers={"Origin": PEER})
            assert "Access-Control-Allow-Origin" not in answer.headers


async def test_the_standby_tells_a_page_from_the_other_engine_where_the_leader_is():
    api = TestClient(TestServer(standby_app("b", lambda: ("a", PEER), (PEER,))))
    await api.start_server()
    try:
        resp = await api.get("/healthz", headers={"Origin": PEER})
        assert resp.status == 503 and resp.headers["Access-Control-Allow-Origin"] == PEER
        body = await resp.json()
        assert (body["status"], body["leader"]["address"], body["peers"]) == (
            "standby",
            PEER,
            [PEER],
        )
    finally:
        await api.close()


async def test_a_peer_on_its_schemes_own_port_matches_the_origin_a_browser_sends(tmp_path):
    """Browsers leave :443 (https) and :80 (http) out of Origin."""
    async with api_app(tmp_path) as (_, services, _):
        peers = ("https://b.example:443", "http://10.0.0.3:80")
        app = build_http_app(dataclasses.replace(services.api, peers=peers))
        async with TestClient(TestServer(app)) as client:
            for origin in ("https://b.example", "http://10.0.0.3"):
                answer = await client.get("/api/v1/me", headers={"Origin": origin})
                assert answer.headers.get("Access-Control-Allow-Origin") == origin
            policy = (await client.get("/")).headers["Content-Security-Policy"]
            assert "https://b.example wss://b.example http://10.0.0.3 ws://10.0.0.3;" in policy
