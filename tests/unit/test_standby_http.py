"""What a standby engine answers: 503 and where the leader is, for programs and for people."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from acd.http.standby import standby_app


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
