"""The daemon on PostgreSQL, as a bigger site runs it: calls, recordings, reports, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.e2e.callers import Callers
from tests.e2e.centre import centre_config, create_users, zone_at_midday
from tests.e2e.pbx import free_tcp_port
from tests.e2e.tomlfile import write_toml
from tests.pgserver import PgServer


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    """A private PostgreSQL cluster on a free loopback port; its URL for acd."""
    server = PgServer(port=free_tcp_port())
    try:
        yield await asyncio.to_thread(server.start)
    finally:
        await asyncio.to_thread(server.stop)


async def test_on_postgresql_a_call_is_answered_recorded_rated_reported_and_remembered(
    postgres: str, pbx, asterisk, centre, callers: Callers, phones, tmp_path
):
    workdir = tmp_path / "site"
    workdir.mkdir()
    settings = {"database": {"url": postgres}, "ivr": {"timezone": zone_at_midday()}}
    # The admin creates the users with `acd user`, straight into PostgreSQL.
    config = write_toml(workdir / "users.toml", centre_config(pbx, workdir, **settings))
    phone_secrets = await create_users(config)
    c = await centre(workdir=workdir, **settings)
    agent, lead = await c.login("1001"), await c.login("1901")
    await agent.post("/agents/1001/login")
    await agent.post("/agents/1001/ready")
    phone = await phones("1001", secret=phone_secrets["1001"], answer_after=0.5, talk_for=4)

    caller = await callers.dial(number="13900000071")
    await caller.hears("main_menu")
    await caller.press("2")
    await phone.answered(await phone.ringing())
    await caller.hears("survey_question", timeout=30)
    await caller.press("5")
    await caller.hears("survey_thanks")
    await caller.gone()

    recording = await lead.finished_recording(caller.call_id, timeout=15)
    assert (recording["agent"], recording["line"], recording["caller"]) == (
        "1001",
        "tour",
        "13900000071",
    )
    assert recording["complete"] is True and recording["size"] > 44
    report = await lead.get("/reports/day")
    (tour,) = report["lines"]
    assert (tour["line"], tour["offered"], tour["answered"], tour["abandoned"]) == (
        "tour",
        1,
        1,
        0,
    )
    assert tour["survey_distribution"]["5"] == 1

    # A clean restart (a deploy): the agent's state and the customer's history come back
    # from PostgreSQL.
    await agent.wait_agent(lambda view: view["state"] == "ready")
    assert await c.stop() == 0
    await c.start()
    agent = await c.login("1001")
    assert (await agent.agent())["state"] == "ready"
    stream = await agent.events()
    again = await callers.dial(number="13900000071")
    await again.hears("main_menu")
    await again.press("2")
    ringing = await stream.next("call_ringing", call_id=again.call_id)
    (earlier,) = ringing["data"]["history"]
    assert (earlier["call_id"], earlier["outcome"], earlier["satisfaction"]) == (
        caller.call_id,
        "answered",
        5,
    )
    await stream.close()
