"""Carries out the core's commands on Asterisk with AMI actions.

The caller waits in the ``acd-wait`` context (music on hold) the whole time;
the engine only rings agents (Originate into ``acd-agent``), redirects the
caller to hear announcements, and finally to ``acd-wait,connect`` where the
caller hears "agent 1001 at your service" and is bridged to the agent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import assert_never

import structlog

from acd.ami import actions
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiActionFailed, AmiError
from acd.core.calls import AgentLeg, CallBook, CallInfo, SpySession
from acd.core.channels import Channel, ChannelRegistry
from acd.core.commands import (
    AnnouncePosition,
    Command,
    ConnectCall,
    DialCallback,
    DialOut,
    RingAgent,
    StopRinging,
    TellAgent,
    TransferCall,
)
from acd.prompts import PromptLibrary
from acd.settings import RecordingSettings
from ivr.speech import job_number_greeting, position_announcement
from recording.policy import record_on_connect

RecordingStarted = Callable[[CallInfo], None]


class RecordingDisk:
    """Whether the recordings disk is full (set by the disk check; no recording starts then)."""

    def __init__(self) -> None:
        self.full = False

    def set_full(self, full: bool) -> None:
        """The disk check's verdict."""
        self.full = full


log = structlog.get_logger("acd.executor")

WAIT_CONTEXT = "acd-wait"  # where callers wait (music), hear announcements and are bridged


