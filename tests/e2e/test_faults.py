"""Faults on the AMI link while calls are in flight, judged from the phones and Asterisk.

The link to Asterisk goes through a loopback proxy that a test cuts, blocks,
or breaks at an exact point of the conversation (the connect Redirect, the
end of a snapshot). Callers and agents' phones are real.
"""

from __future__ import annotations

import asyncio

from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import Centre
from tests.e2e.tcpproxy import TcpProxy
from tests.e2e.test_resilience import health_until

RING_TIMEOUT = 5


async def centre_behind(centre, proxy: TcpProxy, **overrides) -> Centre:
    return await centre(ami={"port": proxy.port}, acd={"ring_timeout": RING_TIMEOUT}, **overrides)


async def test_an_ami_outage_longer_than_the_ring_timeout_leaves_ready_agents_ready(
    pbx, asterisk: Asterisk, centre, callers: Callers, phones
):
    async with TcpProxy(pbx.ami_port) as proxy:
        c = await centre_behind(centre, proxy)
        phone = await phones("1001", answer_after=0.5)
        agent = await c.agent_logged_in("1001")
        proxy.blocked = True  # the network to Asterisk is down, and stays down a while
        proxy.cut()
        await health_until(c, lambda s, _: s == 503, timeout=5)

        # A caller arrives meanwhile: the IVR still works (FastAGI), the caller waits.
        caller = await callers.dial()
        await caller.hears("main_menu")
        await caller.press("2")
        await caller.on_hold()
        # Longer than the ring timeout: nobody may be offered the call or marked "no answer".
        await asyncio.sleep(RING_TIMEOUT + 3)
        view = await agent.agent()
        assert (view["state"], view["reason"]) == ("ready", None), view
        assert phone.calls == []

        proxy.blocked = False
        await health_until(c, lambda s, _: s == 200, timeout=10)
        # The agent takes the caller as soon as the link is back, without fixing anything.
        call = await phone.ringing(timeout=10)
        await phone.answered(call)
        await caller.hears("agent_greeting_before")
        await asterisk.bridged_with(caller.call_id, "1001")
        view = await agent.wait_agent(lambda v: v["state"] == "talking")
        assert view["call_id"] == caller.call_id


async def test_an_agent_who_answers_while_the_ami_link_is_down_is_put_through_not_dropped(
    pbx, asterisk: Asterisk, centre, callers: Callers, phones
):
    async with TcpProxy(pbx.ami_port) as proxy:
        c = await centre_behind(centre, proxy)
        phone = await phones("1001", answer_after=None)  # answers when the test says
        agent = await c.agent_logged_in("1001")
        caller = await callers.tour_caller()
        call = await phone.ringing()

        proxy.blocked = True
        proxy.cut()
        await health_until(c, lambda s, _: s == 503, timeout=5)
        await phone.answer(call)  # picked up while the engine cannot see it
        await asyncio.sleep(RING_TIMEOUT + 2)  # the ring timeout passes during the outage
        proxy.blocked = False
        await health_until(c, lambda s, _: s == 200, timeout=10)

        # The engine learns of the answer from Asterisk and puts the caller through.
        await caller.hears("agent_greeting_before", timeout=15)
        await asterisk.bridged_with(caller.call_id, "1001")
        assert await asterisk.is_up(caller.call_id)
        view = await agent.wait_agent(lambda v: v["state"] == "talking")
        assert view["reason"] is None and view["call_id"] == caller.call_id
        assert len(phone.calls) == 1 and phone.calls[0] is call


async def test_when_the_link_dies_as_a_caller_is_put_through_they_wait_again_and_are_served(
    pbx, asterisk: Asterisk, centre, callers: Callers, phones
):
    async with TcpProxy(pbx.ami_port) as proxy:
        c = await centre_behind(centre, proxy)
        phone = await phones("1001", answer_after=0.5)
        agent = await c.agent_logged_in("1001")
        lead = await c.login("1901")
        # The Redirect that puts the caller through never reaches Asterisk.
        proxy.cut_when_sent(b"Exten: connect")
        caller = await callers.tour_caller()
        first = await phone.ringing()
        await phone.answered(first)
        await health_until(c, lambda s, _: proxy.cuts == 1 and s == 200, timeout=15)

        # Not stranded in the music: the first leg is let go, the phone rings again,
        # and this time the caller hears the job number and is bridged with the agent.
        await phone.ended(first, timeout=15)
        second = await phone.ringing(count=2, timeout=15)
        await phone.answered(second)
        await caller.hears("agent_greeting_before", timeout=15)
        await asterisk.bridged_with(caller.call_id, "1001")
        view = await agent.wait_agent(lambda v: v["state"] == "talking")
        assert view["call_id"] == caller.call_id
        # Counted once, as answered, for the supervisors.
        snap = await lead.snapshot_until(lambda s: s["today"]["answered"] == 1)
        assert snap["today"]["offered"] == 1 and snap["today"]["abandoned"] == 0


async def test_a_link_cut_while_the_engine_applies_its_snapshot_neither_freezes_nor_loses_it(
    pbx, asterisk: Asterisk, centre, callers: Callers, phones
):
    async with TcpProxy(pbx.ami_port) as proxy:
        c = await centre_behind(centre, proxy)
        phone = await phones("1001", answer_after=0.5)
        await c.agent_logged_in("1001")
        # On the next reconnect the link closes right after the snapshot's last event.
        proxy.close_after_received(b"EventList: Complete")
        proxy.cut()
        # The engine keeps answering (its event loop is not spinning) and comes back up.
        _, up = await asyncio.wait_for(
            health_until(c, lambda s, h: proxy.cuts == 1 and s == 200, timeout=20), 25
        )
        # One connect at the start, then one or two more: the close lands either while the
        # snapshot is still being applied (that attempt never counts as up) or just after
        # it was applied in full (up, then down, then up again); never a reconnect loop.
        assert up["ami"]["connected"] and 2 <= up["ami"]["connects"] <= 3
        await asyncio.sleep(3)
        status, steady = await asyncio.wait_for(c.healthz(), 5)
        assert status == 200 and 2 <= steady["ami"]["connects"] <= 3
        await callers.put_through(phone)
        status, _ = await asyncio.wait_for(c.healthz(), 5)
        assert status == 200
