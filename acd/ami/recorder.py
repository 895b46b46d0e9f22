"""Recording a call with MixMonitor, started by the dialplan, paused and resumed over AMI.

The engine's AMI user has no "system" rights, so it never runs MixMonitor
itself: it tells the caller's channel which file to record to
(``ACD_RECORD_FILE``) and the dialplan starts it, on connect as the caller is
put through, or during a call when the agent asks (a moment out of the bridge).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import structlog

from acd.ami import actions
from acd.ami.calls import CallActions
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiActionFailed, AmiError
from acd.core.calls import CallBook, CallInfo
from acd.core.channels import ChannelRegistry
from acd.settings import RecordingSettings
from recording.policy import record_on_connect

log = structlog.get_logger("acd.recorder")

RecordingStarted = Callable[[CallInfo, str], None]  # the call, its agent
RecordingEnded = Callable[[str, bool], None]  # the call id, whether Asterisk finished the file


class RecordingDisk:
    """Whether the recordings disk is full (set by the disk check; no recording starts then)."""

    def __init__(self) -> None:
        self.full = False

    def set_full(self, full: bool) -> None:
        """The disk check's verdict."""
        self.full = full


class Recorder(CallActions):
    """Starts, pauses and resumes calls' recordings; one file per call, across transfers."""

    def __init__(
        self,
        ami: AmiConnection,
        channels: ChannelRegistry,
        book: CallBook,
        *,
        recording: RecordingSettings | None,
        disk: RecordingDisk,
        recording_started: RecordingStarted,
        recording_ended: RecordingEnded,
        local_date: Callable[[], date],
    ) -> None:
        super().__init__(ami, channels, book)
        self._recording = recording
        self._disk = disk
        self._recording_started = recording_started
        self._recording_ended = recording_ended
        self._local_date = local_date  # recordings are filed by the centre's day

    async def prepare_on_connect(self, info: CallInfo) -> Path | None:
        """On a line that records every call: the file the dialplan records to on connect."""
        r = self._recording
        if r is None or not record_on_connect(r.policy_for(info.line)):
            return None
        return await self._prepare(info)

    def started(self, info: CallInfo, path: Path, agent: str) -> None:
        """The caller was put through with a recording prepared: it runs; store its row."""
        info.recording = path
        self._recording_started(info, agent)

    def ended(self, call_id: str) -> None:
        """The call of a recording just started had already ended: finish the file."""
        self._recording_ended(call_id, True)

    def local_path(self, asterisk_path: str) -> Path | None:
        """Where acd finds a recording that Asterisk writes at ``asterisk_path`` (None if none)."""
        r = self._recording
        if r is None or not asterisk_path:
            return None
        base = (r.asterisk_dir or str(r.dir)).rstrip("/") + "/"
        if not asterisk_path.startswith(base):
            return None
        return r.dir / asterisk_path[len(base) :]

    async def unprepare(self, info: CallInfo) -> None:
        """The caller was not put through: no recording is left waiting on the channel."""
        with contextlib.suppress(AmiError):
            await self._setvar(info.call_id, "ACD_RECORD_FILE", "")

    async def start_now(self, info: CallInfo, job_number: str) -> bool:
        """The agent asked to record their call (an on-demand line): start it now.

        False when nothing started (already recorded, the disk full, Asterisk
        refused); the call goes on either way.
        """
        try:
            path = await self._prepare(info)
            if path is None:
                return False
            await self._record_now(info, job_number)
        except AmiActionFailed as exc:
            log.error("recording_not_started", call_id=info.call_id, error=str(exc))
            await self.unprepare(info)
            return False
        except AmiError:  # AMI down: the API says so
            await self.unprepare(info)
            raise
        self.started(info, path, job_number)
        return True

    async def mute(self, info: CallInfo, muted: bool) -> None:
        """Pause (silence in the file, so its length still matches the call) or resume."""
        response = await self._ami.send_action(actions.mixmonitor_mute(info.call_id, muted))
        if not response.success:
            raise AmiActionFailed(f"MixMonitorMute: {response.get('Message', 'refused')}")
        info.recording_paused = muted

    async def _prepare(self, info: CallInfo) -> Path | None:
        """Tell the caller's channel where to record; None if nothing may start.

        One file per interaction: a call already recorded (e.g. transferred to
        another agent) keeps its recording. With the disk full nothing starts;
        the call goes on and the disk check has raised the alarm.
        """
        r = self._recording
        if r is None or info.recording is not None:
            return None
        if self._disk.full:
            log.error("recording_skipped_disk_full", call_id=info.call_id, line=info.line)
            return None
        relative = f"{self._local_date().isoformat()}/{info.call_id}.wav"
        target = f"{(r.asterisk_dir or str(r.dir)).rstrip('/')}/{relative}"
        await self._setvar(info.call_id, "ACD_RECORD_FILE", target)
        return r.dir / relative

    async def _record_now(self, info: CallInfo, job_number: str) -> None:
        """Let the caller's dialplan start the recording now (a moment out of the bridge)."""
        if info.held:  # the caller hears music in the dialplan: record, then music again
            await self._redirect(info.call_id, "record-held")
            return
        agent = self.agent_channel(job_number)
        if agent is None:
            raise AmiActionFailed(f"agent {job_number} has no call to record")
        await self._redirect(agent.uniqueid, "held", context="acd-agent")