class AmiExecutor:
    """The one place that sends AMI actions about calls: the core's commands and call control."""

    def __init__(
        self,
        ami: AmiConnection,
        channels: ChannelRegistry,
        book: CallBook,
        prompts: PromptLibrary,
        line_prompts: dict[str, str],
        default_language: str,
        *,
        recording: RecordingSettings | None,
        disk: RecordingDisk,
        recording_started: RecordingStarted,
        local_date: Callable[[], date],
    ) -> None:
        self._ami = ami
        self._channels = channels
        self._book = book
        self._prompts = prompts
        self._line_prompts = line_prompts
        self._language = default_language
        self._recording = recording
        self._disk = disk
        self._recording_started = recording_started
        self._local_date = local_date  # recordings are filed by the centre's day

    async def execute(self, command: Command) -> None:
        try:
            match command:
                case RingAgent():
                    await self._ring(command)
                case StopRinging():
                    await self._stop_ringing(command)
                case ConnectCall():
                    await self._connect(command)
                case AnnouncePosition():
                    await self._announce(command)
                case DialCallback():
                    await self._dial_callback(command)
                case DialOut():
                    await self._dial_out(command)
                case TransferCall():
                    await self._transfer(command)
                case TellAgent():
                    log.info("tell_agent", agent=command.job_number, message=command.message)
                case _:
                    assert_never(command)
        except AmiError as exc:
            log.warning("command_failed", command=type(command).__name__, error=str(exc))

    async def _ring(self, c: RingAgent) -> None:
        info = self._book.calls.get(c.call_id)
        leg = AgentLeg(f"acd-{uuid.uuid4().hex}", c.call_id, c.job_number)
        self._book.legs[leg.leg_id] = leg
        agent_language = self._language
        whisper = self._prompts.files(agent_language, [self._line_prompts.get(c.line, "")])
        number = c.callback_number or (info.caller_number if info else "")
        name = "" if c.callback_number else (info.caller_name if info else "")
        log.info("ring_agent", call_id=c.call_id, agent=c.job_number, line=c.line, leg=leg.leg_id)
        await self._ami.originate(
            actions.originate(
                c.endpoint,
                "acd-agent",
                "answered",
                channel_id=leg.leg_id,
                caller_id=f'"{name or number}" <{number}>',
                # Asterisk gives up a little after the core's own ring timeout.
                timeout_ms=int((c.timeout + 5) * 1000),
                variables=[
                    f"ACD_CALL_ID={c.call_id}",
                    f"ACD_AGENT={c.job_number}",
                    f"ACD_LEG={leg.leg_id}",
                    f"ACD_WHISPER={whisper}",
                ],
            )
        )

    async def _stop_ringing(self, c: StopRinging) -> None:
        leg = self._book.leg_for(c.call_id, c.job_number)
        if leg is None:
            return
        log.info("stop_ringing", call_id=c.call_id, agent=c.job_number, leg=leg.leg_id)
        if leg.leg_id not in self._channels:
            # Its Newchannel has not come yet: hang it up when it does (and try now,
            # in case the event is only late).
            self._book.cancelled.add(leg.leg_id)
            await self.hang_up_leg(leg.leg_id, known=False)
            return
        await self._hangup(leg.leg_id)

    async def _connect(self, c: ConnectCall) -> None:
        info = self._book.calls.get(c.call_id)
        leg = self._book.leg_for(c.call_id, c.job_number)
        agent_channel = self._channels.get(leg.leg_id) if leg else None
        if info is None or leg is None or agent_channel is None:
            log.warning("connect_without_channels", call_id=c.call_id, agent=c.job_number)
            return
        greeting = self._prompts.files(info.language, job_number_greeting(c.job_number))
        await self._setvar(c.call_id, "ACD_GREETING", greeting)
        await self._setvar(c.call_id, "ACD_AGENT_CHANNEL", agent_channel.name)
        await self._setvar(c.call_id, "ACD_AGENT", c.job_number)
        await self._start_recording(info)  # the dialplan starts it as the caller is put through
        await self._redirect(c.call_id, "connect")
        log.info("connect", call_id=c.call_id, agent=c.job_number, agent_channel=agent_channel.name)

    async def _dial_out(self, c: DialOut) -> None:
        """Ring the agent's phone (showing the number); on answer it dials the number."""
        self._book.legs[c.call_id] = AgentLeg(c.call_id, c.call_id, c.job_number, True, True)
        log.info("dial_out", agent=c.job_number, number=c.number, leg=c.call_id)
        await self._ami.originate(
            actions.originate(
                c.endpoint,
                "acd-outbound",
                c.number,
                channel_id=c.call_id,
                caller_id=f'"Calling {c.number}" <{c.number}>',
                timeout_ms=30000,
                variables=[f"ACD_AGENT={c.job_number}"],
            )
        )

    async def _transfer(self, c: TransferCall) -> None:
        """The caller leaves the bridge for the music again; the old agent's leg ends."""
        info = self._book.calls.get(c.call_id)
        if info is not None:
            info.line = c.line
        # Off hold (if it was) with the new agent: when that call ends the caller is
        # asked for a rating, not sent back to the music.
        await self._setvar(c.call_id, "ACD_HELD", "")
        await self._setvar(c.call_id, "ACD_LINE", c.line)
        await self._setvar(c.call_id, "ACD_TRANSFERRED_FROM", c.from_agent)
        await self._redirect(c.call_id, "s")
        # Bridged, the old agent's leg ends with the bridge; transferred during the
        # greeting it was never bridged and would wait on a dead call: end it.
        leg = self._book.leg_for(c.call_id, c.from_agent)
        if leg is not None:
            await self.hang_up_leg(leg.leg_id)
        log.info("transfer", call_id=c.call_id, agent=c.from_agent, line=c.line, to=c.to_agent)

    async def _start_recording(self, info: CallInfo) -> None:
        """MixMonitor on the caller's channel when the line records every call."""
        r = self._recording
        if r is not None and record_on_connect(r.policy_for(info.line)):
            await self.start_recording(info)

    async def start_recording(self, info: CallInfo, job_number: str | None = None) -> bool:
        """MixMonitor on the caller's channel: both sides, to the end, across transfers.

        The dialplan starts it (the engine's AMI user has no "system" rights):
        on connect (``job_number`` None) as the caller is put through; during a
        call (the agent asked) by taking the agent's leg out of the bridge for a
        moment, so the caller's dialplan starts it and bridges them again.

        One file per interaction: a call already recorded (e.g. transferred to
        another agent) keeps its recording. With the disk full nothing starts;
        the call goes on and the disk check has raised the alarm.
        """
        r = self._recording
        if r is None or info.recording is not None:
            return False
        if self._disk.full:
            log.error("recording_skipped_disk_full", call_id=info.call_id, line=info.line)
            return False
        relative = f"{self._local_date().isoformat()}/{info.call_id}.wav"
        target = f"{(r.asterisk_dir or str(r.dir)).rstrip('/')}/{relative}"
        if not await self._ok(actions.setvar(info.call_id, "ACD_RECORD_FILE", target)):
            return False
        if job_number is not None and not await self._record_now(info, job_number):
            await self._ok(actions.setvar(info.call_id, "ACD_RECORD_FILE", ""))
            return False
        info.recording = r.dir / relative
        self._recording_started(info)
        return True

    async def _record_now(self, info: CallInfo, job_number: str) -> bool:
        """Let the caller's dialplan start the recording now (a moment out of the bridge)."""
        if info.held:  # the caller hears music in the dialplan: record, then music again
            return await self._ok(actions.redirect(info.call_id, WAIT_CONTEXT, "record-held"))
        agent = self.agent_channel(job_number)
        if agent is None:
            return False
        return await self._ok(actions.redirect(agent.uniqueid, "acd-agent", "held"))

    async def _ok(self, fields: actions.Fields) -> bool:
        """Send an action; whether Asterisk carried it out (its refusal is logged)."""
        response = await self._ami.send_action(fields)
        if not response.success:
            log.error("action_refused", action=fields.get("Action"), error=response.get("Message"))
        return bool(response.success)

    async def mute_recording(self, info: CallInfo, muted: bool) -> None:
        """Pause (silence in the file, so its length still matches the call) or resume."""
        response = await self._ami.send_action(actions.mixmonitor_mute(info.call_id, muted))
        if not response.success:
            raise AmiActionFailed(f"MixMonitorMute: {response.get('Message', 'refused')}")
        info.recording_paused = muted

    async def _announce(self, c: AnnouncePosition) -> None:
        info = self._book.calls.get(c.call_id)
        if info is None:
            return
        files = self._prompts.files(info.language, position_announcement(c.position))
        await self._setvar(c.call_id, "ACD_ANNOUNCE", files)
        await self._setvar(c.call_id, "ACD_POSITION", str(c.position))
        await self._redirect(c.call_id, "announce")

    async def _dial_callback(self, c: DialCallback) -> None:
        leg = self._book.leg_for(c.request_id, c.job_number)
        if leg is None:
            return
        log.info("dial_callback", request=c.request_id, agent=c.job_number, number=c.number)
        await self._ami.send_action(actions.redirect(leg.leg_id, "acd-outbound", c.number))

    # -- supervisor and agent call control (asked for through the API) --------

    def agent_channel(self, job_number: str) -> Channel | None:
        """The live channel of an agent's answered leg, if any."""
        for leg in self._book.legs.values():
            if leg.job_number == job_number and leg.answered:
                channel = self._channels.get(leg.leg_id)
                if channel is not None:
                    return channel
        return None

    async def spy(self, supervisor: str, endpoint: str, agent: str, mode: str) -> SpySession:
        """Ring the supervisor's phone into the agent's call, or switch the mode."""
        target = self.agent_channel(agent)
        if target is None:
            raise AmiActionFailed(f"agent {agent} has no call to join")
        current = self._book.spies.get(supervisor)
        if current is not None and current.leg_id in self._channels and current.agent == agent:
            await self._setvar(current.leg_id, "ACD_SPY_TARGET", target.name)
            await self._ami.send_action(actions.redirect(current.leg_id, "acd-spy", mode))
            current.mode = mode
            return current
        session = SpySession(f"acd-{uuid.uuid4().hex}", supervisor, agent, mode)
        self._book.spies[supervisor] = session
        await self._ami.originate(
            actions.originate(
                endpoint,
                "acd-spy",
                mode,
                channel_id=session.leg_id,
                caller_id=f'"{mode} {agent}" <{agent}>',
                timeout_ms=30000,
                variables=[f"ACD_SPY_TARGET={target.name}"],
            )
        )
        return session

    async def stop_spying(self, supervisor: str) -> bool:
        session = self._book.spies.pop(supervisor, None)
        if session is None:
            return False
        await self._hangup(session.leg_id)
        return True

    async def hold(self, call_id: str, job_number: str) -> None:
        """The caller hears music; the agent's leg leaves the bridge and waits."""
        channel = self.agent_channel(job_number)
        if channel is None:
            raise AmiActionFailed(f"agent {job_number} has no call to hold")
        await self._setvar(call_id, "ACD_HELD", "1")
        await self._ami.send_action(actions.redirect(channel.uniqueid, "acd-agent", "held"))

    async def unhold(self, call_id: str) -> None:
        """The caller rejoins the agent (the bridge is made again)."""
        await self._redirect(call_id, "rejoin")

    async def hang_up_call(self, call_id: str) -> None:
        """End a caller's call (force hang-up); the agent's leg follows."""
        await self._hangup(call_id)

    async def hang_up_agent(self, job_number: str) -> bool:
        channel = self.agent_channel(job_number)
        if channel is None:
            return False
        await self._hangup(channel.uniqueid)
        return True

    async def hang_up_leg(self, leg_id: str, *, known: bool = True) -> None:
        """End an agent's leg if it is still up (gone already is fine).

        ``known=False`` tries even when the engine has not seen the channel yet.
        """
        if known and leg_id not in self._channels:
            return
        try:
            await self._hangup(leg_id)
        except AmiActionFailed as exc:
            log.info("leg_already_gone", leg=leg_id, error=str(exc))
        except AmiError as exc:  # AMI down: the leg ends by itself (acd-agent waits 30 s)
            log.warning("leg_hangup_failed", leg=leg_id, error=str(exc))

    async def hang_up_unknown_leg(self, uniqueid: str) -> None:
        """A leg rung by an engine that has since restarted: nobody waits for it."""
        try:
            await self._hangup(uniqueid)
        except AmiError as exc:
            log.info("unknown_leg_hangup_failed", leg=uniqueid, error=str(exc))

    async def getvar(self, channel: str, name: str) -> str:
        """A channel variable's value ("" when unset)."""
        response = await self._ami.send_action(actions.getvar(channel, name))
        return str(response.get("Value", ""))

    async def _hangup(self, channel: str) -> None:
        await self._ami.send_action(actions.hangup(channel))

    async def _setvar(self, channel: str, name: str, value: str) -> None:
        await self._ami.send_action(actions.setvar(channel, name, value))

    async def _redirect(self, channel: str, exten: str) -> None:
        """The caller to another step of the waiting context (announce, connect, rejoin...)."""
        await self._ami.send_action(actions.redirect(channel, WAIT_CONTEXT, exten))
