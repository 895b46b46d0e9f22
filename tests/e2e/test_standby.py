"""Two engines, one PostgreSQL, one Asterisk: the standby takes over, the old leader is fenced.

Judged as users see it: callers stay on the line and are served in their
order, agents keep their states, new callers reach whichever engine leads
(Asterisk's dialplan tries the two FastAGI addresses), and an old leader that
wakes from a freeze sends Asterisk nothing (what reached Asterisk's AMI
from it is read from a proxy on its link).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests import database
from tests.e2e.asterisk import Asterisk
from tests.e2e.audio import write_tone_wav
from tests.e2e.browser import Browser
from tests.e2e.callers import Callers
from tests.e2e.centre import Centre
from tests.e2e.conftest import artifacts_root
from tests.e2e.pbx import Pbx, free_tcp_port
from tests.e2e.tcpproxy import TcpProxy
from tests.e2e.test_desktop import ready_at_the_page
from tests.e2e.test_routing import waiting_caller
from tests.e2e.waiting import until

pytestmark = pytest.mark.skipif(
    not database.on_postgresql(),
    reason="a standby pair shares PostgreSQL: runs with --database=postgresql (make test does)",
)

LEASE = 2.0


async def leads(c: Centre, timeout: float = 30) -> float:
    """Wait until ``c`` answers /healthz as the ready leader; when (monotonic)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, body = await c.healthz()
            last = (status, body)
            if status == 200 and body.get("status") == "ok":
                assert body["role"] == "leader" and body["node"] == c.workdir.name, body
                return time.monotonic()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # switching over
            last = exc
        await asyncio.sleep(0.05)
    raise AssertionError(f"{c.workdir.name} did not lead within {timeout} s: {last}")


@pytest.fixture
async def dialplan(asterisk: Asterisk, pbx: Pbx) -> AsyncIterator[None]:
    """The pair's FastAGI addresses are the dialplan's; the single engine's again afterwards."""
    yield
    await asterisk.set_global("ACD_AGI", f"agi://127.0.0.1:{pbx.agi_port}")
    await asterisk.set_global("ACD_AGI_2", "")


async def start_pair(
    centre: Any,
    asterisk: Asterisk,
    tmp_path: Path,
    a_overrides: dict[str, Any] | None = None,
    *,
    peers: bool = False,
    b_database: str | None = None,
) -> tuple[Centre, Centre]:
    """Engine a (leading) and engine b (the standby) on a's database (or ``b_database``,
    the same one by another way), each its FastAGI port; ``peers``: each names the other
    (pages opened at one find the leader at the other)."""
    standby = {"enabled": True, "lease": LEASE, "poll": 0.2}
    a_http, b_http = free_tcp_port(), free_tcp_port()
    a_peers = {"peers": [f"http://127.0.0.1:{b_http}"]} if peers else {}
    b_peers = {"peers": [f"http://127.0.0.1:{a_http}"]} if peers else {}
    a = await centre(
        workdir=tmp_path / "a",
        standby=standby | {"node": "a"} | a_peers,
        http={"port": a_http},
        **(a_overrides or {}),
    )
    await leads(a)
    b_agi = free_tcp_port()
    b = await centre(
        workdir=tmp_path / "b",
        standby=standby | {"node": "b"} | b_peers,
        http={"port": b_http},
        fastagi={"port": b_agi},
        database={"url": b_database or a.config["database"]["url"]},
    )
    await asterisk.set_global("ACD_AGI_2", f"agi://127.0.0.1:{b_agi}")
    for _ in range(100):  # b knows the leader from its first try for the lock
        status, body = await b.healthz()
        if body["leader"] is not None:
            break
        await asyncio.sleep(0.05)
    assert (status, body["status"], body["node"]) == (503, "standby", "b"), body
    assert body["leader"] == {"node": "a", "address": a.base}, body
    return a, b


