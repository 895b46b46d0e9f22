"""What the IVR and agents ask of the call centre: queue a caller, callbacks, ratings, states.

The IVR (over FastAGI) asks which lines have someone to take a call, queues
the caller or leaves a callback request, and reports the caller's rating.
Agents log in, go ready or not ready and end or extend their after-call work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from acd.aftercall import AfterCall
from acd.centre.pipeline import Pipeline
from acd.centre.tasks import retry_while_busy
from acd.core.agents import Agent, AgentState, AgentStatus, NotReadyReason, Role
from acd.core.calls import CallInfo
from acd.core.commands import CallAbandoned, NoteValue
from acd.core.peak import PeakLevel
from acd.core.queueing import NoSuchAgent
from acd.phones import own_endpoint
from ivr.hours import lines_with_duty
from ivr.tree import IvrTree


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as the API shows them: state, reason, since when, on which call."""

    job_number: str
    team: str
    state: str
    reason: str | None
    since: float | None
    call_id: str | None
    endpoint: str  # the phone they work at now (their own, their browser's, a hot desk)


class CallCentre:
    """The IVR's and agents' side of the call centre."""

    def __init__(
        self,
        pipeline: Pipeline,
        tree: IvrTree,
        aftercall: AfterCall,
        local_time: Callable[[], datetime],
    ) -> None:
        self._p = pipeline
        self._core = pipeline.core
        self.tree = tree
        self._aftercall = aftercall
        self._local_time = local_time

    # -- the IVR ----------------------------------------------------------------

    def local_now(self) -> datetime:
        """The call centre's local time (working hours, duty schedule)."""
        return self._local_time()

    def human_lines(self) -> frozenset[str]:
        """Lines where a human can take a call now (duty schedule, else logged-in skills)."""
        scheduled = {slot.line for slot in self.tree.duty}
        on_duty = lines_with_duty(self.tree.duty, self.local_now())
        all_staff = self._core.peak.level is PeakLevel.ALL_STAFF
        present = [
            s.agent for s in self._core.agents.values() if s.state is not AgentState.LOGGED_OUT
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
        self._p.book.calls[info.call_id] = info
        live = self._p.live
        live.bus.publish(
            "call_waiting",
            info.enqueued_at,
            call_id=info.call_id,
            line=info.line,
            caller=info.caller_number,
        )
        call = self._core.call_arrived(
            info.call_id, info.line, info.enqueued_at, caller=info.caller_number
        )
        self._p.handle(call)
        live.publish_queue()

    def left_while_queued(self, call_id: str, line: str, since: float) -> None:
        """The caller hung up as the IVR queued them, before they waited: an abandon."""
        now = self._p.clock()
        self._p.handle([CallAbandoned(call_id, line, max(0.0, now - since), None, now)])

    def callback_request(self, call_id: str, line: str, number: str) -> str:
        """The caller asked to be called back at ``number``; returns the request's id."""
        request_id = f"cb-{call_id}"
        now = self._p.clock()
        outputs = self._core.callback_requested(request_id, line, number, now, replaces=call_id)
        # Its place (when the caller joined the queue) is stored with it, so a
        # restarted engine puts the request back where it was.
        request = self._core.waiting.get(request_id)
        since = request.enqueued_at if request is not None else now
        priority = request.priority if request is not None else 0
        self._p.note(
            request_id,
            "callback_requested",
            line=line,
            number=number,
            since=round(since, 3),
            priority=priority,
        )
        self._p.handle(outputs)
        return request_id

    def callback_instead(self, call_id: str, number: str) -> CallInfo | None:
        """A waiting caller pressed for a callback: they leave the queue, keeping their place.

        None when the engine does not know the caller (it goes on waiting).
        """
        info = self._p.book.calls.get(call_id)
        if info is None:
            return None
        self.callback_request(call_id, info.line, number)
        self._p.book.calls.pop(call_id, None)
        return info

    def note(self, call_id: str, kind: str, **data: NoteValue) -> None:
        """Store what happened in the IVR (in order with everything else, never blocking)."""
        self._p.note(call_id, kind, **data)

    def survey_result(self, call_id: str, agent: str, line: str, score: int | None) -> None:
        """Store the caller's rating; 1-3 opens a follow-up for the team lead within 2 hours."""
        self._p.note(call_id, "survey", score=score, agent=agent, line=line)
        self._p.live.bus.publish(
            "survey", self._p.clock(), call_id=call_id, agent=agent, line=line, score=score
        )
        if score is not None and score <= self._aftercall.rules.low_score_max:
            info = self._p.book.calls.get(call_id)
            caller = info.caller_number if info is not None else None
            aftercall = self._aftercall

            async def ticket() -> None:
                await aftercall.low_score(call_id, agent, line, score, caller=caller)

            self._p.tasks.spawn(retry_while_busy(ticket, "follow_up"), "acd-follow-up")

    # -- agents -------------------------------------------------------------------

    def agent(self, job_number: str) -> AgentView:
        """An agent's state now (NoSuchAgent if there is none with that job number)."""
        status = self._core.status(job_number)
        return _view(status)

    def agent_of_call(self, call_id: str) -> str | None:
        """The job number of the agent who has this call, if any."""
        call = self._core.connected.get(call_id)
        return call.job_number if call is not None else None

    def is_agent(self, job_number: str) -> bool:
        """Whether that job number has a phone configured (is an agent or supervisor)."""
        return job_number in self._core.agents

    def team_of(self, job_number: str) -> str:
        """The agent's team ("" if unknown)."""
        status = self._core.agents.get(job_number)
        return status.agent.team if status is not None else ""

    def lines(self) -> list[str]:
        """The hotline's lines (defined in the IVR tree)."""
        return sorted(self.tree.lines)

    def skills_of(self, job_number: str) -> dict[str, int] | None:
        """An agent's skill levels per line now (None if they take no calls)."""
        status = self._core.agents.get(job_number)
        return dict(status.agent.skills) if status is not None else None

    def set_skills(self, job_number: str, skills: dict[str, int]) -> dict[str, int]:
        """New skill levels, for the IVR tree's lines only; returns what was applied."""
        if job_number not in self._core.agents:
            raise NoSuchAgent(f"no agent with job number {job_number}")
        applied = {line: level for line, level in skills.items() if line in self.tree.lines}
        self._core.set_skills(job_number, applied)
        return applied

    def add_agents(self, users: Iterable[tuple[str, str, str]]) -> None:
        """Agents and supervisors created through the API (job number, name, role) take calls.

        Their phone is their own, PJSIP/<job number>; those of the configuration
        file keep theirs.
        """
        for job_number, name, role in users:
            if role in ("agent", "supervisor") and job_number not in self._core.agents:
                self._core.add_agent(
                    Agent(job_number, name, own_endpoint(job_number), {}, Role(role))
                )

    def apply_skills(self, skills: dict[str, dict[str, int]]) -> None:
        """Skills set by an admin (stored) win over the configuration file."""
        for job_number, levels in skills.items():
            if job_number in self._core.agents:
                self.set_skills(job_number, levels)

    def log_in(self, job_number: str, endpoint: str | None = None) -> None:
        """Log in (not ready), at the configured phone or ``endpoint`` for this session."""
        self._p.handle(self._core.log_in(job_number, self._p.clock(), endpoint))

    def log_out(self, job_number: str) -> None:
        """Log out of the ACD."""
        self._p.handle(self._core.log_out(job_number, self._p.clock()))

    def leave(self, job_number: str) -> None:
        """A user was deleted: logged out of the ACD unless on a call (which ends as usual)."""
        status = self._core.agents.get(job_number)
        if status is not None and status.state in (
            AgentState.READY,
            AgentState.NOT_READY,
            AgentState.AFTER_CALL,
        ):
            self.log_out(job_number)

    def ready(self, job_number: str) -> None:
        """Ready for calls (the longest-waiting caller of their lines rings at once)."""
        self._p.handle(self._core.set_ready(job_number, self._p.clock()))

    def not_ready(self, job_number: str, reason: NotReadyReason) -> None:
        """Not ready, with a reason (breaks and callback work obey the peak plan)."""
        self._p.handle(self._core.set_not_ready(job_number, reason, self._p.clock()))

    def end_wrap_up(self, job_number: str) -> None:
        """End after-call work now."""
        self._p.handle(self._core.end_wrap_up(job_number, self._p.clock()))

    def extend_wrap_up(self, job_number: str, seconds: float) -> float:
        """More after-call time; returns when it now ends."""
        return self._core.extend_wrap_up(job_number, seconds, self._p.clock())

    def break_after_call(self, job_number: str) -> None:
        """Go on break when this call's after-call work ends."""
        self._core.request_break_after_call(job_number)


def _view(status: AgentStatus) -> AgentView:
    return AgentView(
        job_number=status.agent.job_number,
        team=status.agent.team,
        state=status.state.value,
        reason=status.reason.value if status.reason else None,
        since=status.since,
        call_id=status.call_id,
        endpoint=status.agent.endpoint,
    )
