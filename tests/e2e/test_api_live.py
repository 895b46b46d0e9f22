"""The API against the real Asterisk: an agent's screen shows the ringing call first."""

from __future__ import annotations

import asyncio

import aiohttp

from acd.app import Daemon
from tests.e2e.audio import loud_seconds_between
from tests.e2e.conftest import (
    Callers,
    add_users,
    api_login,
    eventually,
    make_settings,
    next_event,
    stored_event,
)


async def test_screen_pop_with_history_arrives_before_the_phone_is_answered(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    await add_users(settings, {"1001": "agent"})
    phone = await phones("1001", answer_after=3, talk_for=4)
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        # An earlier call from the same number, abandoned while waiting.
        daemon.centre.log_in("1001")
        earlier, _ = await callers.call(digits="2", delay=2, hold=7, number="13900000031")
        await eventually(lambda: stored_event(daemon, earlier, "abandoned"), timeout=30)

        login = {"job_number": "1001", "password": "secret-1001"}
        resp = await http.post(f"{base}/auth/login", json=login)
        headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        ws = await http.ws_connect(f"{base}/events", headers=headers)
        assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
        assert (await http.post(f"{base}/agents/1001/ready", headers=headers)).status == 200

        call_id, _ = await callers.call(
            digits="2", delay=2, hold=30, number="13900000031", name="张伟"
        )
        ringing = await next_event(ws, "call_ringing")
        # The screen pop is there while the phone still rings (it answers after 3 s).
        assert not any(c.answered_at for c in phone.calls)
        pop = ringing["data"]
        assert pop["call_id"] == call_id
        assert (pop["caller_number"], pop["caller_name"], pop["line"]) == (
            "13900000031",
            "张伟",
            "tour",
        )
        assert pop["ivr_path"] == ["main", "2"]
        assert pop["waited"] is not None and pop["waited"] >= 0
        assert [(h["call_id"], h["outcome"]) for h in pop["history"]] == [(earlier, "abandoned")]
        connected = await next_event(ws, "call_connected")
        assert connected["data"]["agent"] == "1001" and connected["seq"] > ringing["seq"]
        # While talking, the agent's own view has the call and its screen pop.
        state = await (await http.get(f"{base}/agents/1001", headers=headers)).json()
        assert state["state"] == "talking"
        assert state["call"]["caller_number"] == "13900000031"
        assert phone.calls[0].answered_at is not None
        await ws.close()


async def test_click_to_dial_rings_the_agent_then_the_customer(
    running_pbx, callers: Callers, phones, customer_trunk, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    await add_users(settings, {"1001": "agent"})
    phone = await phones("1001", answer_after=0.5, talk_for=6)
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        headers = await api_login(http, base, "1001")
        await http.post(f"{base}/agents/1001/login", headers=headers)
        resp = await http.post(
            f"{base}/agents/1001/dial", json={"number": "13900000051"}, headers=headers
        )
        assert resp.status == 200, await resp.text()
        call_id = (await resp.json())["call_id"]
        await eventually(lambda: phone.calls and phone.calls[0].answered_at, timeout=15)
        assert phone.calls[0].caller_number == "13900000051"  # the agent sees whom they call
        customer = await eventually(
            lambda: _channel(running_pbx, "Local/13900000051@customer-probe"), timeout=10
        )
        await eventually(lambda: running_pbx.bridged_together(call_id, customer), timeout=10)
        status = daemon.centre.core.status("1001")
        assert status.state.value == "talking"
        await eventually(lambda: status.state.value in ("after_call", "ready"), timeout=15)
        bad = await http.post(
            f"{base}/agents/1001/dial", json={"number": "12; hangup"}, headers=headers
        )
        assert bad.status == 400


def _channel(pbx, prefix: str) -> str | None:
    """The dialled side (";1") of the Local channel pair that reaches the customer."""
    return next(
        (
            u
            for u, name in pbx.channels().items()
            if name.startswith(prefix) and name.endswith(";1")
        ),
        None,
    )


async def test_hold_plays_music_to_the_caller_and_unhold_reconnects(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path)
    await add_users(settings, {"1001": "agent"})
    await phones("1001", answer_after=0.5, talk_for=60)
    base = f"http://127.0.0.1:{settings.http.port}/api/v1"
    async with Daemon(settings) as daemon, aiohttp.ClientSession() as http:
        headers = await api_login(http, base, "1001")
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        started = asyncio.get_running_loop().time()
        call_id, heard = await callers.call(digits="2", delay=2, hold=90, record=True)
        await eventually(lambda: stored_event(daemon, call_id, "greeted"), timeout=30)
        leg = next(iter(daemon.centre.book.legs))
        await eventually(lambda: running_pbx.bridged_together(call_id, leg), timeout=10)

        resp = await http.post(f"{base}/agents/1001/hold", headers=headers)
        assert resp.status == 200, await resp.text()
        held_at = asyncio.get_running_loop().time() - started
        await eventually(lambda: running_pbx.concise()[call_id][5] == "MusicOnHold", timeout=5)
        assert leg in running_pbx.channels()  # the agent is still on the line, waiting
        assert daemon.centre.core.status("1001").state.value == "talking"
        again = await http.post(f"{base}/agents/1001/hold", headers=headers)
        assert again.status == 409
        await asyncio.sleep(5)
        resumed_at = asyncio.get_running_loop().time() - started
        resp = await http.post(f"{base}/agents/1001/unhold", headers=headers)
        assert resp.status == 200, await resp.text()
        await eventually(lambda: running_pbx.bridged_together(call_id, leg), timeout=10)
        await eventually(lambda: stored_event(daemon, call_id, "resumed"), timeout=5)
        kinds = [e.kind for e in await daemon.events.for_call(call_id)]
        assert kinds.count("held") == 1 and kinds.count("resumed") == 1
    await asyncio.to_thread(
        running_pbx.cli, f"channel request hangup {running_pbx.channels().get(call_id, call_id)}"
    )
    await eventually(lambda: call_id not in running_pbx.channels(), timeout=10)
    # The caller heard music while on hold.
    assert loud_seconds_between(heard, held_at + 1, resumed_at) >= 2
