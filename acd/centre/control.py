"""Call control asked for through the API: hold, transfer, dial, hang up, listen, recording.

Each request is checked against the core (is the agent on a call?), carried
out on Asterisk through the executor, then stored and published. A request
Asterisk refuses raises, so the API answers with what went wrong.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from acd.ami.recorder import RecordingDisk
from acd.centre.pipeline import Pipeline
from acd.core.agents import AgentState
from acd.core.calls import CallInfo, SpySession
from acd.core.commands import RingAgent
from acd.core.queueing import NoSuchCall, Refused
from ivr.tree import IvrTree
from recording.policy import (
    Policy,
    RecordingAction,
    RecordingRefused,
    RecordingState,
    next_state,
)

# How long a transfer waits for Asterisk to confirm the call it moves was put through.
CONFIRM_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class RecordingChange:
    """What a recording request did: the call and its recording's new state."""

    call_id: str
    recording: str


class CallControl:
    """Agents' and supervisors' requests about a live call."""

    def __init__(
        self,
        pipeline: Pipeline,
        tree: IvrTree,
        recording_policy: Callable[[str], Policy],
        disk: RecordingDisk,
    ) -> None:
        self._p = pipeline
        self._core = pipeline.core
        self._executor = pipeline.executor
        self._tree = tree
        self._policy = recording_policy
        self._disk = disk

    async def spy(
        self, supervisor: str, agent: str, mode: str, endpoint: str | None = None
    ) -> SpySession:
        """A supervisor listens, whispers or barges in on an agent's call (from their phone,
        or ``endpoint``: one of their own the caller has checked)."""
        if self._core.status(agent).state is not AgentState.TALKING:
            raise Refused(f"agent {agent} is not on a call")
        endpoint = endpoint or self._core.status(supervisor).agent.endpoint
        session = await self._executor.spy(supervisor, endpoint, agent, mode)
        self._p.live.bus.publish(
            "spy", self._p.clock(), agent=agent, supervisor=supervisor, mode=mode
        )
        return session

    async def stop_spying(self, supervisor: str) -> None:
        """The supervisor's phone leaves the call it was listening to."""
        if not await self._executor.stop_spying(supervisor):
            raise Refused(f"{supervisor} is not listening to any call")

    async def force_hangup(self, call_id: str) -> None:
        """End a live call (a supervisor's decision)."""
        if call_id not in self._core.connected and call_id not in self._core.waiting:
            raise NoSuchCall(f"no live call {call_id}")
        await self._executor.hang_up_call(call_id)

    async def transfer(
        self, job_number: str, *, line: str | None = None, to_agent: str | None = None
    ) -> str:
        """Blind transfer of the agent's current call to a line or a person; returns the call id.

        An agent may send the caller on while the greeting still plays, before
        Asterisk's answer to the put-through has reached the engine: the
        transfer waits for that answer (a few seconds at most) instead of
        refusing.
        """
        status = self._core.status(job_number)
        if status.state is not AgentState.TALKING or status.call_id is None:
            raise Refused(f"agent {job_number} is not on a call")
        if line is not None and line not in self._tree.lines:
            raise Refused(f"no line '{line}' (lines: {', '.join(self._tree.lines)})")
        call_id = status.call_id
        await self._put_through(call_id)
        info = self._p.book.calls.get(call_id)
        if info is not None and info.held:
            # A held caller is transferred: no longer on hold (the old agent's parked
            # leg ending must not end their call, and hold time stops here).
            info.held, info.held_before_transfer = False, True
            self._p.note(call_id, "resumed", agent=job_number)
            self._p.live.bus.publish(
                "call_resumed", self._p.clock(), call_id=call_id, agent=job_number
            )
        self._p.note(call_id, "transferred", **{"from": job_number, "line": line, "to": to_agent})
        now = self._p.clock()
        self._p.handle(self._core.transfer(call_id, now, line=line, to_agent=to_agent))
        self._p.live.publish_queue()
        return call_id

    async def _put_through(self, call_id: str) -> None:
        """Wait until Asterisk confirmed the call was put through, or it is no longer connected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_WAIT
        while loop.time() < deadline:
            call = self._core.connected.get(call_id)
            if call is None or call.confirmed:
                return
            await asyncio.sleep(0.05)

    def dial_out(self, job_number: str, number: str) -> str:
        """Click-to-dial an outside number from the agent's phone; returns the call id."""
        call_id = f"acd-{uuid.uuid4().hex}"
        self._p.note(call_id, "dial_out", agent=job_number, number=number)
        self._p.handle(self._core.dial_out(job_number, call_id, number, self._p.clock()))
        return call_id

    def take_callback(self, job_number: str) -> str:
        """An agent on callback work takes the next callback request (their phone rings first)."""
        outputs = self._core.take_callback(job_number, self._p.clock())
        self._p.handle(outputs)
        return next(o.call_id for o in outputs if isinstance(o, RingAgent))

    async def hold(self, job_number: str) -> str:
        """The caller hears music; the agent's leg waits. Returns the call id."""
        call_id, info = await self._connected_caller(job_number)
        if info.held:
            raise Refused(f"call {call_id} is already on hold")
        await self._executor.hold(call_id, job_number)
        info.held = True
        self._p.note(call_id, "held", agent=job_number)
        self._p.live.bus.publish("call_held", self._p.clock(), call_id=call_id, agent=job_number)
        return call_id

    async def unhold(self, job_number: str) -> str:
        """The caller rejoins the agent. Returns the call id."""
        call_id, info = await self._connected_caller(job_number)
        if not info.held:
            raise Refused(f"call {call_id} is not on hold")
        await self._executor.unhold(call_id)
        info.held = False
        self._p.note(call_id, "resumed", agent=job_number)
        self._p.live.bus.publish("call_resumed", self._p.clock(), call_id=call_id, agent=job_number)
        return call_id

    async def agent_hangup(self, job_number: str) -> None:
        """Hang up the agent's current call from their screen."""
        if not await self._executor.hang_up_agent(job_number):
            raise Refused(f"agent {job_number} has no call to hang up")

    async def control_recording(self, job_number: str, action: RecordingAction) -> RecordingChange:
        """The agent starts (on-demand lines), pauses or resumes their call's recording."""
        call_id, info = await self._connected_caller(job_number)
        state = RecordingState.OFF
        if info.recording is not None:
            state = RecordingState.PAUSED if info.recording_paused else RecordingState.RECORDING
        new = next_state(state, action, self._policy(info.line))
        if action is RecordingAction.START:
            if self._disk.full:
                raise RecordingRefused("the recordings disk is full (the alarm is raised)")
            if not await self._executor.recorder.start_now(info, job_number):
                raise RecordingRefused("Asterisk did not start the recording")
        else:
            await self._executor.recorder.mute(info, new is RecordingState.PAUSED)
        kind = {"start": "recording_started", "pause": "recording_paused"}.get(
            action.value, "recording_resumed"
        )
        self._p.note(call_id, kind, agent=job_number)
        self._p.live.bus.publish(
            "recording", self._p.clock(), call_id=call_id, agent=job_number, state=new.value
        )
        return RecordingChange(call_id, new.value)

    def recording_of(self, call_id: str) -> dict[str, str]:
        """A call's recording as its agent's screen shows it: the line's policy (what the
        agent may do) and whether it is off, recording or paused."""
        info = self._p.book.calls.get(call_id)
        if info is None:
            return {"policy": "none", "state": RecordingState.OFF.value}
        state = RecordingState.OFF
        if info.recording is not None:
            state = RecordingState.PAUSED if info.recording_paused else RecordingState.RECORDING
        return {"policy": self._policy(info.line), "state": state.value}

    async def _connected_caller(self, job_number: str) -> tuple[str, CallInfo]:
        """The agent's caller, once put through. Asked while the greeting still plays,
        it waits for Asterisk's answer to the put-through (as a transfer does): until
        then the call's recording, started with it, is not known to be running."""
        if (call_id := self._core.status(job_number).call_id) is not None:
            await self._put_through(call_id)
        status = self._core.status(job_number)
        call = self._core.connected.get(status.call_id or "")
        info = self._p.book.calls.get(status.call_id or "")
        if status.state is not AgentState.TALKING or call is None or info is None:
            raise Refused(f"agent {job_number} has no caller on the line")
        return call.call_id, info
