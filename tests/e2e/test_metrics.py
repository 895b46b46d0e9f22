"""/metrics scraped from the running daemon, as Prometheus would, after a real call."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.callers import Callers


async def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics", timeout=aiohttp.ClientTimeout(5)) as resp:
            assert resp.status == 200, await resp.text()
            text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_scrape_after_a_call_shows_it_under_its_line_and_the_engine_healthy(
    centre, callers: Callers, phones
):
    c = await centre()
    await c.agent_logged_in("1001")
    phone = await phones("1001", answer_after=0.5, talk_for=2)
    before = await scrape(c.base)
    assert before[("acd_ami_up", ())] == 1
    assert ("acd_calls_answered_total", (("line", "tour"),)) not in before

    caller, _ = await callers.tour_call(phone)
    await caller.hears("survey_question", timeout=30)
    await caller.hang_up()

    after = await scrape(c.base)
    tour = (("line", "tour"),)
    assert after[("acd_calls_offered_total", tour)] == 1
    assert after[("acd_calls_answered_total", tour)] == 1
    assert after[("acd_line_service_level_ratio", tour)] == 1.0
    assert after[("acd_line_waiting", tour)] == 0
    # What it took, as measured: the ring (Originate), the IVR and survey sessions,
    # the facts stored, a healthy loop and disk.
    assert after[("acd_ami_action_seconds_count", (("action", "Originate"),))] >= 1
    assert after[("acd_fastagi_sessions_served_total", ())] >= 2
    assert after[("acd_db_write_seconds_count", ())] >= 1
    assert after[("acd_event_loop_lag_seconds_count", ())] >= 1
    assert after[("acd_recordings_disk_free_bytes", ())] > 0
    assert not [k for k in after if k[0] == "acd_alarm"]
