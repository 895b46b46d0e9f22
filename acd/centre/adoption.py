"""Taking back agents and callers after an engine restart, in their original order.

Agents keep their state (read from storage). After every (re)connect the
engine's snapshot of Asterisk tells what vanished meanwhile and which callers
are still waiting in the music from before: they are adopted with the time
they joined the queue (kept on their channel), so nobody loses their place.
"""

from __future__ import annotations

import structlog

from acd.ami.errors import AmiError
from acd.ami.executor import WAIT_CONTEXT
from acd.centre.pipeline import Pipeline
from acd.centre.recording import RecordingLifecycle
from acd.centre.tracking import CallTracking
from acd.core.agents import AgentState
from acd.core.calls import AgentLeg, CallInfo
from acd.core.channels import Channel, ChannelRegistry, Reconciliation
from acd.core.queueing import WaitingCall
from acd.storage.agent_states import AgentStateLog
from acd.storage.events import CallEventLog
from ivr.tree import IvrTree

log = structlog.get_logger("acd.adoption")

# Channel variables the dialplan keeps on a waiting caller (set by the IVR).
ADOPT_VARIABLES = ("ACD_LINE", "ACD_ENQUEUED_AT", "ACD_LANG")
# A callback request nobody took within this long is not brought back.
CALLBACK_HORIZON_SECONDS = 7 * 24 * 3600.0


class Adoption:
    """Restores agents from storage and adopts waiting callers after each resync."""

    def __init__(
        self,
        pipeline: Pipeline,
        tree: IvrTree,
        agent_log: AgentStateLog,
        events: CallEventLog,
        tracking: CallTracking,
        recordings: RecordingLifecycle,
        channels: ChannelRegistry,
    ) -> None:
        self._p = pipeline
        self._core = pipeline.core
        self._book = pipeline.book
        self._tree = tree
        self._agent_log = agent_log
        self._events = events
        self._tracking = tracking
        self._recordings = recordings
        self._channels = channels
        self._talking_before_restart: dict[str, float] = {}
        self.live_channels: set[str] = set()  # uniqueids Asterisk had at the last resync

    async def restore_agents(self) -> None:
        """Agents keep their state across an engine restart (read from storage).

        An agent who was talking stays talking if their phone is still on a
        call once AMI is up (see ``on_resync``); otherwise they go to wrap-up.
        """
        for job_number, change in (await self._agent_log.latest()).items():
            if job_number in self._core.agents:
                self._core.restore_agent(job_number, change.new, change.reason, change.at)
                if change.new is AgentState.TALKING:
                    self._talking_before_restart[job_number] = change.at

    async def restore_callbacks(self) -> None:
        """Callback requests nobody has taken yet wait again, at their place, after a restart."""
        since = self._p.clock() - CALLBACK_HORIZON_SECONDS
        requests = []
        for event in await self._events.pending_callbacks(since):
            data = event.data
            line, number = str(data.get("line", "")), str(data.get("number", ""))
            if line not in self._tree.lines or not number:
                log.warning("callback_not_restored", request=event.call_id, line=line)
                continue
            placed = data.get("since")
            requests.append(
                WaitingCall(
                    event.call_id,
                    line,
                    float(placed) if placed is not None else event.at.timestamp(),
                    int(data.get("priority") or 0),
                    number,
                    callback_number=number,
                )
            )
        self._core.restore_callbacks(requests)
        if requests:
            log.info("callbacks_restored", requests=[r.call_id for r in requests])
            self._p.live.publish_queue()

    def on_resync(self, report: Reconciliation, live: list[Channel]) -> None:
        """After a (re)connect: forget what vanished, find callers waiting from before."""
        for channel in report.vanished:
            info = self._book.calls.get(channel.uniqueid)
            if info is not None and info.recording is not None:
                # The call vanished without a MixMonitorStop (Asterisk went down).
                self._recordings.ended(channel.uniqueid, False)
            self._tracking.hung_up(channel.uniqueid)
        self.live_channels = {c.uniqueid for c in live}
        self._p.tasks.spawn(self._recordings.close_orphans(self.live_channels), "acd-rec")
        self._resume_talking(live)
        waiting = [
            c
            for c in live
            if c.context == WAIT_CONTEXT
            and c.exten != "connect"  # already being put through to an agent
            and c.uniqueid not in self._book.calls
        ]
        if waiting:
            self._p.tasks.spawn(self._adopt(waiting), "acd-adopt")

    def _resume_talking(self, live: list[Channel]) -> None:
        """Agents whose bridged call went on while the engine restarted stay talking."""
        for job_number, since in self._talking_before_restart.items():
            endpoint = self._core.status(job_number).agent.endpoint
            channel = next((c for c in live if c.name.startswith(endpoint + "-")), None)
            if channel is None:
                continue
            uid = channel.uniqueid
            self._core.restore_agent(job_number, AgentState.TALKING, None, since, talking_on=uid)
            self._book.legs[uid] = AgentLeg(uid, uid, job_number, answered=True)
            log.info("agent_still_talking", agent=job_number, channel=channel.name)
        self._talking_before_restart.clear()

    async def _adopt(self, channels: list[Channel]) -> None:
        """Take back callers who waited through an engine restart, in their original order."""
        found = []
        for channel in channels:
            try:
                values = {
                    name: await self._p.executor.getvar(channel.uniqueid, name)
                    for name in ADOPT_VARIABLES
                }
                enqueued_at = float(values["ACD_ENQUEUED_AT"])
            except (AmiError, ValueError) as exc:
                log.warning("adopt_failed", call_id=channel.uniqueid, error=str(exc))
                continue
            line = values["ACD_LINE"]
            if line not in self._tree.lines:
                continue
            if channel.uniqueid not in self._channels:
                # The caller hung up while we asked: taking them back would leave a ghost.
                log.info("adopt_gone", call_id=channel.uniqueid)
                continue
            info = CallInfo(
                channel.uniqueid,
                line,
                values["ACD_LANG"] or "en",
                channel.caller_number,
                channel.caller_name,
                enqueued_at,
            )
            self._book.calls[info.call_id] = info
            found.append(WaitingCall(info.call_id, line, enqueued_at, caller=info.caller_number))
        # One may have hung up while we asked about the others: no ghosts.
        gone = [c for c in found if c.call_id not in self._channels]
        for call in gone:
            self._book.calls.pop(call.call_id, None)
            log.info("adopt_gone", call_id=call.call_id)
        found = [c for c in found if c.call_id in self._channels]
        log.info("callers_adopted", calls=[c.call_id for c in sorted(found, key=lambda c: c.order)])
        self._p.handle(self._core.restore_waiting(found, self._p.clock()))