async def test_kill_9_of_the_leader_the_standby_takes_over_with_the_callers_in_order(
    asterisk: Asterisk, centre, callers: Callers, phones, tmp_path, dialplan, customer_trunk
):
    a, b = await start_pair(centre, asterisk, tmp_path)
    trainee = await a.agent_logged_in("1001")
    phone = await phones("1001", answer_after=0.5, talk_for=3)
    # On a: a call rated 2 opens a follow-up ticket.
    rated, _ = await callers.tour_call(phone, number="13900000070")
    await rated.hears("survey_question", timeout=30)
    await rated.press("2", after=1.0)
    await rated.hears("survey_thanks", timeout=10)
    lead = await a.login("1901")

    async def ticket_open() -> bool:
        return len(await lead.get("/follow-ups")) == 1

    await until(ticket_open, 10, "the low-score ticket on a")
    await trainee.post("/agents/1001/not-ready", {"reason": "training"})
    # Two callers wait; a third, waiting behind them, asks to be called back instead.
    first = await waiting_caller(callers, "tour", number="13900000071")
    second = await waiting_caller(callers, "tour", number="13900000072")
    later = await waiting_caller(callers, "tour", number="13900000079")
    await later.press("9")
    await later.hears("callback_saved")
    await later.hung_up_by_the_hotline("acd-wait")
    await a.facts_stored()

    killed = time.monotonic()
    await a.kill()
    took_over = await leads(b) - killed
    assert took_over < 5.0, f"the standby led {took_over:.1f} s after the kill"
    assert await first.on_line() and await second.on_line()

    # The open ticket and the callback request came through.
    lead = await b.login("1901")
    (ticket,) = await lead.get("/follow-ups")
    assert (ticket["call_id"], ticket["reason"], ticket["closed_at"]) == (
        rated.call_id,
        "low_score",
        None,
    )
    snap = await lead.get("/supervisor/snapshot")
    assert (snap["lines"]["tour"]["waiting"], snap["lines"]["tour"]["callbacks"]) == (2, 1)
    # The agent's state came through; the callers are served in their order, and then
    # the one who asked is called back.
    trainee = await b.login("1001")
    view = await trainee.agent()
    assert (view["state"], view["reason"]) == ("not_ready", "training"), view
    await trainee.post("/agents/1001/ready")
    one = await phone.ringing(count=2, timeout=20)
    await first.hears("agent_greeting_before")
    two = await phone.ringing(count=3, timeout=30)
    await second.hears("agent_greeting_before")
    assert (one.caller_number, two.caller_number) == ("13900000071", "13900000072")
    back = await phone.ringing(count=4, timeout=30)
    assert back.caller_number == "13900000079"
    await asterisk.ami.wait(  # the agent answered: the customer is dialled
        lambda e: (
            e.name == "Newchannel"
            and e.get("Channel").startswith("Local/13900000079@customer-probe-")
        ),
        15,
    )

    # A new caller reaches the new leader (a's address refuses: the dialplan tries b's).
    third = await callers.dial(number="13900000073")
    await third.hears("main_menu", timeout=15)


async def test_a_frozen_leader_that_wakes_after_the_takeover_sends_asterisk_nothing(
    asterisk: Asterisk, centre, callers: Callers, phones, pbx: Pbx, tmp_path, dialplan
):
    async with TcpProxy(pbx.ami_port) as link:  # a's AMI link, as Asterisk sees it
        a, b = await start_pair(centre, asterisk, tmp_path, {"ami": {"port": link.port}})
        await a.agent_logged_in("1001")
        phone = await phones("1001", answer_after=0.5, talk_for=8)
        await a.facts_stored()
        assert a.process is not None
        os.kill(a.process.pid, signal.SIGSTOP)  # frozen: sockets open, nothing answers
        try:
            stopped = time.monotonic()
            took_over = await leads(b) - stopped
            # b puts a caller through (Originate, Redirect) while a is still frozen.
            caller, _, _ = await callers.put_through(phone, number="13900000074")
        finally:
            resumed = time.monotonic()
            os.kill(a.process.pid, signal.SIGCONT)
        # a wakes, finds its lease gone and stops: systemd would start it as the standby.
        code = await asyncio.wait_for(a.process.wait(), 30)
        assert code == 75, a.log_tail()
        after = link.sent_since(resumed)
        assert b"Action: Originate" not in after and b"Action: Redirect" not in after, after
        assert b"Action:" not in after, after  # not even a ping: its link was dropped
        assert any(e.get("event") == "leadership_lost" for e in a.log_events())
        # The call b put through goes on, untouched by a.
        await caller.hears("survey_question", timeout=30)
        assert len(phone.calls) == 1
        assert took_over < 2 * LEASE + 5


