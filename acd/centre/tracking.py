"""What Asterisk reports about our calls, fed back into the core in stream order.

An agent picked up the leg we rang, a ring failed, a channel hung up, the
caller heard the greeting or their position: each event updates the call
book and goes to the core, whose outputs the pipeline carries out.
"""

from __future__ import annotations

from typing import assert_never

from acd.ami.calls import WAIT_CONTEXT
from acd.centre.pipeline import Pipeline
from acd.centre.recording import RecordingLifecycle
from acd.core.channels import CallerIdChanged, ChannelCreated, ChannelHungUp, ChannelStateChanged
from acd.core.progress import (
    AgentAnswered,
    CallerGreeted,
    PbxEvent,
    PositionAnnounced,
    RingFailed,
)

# Where in the waiting context a caller has been put through to an agent (the dialplan's
# greeting and bridge, and the recording and hold steps that return to it).
PUT_THROUGH = frozenset({"connect", "rejoin", "record", "record-held"})


class CallTracking:
    """Follows our callers' channels and agents' legs through Asterisk's events."""

    def __init__(self, pipeline: Pipeline, recordings: RecordingLifecycle) -> None:
        self._p = pipeline
        self._core = pipeline.core
        self._book = pipeline.book
        self._executor = pipeline.executor
        self._recordings = recordings

    def on_pbx_event(self, event: PbxEvent) -> None:
        """One event from the engine, in stream order."""
        match event:
            case AgentAnswered():
                self._agent_answered(event)
            case CallerGreeted():
                # The caller heard "agent 1001 at your service" (or the files failed).
                self._p.note(event.call_id, "greeted", agent=event.agent, status=event.status)
            case PositionAnnounced():
                self._core.position_announced(event.call_id, self._p.clock())
                self._p.note(
                    event.call_id,
                    "position_announced",
                    position=event.position,
                    status=event.status,
                )
            case ChannelHungUp():
                put_through = event.context == WAIT_CONTEXT and event.exten in PUT_THROUGH
                self.hung_up(event.uniqueid, put_through=put_through)
            case RingFailed():
                self._ring_failed(event.uniqueid)
            case ChannelCreated():
                self._created(event.channel.uniqueid)
            case ChannelStateChanged() | CallerIdChanged():
                pass  # the engine's channel view has them
            case _:
                assert_never(event)

    def _created(self, uniqueid: str) -> None:
        if uniqueid in self._book.cancelled:
            # acd stopped ringing this leg before its channel was reported: end it now.
            self._book.cancelled.discard(uniqueid)
            self._p.tasks.spawn(self._executor.hang_up_leg(uniqueid), "acd-cancel-leg")

    def _agent_answered(self, event: AgentAnswered) -> None:
        leg = self._book.legs.get(event.uniqueid) or self._book.legs.get(event.leg)
        if leg is None:
            # A leg rung by an engine that has since restarted: nobody waits for it.
            self._p.tasks.spawn(self._executor.hang_up_unknown_leg(event.uniqueid), "acd-drop-leg")
            return
        leg.answered = True
        self._p.handle(self._core.agent_answered(leg.job_number, leg.call_id, self._p.clock()))

    def hung_up(self, uniqueid: str, *, unseen: bool = False, put_through: bool = False) -> None:
        """A channel is gone: an agent's leg, a caller, or a supervisor's spy leg.

        ``unseen``: it went while the AMI link was down (found at the resync), so
        a ring that ended then is not taken as the agent's "no answer".
        ``put_through``: a caller who hung up where Asterisk puts callers through
        (the greeting, the bridge): answered, even if Asterisk's answer to the
        put-through has not reached the engine yet (the events can overtake it).
        """
        self._book.forget_spies_on(uniqueid)
        self._book.cancelled.discard(uniqueid)
        if uniqueid in self._book.legs:
            self._leg_hung_up(uniqueid, unseen)
        elif uniqueid in self._book.calls:
            connected = self._core.connected.get(uniqueid)
            sent_to = self._book.calls[uniqueid].put_through_to
            if put_through and connected is not None and connected.job_number == sent_to:
                self._p.handle(self._core.put_through(uniqueid))
            self._caller_hung_up(uniqueid)

    def _leg_hung_up(self, uniqueid: str, unseen: bool = False) -> None:
        now = self._p.clock()
        leg = self._book.legs.pop(uniqueid)
        held = self._book.calls.get(leg.call_id)
        if held is not None and held.held:
            # The agent hung up with the caller on hold: do not leave them in music.
            self._p.tasks.spawn(self._executor.hang_up_call(leg.call_id), "acd-end-held")
        connected = self._core.connected.get(leg.call_id)
        # Only the leg of the agent who has the call ends it: a transferred caller's
        # earlier agent hanging up late must not end the new agent's call.
        if leg.answered and connected is not None and connected.job_number == leg.job_number:
            self._p.handle(self._core.call_ended(leg.call_id, now, by_agent=True))
        elif leg.answered:
            pass  # an answered leg that no longer has the call (let go): never "no answer"
        elif unseen:  # the ring ended while acd could not see it: not the agent's fault
            self._p.handle(self._core.ring_lost(leg.job_number, leg.call_id, now))
        else:
            self._p.handle(self._core.ring_failed(leg.job_number, leg.call_id, now))

    def _caller_hung_up(self, uniqueid: str) -> None:
        now = self._p.clock()
        info = self._book.calls.pop(uniqueid)
        if info.recording is not None:
            self._recordings.ended(uniqueid, True)
        if info.held:  # the caller left while on hold: free the waiting agent leg
            status = next((s for s in self._core.agents.values() if s.call_id == uniqueid), None)
            if status is not None:
                self._p.tasks.spawn(
                    self._executor.hang_up_agent(status.agent.job_number), "acd-end-held"
                )
        else:
            # A caller who leaves during the greeting was never bridged: the agent's
            # answered leg would wait on a dead call while the agent is offered the next.
            for leg in self._book.answered_legs(uniqueid):
                self._p.tasks.spawn(self._executor.hang_up_leg(leg.leg_id), "acd-end-leg")
        self._p.handle(
            self._core.call_abandoned(uniqueid, now) + self._core.call_ended(uniqueid, now)
        )

    def _ring_failed(self, uniqueid: str) -> None:
        self._book.cancelled.discard(uniqueid)
        leg = self._book.legs.pop(uniqueid, None)
        if leg is None:
            return
        if leg.outbound:  # the agent's phone never took the click-to-dial call
            self._p.handle(self._core.call_ended(leg.call_id, self._p.clock()))
        elif not leg.answered:
            self._p.handle(self._core.ring_failed(leg.job_number, leg.call_id, self._p.clock()))
