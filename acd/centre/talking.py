"""Calls that went on talking while the engine restarted: taken back under the caller's id.

After a restart the engine finds agents' phones still bridged with callers
(or waiting apart while their caller is on hold). Each such call is taken back
as the caller's call (``call_id`` = the caller channel's uniqueid), so hold,
transfer, recording and the survey go on. What the killed engine had no time
to store is made good: the call counts as answered, and its recording (started
by the dialplan) gets its row, measured when the call ends.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import structlog

from acd.ami.calls import WAIT_CONTEXT
from acd.ami.errors import AmiError
from acd.centre.pipeline import Pipeline
from acd.centre.recording import RecordingLifecycle
from acd.core.agents import AgentState
from acd.core.calls import AgentLeg, CallInfo
from acd.core.channels import Channel, ChannelRegistry
from acd.core.commands import CallAnswered
from acd.storage.events import CallEventLog
from acd.storage.recordings import RecordingStore
from ivr.tree import IvrTree

log = structlog.get_logger("acd.adoption")

# Channel variables the dialplan keeps on a caller (set by the IVR and on connect).
CALLER_VARIABLES = ("ACD_LINE", "ACD_ENQUEUED_AT", "ACD_LANG", "ACD_RECORDING")
LEG_PREFIX = "acd-"  # the uniqueids acd gives the legs it rings


class TalkingCalls:
    """Takes back the calls still talking (or on hold) when the engine comes up."""

    def __init__(
        self,
        pipeline: Pipeline,
        tree: IvrTree,
        events: CallEventLog,
        recordings: RecordingLifecycle,
        recording_rows: RecordingStore,
        channels: ChannelRegistry,
    ) -> None:
        self._p = pipeline
        self._core = pipeline.core
        self._book = pipeline.book
        self._tree = tree
        self._events = events
        self._recordings = recordings
        self._recording_rows = recording_rows
        self._channels = channels

    def resume(self, live: list[Channel], talking_before: dict[str, float]) -> None:
        """Agents whose phone is still on a call stay talking, on the caller's call id.

        ``talking_before``: agents stored as talking (and since when). An agent
        stored as ringing whose phone is bridged with a caller answered just
        before the restart: they are talking too.
        """
        now = self._p.clock()
        for status in self._core.agents.values():
            job_number = status.agent.job_number
            endpoint = status.agent.endpoint
            channel = next((c for c in live if c.name.startswith(endpoint + "-")), None)
            if channel is None or channel.uniqueid in self._book.legs:
                continue
            caller = _bridged_caller(channel, live)
            # Stored as ringing (the talking state was still on its way to the
            # database when the old engine died) but answered: on a call all the same.
            on_call = caller is not None or _waits_for_caller(channel)
            if job_number not in talking_before and (
                not on_call or status.state is AgentState.LOGGED_OUT
            ):
                continue  # not on a call of ours (or not one we can take back)
            self._take_back(job_number, channel, caller, talking_before.get(job_number, now))

    def _take_back(
        self, job_number: str, channel: Channel, caller: Channel | None, since: float
    ) -> None:
        uid = channel.uniqueid
        if caller is None and _waits_for_caller(channel):
            # Answered just before the restart, not bridged yet. Its caller may be
            # hearing "agent ... at your service" on the way to it (the old engine
            # put them through) or still waiting (it had no time to). Until that is
            # known the agent is on this call, so nothing else is offered to them.
            self._core.restore_agent(job_number, AgentState.TALKING, None, since, talking_on=uid)
            self._book.legs[uid] = AgentLeg(uid, uid, job_number, answered=True)
            self._p.tasks.spawn(self._find_connecting_caller(job_number, uid), "acd-adopt-leg")
            return
        call_id = caller.uniqueid if caller is not None else uid
        self._core.restore_agent(job_number, AgentState.TALKING, None, since, talking_on=call_id)
        self._book.legs[uid] = AgentLeg(uid, call_id, job_number, answered=True)
        if caller is not None and call_id not in self._book.calls:
            info = CallInfo(call_id, "", "en", caller.caller_number, caller.caller_name)
            self._book.calls[call_id] = info
            self._p.tasks.spawn(self._details(info, job_number), "acd-adopt-talking")
        elif caller is None:  # on hold (the agent's leg waits apart) or a click-to-dial
            self._p.tasks.spawn(self._find_held_caller(job_number, uid), "acd-adopt-held")
        log.info("agent_still_talking", agent=job_number, call_id=call_id, channel=channel.name)

    async def _find_connecting_caller(self, job_number: str, leg_uid: str) -> None:
        """An answered leg not yet bridged: its caller is being put through, or it is let go.

        A caller in ``connect`` hears the greeting and then bridges with this leg:
        the call is theirs again (and counts as answered). Otherwise (the caller
        is taken back as waiting, or gone) the leg waits for nothing and is hung
        up; the agent goes to wrap-up as after any call.
        """
        try:
            call_id = await self._p.executor.getvar(leg_uid, "ACD_CALL_ID")
        except AmiError as exc:
            log.warning("adopt_answered_leg_failed", agent=job_number, error=str(exc))
            call_id = ""
        caller = self._channels.get(call_id) if call_id else None
        if (
            caller is not None
            and caller.context == WAIT_CONTEXT
            and caller.exten == "connect"  # put through: hears the greeting, then bridges
            and call_id not in self._book.calls
            and self._core.take_back_call(job_number, leg_uid, call_id)
        ):
            self._book.legs[leg_uid] = AgentLeg(leg_uid, call_id, job_number, answered=True)
            info = CallInfo(call_id, "", "en", caller.caller_number, caller.caller_name)
            self._book.calls[call_id] = info
            log.info("connecting_call_taken_back", agent=job_number, call_id=call_id)
            self._call_moved(job_number, call_id)
            await self._details(info, job_number)
            return
        if leg_uid in self._book.legs:
            log.info("answered_leg_let_go", agent=job_number, leg=leg_uid, call_id=call_id)
            await self._p.executor.hang_up_leg(leg_uid)

    async def _find_held_caller(self, job_number: str, leg_uid: str) -> None:
        """An agent's leg with no bridge: if its caller waits on hold, the call is theirs again."""
        try:
            call_id = await self._p.executor.getvar(leg_uid, "ACD_CALL_ID")
        except AmiError as exc:
            log.warning("adopt_held_failed", agent=job_number, error=str(exc))
            return
        caller = self._channels.get(call_id) if call_id else None
        if caller is None or call_id in self._book.calls:
            return  # a click-to-dial (the leg is the call), or the caller has gone
        if not self._core.take_back_call(job_number, leg_uid, call_id):
            return  # the leg ended meanwhile
        self._book.legs[leg_uid] = AgentLeg(leg_uid, call_id, job_number, answered=True)
        info = CallInfo(call_id, "", "en", caller.caller_number, caller.caller_name, held=True)
        self._book.calls[call_id] = info
        log.info("held_call_taken_back", agent=job_number, call_id=call_id)
        self._call_moved(job_number, call_id)
        await self._details(info, job_number)

    def _call_moved(self, job_number: str, call_id: str) -> None:
        """Screens that saw the call under the agent's leg learn the caller's call id."""
        talking = AgentState.TALKING.value
        self._p.live.bus.publish(
            "agent_state",
            self._p.clock(),
            agent=job_number,
            state=talking,
            old=talking,
            reason=None,
            call_id=call_id,
        )

    async def _details(self, info: CallInfo, job_number: str) -> None:
        """Its line, language and wait; the answer and recording the old engine had not stored."""
        try:
            values = {n: await self._p.executor.getvar(info.call_id, n) for n in CALLER_VARIABLES}
        except AmiError as exc:
            log.warning("adopt_talking_failed", call_id=info.call_id, error=str(exc))
            values = {}
        line = values.get("ACD_LINE", "")
        if line in self._tree.lines:
            info.line = line
            connected = self._core.connected.get(info.call_id)
            if connected is not None:
                connected.line = line
        info.language = values.get("ACD_LANG") or info.language
        with contextlib.suppress(ValueError):
            info.enqueued_at = float(values.get("ACD_ENQUEUED_AT", ""))
        # Pages that loaded the call's screen pop before this was known load it again.
        self._p.live.bus.publish(
            "call_taken_back",
            self._p.clock(),
            call_id=info.call_id,
            agent=job_number,
            line=info.line,
        )
        try:
            stored = {e.kind for e in await self._events.for_call(info.call_id)}
            row = await self._recording_rows.get(info.call_id)
        except Exception as exc:  # a busy database: the row is closed at the next start
            log.warning("adopt_recording_failed", call_id=info.call_id, error=str(exc))
            return
        if "answered" not in stored and info.line:
            # Killed between the answer and storing it: the call was answered (the wait
            # is counted up to now, an upper bound).
            now = self._p.clock()
            wait = max(0.0, now - info.enqueued_at) if info.enqueued_at else 0.0
            self._p.handle([CallAnswered(info.call_id, info.line, job_number, wait, now)])
        if row is None:
            recorded = self._p.executor.recorder.local_path(values.get("ACD_RECORDING", ""))
            if recorded is None:
                return  # not recorded
            info.recording = recorded
            self._recordings.started(info)  # the row the old engine had no time to store
        elif row.size is None:  # recorded, not yet measured
            info.recording = Path(row.path)
        else:
            return
        if info.call_id not in self._book.calls:  # it ended while we asked: finish it now
            self._recordings.ended(info.call_id, True)


def _waits_for_caller(channel: Channel) -> bool:
    """An agent's leg acd rang, answered, waiting for its caller to be bridged in."""
    return channel.context == "acd-agent" and channel.exten == "answered"


def _bridged_caller(channel: Channel, live: list[Channel]) -> Channel | None:
    """The caller in the same bridge as this agent's channel, if any."""
    if not channel.bridge_id:
        return None
    return next(
        (
            c
            for c in live
            if c.bridge_id == channel.bridge_id
            and c.uniqueid != channel.uniqueid
            and c.context == WAIT_CONTEXT
        ),
        None,
    )
