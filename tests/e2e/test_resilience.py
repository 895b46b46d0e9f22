"""The AMI link on a bad day: a network blip, a frozen or restarted Asterisk, seen as ops see it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import Centre, zone_at_midday
from tests.e2e.faults import DatabaseLock
from tests.e2e.tcpproxy import TcpProxy
from tests.e2e.test_after_call import report_line
from tests.e2e.waiting import until

Health = tuple[int, dict[str, Any]]


async def health_until(
    centre: Centre, condition: Callable[[int, dict[str, Any]], bool], timeout: float
) -> Health:
    """Poll /healthz (every 50 ms) until ``condition(status, body)``; that answer."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await centre.healthz()
        if condition(status, body):
            return status, body
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz still {status} {body} after {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_network_blip_on_ami_shows_on_healthz_and_callers_are_served_after_it(
    pbx, asterisk: Asterisk, centre, callers: Callers, phones
):
    async with TcpProxy(pbx.ami_port) as proxy:
        c = await centre(ami={"port": proxy.port})
        status, health = await c.healthz()
        assert (status, health["ami"]["connects"], health["engine"]["resyncs"]) == (200, 1, 1)
        phone = await phones("1001", answer_after=0.5)
        await c.agent_logged_in("1001")

        # The link dies and stays down for a while (reconnects are refused).
        proxy.blocked = True
        proxy.cut()
        status, down = await health_until(c, lambda s, _: s == 503, timeout=5)
        assert down["status"] == "degraded"
        assert down["ami"]["connected"] is False and down["ami"]["last_error"]
        assert down["fastagi"]["listening"]  # callers can still reach the IVR

        proxy.blocked = False
        status, up = await health_until(c, lambda s, _: s == 200, timeout=10)
        assert up["ami"]["connected"] and up["ami"]["connects"] == 2
        assert up["engine"]["resyncs"] == 2

        # After the blip the engine works again: the next caller reaches the agent.
        await callers.put_through(phone)
        assert len(phone.calls) == 1
        # The engine's view of Asterisk matches Asterisk's own.
        live = len(await asterisk.channels())
        await health_until(c, lambda _, h: h["engine"]["live_channels"] == live, timeout=5)


async def test_a_frozen_asterisk_is_noticed_within_5_seconds(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    # The README's promise is for the default ping settings (every 2 s, 2 s timeout).
    c = await centre(ami={"ping_interval": 2, "ping_timeout": 2})
    phone = await phones("1001", answer_after=0.5)
    await c.agent_logged_in("1001")
    await asterisk.freeze()  # SIGSTOP: the socket stays open, nothing answers
    frozen_at = time.monotonic()
    _, down = await health_until(c, lambda s, _: s == 503, timeout=8)
    noticed = time.monotonic() - frozen_at
    assert noticed <= 5, f"a frozen Asterisk was noticed only after {noticed:.1f} s"
    assert "Ping" in down["ami"]["last_error"]

    await asterisk.thaw()
    _, up = await health_until(c, lambda s, _: s == 200, timeout=15)
    assert up["ami"]["connects"] == 2 and up["engine"]["resyncs"] == 2
    await callers.put_through(phone)


async def test_an_action_lost_in_a_dead_link_is_never_replayed_after_the_reconnect(
    pbx, asterisk: Asterisk, centre, phones, customer_trunk
):
    async with TcpProxy(pbx.ami_port) as proxy:
        c = await centre(ami={"port": proxy.port})
        phone = await phones("1001", answer_after=0.5)
        agent = await c.agent_logged_in("1001", ready=False)
        # The link goes dead without closing (bytes vanish), then the agent clicks to dial:
        # the engine's Originate is lost on the way.
        proxy.freeze()
        await agent.post("/agents/1001/dial", {"number": "13900000099"})
        await health_until(c, lambda s, _: s == 503, timeout=5)
        _, up = await health_until(c, lambda s, _: s == 200, timeout=10)
        assert up["ami"]["connects"] == 2
        # A replayed Originate would now ring the agent and dial the customer. Wait long
        # enough for that to show (a negative check: nothing may happen).
        await asyncio.sleep(5)
        assert phone.calls == []
        assert await asterisk.channels_of("Local/13900000099@customer-probe") == []
        assert await asterisk.channels_of("PJSIP/1001-") == []


async def test_an_asterisk_restart_is_noticed_and_a_caller_dialling_as_it_comes_back_is_served(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre()
    await c.agent_logged_in("1001")
    supervisor = await c.login("1901")
    stream = await supervisor.events()

    await asterisk.stop()
    _, down = await health_until(c, lambda s, _: s == 503, timeout=5)
    assert down["ami"]["connected"] is False
    await asterisk.start()
    # A caller dials the moment Asterisk is back, while the engine may still be reconnecting.
    caller = await callers.dial(number="13800138001", name="张伟旅游")
    await caller.hears("main_menu")
    _, up = await health_until(c, lambda s, _: s == 200, timeout=15)
    assert up["engine"]["resyncs"] >= 2
    phone = await phones("1001", answer_after=0.5)
    await caller.press("2")
    call = await phone.ringing()
    await phone.answered(call)
    await caller.hears("agent_greeting_before")
    # The Chinese name came through Asterisk and AMI intact, to the screen pop and the phone.
    ringing = await stream.next("call_ringing", call_id=caller.call_id)
    assert ringing["data"]["caller_name"] == "张伟旅游"
    assert call.caller_number == "13800138001"
    # The engine's view, rebuilt by the resync and events, matches Asterisk's own.
    live = len(await asterisk.channels())
    await health_until(c, lambda _, h: h["engine"]["live_channels"] == live, timeout=5)
    await stream.close()


async def test_a_database_locked_for_20_s_during_a_call_loses_no_fact_and_raises_an_alarm(
    centre, callers: Callers, phones
):
    c = await centre(ivr={"timezone": zone_at_midday()})  # "today" cannot straddle midnight
    await c.agent_logged_in("1001")
    lead = await c.login("1901")
    phone = await phones("1001", answer_after=0.5, talk_for=3)
    number = "13900000081"
    async with DatabaseLock(c.config["database"]["url"]) as lock:
        locked_at = time.monotonic()
        # The call goes on as if nothing happened: menu, agent, greeting, survey.
        caller, _ = await callers.tour_call(phone, number=number)
        await caller.hears("survey_question", timeout=30)
        await caller.press("2", after=1.5)
        await caller.hears("survey_thanks", timeout=10)
        await caller.gone(timeout=15)
        # Ops see it: the database alarm on /healthz (calls go on: still 200).
        status, _ = await health_until(
            c, lambda s, b: any(a["alarm"] == "database" for a in b["alarms"]), timeout=30
        )
        assert status == 200
        await asyncio.sleep(max(0.0, 20 - (time.monotonic() - locked_at)))  # 20 s in all
        await lock.release()
    await health_until(c, lambda s, b: b["alarms"] == [], timeout=60)
    # Nothing was lost: the call, its rating and its follow-up are all there.
    report, tour = await report_line(lead, "tour", lambda r: r["surveys"] == 1)
    assert (tour["offered"], tour["answered"], tour["abandoned"]) == (1, 1, 0)
    assert tour["survey_distribution"]["2"] == 1
    agent_row = next(a for a in report["agents"] if a["agent"] == "1001")
    assert agent_row["answered"] == 1 and agent_row["talk_s"] > 0
    tickets = await until(lambda: lead.get("/follow-ups"), 30, "the low score's follow-up")
    assert [(t["call_id"], t["caller"]) for t in tickets] == [(caller.call_id, number)]