async def test_an_agents_desktop_follows_the_leader_with_the_call_in_its_phone(
    asterisk: Asterisk, centre, callers: Callers, tmp_path, dialplan
):
    """No load balancer: the page opened at a's address finds b when a is killed. The
    call in the page's phone goes on through the takeover, and what the agent does next
    (hang up, register the call) is done by b."""
    a, b = await start_pair(centre, asterisk, tmp_path, peers=True)
    mic = write_tone_wav(tmp_path / "mic-1000.wav", 10.0, 1000.0)
    async with Browser(fake_audio=mic) as browser:
        try:
            await ready_at_the_page(browser, a.base, "1001")
            caller = await callers.tour_caller(number="13900000075")
            await browser.until("window.acd.invitation !== null", 20, "the page rang")
            await browser.click("#answer")
            await caller.hears("agent_greeting_before")
            await asterisk.bridged_with(caller.call_id, "web1001")
            await browser.until("document.getElementById('state').dataset.state === 'talking'")
            await a.facts_stored()

            await a.kill()  # a's address now refuses: the page must look elsewhere
            await browser.until("window.acd.link === 'reconnecting'", 10, "the page noticed")
            await leads(b)
            await browser.until("window.acd.link === 'ok'", 30, "the page found the leader")
            assert await caller.on_line()  # the call went on in the page's phone
            assert await browser.evaluate("Boolean(window.acd.session)")
            await browser.until("document.getElementById('state').dataset.state === 'talking'")

            # The agent hangs up in the page: b sees it, the caller is asked for a rating,
            # and the registration the agent saves (a call to b's API) is b's.
            await browser.click("#hangup")
            await caller.hears("survey_question", timeout=20)
            await browser.until("!document.getElementById('registration').hidden", 15)
            await browser.fill("#reg-notes", "after the takeover")
            await browser.click("#reg-save")
            await browser.until("document.getElementById('registration').hidden", 10)
        except BaseException:
            await browser.screenshot(artifacts_root() / "desktop-failover-failed.png")
            print("\n".join(browser.console))
            raise
    lead = await b.login("1901")
    registration = await lead.get(f"/calls/{caller.call_id}/registration")
    assert (registration["agent"], registration["notes"]) == ("1001", "after the takeover")


async def test_a_leader_cut_off_from_postgresql_stops_and_the_standby_takes_over(
    asterisk: Asterisk, centre, callers: Callers, phones, users_db, tmp_path, dialplan
):
    """The leader's host loses the database (its link reset, then refused): PostgreSQL
    ends its session, the standby leads within seconds and serves the waiting caller;
    the old leader, unable to confirm its lock, stops (75: systemd brings it back)."""
    folder = tmp_path / "a"
    folder.mkdir()
    users_db.copy_to(folder)
    direct = database.url_for(folder)
    url = urlsplit(direct)
    assert url.hostname is not None and url.port is not None
    async with TcpProxy(url.port) as db_link:  # a's every database connection goes through it
        proxied = url._replace(netloc=url.netloc.replace(f":{url.port}", f":{db_link.port}"))
        a, b = await start_pair(
            centre, asterisk, tmp_path, {"database": {"url": proxied.geturl()}}, b_database=direct
        )
        await a.agent_logged_in("1001", ready=False)  # on duty: callers wait for them
        caller = await waiting_caller(callers, "tour", number="13900000077")
        await a.facts_stored()

        cut = time.monotonic()
        db_link.blocked = True
        db_link.cut()
        took_over = await leads(b) - cut
        assert took_over < 5.0, f"the standby led {took_over:.1f} s after the cut"
        assert a.process is not None
        code = await asyncio.wait_for(a.process.wait(), 30)
        assert code == 75, a.log_tail()
        assert any(e.get("event") == "leadership_lost" for e in a.log_events())

    assert await caller.on_line()  # music throughout
    phone = await phones("1001", answer_after=0.5, talk_for=2)
    agent = await b.login("1001")
    await agent.post("/agents/1001/ready")
    call = await phone.ringing(timeout=20)
    await caller.hears("agent_greeting_before")
    assert call.caller_number == "13900000077"


async def test_after_an_asterisk_restart_new_callers_reach_the_engine_that_leads(
    asterisk: Asterisk, centre, callers: Callers, tmp_path, dialplan
):
    """Asterisk restarted comes back with the dialplan's configured FastAGI addresses
    (here a's, the one that died, and no second): the leader points it at itself again."""
    a, b = await start_pair(centre, asterisk, tmp_path)
    await a.kill()
    await leads(b)
    await asterisk.stop()
    await asterisk.start()
    await leads(b)  # its AMI link is back
    caller = await callers.dial(number="13900000078")
    await caller.hears("main_menu", timeout=15)
