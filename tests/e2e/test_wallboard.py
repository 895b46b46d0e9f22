"""The wallboard in headless Chromium, updating live from the event stream."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from acd.app import Daemon
from acd.core.agents import NotReadyReason
from acd.storage.recordings import RecordingStore
from tests.e2e.browser import Browser
from tests.e2e.conftest import Callers, add_users, eventually, make_settings, stored_event

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


async def test_wallboard_shows_agents_and_waiting_callers_live(
    running_pbx, callers: Callers, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    await add_users(settings, {"1901": "supervisor"})
    site = f"http://127.0.0.1:{settings.http.port}"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http, Browser() as browser:
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        resp = await http.post(
            f"{site}/api/v1/auth/login", json={"job_number": "1901", "password": "secret-1901"}
        )
        token = (await resp.json())["token"]
        await browser.goto(f"{site}/wallboard#token={token}")
        await eventually(lambda: _is(browser, "#status", "live"), timeout=15)
        assert await browser.text('[data-agent="1001"] .state') == "ready"

        # Changes arrive live: the agent goes to lunch, a caller starts waiting.
        daemon.centre.not_ready("1001", NotReadyReason.LUNCH)
        await eventually(
            lambda: _is(browser, '[data-agent="1001"] .state', "not ready"), timeout=10
        )
        assert await browser.text('[data-agent="1001"] td:nth-child(4)') == "lunch"
        await callers.call(digits="2", delay=2, hold=60)
        await eventually(lambda: _is(browser, '[data-line="tour"] .waiting', "1"), timeout=30)
        assert await browser.text("#peak") == "0"
        assert await browser.text('[data-agent="1002"] td:nth-child(5)') == "\u2013"  # logged out
        shot = await browser.screenshot(ARTIFACTS / "wallboard.png")
        assert shot.stat().st_size > 10_000


async def _is(browser: Browser, selector: str, expected: str) -> bool:
    return await browser.text(selector) == expected


async def test_a_full_recording_disk_alarms_the_wallboard_and_calls_still_connect(
    running_pbx, callers: Callers, phones, tmp_path
):
    # More free space is required than any disk here has: the disk counts as full.
    settings = make_settings(running_pbx, tmp_path, recording={"min_free_mb": 10**9})
    await add_users(settings, {"1901": "supervisor"})
    site = f"http://127.0.0.1:{settings.http.port}"
    await phones("1001", answer_after=0.5, talk_for=5)
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http, Browser() as browser:
        resp = await http.post(
            f"{site}/api/v1/auth/login", json={"job_number": "1901", "password": "secret-1901"}
        )
        token = (await resp.json())["token"]
        await browser.goto(f"{site}/wallboard#token={token}")
        await eventually(lambda: _is(browser, "#status", "live"), timeout=15)
        banner = await browser.text('[data-alarm="recording_disk_full"]')
        assert banner.startswith("\u26a0 Recording disk full")
        health = await (await http.get(f"{site}/healthz")).json()
        assert health["status"] == "ok"  # calls go on
        assert [a["alarm"] for a in health["alarms"]] == ["recording_disk_full"]
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        call_id, _ = await callers.call(digits="2", delay=2, hold=30)
        await eventually(lambda: daemon.centre.core.connected.get(call_id), timeout=30)
        await eventually(lambda: stored_event(daemon, call_id, "greeted"), timeout=15)
        assert await RecordingStore(daemon.db).get(call_id) is None  # not recorded, not dropped
