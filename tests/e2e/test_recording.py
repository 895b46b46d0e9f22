"""Recordings of connected calls on the real Asterisk."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from acd.app import Daemon
from acd.storage.recordings import RecordingStore
from tests.e2e.audio import duration
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


async def _finished(store: RecordingStore, call_id: str):
    row = await store.get(call_id)
    return row if row is not None and row.size is not None else None
