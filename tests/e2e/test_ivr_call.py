"""Callers in the IVR on the real Asterisk: keys, silence, hours, engine down."""

from __future__ import annotations

import asyncio
import time

from acd.app import Daemon
from tests.e2e.audio import duration, loud_seconds
from tests.e2e.conftest import Callers, eventually, make_settings, open_all_day_tree


async def events_of(daemon: Daemon, call_id: str, until_kind: str, timeout: float = 20):
    async def stored():
        events = await daemon.events.for_call(call_id)
        return events if any(e.kind == until_kind for e in events) else None

    return await eventually(stored, timeout=timeout)


async def test_caller_hears_welcome_presses_a_key_and_the_engine_records_it(
    daemon: Daemon, callers: Callers
):
    call_id, heard = await callers.call(digits="3", delay=2, hold=4, record=True, name="张伟")
    events = await events_of(daemon, call_id, "ivr_key")
    assert [e.kind for e in events] == ["ivr_entered", "ivr_key"]
    assert events[0].data == {"caller": "13800138000", "language": "en", "open": True}
    assert events[1].data == {"key": "3"}
    # The caller heard the welcome prompt before pressing.
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=15)
    assert duration(heard) > 4
    assert loud_seconds(heard) >= 1.5


async def test_silent_caller_hears_the_manuals_script_and_is_hung_up(
    daemon: Daemon, callers: Callers
):
    started = time.monotonic()
    call_id, _ = await callers.call(digits="", hold=90)
    events = await events_of(daemon, call_id, "ivr_goodbye", timeout=60)
    assert events[-1].data == {"reason": "silence"}
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=15)
    # Menu, 5 s, "the call is connected, please choose", 5 s, goodbye: the IVR
    # ended the call long before the caller would have.
    assert 15 < time.monotonic() - started < 60


async def test_outside_hours_no_human_is_offered_and_a_callback_is_taken(
    running_pbx, callers: Callers, phones, tmp_path
):
    closed = open_all_day_tree(tmp_path, hours="[hours]\ndays = []\n")
    async with Daemon(make_settings(running_pbx, tmp_path, tree=closed)) as daemon:
        phone = await phones("1001", answer_after=0.2)
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        call_id, _ = await callers.call(digits="2wwww1", delay=2, hold=30)
        events = await events_of(daemon, f"cb-{call_id}", "callback_requested", timeout=40)
        assert events[-1].data == {"line": "tour", "number": "13800138000"}
        kinds = [e.kind for e in await daemon.events.for_call(call_id)]
        assert "queued" not in kinds
        assert phone.calls == [] or all(c.caller_number != "13800138000" for c in phone.calls)


async def test_caller_is_held_with_music_while_the_engine_is_down_then_served(
    running_pbx, callers: Callers, tmp_path
):
    # The engine is not running: Asterisk cannot reach FastAGI.
    call_id, heard = await callers.call(digits="3", delay=9, hold=5, record=True)
    await asyncio.sleep(4)
    assert call_id in running_pbx.channels(), "the caller must not be dropped"
    async with Daemon(make_settings(running_pbx, tmp_path)) as daemon:
        events = await events_of(daemon, call_id, "ivr_key", timeout=15)
    assert events[-1].data == {"key": "3"}
    # While waiting the caller heard music on hold, not silence.
    await eventually(lambda: call_id not in running_pbx.channels(), timeout=15)
    assert loud_seconds(heard) >= 3


async def test_a_mandarin_caller_is_served_in_mandarin(daemon: Daemon, callers: Callers, phones):
    phone = await phones("1001", answer_after=0.5, talk_for=8)
    daemon.centre.log_in("1001")
    daemon.centre.ready("1001")
    call_id, _ = await callers.call(digits="2", delay=3, hold=30, language="zh", name="张伟")
    entered = (await events_of(daemon, call_id, "ivr_entered"))[0]
    assert entered.data["language"] == "zh"
    greeted = next(e for e in await events_of(daemon, call_id, "greeted") if e.kind == "greeted")
    # The greeting ("ni hao, gong hao 1001 wei nin fu wu") was played from the Mandarin files.
    assert greeted.data == {"agent": "1001", "status": "SUCCESS"}
    assert daemon.centre.book.calls[call_id].language == "zh"
    assert phone.calls[0].caller_number == "13800138000"
