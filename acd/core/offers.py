"""Waiting calls and the offers made to ready agents. Pure: events and time in, outputs out.

A waiting call goes to a ready agent with the line's skill, highest skill
level first, then longest idle. Calls are served by priority, then by how long
they have waited, across lines, so a freed agent takes the longest-waiting
caller among the lines they serve. One offer per agent at a time; an
unanswered offer puts the agent not ready ("no answer") and the call goes to
the next agent without losing its place.

While the AMI link to Asterisk is down nobody is offered a call and nobody is
marked "no answer": a ring the engine cannot see is not the agent's fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from acd.core.agents import (
    Agent,
    AgentAction,
    AgentState,
    AgentStatus,
    NotReadyReason,
)
from acd.core.commands import CallAbandoned, Output, RingAgent, StopRinging, TellAgent
from acd.core.peak import PeakLevel, PeakLevelChanged
from acd.core.queueing import (
    BREAK_REASONS,
    AcdRules,
    ConnectedCall,
    Refused,
    WaitingCall,
    announcement_ended,
    announcements_due,
    in_order,
    position,
)
from acd.core.roster import STAFFED, AgentRoster


class OfferingQueue(AgentRoster):
    """Agents, waiting calls and the offers that join them, and whether Asterisk is reachable."""

    def __init__(self, rules: AcdRules | None = None, agents: Iterable[Agent] = ()) -> None:
        super().__init__(rules, agents)
        self.waiting: dict[str, WaitingCall] = {}
        self.connected: dict[str, ConnectedCall] = {}
        self.pbx_up = True  # whether commands can reach Asterisk (the AMI link is up)
        self._offers_paused_until = 0.0  # after Asterisk refused a ring

    # -- agents ---------------------------------------------------------------

    def set_ready(self, job_number: str, now: float) -> list[Output]:
        out: list[Output] = [self._change(self.status(job_number), AgentAction.READY, now)]
        return out + self._dispatch(now)

    def set_not_ready(self, job_number: str, reason: NotReadyReason, now: float) -> list[Output]:
        """Go not ready; breaks and callback work are checked against the peak plan."""
        status = self.status(job_number)
        self._check_not_ready_allowed(status, reason)
        return [self._change(status, AgentAction.NOT_READY, now, reason=reason)]

    def end_wrap_up(self, job_number: str, now: float) -> list[Output]:
        status = self.status(job_number)
        if status.state is not AgentState.AFTER_CALL:
            raise Refused(f"agent {job_number} is not in after-call work")
        if not self.wrap_up_may_end(status):
            raise Refused(f"agent {job_number}'s transfer is still being carried out")
        return self._finish_wrap_up(status, now)

    def wrap_up_may_end(self, status: AgentStatus) -> bool:
        """Whether nothing holds this agent's after-call work (see the distributor)."""
        return True

    # -- waiting calls --------------------------------------------------------

    def call_arrived(
        self, call_id: str, line: str, now: float, *, priority: int = 0, caller: str = ""
    ) -> list[Output]:
        """A caller chose a line and now waits (music on hold) for an agent."""
        if call_id in self.waiting or call_id in self.connected:
            return []  # the same call reported twice (e.g. after a resync)
        self.waiting[call_id] = WaitingCall(call_id, line, now, priority, caller)
        return self._dispatch(now)

    def restore_waiting(self, calls: Iterable[WaitingCall], now: float) -> list[Output]:
        """Take back callers found waiting after an engine restart, in their original order."""
        for call in calls:
            call.offered_to = call.ring_deadline = None
            self.waiting.setdefault(call.call_id, call)
        return self._dispatch(now)

    def call_abandoned(self, call_id: str, now: float) -> list[Output]:
        """The caller hung up while waiting or while an agent's phone rang."""
        call = self.waiting.get(call_id)
        if call is None or call.callback_number is not None:
            return []
        del self.waiting[call_id]
        self.waits.abandoned(call_id, call.line)
        out: list[Output] = [
            CallAbandoned(call_id, call.line, now - call.enqueued_at, call.offered_to, now)
        ]
        out += self._withdraw_offer(call, now)
        return out + self._dispatch(now)

    def position_announced(self, call_id: str, now: float) -> None:
        """The caller's position announcement ended: the next one is due from now."""
        announcement_ended(self.waiting, call_id, now)

    def ring_failed(self, job_number: str, call_id: str, now: float) -> list[Output]:
        """The agent's phone was not answered (or refused): next agent, same place."""
        call = self.waiting.get(call_id)
        if call is None or call.offered_to != job_number:
            return []
        return self._ring_no_answer(call, now) + self._dispatch(now)

    def ring_lost(self, job_number: str, call_id: str, now: float) -> list[Output]:
        """The ring never reached the phone, or Asterisk lost it: not the agent's fault.

        The offer is withdrawn (the agent is ready again, keeping their place
        in the idle order) and the call keeps its place.
        """
        call = self.waiting.get(call_id)
        if call is None or call.offered_to != job_number:
            return []
        return self._withdraw_offer(call, now) + self._dispatch(now)

    # -- the link to Asterisk -------------------------------------------------

    def pbx_lost(self, now: float) -> list[Output]:
        """The AMI link is down: no offers, no "no answer", no announcements until it is back."""
        self.pbx_up = False
        return []

    def pause_offers(self, until: float) -> None:
        """No offers before ``until`` (Asterisk refused one: a moment's pause, then again)."""
        self._offers_paused_until = max(self._offers_paused_until, until)

    def pbx_restored(self, now: float) -> list[Output]:
        """The link is back and the engine's view resynced: rings in flight get a fresh window."""
        self.pbx_up = True
        for call in self.waiting.values():
            if call.offered_to is not None:
                call.ring_deadline = now + self.rules.ring_timeout
        return self._dispatch(now)

    # -- time -----------------------------------------------------------------

    def tick(self, now: float) -> list[Output]:
        """Timers: unanswered rings, ends of wrap-up, position announcements, peak plan."""
        out: list[Output] = []
        for call in in_order(self.waiting.values()):
            if call.ring_deadline is not None and now >= call.ring_deadline:
                if self.pbx_up:  # a ring nobody can see is not "no answer"
                    out += self._ring_no_answer(call, now)
            elif call.offered_to is None and call.target_until is not None:
                if now >= call.target_until:  # the person never came: the line takes it
                    call.target_agent = call.target_until = None
        for status in self.agents.values():
            if status.state is AgentState.AFTER_CALL and status.wrap_up_until is not None:
                if now >= status.wrap_up_until and self.wrap_up_may_end(status):
                    out += self._finish_wrap_up(status, now, dispatch=False)
        if self.pbx_up:
            for due in announcements_due(self.waiting, self.rules.announce_every, now):
                call = self.waiting[due.call_id]
                place = self.place_for_agents(call)
                wait = self.waits.expected_wait(call.line, place, self.staffed_for(call.line))
                out.append(replace(due, expected_wait=wait))
        return out + self._dispatch(now)

    # -- views ----------------------------------------------------------------

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call among the calls of its line."""
        return position(self.waiting, call_id)

    def place_for_agents(self, call: WaitingCall) -> float:
        """Place of a waiting call among the callers that its line's agents will serve first.

        Its line's position counts only its own line; agents who also take
        other lines serve those lines' callers who came first too. A caller of
        another line counts by the share of that line's staffed agents who may
        also take this one's (one shared agent among six counts for a sixth);
        a caller none of them may take does not count.
        """
        staffed = [s.agent for s in self.agents.values() if s.state in STAFFED]
        mine = {a.job_number for a in staffed if self._serves(a, call.line)}
        share: dict[str, float] = {call.line: 1.0}
        ahead = 0.0
        for other in self.waiting.values():
            if other.order >= call.order:
                continue
            if other.line not in share:
                theirs = [a.job_number for a in staffed if self._serves(a, other.line)]
                common = sum(1 for job in theirs if job in mine)
                share[other.line] = common / len(theirs) if theirs else 0.0
            ahead += share[other.line]
        return ahead + 1

    def live_waiting(self) -> int:
        return sum(1 for c in self.waiting.values() if c.callback_number is None)

    # -- rules ----------------------------------------------------------------

    def _dispatch(self, now: float) -> list[Output]:
        out: list[Output] = []
        can_offer = self.pbx_up and now >= self._offers_paused_until
        for call in in_order(self.waiting.values()) if can_offer else ():
            if call.offered_to is not None:
                continue
            if call.target_agent is not None:
                target = self.agents[call.target_agent]
                status = target if target.state is AgentState.READY else None
            else:
                status = self._best_agent(call.line)
            if status is None:
                continue
            out += self._offer(call, status, AgentAction.OFFER, now)
        return out + self._after_queue_change(now)

    def _offer(
        self, call: WaitingCall, status: AgentStatus, action: AgentAction, now: float
    ) -> list[Output]:
        """Ring this agent for this call; the call keeps its place until answered."""
        change = self._change(status, action, now, call_id=call.call_id)
        call.offered_to = status.agent.job_number
        call.ring_deadline = now + self.rules.ring_timeout
        agent = status.agent
        ring = RingAgent(
            call.call_id,
            agent.job_number,
            agent.endpoint,
            call.line,
            self.rules.ring_timeout,
            call.callback_number,
        )
        return [change, ring]

    def _after_queue_change(self, now: float) -> list[Output]:
        change = self.peak.update(self.live_waiting(), now)
        if change is None:
            return []
        return [change, *self._apply_peak(change, now)]

    def _apply_peak(self, change: PeakLevelChanged, now: float) -> list[Output]:
        out: list[Output] = []
        if change.old < PeakLevel.CALLBACKS_AND_BREAKS_STOP <= change.new:
            for status in self.agents.values():
                if status.reason is NotReadyReason.CALLBACK_WORK:
                    out.append(self._change(status, AgentAction.READY, now))
                    out.append(
                        TellAgent(
                            status.agent.job_number,
                            "peak: callback work paused, take calls",
                            "peak_callbacks_paused",
                        )
                    )
                elif status.reason in BREAK_REASONS:
                    out.append(
                        TellAgent(
                            status.agent.job_number,
                            "peak: breaks suspended, please return",
                            "peak_breaks_suspended",
                        )
                    )
        if change.new is PeakLevel.ALL_STAFF:
            for status in self.agents.values():
                if status.state is not AgentState.LOGGED_OUT:
                    out.append(
                        TellAgent(
                            status.agent.job_number,
                            "peak: all staff on the phones, all lines",
                            "peak_all_staff",
                        )
                    )
        return out

    def _ring_no_answer(self, call: WaitingCall, now: float) -> list[Output]:
        job = call.offered_to
        assert job is not None
        status = self.agents[job]
        call.offered_to = call.ring_deadline = None
        call.target_agent = call.target_until = None  # a transfer's person: the line next
        return [
            StopRinging(call.call_id, job),
            self._change(
                status,
                AgentAction.RING_NO_ANSWER,
                now,
                reason=NotReadyReason.NO_ANSWER,
                call_id=call.call_id,
            ),
        ]

    def _withdraw_offer(self, call: WaitingCall, now: float) -> list[Output]:
        if call.offered_to is None:
            return []
        status = self.agents[call.offered_to]
        out: list[Output] = [StopRinging(call.call_id, call.offered_to)]
        if status.state is AgentState.RINGING and status.call_id == call.call_id:
            out.append(self._change(status, AgentAction.OFFER_WITHDRAWN, now))
        call.offered_to = call.ring_deadline = None
        return out

    def _finish_wrap_up(
        self, status: AgentStatus, now: float, dispatch: bool = True
    ) -> list[Output]:
        if status.break_after_call:
            status.break_after_call = False
            if self.peak.level < PeakLevel.CALLBACKS_AND_BREAKS_STOP:
                return [
                    self._change(status, AgentAction.NOT_READY, now, reason=NotReadyReason.BREAK)
                ]
        out: list[Output] = [self._change(status, AgentAction.WRAP_UP_ENDED, now)]
        return out + (self._dispatch(now) if dispatch else [])
