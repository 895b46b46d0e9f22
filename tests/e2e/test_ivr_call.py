"""A caller reaches the FastAGI ivr route on the real Asterisk and presses a key."""

from __future__ import annotations

import asyncio

from acd.app import Daemon
from tests.e2e.audio import duration, loud_seconds
from tests.e2e.conftest import Callers, eventually


async def test_caller_hears_welcome_presses_2_and_the_engine_records_it(
    daemon: Daemon, callers: Callers
):
    call_id, heard = await callers.call(digits="2", delay=1.5, hold=3, record=True, name="张伟")

    async def stored():
        events = await daemon.events.for_call(call_id)
        return events if any(e.kind == "ivr_digit" for e in events) else None

    events = await eventually(stored, timeout=15)
    assert [e.kind for e in events] == ["ivr_entered", "ivr_digit"]
    assert events[0].data == {"caller": "13800138000"}
    assert events[1].data == {"digit": "2", "line": "tour"}

    # The caller heard the welcome prompt (and the thank-you) before hanging up.
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=15)
    assert duration(heard) > 2
    assert loud_seconds(heard) >= 1.0


async def test_silent_caller_is_recorded_as_no_input(daemon: Daemon, callers: Callers):
    call_id, _ = await callers.call(digits="", hold=8)

    async def stored():
        events = await daemon.events.for_call(call_id)
        return events if any(e.kind == "ivr_no_input" for e in events) else None

    events = await eventually(stored, timeout=15)
    assert [e.kind for e in events] == ["ivr_entered", "ivr_no_input"]


async def test_caller_is_held_with_music_while_the_engine_is_down_then_served(
    running_pbx, callers: Callers, tmp_path
):
    from acd.settings import IvrSettings
    from tests.e2e.conftest import make_settings

    # The engine is not running: Asterisk cannot reach FastAGI.
    call_id, heard = await callers.call(digits="3", delay=9, hold=5, record=True)
    await asyncio.sleep(4)
    assert call_id in running_pbx.channels(), "the caller must not be dropped"
    settings = make_settings(running_pbx, tmp_path)
    settings = settings.model_copy(update={"ivr": IvrSettings(digit_timeout=10)})
    async with Daemon(settings) as daemon:

        async def stored():
            events = await daemon.events.for_call(call_id)
            return events if any(e.kind == "ivr_digit" for e in events) else None

        events = await eventually(stored, timeout=15)
    assert events[-1].data == {"digit": "3", "line": "free_travel"}
    # While waiting the caller heard music on hold, not silence.
    await eventually(lambda: call_id not in running_pbx.channels(), timeout=15)
    assert loud_seconds(heard) >= 3
