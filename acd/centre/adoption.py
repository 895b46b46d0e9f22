"""Taking back agents and callers after an engine restart or an AMI outage, in order.

Agents keep their state (read from storage). After every (re)connect the
engine's snapshot of Asterisk tells what vanished meanwhile and which callers
are still waiting in the music from before: they are adopted with the time
they joined the queue (kept on their channel), so nobody loses their place.
Agents' phones are reconciled too: a ring that ended unseen is not the agent's
"no answer", a phone picked up while the link was down is connected, and a
ring left over from an earlier engine is stopped before the call is offered
again. A call still talking keeps its caller's call id.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import structlog

from acd.ami.calls import WAIT_CONTEXT
from acd.ami.errors import AmiError
from acd.centre.pipeline import Pipeline
from acd.centre.recording import RecordingLifecycle
from acd.centre.talking import TalkingCalls
from acd.centre.tasks import retry_while_busy
from acd.centre.tracking import CallTracking
from acd.core.agents import AgentState
from acd.core.calls import CallInfo
from acd.core.channels import Channel, ChannelRegistry, Reconciliation
from acd.core.commands import CallAbandoned
from acd.core.figures import by_call
from acd.core.progress import AgentAnswered
from acd.core.queueing import WaitingCall
from acd.storage.agent_states import AgentStateLog
from acd.storage.events import CallEventLog
from acd.storage.recordings import RecordingStore
from ivr.tree import IvrTree

log = structlog.get_logger("acd.adoption")

# Channel variables the dialplan keeps on a waiting caller (set by the IVR).
ADOPT_VARIABLES = ("ACD_LINE", "ACD_ENQUEUED_AT", "ACD_LANG")
# A callback request nobody took within this long is not brought back.
CALLBACK_HORIZON_SECONDS = 7 * 24 * 3600.0
UNSEEN_HORIZON_SECONDS = 24 * 3600.0  # how far back a call that ended unseen is looked for
PBX_ALARM = "pbx_link"  # raised while the AMI link to Asterisk is down
LEG_PREFIX = "acd-"  # the uniqueids acd gives the legs it rings


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
        recording_rows: RecordingStore,
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
        self._recording_rows = recording_rows
        self._talking = TalkingCalls(pipeline, tree, events, recordings, recording_rows, channels)
        self._talking_before_restart: dict[str, float] = {}
        self._first_resync = True
        self._accounted: set[str] = set()  # calls found ended unseen (counted once)
        self.live_channels: set[str] = set()  # uniqueids Asterisk had at the last resync

    async def restore_agents(self) -> None:
        """Agents keep their state across an engine restart (read from storage).

        An agent who was talking stays talking if their phone is still on a
        call once AMI is up (see ``on_resync``); otherwise they go to wrap-up.
        """
        for job_number, change in (await self._agent_log.latest()).items():
            if job_number in self._core.agents:
                self._core.restore_agent(
                    job_number, change.new, change.reason, change.at, endpoint=change.endpoint
                )
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

    def on_link_lost(self, reason: str) -> None:
        """The AMI link dropped: nobody is offered a call or marked no-answer until it is back."""
        now = self._p.clock()
        self._p.handle(self._core.pbx_lost(now))
        if PBX_ALARM not in self._p.live.alarms:
            self._p.live.alarms[PBX_ALARM] = {"since": now, "error": reason}
            self._p.live.bus.publish("alarm", now, alarm=PBX_ALARM, raised=True, error=reason)

    def on_resync(self, report: Reconciliation, live: list[Channel]) -> None:
        """After a (re)connect: forget what vanished, find callers waiting from before."""
        for channel in report.vanished:
            info = self._book.calls.get(channel.uniqueid)
            if info is not None and info.recording is not None:
                # The call vanished without a MixMonitorStop (Asterisk went down).
                self._recordings.ended(channel.uniqueid, False)
            try:
                self._tracking.hung_up(channel.uniqueid, unseen=True)
            except Exception:  # one odd channel must not stop the others
                log.exception("vanished_channel_failed", channel=channel.uniqueid)
        self.live_channels = {c.uniqueid for c in live}
        for call_id in [c for c in self._book.calls if c not in self.live_channels]:
            # Queued while the link was down and gone before it came back: its channel
            # never reached the engine's view, so it did not "vanish". It ended unseen.
            try:
                self._tracking.hung_up(call_id, unseen=True)
            except Exception:
                log.exception("vanished_channel_failed", channel=call_id)
        self._p.tasks.spawn(self._recordings.close_orphans(self.live_channels), "acd-rec")
        self._p.tasks.spawn(self._follow_live_recordings(), "acd-rec")
        if self._first_resync:  # calls that ended while no engine was running
            self._first_resync = False
            self._p.tasks.spawn(self._account_unseen_ends(self.live_channels), "acd-account")
        try:
            self._reconcile_legs(live)
            self._talking.resume(live, self._talking_before_restart)
            self._talking_before_restart.clear()
        finally:  # whatever one odd channel did, offers resume: never stuck "link down"
            now = self._p.clock()
            self._p.handle(self._core.pbx_restored(now))
            if self._p.live.alarms.pop(PBX_ALARM, None) is not None:
                self._p.live.bus.publish("alarm", now, alarm=PBX_ALARM, raised=False)
        waiting = [
            c
            for c in live
            if c.context == WAIT_CONTEXT
            and c.exten != "connect"  # already being put through to an agent
            and c.uniqueid not in self._book.calls
        ]
        if waiting:
            self._p.tasks.spawn(self._adopt(waiting), "acd-adopt")

    def _reconcile_legs(self, live: list[Channel]) -> None:
        """Agents' legs after a reconnect: what happened to them while the link was down."""
        by_id = {c.uniqueid: c for c in live}
        for leg in list(self._book.legs.values()):
            channel = by_id.get(leg.leg_id)
            if channel is None:
                if leg.leg_id in self._book.legs:  # gone unseen (or never placed)
                    self._tracking.hung_up(leg.leg_id, unseen=True)
            elif not leg.answered and channel.state == "Up":
                # Picked up while the link was down: its AcdAgentAnswered was lost.
                log.info("answered_unseen", call_id=leg.call_id, agent=leg.job_number)
                self._tracking.on_pbx_event(AgentAnswered(leg.leg_id, leg.leg_id))
        known = set(self._book.legs) | {s.leg_id for s in self._book.spies.values()}
        for channel in live:
            uid = channel.uniqueid
            stale = uid.startswith(LEG_PREFIX) and uid not in known and channel.state != "Up"
            if uid in self._book.cancelled or stale:
                # Stopped while the link was down, or rung by an engine that has since
                # restarted: stop it before the call is offered again (no double ring).
                log.info("stale_leg_hung_up", leg=uid, channel=channel.name)
                self._p.tasks.spawn(self._p.executor.hang_up_leg(uid), "acd-stale-leg")
        self._book.cancelled.intersection_update(by_id)

    async def _follow_live_recordings(self) -> None:
        """Recordings still running on a live call: the call's end measures them.

        After a restart, a caller rating the call (the agent hung up while no
        engine ran) or taken back as waiting after a transfer is still being
        recorded; the engine follows the call so that its hang-up finishes the
        recording, instead of leaving it open until the next start.
        """
        try:
            rows = await self._recording_rows.open_ones()
        except Exception as exc:  # a busy database: closed at the next start instead
            log.warning("live_recordings_not_followed", error=str(exc))
            return
        for row in rows:
            channel = self._channels.get(row.call_id)
            info = self._book.calls.get(row.call_id)
            if channel is None:
                if row.call_id in self.live_channels:  # it ended while we read
                    self._recordings.ended(row.call_id, True)
                continue
            if info is not None:
                info.recording = info.recording or Path(row.path)
            elif channel.context != WAIT_CONTEXT:  # (a waiting caller is taken back whole)
                self._book.calls[row.call_id] = CallInfo(
                    row.call_id, row.line, "en", row.caller, recording=Path(row.path)
                )

    async def _account_unseen_ends(self, live: set[str]) -> None:
        """Calls queued before this engine started that ended unseen count as abandoned.

        A caller who hung up while no engine ran (or whose last fact was lost
        with a killed engine) is in no figure otherwise. When they hung up is
        not known: the wait is counted up to now (an upper bound), marked
        ``unseen``; so the service level is never flattered.
        """
        now = self._p.clock()
        facts = []

        async def read() -> None:
            facts.extend(await self._events.call_facts(now - UNSEEN_HORIZON_SECONDS))

        try:
            await retry_while_busy(read, "unseen_calls")
        except Exception as exc:
            log.error("unseen_calls_not_accounted", error=str(exc))
            return
        ended = []
        for call_id, call in by_call(facts).items():
            kinds = {f.kind for f in call}
            if "queued" not in kinds or kinds & {"answered", "abandoned", "callback_requested"}:
                continue
            if call_id in live or call_id in self._core.waiting or call_id in self._book.calls:
                continue  # still on the line (taken back, or being taken back)
            if call_id in self._accounted:
                continue
            self._accounted.add(call_id)
            queued = next(f for f in call if f.kind == "queued")
            line = str(queued.data.get("line", ""))
            ended.append(CallAbandoned(call_id, line, now - queued.at, None, now))
            self._p.note(call_id, "ended_unseen", line=line)
        if ended:
            log.warning("unseen_calls_abandoned", calls=[c.call_id for c in ended])
            self._p.handle(ended)

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
            with contextlib.suppress(Exception):  # a transferred caller's recording goes on
                row = await self._recording_rows.get(info.call_id)
                if row is not None and row.size is None:
                    info.recording = Path(row.path)
            found.append(WaitingCall(info.call_id, line, enqueued_at, caller=info.caller_number))
        # One may have hung up while we asked about the others: no ghosts.
        gone = [c for c in found if c.call_id not in self._channels]
        for call in gone:
            self._book.calls.pop(call.call_id, None)
            log.info("adopt_gone", call_id=call.call_id)
        found = [c for c in found if c.call_id in self._channels]
        log.info("callers_adopted", calls=[c.call_id for c in sorted(found, key=lambda c: c.order)])
        self._p.handle(self._core.restore_waiting(found, self._p.clock()))
        if len(found) < len(channels):  # some hung up while we asked: they count too
            live = {c.uniqueid for c in self._channels.all()}
            self._p.tasks.spawn(self._account_unseen_ends(live), "acd-account")
