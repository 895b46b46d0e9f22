"""The ACD: waiting calls meet ready agents. Pure: events and time in, commands out.

Routing: a waiting call goes to a ready agent with the line's skill, highest
skill level first, then longest idle. Calls are served by priority, then by
how long they have waited, across lines, so a freed agent takes the
longest-waiting caller among the lines they serve. One offer per agent at a
time; an unanswered offer puts the agent not ready ("no answer") and the call
goes to the next agent without losing its place.
"""

from __future__ import annotations

from collections.abc import Iterable

from acd.core.agents import (
    Agent,
    AgentAction,
    AgentState,
    AgentStatus,
    NotReadyReason,
)
from acd.core.commands import (
    CallAbandoned,
    CallAnswered,
    ConnectCall,
    DialCallback,
    DialOut,
    Output,
    RingAgent,
    StopRinging,
    TellAgent,
    TransferCall,
)
from acd.core.peak import PeakLevel, PeakLevelChanged
from acd.core.queueing import (
    BREAK_REASONS,
    AcdRules,
    ConnectedCall,
    NoSuchCall,
    Refused,
    WaitingCall,
    announcements_due,
    in_order,
    position,
)
from acd.core.roster import AgentRoster


class CallDistributor(AgentRoster):
    """Agents, waiting calls and the peak plan, and the rules that join them."""

    def __init__(self, rules: AcdRules | None = None, agents: Iterable[Agent] = ()) -> None:
        super().__init__(rules, agents)
        self.waiting: dict[str, WaitingCall] = {}
        self.connected: dict[str, ConnectedCall] = {}
        self._callbacks_done: set[str] = set()

    # -- agents ---------------------------------------------------------------

    def restore_agent(
        self,
        job_number: str,
        state: AgentState,
        reason: NotReadyReason | None,
        since: float,
        *,
        talking_on: str | None = None,
        line: str = "",
    ) -> None:
        """Put an agent back where they were before an engine restart.

        An offer that was ringing is gone with the old engine: the agent is
        ready again. An agent still on a call (``talking_on``, the live call)
        stays talking until that call ends.
        """
        status = self.status(job_number)
        if state is AgentState.RINGING:
            state, reason = AgentState.READY, None
        if state is AgentState.TALKING and talking_on is None:
            state = AgentState.AFTER_CALL
        if state is AgentState.AFTER_CALL:
            status.wrap_up_until = since + self.rules.wrap_up
        status.state, status.reason, status.since = state, reason, since
        status.idle_since = since
        if state is AgentState.READY:
            self._ready.became_ready(status)
        if state is AgentState.TALKING and talking_on is not None:
            status.call_id = talking_on
            self.connected[talking_on] = ConnectedCall(talking_on, line, job_number)

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
        return self._finish_wrap_up(status, now)

    # -- calls ----------------------------------------------------------------

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

    def restore_callbacks(self, requests: Iterable[WaitingCall]) -> None:
        """Callback requests stored before a restart wait again at their place.

        They are offered at the next dispatch, after callers still waiting in
        Asterisk have been taken back too.
        """
        for request in requests:
            if request.call_id in self.waiting or request.call_id in self._callbacks_done:
                continue
            request.offered_to = request.ring_deadline = None
            self.waiting[request.call_id] = request

    def callback_requested(
        self, request_id: str, line: str, number: str, now: float, *, replaces: str | None = None
    ) -> list[Output]:
        """A caller asked to be called back; pressed while waiting it keeps their place."""
        if request_id in self.waiting or request_id in self._callbacks_done:
            return []
        out: list[Output] = []
        enqueued_at, priority = now, 0
        if replaces is not None and replaces in self.waiting:
            old = self.waiting.pop(replaces)
            enqueued_at, priority = old.enqueued_at, old.priority
            out += self._withdraw_offer(old, now)
        self.waiting[request_id] = WaitingCall(
            request_id, line, enqueued_at, priority, number, callback_number=number
        )
        return out + self._dispatch(now)

    def call_abandoned(self, call_id: str, now: float) -> list[Output]:
        """The caller hung up while waiting or while an agent's phone rang."""
        call = self.waiting.get(call_id)
        if call is None or call.callback_number is not None:
            return []
        del self.waiting[call_id]
        out: list[Output] = [
            CallAbandoned(call_id, call.line, now - call.enqueued_at, call.offered_to, now)
        ]
        out += self._withdraw_offer(call, now)
        return out + self._dispatch(now)

    def agent_answered(self, job_number: str, call_id: str, now: float) -> list[Output]:
        """The agent picked up: connect them, unless the offer is no longer theirs."""
        status = self.status(job_number)
        call = self.waiting.get(call_id)
        if call is None or call.offered_to != job_number or status.call_id != call_id:
            # Too late: the caller left or the offer moved on. Drop the agent leg.
            return [StopRinging(call_id, job_number)]
        del self.waiting[call_id]
        self.connected[call_id] = ConnectedCall(call_id, call.line, job_number)
        out: list[Output] = [
            self._change(status, AgentAction.ANSWER, now, call_id=call_id),
            CallAnswered(call_id, call.line, job_number, now - call.enqueued_at, now),
        ]
        if call.callback_number is not None:
            self._callbacks_done.add(call_id)
            out.append(DialCallback(call_id, job_number, call.callback_number, call.line))
        else:
            out.append(ConnectCall(call_id, job_number, call.line))
        return out + self._after_queue_change(now)

    def ring_failed(self, job_number: str, call_id: str, now: float) -> list[Output]:
        """The agent's phone was not answered (or refused): next agent, same place."""
        call = self.waiting.get(call_id)
        if call is None or call.offered_to != job_number:
            return []
        return self._ring_no_answer(call, now) + self._dispatch(now)

    def call_ended(self, call_id: str, now: float) -> list[Output]:
        """A connected call ended: the agent goes to after-call work."""
        call = self.connected.pop(call_id, None)
        if call is None:
            return []
        status = self.agents[call.job_number]
        change = self._change(status, AgentAction.CALL_ENDED, now, call_id=call_id)
        status.wrap_up_until = now + self.rules.wrap_up
        return [change]

    def dial_out(self, job_number: str, call_id: str, number: str, now: float) -> list[Output]:
        """Click-to-dial: the agent's phone rings, then the number; no ACD offers meanwhile."""
        status = self.status(job_number)
        change = self._change(status, AgentAction.DIAL_OUT, now, call_id=call_id)
        self.connected[call_id] = ConnectedCall(call_id, "", job_number)
        return [change, DialOut(call_id, job_number, status.agent.endpoint, number)]

    def take_callback(self, job_number: str, now: float) -> list[Output]:
        """An agent on callback work takes the oldest callback request of their lines."""
        status = self.status(job_number)
        if status.reason is not NotReadyReason.CALLBACK_WORK:
            raise Refused(f"agent {job_number} is not on callback work")
        requests = sorted(
            (
                c
                for c in self.waiting.values()
                if c.callback_number is not None
                and c.offered_to is None
                and status.agent.level_for(c.line) > 0
            ),
            key=lambda c: c.order,
        )
        if not requests:
            raise Refused(f"no callback request waits for agent {job_number}'s lines")
        return self._offer(requests[0], status, AgentAction.TAKE_CALLBACK, now)

    def transfer(
        self, call_id: str, now: float, *, line: str | None = None, to_agent: str | None = None
    ) -> list[Output]:
        """Blind transfer: the agent's call goes back to waiting, for a line or one person.

        The agent goes to after-call work; the caller waits ahead of new callers
        (priority +1) and is offered to the target as soon as they are ready. A
        person who is not ready within ``ring_timeout``, or does not answer,
        leaves the caller to the line's queue.
        """
        call = self.connected.get(call_id)
        if call is None:
            raise NoSuchCall(f"no connected call {call_id}")
        if to_agent is not None:
            if to_agent == call.job_number:
                raise Refused("cannot transfer a call to the agent who has it")
            self.status(to_agent)  # NoSuchAgent if unknown
        del self.connected[call_id]
        status = self.agents[call.job_number]
        out: list[Output] = [self._change(status, AgentAction.CALL_ENDED, now, call_id=call_id)]
        status.wrap_up_until = now + self.rules.wrap_up
        target_line = line or call.line
        until = now + self.rules.ring_timeout if to_agent is not None else None
        self.waiting[call_id] = WaitingCall(
            call_id, target_line, now, priority=1, target_agent=to_agent, target_until=until
        )
        out.append(TransferCall(call_id, call.job_number, target_line, to_agent))
        return out + self._dispatch(now)

    # -- time -----------------------------------------------------------------

    def tick(self, now: float) -> list[Output]:
        """Timers: unanswered rings, ends of wrap-up, position announcements, peak plan."""
        out: list[Output] = []
        for call in in_order(self.waiting.values()):
            if call.ring_deadline is not None and now >= call.ring_deadline:
                out += self._ring_no_answer(call, now)
            elif call.offered_to is None and call.target_until is not None:
                if now >= call.target_until:  # the person never came: the line takes it
                    call.target_agent = call.target_until = None
        for status in self.agents.values():
            if status.state is AgentState.AFTER_CALL and status.wrap_up_until is not None:
                if now >= status.wrap_up_until:
                    out += self._finish_wrap_up(status, now, dispatch=False)
        out += announcements_due(self.waiting, self.rules.announce_every, now)
        return out + self._dispatch(now)

    # -- views ----------------------------------------------------------------

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call among the calls of its line."""
        return position(self.waiting, call_id)

    def live_waiting(self) -> int:
        return sum(1 for c in self.waiting.values() if c.callback_number is None)

    # -- rules ----------------------------------------------------------------

    def _dispatch(self, now: float) -> list[Output]:
        out: list[Output] = []
        for call in in_order(self.waiting.values()):
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
                        TellAgent(status.agent.job_number, "peak: callback work paused, take calls")
                    )
                elif status.reason in BREAK_REASONS:
                    out.append(
                        TellAgent(status.agent.job_number, "peak: breaks suspended, please return")
                    )
        if change.new is PeakLevel.ALL_STAFF:
            for status in self.agents.values():
                if status.state is not AgentState.LOGGED_OUT:
                    out.append(
                        TellAgent(
                            status.agent.job_number, "peak: all staff on the phones, all lines"
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


__all__ = ["CallDistributor", "NoSuchCall", "Refused"]  # the errors for older importers
