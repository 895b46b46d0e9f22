"""The ACD: answered calls, transfers, click-to-dial and callbacks, and repairs. Pure.

Built on the offering queue (acd.core.offers: waiting calls meet ready agents).
An answered call is *connected* only when Asterisk reports that it put the
caller through (``CommandDone`` of the ``ConnectCall``): only then does it
count as answered. Every command's outcome comes back here; when Asterisk did
not carry one out the core repairs what it had decided:

- a ring that never reached the phone (AMI down, no answer from Asterisk):
  the agent is ready again, the call keeps its place; a ring Asterisk refused
  is the phone's fault ("no answer"), as an unanswered one;
- a caller who could not be put through (or a callback not dialled): back in
  the queue at their place, the agent's leg hung up, the agent ready again;
- a transfer Asterisk did not make: the caller is still with the agent;
- a click-to-dial that never left: the agent is back where they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import assert_never

from acd.core.agents import Agent, AgentAction, AgentState, AgentStatus, NotReadyReason
from acd.core.commands import (
    AnnouncePosition,
    CallAbandoned,
    CallAnswered,
    CallNote,
    CommandDone,
    CommandFailed,
    CommandOutcome,
    ConnectCall,
    DialCallback,
    DialOut,
    Failure,
    Output,
    RingAgent,
    StopRinging,
    TellAgent,
    TransferCall,
)
from acd.core.offers import OfferingQueue
from acd.core.queueing import AcdRules, ConnectedCall, NoSuchCall, Refused, Resume, WaitingCall

REFUSED_PAUSE_SECONDS = 5.0  # no offers for a moment after Asterisk refused a ring


class CallDistributor(OfferingQueue):
    """Agents, waiting and connected calls, the peak plan, and the rules that join them."""

    def __init__(self, rules: AcdRules | None = None, agents: Iterable[Agent] = ()) -> None:
        super().__init__(rules, agents)
        self._callbacks_done: set[str] = set()
        self._transfers: dict[str, ConnectedCall] = {}  # until Asterisk made the transfer

    # -- restarts -------------------------------------------------------------

    def restore_agent(
        self,
        job_number: str,
        state: AgentState,
        reason: NotReadyReason | None,
        since: float,
        *,
        talking_on: str | None = None,
        line: str = "",
        endpoint: str | None = None,
    ) -> None:
        """Put an agent back where they were before an engine restart.

        An offer that was ringing is gone with the old engine: the agent is
        ready again. An agent still on a call (``talking_on``, the live call)
        stays talking until that call ends.
        """
        status = self.status(job_number)
        if endpoint is not None and state is not AgentState.LOGGED_OUT:
            status.agent = replace(status.agent, endpoint=endpoint)  # still at that phone
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

    def take_back_call(self, job_number: str, under: str, call_id: str) -> bool:
        """A call taken back after a restart is the caller's (``call_id``), not the leg's.

        False if the agent no longer has the call that was kept ``under`` the leg.
        """
        status = self.status(job_number)
        call = self.connected.pop(under, None)
        if call is None or status.call_id != under:
            return False
        call.call_id = call_id
        self.connected[call_id] = call
        status.call_id = call_id
        return True

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

    # -- calls ----------------------------------------------------------------

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

    def agent_answered(self, job_number: str, call_id: str, now: float) -> list[Output]:
        """The agent picked up: connect them, unless the offer is no longer theirs."""
        status = self.status(job_number)
        connected = self.connected.get(call_id)
        if connected is not None and connected.job_number == job_number:
            return []  # the same answer reported twice (the resync saw it first)
        call = self.waiting.get(call_id)
        if call is None or call.offered_to != job_number or status.call_id != call_id:
            # Too late: the caller left or the offer moved on. Drop the agent leg.
            return [StopRinging(call_id, job_number)]
        del self.waiting[call_id]
        self.connected[call_id] = ConnectedCall(
            call_id, call.line, job_number, waited_as=call, answered_at=now, resume=call.resume
        )
        out: list[Output] = [self._change(status, AgentAction.ANSWER, now, call_id=call_id)]
        if call.callback_number is not None:
            self._callbacks_done.add(call_id)
            out.append(DialCallback(call_id, job_number, call.callback_number, call.line))
        else:
            out.append(ConnectCall(call_id, job_number, call.line))
        return out + self._after_queue_change(now)

    def call_ended(self, call_id: str, now: float, *, by_agent: bool = False) -> list[Output]:
        """A connected call ended: the agent goes to after-call work.

        Before Asterisk put the caller through the call was never connected: a
        caller who leaves then is abandoned and the agent free at once; an
        agent whose phone goes then (``by_agent``) leaves the caller to wait
        again at their place, and is "not ready: no answer".
        """
        call = self.connected.get(call_id)
        if call is None:
            return []
        if call.waited_as is not None and by_agent:
            return self._connect_failed(call_id, call.job_number, now, agent_left=True)
        del self.connected[call_id]
        status = self.agents[call.job_number]
        mine = status.state is AgentState.TALKING and status.call_id == call_id
        waited = call.waited_as
        if waited is not None:
            out: list[Output] = []
            if waited.callback_number is None:
                self.waits.abandoned(call_id, call.line)
                out.append(CallAbandoned(call_id, call.line, now - waited.enqueued_at, None, now))
            if mine:
                out.append(self._change(status, AgentAction.CONNECT_FAILED, now))
            return out + self._dispatch(now)
        if not mine:
            return []  # the agent has already moved on (e.g. a transfer that failed late)
        change = self._change(status, AgentAction.CALL_ENDED, now, call_id=call_id)
        status.wrap_up_until = now + self.rules.wrap_up
        return [change]

    def dial_out(self, job_number: str, call_id: str, number: str, now: float) -> list[Output]:
        """Click-to-dial: the agent's phone rings, then the number; no ACD offers meanwhile."""
        status = self.status(job_number)
        before = Resume(status.state, status.reason, status.wrap_up_until)
        change = self._change(status, AgentAction.DIAL_OUT, now, call_id=call_id)
        self.connected[call_id] = ConnectedCall(call_id, "", job_number, resume=before)
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
        request = requests[0]
        request.resume = Resume(AgentState.NOT_READY, NotReadyReason.CALLBACK_WORK)
        return self._offer(request, status, AgentAction.TAKE_CALLBACK, now)

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
        if not call.confirmed:
            raise Refused(f"call {call_id} is still being put through; transfer it in a moment")
        if to_agent is not None:
            if to_agent == call.job_number:
                raise Refused("cannot transfer a call to the agent who has it")
            self.status(to_agent)  # NoSuchAgent if unknown
        del self.connected[call_id]
        self._transfers[call_id] = call
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

    # -- what Asterisk did with the commands ----------------------------------

    def command_outcome(self, outcome: CommandOutcome, now: float) -> list[Output]:
        """A command was carried out, or not: confirm, or repair what the core had decided."""
        match outcome:
            case CommandDone(command=ConnectCall() as c):
                return self._connected(c.call_id, c.job_number)
            case CommandDone(command=DialCallback() as c):
                return self._connected(c.request_id, c.job_number)
            case CommandDone(command=TransferCall() as c):
                self._transfers.pop(c.call_id, None)
                return []
            case CommandDone():
                return []
            case CommandFailed():
                return self._repair(outcome, now)
            case _:
                assert_never(outcome)

    def _repair(self, failed: CommandFailed, now: float) -> list[Output]:
        command = failed.command
        if failed.failure is Failure.GONE:
            return []  # the caller (or leg) hung up first: their hang-up accounts for it
        note = {"command": type(command).__name__, "failure": failed.failure.value}
        match command:
            case RingAgent():
                if failed.failure is Failure.REFUSED:
                    # Refused at once: a fault of the PBX, not of the phone. Nobody is
                    # knocked out; offers pause a moment (never a loop of refusals).
                    self.pause_offers(now + REFUSED_PAUSE_SECONDS)
                out = self.ring_lost(command.job_number, command.call_id, now)
                call_id = command.call_id
            case ConnectCall():
                out = self._connect_failed(command.call_id, command.job_number, now)
                call_id = command.call_id
            case DialCallback():
                out = self._connect_failed(command.request_id, command.job_number, now)
                call_id = command.request_id
            case TransferCall():
                out = self._transfer_failed(command, now)
                call_id = command.call_id
            case DialOut():
                out = self._dial_out_failed(command, now)
                call_id = command.call_id
            case StopRinging() | AnnouncePosition() | TellAgent():
                return []  # the leg is hung up when the link is back; nothing else changed
            case _:
                assert_never(command)
        return [CallNote(call_id, "command_failed", note), *out] if out else []

    def put_through(self, call_id: str) -> list[Output]:
        """The caller was seen in the put-through (hearing the greeting) before Asterisk's
        answer to it reached the engine: the call is answered, as that answer would say."""
        call = self.connected.get(call_id)
        return [] if call is None else self._connected(call_id, call.job_number)

    def _connected(self, call_id: str, job_number: str) -> list[Output]:
        """Asterisk put the caller through: from now on the call counts as answered."""
        call = self.connected.get(call_id)
        if call is None or call.job_number != job_number or call.waited_as is None:
            return []
        waited, call.waited_as = call.waited_as, None
        wait = call.answered_at - waited.enqueued_at
        if waited.callback_number is None:  # callbacks are not the line's inbound calls
            self.waits.answered(call_id, call.line, job_number, call.answered_at)
        return [CallAnswered(call_id, call.line, job_number, wait, call.answered_at)]

    def _connect_failed(
        self, call_id: str, job_number: str, now: float, *, agent_left: bool = False
    ) -> list[Output]:
        """The caller was not put through: back to their place, the agent free again.

        ``agent_left``: the agent's phone went before it (as if it never answered).
        """
        call = self.connected.get(call_id)
        if call is None or call.job_number != job_number or call.waited_as is None:
            return []
        del self.connected[call_id]
        waiting = call.waited_as
        waiting.offered_to = waiting.ring_deadline = None
        self.waiting[call_id] = waiting
        self._callbacks_done.discard(call_id)
        status = self.agents[job_number]
        out: list[Output] = [StopRinging(call_id, job_number)]  # the agent's leg goes
        if status.state is AgentState.TALKING and status.call_id == call_id:
            if agent_left:
                reason = NotReadyReason.NO_ANSWER
                out.append(self._change(status, AgentAction.CALL_NOT_MADE, now, reason=reason))
            else:
                out += self._back_from_unmade_call(status, call, now)
        told = TellAgent(job_number, "the caller could not be put through", "not_put_through")
        return [*out, told, *self._dispatch(now)]

    def _back_from_unmade_call(
        self, status: AgentStatus, call: ConnectedCall, now: float
    ) -> list[Output]:
        """Where the agent was before a call that never happened (default: ready)."""
        resume = call.resume
        if resume is None or resume.state is AgentState.READY:
            return [self._change(status, AgentAction.CONNECT_FAILED, now)]
        if resume.state is AgentState.AFTER_CALL:  # their wrap-up goes on where it was
            change = self._change(status, AgentAction.CALL_ENDED, now, call_id=call.call_id)
            status.wrap_up_until = resume.wrap_up_until or now
            return [change]
        reason = resume.reason or NotReadyReason.OTHER
        return [self._change(status, AgentAction.CALL_NOT_MADE, now, reason=reason)]

    def _transfer_failed(self, command: TransferCall, now: float) -> list[Output]:
        """Asterisk did not move the caller: they are still with the agent.

        The agent's wrap-up does not end while a transfer is being carried
        out (``wrap_up_may_end``), so they are still there to take the call back.
        """
        before = self._transfers.pop(command.call_id, None)
        call = self.waiting.get(command.call_id)
        if before is None or call is None:
            return []
        out = self._withdraw_offer(call, now)
        del self.waiting[command.call_id]
        self.connected[command.call_id] = before
        status = self.agents[before.job_number]
        if status.state is AgentState.AFTER_CALL and status.call_id == command.call_id:
            action = AgentAction.TRANSFER_FAILED
            out.append(self._change(status, action, now, call_id=command.call_id))
        told = TellAgent(
            before.job_number, "transfer failed: the caller is still with you", "transfer_failed"
        )
        return [*out, told, *self._dispatch(now)]

    def _dial_out_failed(self, command: DialOut, now: float) -> list[Output]:
        """A click-to-dial that never left: the agent is back where they were."""
        call = self.connected.pop(command.call_id, None)
        if call is None:
            return []
        status = self.agents[command.job_number]
        out: list[Output] = []
        if status.state is AgentState.TALKING and status.call_id == command.call_id:
            out += self._back_from_unmade_call(status, call, now)
        told = TellAgent(
            command.job_number, f"the call to {command.number} was not made", "dial_failed"
        )
        return [*out, told, *self._dispatch(now)]

    def wrap_up_may_end(self, status: AgentStatus) -> bool:
        """Not while the agent's transferred call may still come back to them."""
        return status.call_id is None or status.call_id not in self._transfers


__all__ = ["CallDistributor", "NoSuchCall", "Refused"]  # the errors for older importers
