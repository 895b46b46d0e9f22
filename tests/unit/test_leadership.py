"""Who leads: the advisory lock on a real PostgreSQL, with real (short) leases."""

from __future__ import annotations

import asyncio
import time

import pytest

from acd.leadership import Leadership, LeadershipLost
from acd.storage.db import create_engine, migrate
from tests import database

LEASE = 1.0


@pytest.fixture
async def url(tmp_path):
    url = database.database_url(database.database_for(tmp_path))
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


def node(url: str, name: str) -> Leadership:
    return Leadership(url, name, f"http://{name}.example:8080", lease=LEASE, poll=0.1)


async def test_one_engine_leads_the_other_waits_and_takes_over_when_the_leader_is_gone(url):
    a, b = node(url, "a"), node(url, "b")
    try:
        await asyncio.wait_for(a.acquire(), 5)
        assert a.leading()
        waiting = asyncio.ensure_future(b.acquire())
        await asyncio.sleep(0.5)
        assert not waiting.done() and not b.leading()
        assert b.known_leader == ("a", "http://a.example:8080")  # where b points clients
        started = time.monotonic()
        await a.close()  # the leader's session ends (as when its process is killed)
        await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 1.0  # within a poll or two
        assert b.leading() and b.known_leader == ("b", "http://b.example:8080")
    finally:
        await a.close()
        await b.close()


async def test_a_frozen_leader_loses_the_lead_and_may_not_act_when_it_wakes(url):
    a, b = node(url, "a"), node(url, "b")
    try:
        await asyncio.wait_for(a.acquire(), 5)
        keeping = asyncio.ensure_future(a.keep())
        await asyncio.sleep(LEASE)  # a confirms the lock every third of a lease
        assert a.leading() and not keeping.done()
        keeping.cancel()  # frozen: a says nothing more to the database...
        waiting = asyncio.ensure_future(b.acquire())
        await asyncio.sleep(LEASE * 2 / 3)
        # ...and may not act as soon as its confirmation is too old, before b leads:
        assert not a.leading() and not waiting.done()
        with pytest.raises(LeadershipLost):
            a.check()
        await asyncio.wait_for(waiting, 5)  # the server ended a's silent session
        assert b.leading()
        with pytest.raises(LeadershipLost):  # a wakes: its lock is gone for good
            await asyncio.wait_for(a.keep(), 5)
            a.check()
    finally:
        await a.close()
        await b.close()


async def test_a_leader_cut_off_from_the_database_stops_leading(url, tmp_path):
    a, b = node(url, "a"), node(url, "b")
    try:
        await asyncio.wait_for(a.acquire(), 5)
        keeping = asyncio.ensure_future(a.keep())
        await a._conn.close()  # the network between the leader and its database drops
        await asyncio.wait_for(keeping, 5)  # keep() returns: the lead is lost
        assert not a.leading()
        await asyncio.wait_for(b.acquire(), 5)
    finally:
        await a.close()
        await b.close()


async def test_a_stall_shorter_than_the_lease_holds_actions_back_then_the_leader_goes_on(url):
    a = node(url, "a")
    try:
        await asyncio.wait_for(a.acquire(), 5)
        keeping = asyncio.ensure_future(a.keep())
        confirmed = a._confirmed
        while a._confirmed == confirmed:  # just after a confirmation  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        time.sleep(0.8)  # the event loop stalls, past 2/3 of the lease  # noqa: ASYNC251
        assert not a.leading()
        with pytest.raises(LeadershipLost, match="has not confirmed its lead for"):
            a.check()  # no action goes out meanwhile...
        await asyncio.sleep(0.2)
        assert a.leading() and not keeping.done()  # ...until the lock is confirmed again
        a.check()
    finally:
        await a.close()


async def test_a_leader_whose_whole_process_froze_past_the_lease_wakes_to_a_lost_lead(url):
    """SIGSTOP: the server ends the silent session meanwhile, and on waking the driver
    fails the next confirmation (before it reads the server's goodbye): the lead is
    lost, and said so; keep() does not die of the driver's error."""
    a = node(url, "a")
    try:
        await asyncio.wait_for(a.acquire(), 5)
        keeping = asyncio.ensure_future(a.keep())
        await asyncio.sleep(LEASE / 2)
        time.sleep(LEASE * 2.5)  # the whole process frozen  # noqa: ASYNC251
        await asyncio.wait_for(keeping, 5)  # returns: not raises
        with pytest.raises(LeadershipLost, match="is not the leader"):
            a.check()
    finally:
        await a.close()
