"""/metrics as Prometheus scrapes it: calls under their line, agents per state, the token."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiTimeout
from acd.core.calls import AgentLeg, CallInfo
from acd.core.commands import AnnouncePosition, CallAbandoned, CallAnswered, CallNote
from acd.engine import Engine
from acd.http.app import build_http_app
from acd.metrics import Metrics
from tests.amireplay import AmiReplayServer, load
from tests.apiapp import api_app
from tests.unit.test_agent_legs import answered, feed, hangup, put_through
from tests.unit.test_ami_connection import settings

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_scrape_after_a_call_counts_it_under_its_line(tmp_path):
    async with api_app(tmp_path) as (app, services, _):
        centre, p = services.centre, services.pipeline
        centre.log_in("1001")
        centre.ready("1001")
        p.note("c1", "queued", line="tour")  # as the IVR notes it
        centre.enqueue(CallInfo("c1", "tour", "en", "13800138000", enqueued_at=time.time()))
        p.note("c2", "queued", line="cruise")  # a second caller, who gives up
        centre.enqueue(CallInfo("c2", "cruise", "en", "13800138001", enqueued_at=time.time()))
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/metrics")
            assert resp.status == 200 and resp.content_type == "text/plain"
            before = samples(await resp.text())
            assert before[("acd_line_waiting", (("line", "tour"),))] == 1
            assert before[("acd_agents", (("state", "ringing"),))] == 1

            p.book.legs["leg-1"] = AgentLeg("leg-1", "c1", "1001")
            feed(services, answered("leg-1"))
            put_through(services, "c1", "1001", "tour")
            feed(services, hangup("c2"))  # the cruise caller hangs up, still waiting
            after = samples(await (await client.get("/metrics")).text())
        await p.stop()
    tour, cruise = (("line", "tour"),), (("line", "cruise"),)
    assert after[("acd_calls_offered_total", tour)] == 1
    assert after[("acd_calls_answered_total", tour)] == 1
    assert after[("acd_calls_abandoned_total", cruise)] == 1
    assert ("acd_calls_answered_total", cruise) not in after
    assert after[("acd_line_waiting", tour)] == 0
    assert after[("acd_line_service_level_ratio", tour)] == 1.0  # answered at once
    assert after[("acd_agents", (("state", "talking"),))] == 1
    assert after[("acd_agents", (("state", "ringing"),))] == 0
    assert after[("acd_ami_up", ())] == 0  # no Asterisk in this test
    assert ("acd_facts_pending", ()) in after


async def test_with_a_token_set_a_scrape_without_it_is_refused(tmp_path):
    token = "metrics-token-0123456789"
    async with api_app(tmp_path, metrics={"token": token}) as (app, services, _):
        async with TestClient(TestServer(app)) as client:
            refused = await client.get("/metrics")
            assert refused.status == 401
            assert "token" in (await refused.json())["message"]
            # An API user's bearer token is no scraper's token.
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status == 401
            ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert ok.status == 200 and "acd_agents" in await ok.text()
        await services.pipeline.stop()


async def test_a_blocked_event_loop_shows_as_lag():
    metrics = Metrics()
    watch = asyncio.create_task(metrics.watch_loop_lag(interval=0.05))
    await asyncio.sleep(0.12)
    time.sleep(0.3)  # noqa: ASYNC251 (the loop is held, as a blocking call would)
    await asyncio.sleep(0.12)
    watch.cancel()
    lag = samples(_scrape(metrics))
    assert lag[("acd_event_loop_lag_seconds_count", ())] >= 3
    assert lag[("acd_event_loop_lag_seconds_sum", ())] >= 0.2
    assert (
        lag[("acd_event_loop_lag_seconds_bucket", (("le", "0.1"),))]
        < lag[("acd_event_loop_lag_seconds_count", ())]
    )


async def test_garbage_collections_are_timed_while_the_lag_is_watched_and_not_after():
    metrics = Metrics()
    watch = asyncio.create_task(metrics.watch_loop_lag(interval=0.05))
    await asyncio.sleep(0.01)
    gc.collect()  # a full collection (generation 2)
    await asyncio.sleep(0.01)
    watch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watch
    gc.collect()  # no longer watched
    full = ("acd_gc_pause_seconds_count", (("generation", "2"),))
    assert samples(_scrape(metrics))[full] == 1
    assert metrics._gc_phase not in gc.callbacks


def _scrape(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


async def test_every_metric_the_grafana_dashboard_shows_is_served(tmp_path):
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    queried = {
        re.sub(r"_(total|bucket)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bacd_[a-z_]+", target["expr"])
    }
    async with api_app(tmp_path) as (app, services, _):
        async with TestClient(TestServer(app)) as client:
            text = await (await client.get("/metrics")).text()
        await services.pipeline.stop()
    served = {family.name for family in text_string_to_metric_families(text)}
    assert queried <= served, queried - served
    assert len(queried) >= 12


async def test_a_transferred_call_counts_once_and_a_callback_is_no_inbound_call(tmp_path):
    metrics = Metrics()
    for out in (
        CallNote("c1", "queued", {"line": "tour"}),
        CallAnswered("c1", "tour", "1001", 3.0, 10.0),
        CallAnswered("c1", "cruise", "1002", 40.0, 50.0),  # the transfer, answered again
        CallAbandoned("c1", "cruise", 70.0, None, 80.0),  # gone while a third agent rang
        CallAnswered("cb-c2", "tour", "1001", 1.0, 90.0),  # a callback's customer answered
    ):
        metrics.count(out)
    scraped = samples(_scrape(metrics))
    assert scraped[("acd_calls_offered_total", (("line", "tour"),))] == 1
    assert scraped[("acd_calls_answered_total", (("line", "tour"),))] == 1
    assert ("acd_calls_answered_total", (("line", "cruise"),)) not in scraped
    assert ("acd_calls_abandoned_total", (("line", "cruise"),)) not in scraped


async def test_an_unanswered_ami_action_is_counted_as_a_timeout():
    silent = [*load("login_and_snapshot.ami"), ">>> Originate"]
    metrics = Metrics()
    async with AmiReplayServer(silent) as pbx:
        engine = Engine()
        await engine.start()
        ami = AmiConnection(
            settings(pbx.port),
            engine.on_ami_event,
            on_answered=metrics.ami_action,
            on_timeout=metrics.ami_timeout,
        )
        engine.bind(ami)
        try:
            await ami.start()
            with pytest.raises(AmiTimeout):
                await ami.originate({"Channel": "Local/s@hotline"}, timeout=0.3)
        finally:
            await ami.close()
            await engine.stop()
    scraped = samples(_scrape(metrics))
    assert scraped[("acd_ami_action_timeouts_total", (("action", "Originate"),))] == 1
    assert scraped[("acd_ami_action_seconds_count", (("action", "Login"),))] == 1
    assert ("acd_ami_action_seconds_count", (("action", "Originate"),)) not in scraped


async def test_without_metrics_there_is_no_metrics_page(tmp_path):
    async with api_app(tmp_path) as (_, services, _):
        app = build_http_app(services.api)  # [metrics] enabled = false: no endpoint
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/metrics")).status == 404
        await services.pipeline.stop()


async def test_the_engines_tasks_are_a_gauge_that_falls_back_when_they_end(tmp_path):
    async with api_app(tmp_path) as (app, services, _):
        async with TestClient(TestServer(app)) as client:

            async def tasks() -> float:
                return samples(await (await client.get("/metrics")).text())[
                    ("acd_asyncio_tasks", ())
                ]

            before = await tasks()
            sleepers = [asyncio.create_task(asyncio.sleep(30)) for _ in range(5)]
            during = await tasks()
            for sleeper in sleepers:
                sleeper.cancel()
            await asyncio.gather(*sleepers, return_exceptions=True)
            after = await tasks()
        await services.pipeline.stop()
    assert during == before + 5
    assert after == before


async def test_a_position_announcement_reaches_team_leads_with_the_expected_wait(tmp_path):
    async with api_app(tmp_path) as (_, services, _):
        services.centre.enqueue(CallInfo("c1", "tour", "en", "138", enqueued_at=time.time()))
        bus = services.live.bus
        seq = bus.seq
        services.pipeline.handle([AnnouncePosition("c1", 1, 94.96), AnnouncePosition("c1", 1)])
        told = [e.as_json() for e in bus.since(seq) or [] if e.kind == "position_announced"]
        await services.pipeline.stop()
    assert [e["data"] for e in told] == [
        {"call_id": "c1", "line": "tour", "position": 1, "expected_wait": 95.0},
        {"call_id": "c1", "line": "tour", "position": 1, "expected_wait": None},
    ]
    assert all("agent" not in e["data"] for e in told)  # not on any agent's screen
