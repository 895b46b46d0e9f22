"""The call-centre service: the pure ACD core wired to Asterisk and storage.

Inputs arrive from three places (AMI events via the engine, the IVR over
FastAGI, agents' requests) and from a timer. Each goes to the core, and the
core's outputs are split: commands go in order to the AMI executor, facts go
in order to storage. Neither queue is worked on the AMI read path.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from panoramisk.message import Message

from acd.aftercall import AfterCall
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiError
from acd.ami.executor import AgentLeg, AmiExecutor, CallBook, CallInfo, Command, SpySession
from acd.core.agents import Agent, AgentState, AgentStateChanged, NotReadyReason
from acd.core.channels import Channel, Reconciliation
from acd.core.commands import CallAbandoned, CallAnswered, RingAgent
from acd.core.distributor import CallDistributor, NoSuchCall, Refused, WaitingCall
from acd.core.peak import PeakLevel, PeakLevelChanged
from acd.eventbus import EventBus
from acd.live import LiveFeed
from acd.storage.agent_states import AgentStateLog
from acd.storage.events import CallEventLog
from acd.storage.models import RecordingRow
from acd.storage.recordings import RecordingStore, inspect_file
from ivr.hours import lines_with_duty
from ivr.tree import IvrTree
from recording.policy import (
    Policy,
    RecordingAction,
    RecordingRefused,
    RecordingState,
    next_state,
)

log = structlog.get_logger("acd.callcentre")

WAIT_CONTEXT = "acd-wait"
STOP_GRACE_SECONDS = 5.0  # how long a clean stop waits for short tasks to finish


class CallCentre:
    def __init__(
        self,
        core: CallDistributor,
        tree: IvrTree,
        events: CallEventLog,
        agent_log: AgentStateLog,
        clock: Callable[[], float],
        local_time: Callable[[], datetime],
        tick_interval: float,
    ) -> None:
        self.core = core
        self.tree = tree
        self.book = CallBook()
        self._events = events
        self._agent_log = agent_log
        self._clock = clock
        self._local_time = local_time
        self._tick_interval = tick_interval
        self._executor: AmiExecutor | None = None
        self._ami: AmiConnection | None = None
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._facts: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._talking_before_restart: dict[str, float] = {}
        self.recordings: RecordingStore | None = None
        self.aftercall: AfterCall | None = None
        self.recording_policy: Callable[[str], Policy] = lambda line: "none"
        self._live_channels: set[str] = set()
        self._short_tasks: set[asyncio.Task[Any]] = set()
        self.live = LiveFeed(core, self.book, tree, events, clock, local_time, self._spawn)

    def bind(self, ami: AmiConnection, executor: AmiExecutor) -> None:
        self._ami = ami
        self._executor = executor

    def apply_skills(self, skills: dict[str, dict[str, int]]) -> None:
        """Skills set by an admin (stored) win over the configuration file."""
        for job, levels in skills.items():
            if job in self.core.agents:
                self.core.set_skills(job, {k: v for k, v in levels.items() if k in self.tree.lines})

    async def restore_agents(self) -> None:
        """Agents keep their state across an engine restart (read from storage).

        An agent who was talking stays talking if their phone is still on a
        call once AMI is up (see ``on_resync``); otherwise they go to wrap-up.
        """
        for job, change in (await self._agent_log.latest()).items():
            if job in self.core.agents:
                self.core.restore_agent(job, change.new, change.reason, change.at)
                if change.new is AgentState.TALKING:
                    self._talking_before_restart[job] = change.at

    async def start(self) -> None:
        for coro, name in (
            (self._run_commands(), "acd-commands"),
            (self._run_facts(), "acd-facts"),
            (self._run_ticks(), "acd-ticks"),
        ):
            self._tasks.append(asyncio.create_task(coro, name=name))

    def engine_channels(self) -> set[str]:
        return self._live_channels

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A short task we keep a reference to until it is done."""
        task = asyncio.create_task(coro, name=name)
        self._short_tasks.add(task)
        task.add_done_callback(self._short_tasks.discard)

    async def stop(self) -> None:
        # Short tasks (a low-score ticket, a recording's row or checksum) get a
        # moment to finish, so a clean stop does not lose them; then the rest goes.
        if self._short_tasks:
            await asyncio.wait(set(self._short_tasks), timeout=STOP_GRACE_SECONDS)
        tasks = [*self._tasks, *self._short_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, AmiError):
                await task
        # What could not be stored yet is stored now: nothing is lost on a clean stop.
        await self._store(_drain(self._facts))

    # -- from the IVR ----------------------------------------------------------

    def local_now(self) -> datetime:
        """The call centre's local time (working hours, duty schedule)."""
        return self._local_time()

    def human_lines(self) -> frozenset[str]:
        """Lines where a human can take a call now (duty schedule, else logged-in skills)."""
        scheduled = {slot.line for slot in self.tree.duty}
        on_duty = lines_with_duty(self.tree.duty, self.local_now())
        all_staff = self.core.peak.level is PeakLevel.ALL_STAFF
        present = [
            s.agent for s in self.core.agents.values() if s.state is not AgentState.LOGGED_OUT
        ]
        lines = set()
        for line in self.tree.lines:
            if line in scheduled:
                if line in on_duty:
                    lines.add(line)
            elif any(all_staff or a.level_for(line) > 0 for a in present):
                lines.add(line)
        return frozenset(lines)

    def enqueue(self, info: CallInfo) -> None:
        """A caller chose a line and now waits in Asterisk (music on hold)."""
        self.book.calls[info.call_id] = info
        self.bus.publish(
            "call_waiting",
            info.enqueued_at,
            call_id=info.call_id,
            line=info.line,
            caller=info.caller_number,
        )
        call = self.core.call_arrived(
            info.call_id, info.line, info.enqueued_at, caller=info.caller_number
        )
        self._handle(call)
        self.live.publish_queue()

    def callback_request(self, call_id: str, line: str, number: str) -> str:
        request_id = f"cb-{call_id}"
        self._facts.put_nowait(
            ("event", request_id, "callback_requested", {"line": line, "number": number})
        )
        self._handle(
            self.core.callback_requested(request_id, line, number, self._clock(), replaces=call_id)
        )
        return request_id

    # -- agents' requests ------------------------------------------------------

    def log_in(self, job: str, endpoint: str | None = None) -> None:
        self._handle(self.core.log_in(job, self._clock(), endpoint))

    def log_out(self, job: str) -> None:
        self._handle(self.core.log_out(job, self._clock()))

    def ready(self, job: str) -> None:
        self._handle(self.core.set_ready(job, self._clock()))

    def not_ready(self, job: str, reason: NotReadyReason) -> None:
        self._handle(self.core.set_not_ready(job, reason, self._clock()))

    def end_wrap_up(self, job: str) -> None:
        self._handle(self.core.end_wrap_up(job, self._clock()))

    def extend_wrap_up(self, job: str, seconds: float) -> float:
        return self.core.extend_wrap_up(job, seconds, self._clock())

    def break_after_call(self, job: str) -> None:
        self.core.request_break_after_call(job)

    # -- call control (API) ------------------------------------------------------

    @property
    def events(self) -> CallEventLog:
        return self._events

    @property
    def bus(self) -> EventBus:
        return self.live.bus

    def snapshot(self) -> dict[str, Any]:
        return self.live.snapshot()

    async def screen_pop(self, call_id: str, job_number: str) -> dict[str, Any]:
        return await self.live.screen_pop(call_id, job_number)

    @property
    def executor(self) -> AmiExecutor:
        if self._executor is None:
            raise AmiError("not connected to Asterisk yet")
        return self._executor

    async def spy(self, supervisor: str, agent: str, mode: str) -> SpySession:
        """A supervisor listens, whispers or barges in on an agent's call (from their phone)."""
        status = self.core.status(agent)
        if status.state is not AgentState.TALKING:
            raise Refused(f"agent {agent} is not on a call")
        endpoint = self.core.status(supervisor).agent.endpoint
        session = await self.executor.spy(supervisor, endpoint, agent, mode)
        self.bus.publish("spy", self._clock(), agent=agent, supervisor=supervisor, mode=mode)
        return session

    async def stop_spying(self, supervisor: str) -> None:
        if not await self.executor.stop_spying(supervisor):
            raise Refused(f"{supervisor} is not listening to any call")

    async def force_hangup(self, call_id: str) -> None:
        if call_id not in self.core.connected and call_id not in self.core.waiting:
            raise NoSuchCall(f"no live call {call_id}")
        await self.executor.hang_up_call(call_id)

    def transfer(self, job: str, *, line: str | None = None, to_agent: str | None = None) -> str:
        """Blind transfer of the agent's current call to a line or a person; returns the call id."""
        status = self.core.status(job)
        if status.state is not AgentState.TALKING or status.call_id is None:
            raise Refused(f"agent {job} is not on a call")
        if line is not None and line not in self.tree.lines:
            raise Refused(f"no line '{line}' (lines: {', '.join(self.tree.lines)})")
        call_id = status.call_id
        self._facts.put_nowait(
            ("event", call_id, "transferred", {"from": job, "line": line, "to": to_agent})
        )
        self._handle(self.core.transfer(call_id, self._clock(), line=line, to_agent=to_agent))
        self.live.publish_queue()
        return call_id

    def dial_out(self, job: str, number: str) -> str:
        """Click-to-dial an outside number from the agent's phone; returns the call id."""
        call_id = f"acd-{uuid.uuid4().hex}"
        self._facts.put_nowait(("event", call_id, "dial_out", {"agent": job, "number": number}))
        self._handle(self.core.dial_out(job, call_id, number, self._clock()))
        return call_id

    def take_callback(self, job: str) -> str:
        """An agent on callback work takes the next callback request (their phone rings first)."""
        outputs = self.core.take_callback(job, self._clock())
        self._handle(outputs)
        return next(o.call_id for o in outputs if isinstance(o, RingAgent))

    async def hold(self, job: str) -> str:
        call_id, info = self._connected_caller(job)
        if info.held:
            raise Refused(f"call {call_id} is already on hold")
        await self.executor.hold(call_id, job)
        info.held = True
        self._facts.put_nowait(("event", call_id, "held", {"agent": job}))
        self.bus.publish("call_held", self._clock(), call_id=call_id, agent=job)
        return call_id

    async def unhold(self, job: str) -> str:
        call_id, info = self._connected_caller(job)
        if not info.held:
            raise Refused(f"call {call_id} is not on hold")
        await self.executor.unhold(call_id)
        info.held = False
        self._facts.put_nowait(("event", call_id, "resumed", {"agent": job}))
        self.bus.publish("call_resumed", self._clock(), call_id=call_id, agent=job)
        return call_id

    async def control_recording(self, job: str, action: RecordingAction) -> dict[str, Any]:
        """The agent starts (on-demand lines), pauses or resumes their call's recording."""
        call_id, info = self._connected_caller(job)
        state = RecordingState.OFF
        if info.recording is not None:
            state = RecordingState.PAUSED if info.recording_paused else RecordingState.RECORDING
        new = next_state(state, action, self.recording_policy(info.line))
        if action is RecordingAction.START:
            if self.executor.disk_full:
                raise RecordingRefused("the recordings disk is full (the alarm is raised)")
            if not await self.executor.start_recording(info):
                raise RecordingRefused("Asterisk did not start the recording")
        else:
            await self.executor.mute_recording(info, new is RecordingState.PAUSED)
        now = self._clock()
        kind = {"start": "recording_started", "pause": "recording_paused"}.get(
            action.value, "recording_resumed"
        )
        self._facts.put_nowait(("event", call_id, kind, {"agent": job}))
        self.bus.publish("recording", now, call_id=call_id, agent=job, state=new.value)
        return {"call_id": call_id, "recording": new.value}

    def _connected_caller(self, job: str) -> tuple[str, CallInfo]:
        status = self.core.status(job)
        call = self.core.connected.get(status.call_id or "")
        info = self.book.calls.get(status.call_id or "")
        if status.state is not AgentState.TALKING or call is None or info is None:
            raise Refused(f"agent {job} has no caller on the line")
        return call.call_id, info

    def survey_result(self, call_id: str, agent: str, line: str, score: int | None) -> None:
        """Store the caller's rating; 1-3 opens a follow-up for the team lead within 2 hours."""
        now = self._clock()
        self._facts.put_nowait(
            ("event", call_id, "survey", {"score": score, "agent": agent, "line": line})
        )
        self.bus.publish("survey", now, call_id=call_id, agent=agent, line=line, score=score)
        if self.aftercall is not None and score is not None:
            if score <= self.aftercall.rules.low_score_max:
                self._spawn(self.aftercall.low_score(call_id, agent, line, score), "acd-follow-up")

    async def agent_hangup(self, job: str) -> None:
        if not await self.executor.hang_up_agent(job):
            raise Refused(f"agent {job} has no call to hang up")

    # -- from AMI (called by the engine's consumer, in stream order) ------------

    def on_ami_event(self, message: Message) -> None:
        name = message.get("Event")
        if name == "UserEvent" and message.get("UserEvent") == "AcdAgentAnswered":
            self._agent_answered(message)
        elif name == "UserEvent" and message.get("UserEvent") == "AcdGreeted":
            # The caller heard "agent 1001 at your service" (or the files failed).
            self._record(message, "greeted", agent=message.get("Agent", ""))
        elif name == "UserEvent" and message.get("UserEvent") == "AcdAnnounced":
            self._record(message, "position_announced", position=message.get("Position", ""))
        elif name == "Hangup":
            self._hangup(message.get("Uniqueid", ""))
        elif name == "OriginateResponse" and message.get("Response") != "Success":
            self._ring_failed(message.get("Uniqueid", ""))

    def recording_started(self, info: CallInfo) -> None:
        """The executor started MixMonitor on this call: store the recording's row."""
        if info.recording is None or self.recordings is None:
            return
        connected = self.core.connected.get(info.call_id)
        row = RecordingRow(
            call_id=info.call_id,
            line=info.line,
            agent=connected.job_number if connected else "",
            caller=info.caller_number,
            path=str(info.recording),
            started_at=self._clock(),
            complete=False,
        )
        self._spawn(self.recordings.started(row), "acd-rec")

    async def _recording_finished(self, call_id: str, complete: bool) -> None:
        """Measure the file (off the loop) and store size, checksum, length, completeness."""
        if self.recordings is None:
            return
        row = await self.recordings.get(call_id)
        if row is None:
            return
        facts = await asyncio.to_thread(inspect_file, Path(row.path))
        for _ in range(20):  # Asterisk finishes the file's header just after the hangup
            if not complete or (facts is not None and facts.duration is not None):
                break
            await asyncio.sleep(0.25)
            facts = await asyncio.to_thread(inspect_file, Path(row.path))
        await self.recordings.finished(call_id, facts, complete)
        if not complete or facts is None or facts.duration is None:
            log.warning("recording_incomplete", call_id=call_id, path=row.path)

    async def close_orphan_recordings(self) -> None:
        """Recordings still open from before a crash are marked incomplete, never lost."""
        if self.recordings is None:
            return
        for row in await self.recordings.open_ones():
            if row.call_id not in self.engine_channels():
                await self._recording_finished(row.call_id, False)

    def _record(self, message: Message, kind: str, **data: str) -> None:
        """Store what Asterisk played to a caller, with its playback status."""
        data["status"] = message.get("Status", "")
        self._facts.put_nowait(("event", message.get("Uniqueid", ""), kind, data))

    def on_resync(self, report: Reconciliation, live: list[Channel]) -> None:
        """After a (re)connect: forget what vanished, find callers waiting from before."""
        for channel in report.vanished:
            info = self.book.calls.get(channel.uniqueid)
            if info is not None and info.recording is not None:
                # The call vanished without a MixMonitorStop (Asterisk went down).
                self._spawn(self._recording_finished(channel.uniqueid, False), "acd-rec")
            self._hangup(channel.uniqueid)
        self._live_channels = {c.uniqueid for c in live}
        self._spawn(self.close_orphan_recordings(), "acd-rec")
        self._resume_talking(live)
        waiting = [
            c
            for c in live
            if c.context == WAIT_CONTEXT
            and c.exten != "connect"  # already being put through to an agent
            and c.uniqueid not in self.book.calls
        ]
        if waiting:
            self._spawn(self._adopt(waiting), "acd-adopt")

    def _resume_talking(self, live: list[Channel]) -> None:
        """Agents whose bridged call went on while the engine restarted stay talking."""
        for job, since in self._talking_before_restart.items():
            endpoint = self.core.status(job).agent.endpoint
            channel = next((c for c in live if c.name.startswith(endpoint + "-")), None)
            if channel is None:
                continue
            uid = channel.uniqueid
            self.core.restore_agent(job, AgentState.TALKING, None, since, talking_on=uid)
            self.book.legs[uid] = AgentLeg(uid, uid, job, answered=True)
            log.info("agent_still_talking", agent=job, channel=channel.name)
        self._talking_before_restart.clear()

    async def _adopt(self, channels: list[Channel]) -> None:
        """Take back callers who waited through an engine restart, in their original order."""
        assert self._ami is not None
        found = []
        for channel in channels:
            try:
                values = {
                    name: await self._getvar(channel.uniqueid, name)
                    for name in ("ACD_LINE", "ACD_ENQUEUED_AT", "ACD_LANG")
                }
                enqueued_at = float(values["ACD_ENQUEUED_AT"])
            except (AmiError, ValueError) as exc:
                log.warning("adopt_failed", call_id=channel.uniqueid, error=str(exc))
                continue
            line = values["ACD_LINE"]
            if line not in self.tree.lines:
                continue
            info = CallInfo(
                channel.uniqueid,
                line,
                values["ACD_LANG"] or "en",
                channel.caller_number,
                channel.caller_name,
                enqueued_at,
            )
            self.book.calls[info.call_id] = info
            found.append(WaitingCall(info.call_id, line, enqueued_at, caller=info.caller_number))
        log.info("callers_adopted", calls=[c.call_id for c in sorted(found, key=lambda c: c.order)])
        self._handle(self.core.restore_waiting(found, self._clock()))

    async def _getvar(self, channel: str, name: str) -> str:
        assert self._ami is not None
        response = await self._ami.send_action(
            {"Action": "Getvar", "Channel": channel, "Variable": name}
        )
        return str(response.get("Value", ""))

    def _agent_answered(self, message: Message) -> None:
        leg = self.book.legs.get(message.get("Uniqueid", "")) or self.book.legs.get(
            message.get("Leg", "")
        )
        if leg is None:
            # A leg rung by an engine that has since restarted: nobody waits for it.
            self._commands_for_unknown_leg(message.get("Uniqueid", ""))
            return
        leg.answered = True
        self._handle(self.core.agent_answered(leg.job_number, leg.call_id, self._clock()))

    def _commands_for_unknown_leg(self, uniqueid: str) -> None:
        if uniqueid and self._ami is not None:
            self._spawn(
                self._ami.send_action({"Action": "Hangup", "Channel": uniqueid}), "acd-drop-leg"
            )

    def _hangup(self, uniqueid: str) -> None:
        now = self._clock()
        for supervisor, spy in list(self.book.spies.items()):
            if spy.leg_id == uniqueid:
                del self.book.spies[supervisor]
        leg = self.book.legs.pop(uniqueid, None)
        if leg is not None:
            held = self.book.calls.get(leg.call_id)
            if held is not None and held.held:
                # The agent hung up with the caller on hold: do not leave them in music.
                self._spawn(self.executor.hang_up_call(leg.call_id), "acd-end-held")
            connected = self.core.connected.get(leg.call_id)
            # Only the leg of the agent who has the call ends it: a transferred caller's
            # earlier agent hanging up late must not end the new agent's call.
            if leg.answered and connected is not None and connected.job_number == leg.job_number:
                self._handle(self.core.call_ended(leg.call_id, now))
            else:
                self._handle(self.core.ring_failed(leg.job_number, leg.call_id, now))
            return
        if uniqueid in self.book.calls:
            info = self.book.calls.pop(uniqueid)
            if info.recording is not None:
                self._spawn(self._recording_finished(uniqueid, True), "acd-rec")
            if info.held:  # the caller left while on hold: free the waiting agent leg
                status = next((s for s in self.core.agents.values() if s.call_id == uniqueid), None)
                if status is not None:
                    self._spawn(
                        self.executor.hang_up_agent(status.agent.job_number), "acd-end-held"
                    )
            else:
                # A caller who leaves during the greeting was never bridged: the agent's
                # answered leg would wait on a dead call while the agent is offered the next.
                for leg in list(self.book.legs.values()):
                    if leg.call_id == uniqueid and leg.answered:
                        self._spawn(self.executor.hang_up_leg(leg.leg_id), "acd-end-leg")
            outputs = self.core.call_abandoned(uniqueid, now) + self.core.call_ended(uniqueid, now)
            self._handle(outputs)

    def _ring_failed(self, uniqueid: str) -> None:
        leg = self.book.legs.pop(uniqueid, None)
        if leg is None:
            return
        if leg.outbound:  # the agent's phone never took the click-to-dial call
            self._handle(self.core.call_ended(leg.call_id, self._clock()))
        elif not leg.answered:
            self._handle(self.core.ring_failed(leg.job_number, leg.call_id, self._clock()))

    # -- outputs ----------------------------------------------------------------

    def _handle(self, outputs: Iterable[Any]) -> None:
        outputs = list(outputs)
        for out in outputs:
            self.live.publish(out)
            if isinstance(out, AgentStateChanged | CallAbandoned | CallAnswered | PeakLevelChanged):
                self._facts.put_nowait(out)
                if isinstance(out, PeakLevelChanged):
                    log.warning(
                        "peak_level", old=int(out.old), new=int(out.new), waiting=out.waiting
                    )
            else:
                self._commands.put_nowait(out)
        if any(
            isinstance(o, RingAgent | CallAnswered | CallAbandoned | PeakLevelChanged)
            for o in outputs
        ):
            self.live.publish_queue()

    async def _run_commands(self) -> None:
        while True:
            command = await self._commands.get()
            assert self._executor is not None
            try:
                await self._executor.execute(command)
            except Exception:
                log.exception("command_crashed", command=repr(command))

    async def _run_facts(self) -> None:
        while True:
            batch = [await self._facts.get(), *_drain(self._facts)]
            try:
                await self._store(batch)
            except Exception:
                log.exception("store_failed", count=len(batch))

    async def _store(self, facts: list[Any]) -> None:
        await self._agent_log.append(f for f in facts if isinstance(f, AgentStateChanged))
        for fact in facts:
            match fact:
                case CallAbandoned():
                    await self._events.append(
                        fact.call_id,
                        "abandoned",
                        line=fact.line,
                        waited=round(fact.waited, 3),
                        while_ringing=fact.while_ringing,
                    )
                case CallAnswered():
                    await self._events.append(
                        fact.call_id,
                        "answered",
                        line=fact.line,
                        agent=fact.job_number,
                        waited=round(fact.waited, 3),
                    )
                case PeakLevelChanged():
                    await self._events.append(
                        "peak",
                        "peak_level",
                        old=int(fact.old),
                        new=int(fact.new),
                        waiting=fact.waiting,
                    )
                case ("event", call_id, kind, data):
                    await self._events.append(call_id, kind, **data)

    async def _run_ticks(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            self._handle(self.core.tick(self._clock()))


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def agents_from_settings(entries: Iterable[Any]) -> list[Agent]:
    from acd.core.agents import Role

    return [Agent(a.job_number, a.name, a.endpoint, dict(a.skills), Role(a.role)) for a in entries]


__all__ = ["AgentLeg", "CallCentre", "agents_from_settings"]
