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
from dataclasses import dataclass
from typing import assert_never

import structlog

from acd.ami import actions
from acd.ami.call_control import AmiCallControl
from acd.ami.calls import WAIT_CONTEXT
from acd.ami.connection import AmiConnection
from acd.ami.errors import (
    AmiActionFailed,
    AmiDisconnected,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
)
from acd.ami.recorder import Recorder
from acd.core.calls import AgentLeg, CallBook
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

__all__ = ["WAIT_CONTEXT", "AmiExecutor", "Uncertain"]


@dataclass(frozen=True, slots=True)
class Uncertain:
    """An action went out but no answer came (timeout, or the link died first).

    Asterisk may have carried it out. The pipeline asks Asterisk (``verify``)
    once it can, and only then tells the core what happened.
    """

    command: Command
    failure: Failure
    detail: str


class AmiExecutor(AmiCallControl):
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

    async def execute(self, command: Command) -> CommandOutcome | Uncertain:
        """Carry a command out; whether Asterisk did, as a fact for the core.

        Every action a command needs is checked: a refusal or a link that was
        down makes the command fail; a channel already gone makes it "gone";
        an action that went out unanswered is ``Uncertain`` until verified.
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
            if failure is Failure.REFUSED and self._gone(command):
                failure = Failure.GONE
            name = type(command).__name__
            ids = _ids(command)
            log.warning("command_failed", command=name, failure=failure, error=str(exc), **ids)
            if _maybe_done(exc) and isinstance(command, VERIFIABLE):
                return Uncertain(command, failure, str(exc))
            self._forget(command)
            return CommandFailed(command, failure, str(exc))
        except Exception as exc:  # a bug: the core still hears of it, nothing is left hanging
            log.exception("command_crashed", command=type(command).__name__, **_ids(command))
            self._forget(command)
            return CommandFailed(command, Failure.REFUSED, f"crashed: {exc!r}")
        return CommandDone(command)

    async def verify(self, command: Command) -> bool:
        """Ask Asterisk whether an ``Uncertain`` command was carried out (AmiError if it cannot).

        Each step the dialplan reaches leaves a mark on the channel: ``ACD_NEXT``
        (put through), ``ACD_WAITING`` (back in the music), ``ACD_OUTBOUND``
        (dialling out); a rung leg exists as a channel.
        """
        match command:
            case ConnectCall():
                done = await self._read(command.call_id, "ACD_NEXT") == "connected"
                await self._recording_after(command.call_id, done)
            case TransferCall():
                done = await self._read(command.call_id, "ACD_WAITING") == "1"
                info = self._book.calls.get(command.call_id)
                if done and info is not None:
                    info.line, info.held_before_transfer = command.line, False
                elif info is not None:
                    await self._still_held(command.call_id, info.held_before_transfer)
            case DialCallback():
                leg = self._book.leg_for(command.request_id, command.job_number)
                done = leg is not None and (
                    await self._read(leg.leg_id, "ACD_OUTBOUND") == command.number
                )
            case RingAgent():
                leg = self._book.leg_for(command.call_id, command.job_number)
                done = leg is not None and await self._read(leg.leg_id, "ACD_AGENT") != ""
            case DialOut():
                done = await self._read(command.call_id, "ACD_AGENT") != ""
            case _:
                done = False
        if not done:
            self._forget(command)
        return done

    async def _recording_after(self, call_id: str, put_through: bool) -> None:
        """A connect found done keeps the recording its dialplan started; one not done
        leaves no file name on the channel for a later connect to record into."""
        info = self._book.calls.get(call_id)
        if info is None:
            return
        if not put_through:
            await self.recorder.unprepare(info)
            return
        if info.recording is None:
            path = self.recorder.local_path(await self._read(call_id, "ACD_RECORDING"))
            if path is not None:
                self.recorder.started(info, path, "")  # (its agent: the connected call's)

    async def _still_held(self, call_id: str, held: bool) -> None:
        """A transfer that did not happen: a caller on hold is still on hold with the agent."""
        info = self._book.calls.get(call_id)
        if info is None:
            return
        info.held_before_transfer = False
        if held:
            info.held = True
            with contextlib.suppress(AmiError):
                await self._setvar(call_id, "ACD_HELD", "1")

    async def _read(self, channel: str, name: str) -> str:
        """A channel variable ("" if unset or the channel is gone); AmiError if no answer."""
        response = await self._ami.send_action(actions.getvar(channel, name))
        return str(response.get("Value") or "") if response.success else ""

    def _gone(self, command: Command) -> bool:
        """Whether the channel the command was about has hung up (as the engine saw it)."""
        match command:
            case ConnectCall() | TransferCall() | AnnouncePosition():
                return command.call_id not in self._channels
            case _:
                return False

    def _forget(self, command: Command) -> None:
        """A ring or dial-out that did not happen: the book forgets its leg.

        If Asterisk made it after all, the leg is hung up when it shows up
        (``cancelled``: at its Newchannel, or at the next resync).
        """
        match command:
            case RingAgent():
                leg = self._book.leg_for(command.call_id, command.job_number)
                leg_id = leg.leg_id if leg is not None else None
            case DialOut():
                leg_id = command.call_id
            case _:
                return
        if leg_id is not None and self._book.legs.pop(leg_id, None) is not None:
            self._book.cancelled.add(leg_id)

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
        """Originate an agent's leg (on failure ``execute`` has the book forget it)."""
        await self._ami.originate(fields)

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
        await self._setvar(c.call_id, "ACD_NEXT", "")  # "connected" once the dialplan is there
        await self._setvar(c.call_id, "ACD_GREETING", greeting)
        await self._setvar(c.call_id, "ACD_AGENT_CHANNEL", agent_channel.name)
        await self._setvar(c.call_id, "ACD_AGENT", c.job_number)
        # The dialplan starts the recording as the caller is put through.
        recording = await self.recorder.prepare_on_connect(info)
        info.put_through_to = c.job_number  # a hang-up in "connect" from now on was theirs
        try:
            await self._redirect(c.call_id, "connect")
        except AmiError as exc:
            # Unanswered, it may have happened (and the dialplan started the
            # recording): ``verify`` finds out and settles the recording too.
            if recording is not None and not _maybe_done(exc):
                await self.recorder.unprepare(info)
            raise
        if recording is not None:
            self.recorder.started(info, recording, c.job_number)
            if c.call_id not in self._book.calls:  # the caller hung up as it was answered
                self.recorder.ended(c.call_id)
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
        except AmiError as exc:
            if not _maybe_done(exc):  # not carried out (an unanswered one is verified first)
                await self._still_held(c.call_id, held)
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
        keys = position_announcement(c.position, c.expected_wait)
        files = self._prompts.files(info.language, keys)
        await self._setvar(c.call_id, "ACD_ANNOUNCE", files)
        await self._setvar(c.call_id, "ACD_POSITION", str(c.position))
        await self._redirect(c.call_id, "announce")

    async def _dial_callback(self, c: DialCallback) -> None:
        leg = self._book.leg_for(c.request_id, c.job_number)
        if leg is None:
            raise AmiActionFailed(f"agent {c.job_number}'s leg for {c.request_id} is gone")
        log.info("dial_callback", request=c.request_id, agent=c.job_number, number=c.number)
        await self._redirect(leg.leg_id, c.number, context="acd-outbound")


# Commands whose outcome Asterisk can be asked about when no answer came.
VERIFIABLE = (ConnectCall, TransferCall, DialCallback, RingAgent, DialOut)


def _maybe_done(exc: AmiError) -> bool:
    """The action went out and no answer came: Asterisk may have carried it out."""
    return isinstance(exc, AmiTimeout | AmiDisconnected)


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
