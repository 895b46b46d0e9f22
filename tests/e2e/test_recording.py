"""Recordings of connected calls on the real Asterisk."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from acd.app import Daemon
from acd.storage.recordings import RecordingStore
from recording.policy import RecordingAction
from tests.e2e.audio import duration, loud_seconds_between, tone
from tests.e2e.conftest import Callers, eventually, make_settings


async def test_a_connected_call_is_recorded_as_valid_audio_of_its_length(
    daemon: Daemon, callers: Callers, phones
):
    await phones("1001", answer_after=0.5, talk_for=10)
    daemon.centre.log_in("1001")
    daemon.centre.ready("1001")
    call_id, _ = await callers.call(digits="2", delay=2, hold=40, number="13900000061")
    await eventually(lambda: daemon.centre.core.connected.get(call_id), timeout=30)
    connected_at = time.monotonic()
    store = RecordingStore(daemon.db)
    status = daemon.centre.core.status("1001")
    await eventually(lambda: status.state.value in ("after_call", "ready"), timeout=30)
    talked = time.monotonic() - connected_at
    row = await eventually(lambda: _finished(store, call_id), timeout=30)
    assert (row.line, row.agent, row.caller, row.complete) == ("tour", "1001", "13900000061", True)
    path = Path(row.path)
    data = await asyncio.to_thread(path.read_bytes)
    assert row.size == len(data) and row.checksum == hashlib.sha256(data).hexdigest()
    # The file is valid audio from the greeting to the end: about the call's length
    # (the recording goes on through the survey until the caller hangs up).
    assert duration(path) >= talked - 1.5


async def test_asterisk_killed_mid_call_leaves_the_recording_marked_incomplete(
    running_pbx, callers: Callers, phones, tmp_path
):
    async with Daemon(make_settings(running_pbx, tmp_path)) as daemon:
        await phones("1001", answer_after=0.5, talk_for=60)
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        call_id, _ = await callers.call(digits="2", delay=2, hold=60)
        store = RecordingStore(daemon.db)
        await eventually(lambda: store.get(call_id), timeout=30)
        await asyncio.sleep(3)
        await asyncio.to_thread(running_pbx.kill)
        # When Asterisk is back the engine resyncs, finds the call gone without an
        # orderly end, and marks its recording incomplete.
        await asyncio.to_thread(running_pbx.start)
        row = await eventually(lambda: _finished(store, call_id), timeout=40)
        assert row.complete is False
        assert row.size and row.size > 0  # what was written is kept, not lost


async def test_on_demand_the_agent_starts_the_recording_and_a_pause_is_silence_in_it(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path, recording={"lines": {"tour": "on_demand"}})
    async with Daemon(settings) as daemon:
        # The agent's phone speaks a tone all through the call.
        await phones("1001", answer_after=0.5, talk_for=18, speak=tone(30))
        daemon.centre.log_in("1001")
        daemon.centre.ready("1001")
        call_id, _ = await callers.call(digits="2", delay=2, hold=60)
        await eventually(lambda: daemon.centre.core.connected.get(call_id), timeout=30)
        await asyncio.sleep(3)
        store = RecordingStore(daemon.db)
        assert await store.get(call_id) is None  # on demand: nothing until the agent asks
        await daemon.centre.control_recording("1001", RecordingAction.START)
        started = await eventually(lambda: store.get(call_id), timeout=5)
        await asyncio.sleep(3)
        paused_at = time.time()
        await daemon.centre.control_recording("1001", RecordingAction.PAUSE)
        await asyncio.sleep(4)
        resumed_at = time.time()
        await daemon.centre.control_recording("1001", RecordingAction.RESUME)
        row = await eventually(lambda: _finished(store, call_id), timeout=40)
        path = Path(row.path)
        pause = (paused_at - started.started_at, resumed_at - started.started_at)
        assert loud_seconds_between(path, 0.5, pause[0] - 0.5) >= pause[0] - 2
        assert loud_seconds_between(path, pause[0] + 0.6, pause[1] - 0.6) == 0
        assert loud_seconds_between(path, pause[1] + 0.6, pause[1] + 3.6) >= 2
        kinds = [e.kind for e in await daemon.events.for_call(call_id)]
        assert [k for k in kinds if k.startswith("recording_")] == [
            "recording_started",
            "recording_paused",
            "recording_resumed",
        ]


async def _finished(store: RecordingStore, call_id: str):
    row = await store.get(call_id)
    return row if row is not None and row.size is not None else None
