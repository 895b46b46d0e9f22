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

import aiohttp
import pytest

from tests import database
from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import Centre
from tests.e2e.pbx import Pbx, free_tcp_port
from tests.e2e.tcpproxy import TcpProxy
from tests.e2e.test_routing import waiting_caller

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
    centre: Any, asterisk: Asterisk, tmp_path: Path, a_overrides: dict[str, Any] | None = None
) -> tuple[Centre, Centre]:
    """Engine a (leading) and engine b (the standby) on a's database, each its FastAGI port."""
    standby = {"enabled": True, "lease": LEASE, "poll": 0.2}
    a = await centre(workdir=tmp_path / "a", standby=standby | {"node": "a"}, **(a_overrides or {}))
    await leads(a)
    b_agi = free_tcp_port()
    b = await centre(
        workdir=tmp_path / "b",
        standby=standby | {"node": "b"},
        fastagi={"port": b_agi},
        database={"url": a.config["database"]["url"]},
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
    asterisk: Asterisk, centre, callers: Callers, phones, tmp_path, dialplan
):
    a, b = await start_pair(centre, asterisk, tmp_path)
    trainee = await a.agent_logged_in("1001", ready=False)
    await trainee.post("/agents/1001/not-ready", {"reason": "training"})
    first = await waiting_caller(callers, "tour", number="13900000071")
    second = await waiting_caller(callers, "tour", number="13900000072")
    await a.facts_stored()

    killed = time.monotonic()
    await a.kill()
    took_over = await leads(b) - killed
    assert took_over < 5.0, f"the standby led {took_over:.1f} s after the kill"
    assert await first.on_line() and await second.on_line()

    # The agent's state came through; the waiting callers are served in their order.
    phone = await phones("1001", answer_after=0.5, talk_for=3)
    trainee = await b.login("1001")
    view = await trainee.agent()
    assert (view["state"], view["reason"]) == ("not_ready", "training"), view
    await trainee.post("/agents/1001/ready")
    one = await phone.ringing(timeout=20)
    await first.hears("agent_greeting_before")
    two = await phone.ringing(count=2, timeout=30)
    await second.hears("agent_greeting_before")
    assert (one.caller_number, two.caller_number) == ("13900000071", "13900000072")

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
