"""Recordings kept safe and shown only to those allowed: disk alarm, retention, audited access.

The policy (what to record, when to purge, when the disk counts as full) is in
``recording.policy``; this service runs the checks, touches the files (in a
thread, never on the loop) and audits every playback and download.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import structlog

from acd.core.access import User, may_act_on_agent, may_supervise
from acd.core.reports import period_bounds
from acd.eventbus import EventBus
from acd.periodic import Periodic
from acd.settings import RecordingSettings
from acd.storage.followups import FollowUpStore
from acd.storage.models import RecordingRow
from acd.storage.recordings import RecordingStore
from acd.storage.users import UserStore
from recording.policy import DAY, DiskRules, Kept, disk_full, to_purge

log = structlog.get_logger("acd.recordings")

PURGE_EVERY = 3600.0
DISK_ALARM = "recording_disk_full"


class RecordingDenied(Exception):
    """This user may not hear this recording."""


class RecordingGone(Exception):
    """The recording was purged (retention) or its file is missing."""


class NoSuchRecording(Exception):
    """No recording for that call."""


class RecordingService:
    """Watches the recordings disk, purges old recordings and audits who hears them."""

    def __init__(
        self,
        store: RecordingStore,
        follow_ups: FollowUpStore,
        users: UserStore,
        settings: RecordingSettings,
        bus: EventBus,
        alarms: dict[str, dict[str, Any]],
        clock: Callable[[], float],
        on_disk_full: Callable[[bool], None],
        free_bytes: Callable[[Path], int] | None = None,
        zone: tzinfo = UTC,
        team_of: Callable[[str], str] = lambda agent: "",
    ) -> None:
        self.store = store
        self._team_of = team_of  # a supervisor hears their team's calls
        self._follow_ups = follow_ups
        self._users = users
        self._settings = settings
        self._bus = bus
        self._alarms = alarms
        self._clock = clock
        self._on_disk_full = on_disk_full
        self._free_bytes = free_bytes or _free_bytes
        self._zone = zone  # the centre's days
        self._rules = DiskRules(settings.min_free_mb * 1024 * 1024)
        self.disk_full = False
        self.free_bytes: int | None = None  # at the last disk check
        self._disk_check = Periodic("acd-recording-disk", settings.check_every, self.check_disk)
        self._purger = Periodic("acd-recording-purge", PURGE_EVERY, self._purge)

    # -- disk and retention ------------------------------------------------------

    async def check_disk(self) -> None:
        """Raise the alarm when the recordings disk runs low; clear it when there is room."""
        free = await asyncio.to_thread(self._free_bytes, self._settings.dir)
        self.free_bytes = free
        full = disk_full(free, self._rules)
        if full == self.disk_full:
            return
        self.disk_full = full
        self._on_disk_full(full)
        now = self._clock()
        details = {"free_mb": free // (1024 * 1024), "dir": str(self._settings.dir)}
        if full:
            log.error("recording_disk_full", **details)
            self._alarms[DISK_ALARM] = {"since": now, **details}
            self._bus.publish("alarm", now, alarm=DISK_ALARM, raised=True, **details)
        else:
            log.warning("recording_disk_ok", **details)
            self._alarms.pop(DISK_ALARM, None)
            self._bus.publish("alarm", now, alarm=DISK_ALARM, raised=False, **details)

    async def purge(self) -> list[str]:
        """Delete recordings past retention, except those an open follow-up still needs."""
        keep_days = self._settings.keep_days
        if keep_days <= 0:
            return []
        now = self._clock()
        rows = await self.store.older_than(now - keep_days * DAY)
        held = await self._follow_ups.held_calls([r.call_id for r in rows])
        paths = {r.call_id: Path(r.path) for r in rows}
        purged = to_purge([Kept(r.call_id, r.started_at) for r in rows], now, keep_days, held)
        for call_id in purged:
            await asyncio.to_thread(paths[call_id].unlink, missing_ok=True)
            await self.store.mark_purged(call_id, now)
        if purged or held:
            log.info("recordings_purged", purged=len(purged), kept_for_follow_up=len(held))
        return purged

    async def start(self) -> None:
        await self._disk_check.start()
        await self._purger.start()

    async def stop(self) -> None:
        await self._purger.stop()
        await self._disk_check.stop()

    async def _purge(self) -> None:
        await self.purge()

    # -- access ------------------------------------------------------------------

    def _may_hear(self, user: User, row: RecordingRow) -> bool:
        if may_supervise(user):  # their team's calls (admins: all)
            return may_act_on_agent(user, row.agent, self._team_of(row.agent))
        return self._settings.agents_hear_own and row.agent == user.job_number

    async def listing(
        self,
        user: User,
        day: date | None,
        agent: str | None,
        line: str | None,
        caller: str | None = None,
    ) -> list[dict[str, Any]]:
        """Recordings of one local day (default today), newest first."""
        day = day or datetime.fromtimestamp(self._clock(), self._zone).date()
        since, until, _ = period_bounds("day", day, self._zone)
        if not may_supervise(user):
            if not self._settings.agents_hear_own:
                raise RecordingDenied(
                    f"{user.role.value} {user.job_number} may not list recordings"
                )
            agent = user.job_number
        rows = await self.store.listing(since, until, agent=agent, line=line, caller=caller)
        return [recording_json(r) for r in rows if self._may_hear(user, r)]

    async def details(self, user: User, call_id: str) -> dict[str, Any]:
        return recording_json(await self._allowed(user, call_id))

    async def open(self, user: User, call_id: str, *, download: bool) -> Path:
        """The file to play or download, after writing who asked to the audit log."""
        row = await self._allowed(user, call_id)
        if row.purged_at is not None:
            raise RecordingGone(f"the recording of {call_id} was purged (retention)")
        path = Path(row.path)
        if not await asyncio.to_thread(path.is_file):
            raise RecordingGone(f"the recording file of {call_id} is missing")
        action = "recording_downloaded" if download else "recording_played"
        await self._users.audit(self._clock(), user.job_number, action, call_id, agent=row.agent)
        log.info(action, call_id=call_id, by=user.job_number)
        return path

    async def _allowed(self, user: User, call_id: str) -> RecordingRow:
        row = await self.store.get(call_id)
        if row is None:
            raise NoSuchRecording(f"no recording of call {call_id}")
        if not self._may_hear(user, row):
            raise RecordingDenied(f"{user.role.value} {user.job_number} may not hear {call_id}")
        return row


def _free_bytes(directory: Path) -> int:
    """Free space where recordings go (the nearest existing folder if not made yet)."""
    path = directory.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def recording_json(row: RecordingRow) -> dict[str, Any]:
    return {
        "call_id": row.call_id,
        "line": row.line,
        "agent": row.agent,
        "caller": row.caller,
        "started_at": row.started_at,
        "duration_s": round(row.duration, 1) if row.duration is not None else None,
        "size": row.size,
        "sha256": row.checksum,
        "complete": row.complete,
        "purged_at": row.purged_at,
        "audio": None if row.purged_at else f"/api/v1/recordings/{row.call_id}/audio",
    }
