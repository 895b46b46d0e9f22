"""A recording's row from the moment MixMonitor starts to the measured, checksummed file.

The executor starts recordings (every call on recorded lines, or on the
agent's request); this service stores the row at once and, when the call
ends, measures the file off the event loop. Recordings left open by a crash
are closed as incomplete: never lost, never passed off as whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog

from acd.centre.tasks import ShortTasks, retry_while_busy
from acd.core.calls import CallInfo
from acd.core.distributor import CallDistributor
from acd.storage.models import RecordingRow
from acd.storage.recordings import RecordingStore, inspect_file

log = structlog.get_logger("acd.recording")

HEADER_WAIT_TRIES = 20  # Asterisk finishes the file's header just after the hangup
HEADER_WAIT_SECONDS = 0.25


class RecordingLifecycle:
    """Stores each recording's row when it starts and its measurements when it ends."""

    def __init__(
        self,
        store: RecordingStore,
        core: CallDistributor,
        tasks: ShortTasks,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._core = core
        self._tasks = tasks
        self._clock = clock
        self._saved: dict[str, asyncio.Event] = {}  # rows being stored, by call
        self._paths: dict[str, str] = {}  # where each call being recorded is recorded

    def started(self, info: CallInfo, agent: str = "") -> None:
        """The executor started MixMonitor on this call (for ``agent``): store its row."""
        if info.recording is None:
            return
        connected = self._core.connected.get(info.call_id)
        row = RecordingRow(
            call_id=info.call_id,
            line=info.line,
            agent=agent or (connected.job_number if connected else ""),
            caller=info.caller_number,
            path=str(info.recording),
            started_at=self._clock(),
            complete=False,
        )
        store = self._store
        saved = self._saved[info.call_id] = asyncio.Event()
        self._paths[info.call_id] = row.path

        async def save() -> None:
            await store.started(row)

        async def save_then_tell() -> None:
            try:
                await retry_while_busy(save, "recording_row")
            finally:
                saved.set()  # the end of the call may be measured now

        self._tasks.spawn(save_then_tell(), "acd-rec")

    def ended(self, call_id: str, complete: bool) -> None:
        """The call ended: measure and store the file (complete if Asterisk finished it).

        ``complete`` False: the call vanished (Asterisk went down, or acd was
        down when it ended): the file is final as it is, no need to wait for it.
        """
        saved = self._saved.pop(call_id, None)

        async def finish() -> None:
            await self.finish(call_id, wait_for_header=complete)

        async def after_the_row() -> None:
            if saved is not None:  # its row is still being stored (a busy database)
                await saved.wait()
            await retry_while_busy(finish, "recording_finished")

        self._tasks.spawn(after_the_row(), "acd-rec")

    async def finish(self, call_id: str, *, wait_for_header: bool) -> None:
        """Measure the file (off the loop); store size, checksum, length, completeness.

        Complete means the WAV is whole: Asterisk finished its header when the
        recording stopped. A file cut off by Asterisk dying is incomplete.
        """
        # Known since it started (no database read), or from its row (a restart).
        path = self._paths.pop(call_id, None) or await self._store.path_of(call_id)
        if path is None:
            return
        facts = await asyncio.to_thread(inspect_file, Path(path))
        for _ in range(HEADER_WAIT_TRIES if wait_for_header else 0):
            if facts is not None and facts.intact:
                break
            await asyncio.sleep(HEADER_WAIT_SECONDS)  # Asterisk finishes it after the hangup
            facts = await asyncio.to_thread(inspect_file, Path(path))
        complete = facts is not None and facts.intact and facts.duration is not None
        await self._store.finished(call_id, facts, complete)
        if not complete:
            log.warning("recording_incomplete", call_id=call_id, path=path)

    async def close_orphans(self, live_channels: set[str]) -> None:
        """Recordings still open from before a crash are marked incomplete, never lost."""
        for call_id in [c for c in self._paths if c not in live_channels]:
            # Started as the call ended (its end came first): finished below, from its row.
            self._paths.pop(call_id, None)
            saved = self._saved.pop(call_id, None)
            if saved is not None:
                await saved.wait()  # its row is stored (or given up on) before it is read
        for row in await self._store.open_ones():
            if row.call_id not in live_channels:  # it ended while acd was away
                await self.finish(row.call_id, wait_for_header=False)
