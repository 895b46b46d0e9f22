"""Carries out the core's commands on Asterisk with AMI actions, and reports each outcome.

The caller waits in the ``acd-wait`` context (music on hold) the whole time;
the engine only rings agents (Originate into ``acd-agent``), redirects the
caller to hear announcements, and finally to ``acd-wait,connect`` where the
caller hears "agent 1001 at your service" and is bridged to the agent.

Every command comes back to the core as ``CommandDone`` or ``CommandFailed``
(refused, no answer in time, or the link down): the core repairs, nothing
here assumes an action worked.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import assert_never

import structlog

from acd.ami import actions
from acd.ami.calls import WAIT_CONTEXT, CallActions
from acd.ami.connection import AmiConnection
from acd.ami.errors import (
    AmiActionFailed,
    AmiDisconnected,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
)
from acd.ami.recorder import Recorder
from acd.core.calls import AgentLeg, CallBook, SpySession
from acd.core.channels import ChannelRegistry
from acd.core.commands import (
    AnnouncePosition,
    Command,
    CommandDone,
    CommandFailed,
    CommandOutcome,
    ConnectCall,
    DialCallback,
    DialOut,
    Failure,
    RingAgent,
    StopRinging,
    TellAgent,
    TransferCall,
)
from acd.prompts import PromptLibrary
from ivr.speech import job_number_greeting, position_announcement

log = structlog.get_logger("acd.executor")

__all__ = ["WAIT_CONTEXT", "AmiExecutor"]


class AmiExecutor(CallActions):
    """The one place that sends AMI actions about calls: the core's commands and call control."""

    def __init__(
        self,
        ami: AmiConnection,
        channels: ChannelRegistry,
        book: CallBook,
        prompts: PromptLibrary,
        line_prompts: dict[str, str],
        default_language: str,
        recorder: Recorder,
    ) -> None:
        super().__init__(ami, channels, book)
        self._prompts = prompts
        self._line_prompts = line_prompts
        self._language = default_language
        self.recorder = recorder

    async def execute(self, command: Command) -> CommandOutcome:
        """Carry a command out; whether Asterisk did, as a fact for the core.

        Every action a command needs is checked: a refusal, a timeout or a
        link that drops before Asterisk answered makes the command fail.
        """
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
            failure = _failure(exc)
            name = type(command).__name__
            ids = _ids(command)
            log.warning("command_failed", command=name, failure=failure, error=str(exc), **ids)
            return CommandFailed(command, failure, str(exc))
        return CommandDone(command)

    async def _ring(self, c: RingAgent) -> None:
        info = self._book.calls.get(c.call_id)
        leg = AgentLeg(f"acd-{uuid.uuid4().hex}", c.call_id, c.job_number)
        self._book.legs[leg.leg_id] = leg
        whisper = self._prompts.files(self._language, [self._line_prompts.get(c.line, "")])
        number = c.callback_number or (info.caller_number if info else "")
        name = "" if c.callback_number else (info.caller_name if info else "")
        log.info("ring_agent", call_id=c.call_id, agent=c.job_number, line=c.line, leg=leg.leg_id)
        ring = actions.originate(
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
        await self._originate_leg(leg.leg_id, ring)

    async def _originate_leg(self, leg_id: str, fields: actions.Fields) -> None:
        """Originate an agent's leg; on failure the book forgets it."""
        try:
            await self._ami.originate(fields)
        except AmiError as exc:
            self._book.legs.pop(leg_id, None)
            if not isinstance(exc, AmiNotConnected | AmiActionFailed):
                # Asterisk may have taken it before the link died: if the leg shows
                # up (now or in the next resync), it is hung up, never left ringing.
                self._book.cancelled.add(leg_id)
            raise

    async def _stop_ringing(self, c: StopRinging) -> None:
        leg = self._book.leg_for(c.call_id, c.job_number)
        if leg is None:
            return
        log.info("stop_ringing", call_id=c.call_id, agent=c.job_number, leg=leg.leg_id)
        if leg.leg_id not in self._channels:
            # Its Newchannel has not come yet: hang it up when it does (and try now,
            # in case the event is only late).
            self._book.cancelled.add(leg.leg_id)
        try:
            await self._hangup(leg.leg_id)
        except AmiActionFailed as exc:
            log.info("leg_already_gone", leg=leg.leg_id, error=str(exc))
        except AmiError:
            self._book.cancelled.add(leg.leg_id)  # hung up at the resync, when the link is back
            raise

    async def _connect(self, c: ConnectCall) -> None:
        info = self._book.calls.get(c.call_id)
        leg = self._book.leg_for(c.call_id, c.job_number)
        agent_channel = self._channels.get(leg.leg_id) if leg else None
        if info is None or leg is None or agent_channel is None:
            raise AmiActionFailed(f"call {c.call_id} or agent {c.job_number}'s leg is gone")
        greeting = self._prompts.files(info.language, job_number_greeting(c.job_number))
        await self._setvar(c.call_id, "ACD_GREETING", greeting)
        await self._setvar(c.call_id, "ACD_AGENT_CHANNEL", agent_channel.name)
        await self._setvar(c.call_id, "ACD_AGENT", c.job_number)
        # The dialplan starts the recording as the caller is put through.
        recording = await self.recorder.prepare_on_connect(info)
        try:
            await self._redirect(c.call_id, "connect")
        except AmiError:
            if recording is not None:
                await self.recorder.unprepare(info)
            raise
        if recording is not None:
            self.recorder.started(info, recording)
        log.info("connect", call_id=c.call_id, agent=c.job_number, agent_channel=agent_channel.name)

    async def _dial_out(self, c: DialOut) -> None:
        """Ring the agent's phone (showing the number); on answer it dials the number."""
        self._book.legs[c.call_id] = AgentLeg(c.call_id, c.call_id, c.job_number, True, True)
        log.info("dial_out", agent=c.job_number, number=c.number, leg=c.call_id)
        dial = actions.originate(
            c.endpoint,
            "acd-outbound",
            c.number,
            channel_id=c.call_id,
            caller_id=f'"Calling {c.number}" <{c.number}>',
            timeout_ms=30000,
            variables=[f"ACD_AGENT={c.job_number}"],
        )
        await self._originate_leg(c.call_id, dial)

    async def _transfer(self, c: TransferCall) -> None:
        """The caller leaves the bridge for the music again; the old agent's leg ends."""
        info = self._book.calls.get(c.call_id)
        held = info is not None and info.held_before_transfer
        try:
            # Off hold (if it was) with the new agent: when that call ends the caller
            # is asked for a rating, not sent back to the music.
            await self._setvar(c.call_id, "ACD_HELD", "")
            await self._setvar(c.call_id, "ACD_LINE", c.line)
            await self._setvar(c.call_id, "ACD_TRANSFERRED_FROM", c.from_agent)
            await self._redirect(c.call_id, "s")
        except AmiError:
            if held and info is not None:  # still on hold with the first agent
                info.held = True
                with contextlib.suppress(AmiError):
                    await self._setvar(c.call_id, "ACD_HELD", "1")
            raise
        if info is not None:
            info.line = c.line
            info.held_before_transfer = False
        # Bridged, the old agent's leg ends with the bridge; transferred during the
        # greeting it was never bridged and would wait on a dead call: end it.
        leg = self._book.leg_for(c.call_id, c.from_agent)
        if leg is not None:
            await self.hang_up_leg(leg.leg_id)
        log.info("transfer", call_id=c.call_id, agent=c.from_agent, line=c.line, to=c.to_agent)

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
            raise AmiActionFailed(f"agent {c.job_number}'s leg for {c.request_id} is gone")
        log.info("dial_callback", request=c.request_id, agent=c.job_number, number=c.number)
        await self._redirect(leg.leg_id, c.number, context="acd-outbound")

    # -- supervisor and agent call control (asked for through the API) --------

    async def spy(self, supervisor: str, endpoint: str, agent: str, mode: str) -> SpySession:
        """Ring the supervisor's phone into the agent's call, or switch the mode."""
        target = self.agent_channel(agent)
        if target is None:
            raise AmiActionFailed(f"agent {agent} has no call to join")
        current = self._book.spies.get(supervisor)
        if current is not None and current.leg_id in self._channels and current.agent == agent:
            await self._setvar(current.leg_id, "ACD_SPY_TARGET", target.name)
            await self._redirect(current.leg_id, mode, context="acd-spy")
            current.mode = mode
            return current
        session = SpySession(f"acd-{uuid.uuid4().hex}", supervisor, agent, mode)
        self._book.spies[supervisor] = session
        try:
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
        except AmiError:
            self._book.spies.pop(supervisor, None)
            raise
        return session

    async def stop_spying(self, supervisor: str) -> bool:
        session = self._book.spies.pop(supervisor, None)
        if session is None:
            return False
        await self.hang_up_leg(session.leg_id, known=False)
        return True

    async def hold(self, call_id: str, job_number: str) -> None:
        """The caller hears music; the agent's leg leaves the bridge and waits."""
        channel = self.agent_channel(job_number)
        if channel is None:
            raise AmiActionFailed(f"agent {job_number} has no call to hold")
        await self._setvar(call_id, "ACD_HELD", "1")
        try:
            await self._redirect(channel.uniqueid, "held", context="acd-agent")
        except AmiError:
            # Not on hold after all: when the call ends the caller gets the survey.
            with contextlib.suppress(AmiError):
                await self._setvar(call_id, "ACD_HELD", "")
            raise

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

    async def hang_up_unknown_leg(self, uniqueid: str) -> None:
        """A leg rung by an engine that has since restarted: nobody waits for it."""
        try:
            await self._hangup(uniqueid)
        except AmiError as exc:
            log.info("unknown_leg_hangup_failed", leg=uniqueid, error=str(exc))


def _failure(exc: AmiError) -> Failure:
    """What kind of failure an AMI error is, for the core's repair."""
    if isinstance(exc, AmiActionFailed):
        return Failure.REFUSED
    if isinstance(exc, AmiTimeout):
        return Failure.TIMEOUT
    if isinstance(exc, AmiNotConnected | AmiDisconnected):
        return Failure.LINK_DOWN
    return Failure.LINK_DOWN  # any other AMI error: the link is not usable


def _ids(command: Command) -> dict[str, str]:
    """The ids a log line about a command carries."""
    match command:
        case DialCallback():
            return {"call_id": command.request_id, "agent": command.job_number}
        case TellAgent():
            return {"agent": command.job_number}
        case AnnouncePosition():
            return {"call_id": command.call_id}
        case TransferCall():
            return {"call_id": command.call_id, "agent": command.from_agent}
        case _:
            return {"call_id": command.call_id, "agent": command.job_number}
