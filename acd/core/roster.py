"""Agents and who may take a call: states, skills, the ready index, the peak plan's limits.

The distributor (acd.core.distributor) builds on this roster to join waiting
calls with agents. Pure: no I/O, time comes in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from acd.core.agents import (
    Agent,
    AgentAction,
    AgentState,
    AgentStateChanged,
    AgentStatus,
    NotReadyReason,
    Role,
)
from acd.core.commands import Output
from acd.core.estimate import WaitEstimator
from acd.core.peak import PeakLevel, PeakPlan
from acd.core.queueing import BREAK_REASONS, AcdRules, NoSuchAgent, Refused
from acd.core.ready_index import ReadyIndex

# An agent on a call or its after-call work is still handling it.
HANDLING = frozenset({AgentState.TALKING, AgentState.AFTER_CALL})
# Working the lines: the agents a waiting caller's expected wait is shared among.
STAFFED = frozenset(
    {AgentState.READY, AgentState.RINGING, AgentState.TALKING, AgentState.AFTER_CALL}
)


class AgentRoster:
    """Every configured agent's status, and the rules for choosing one for a line."""

    def __init__(self, rules: AcdRules | None = None, agents: Iterable[Agent] = ()) -> None:
        self.rules = rules or AcdRules()
        self.peak = PeakPlan(self.rules.peak)
        self.agents: dict[str, AgentStatus] = {}
        self._ready = ReadyIndex()
        self.waits = WaitEstimator()  # handle times and abandons, for the expected wait
        for agent in agents:
            self.add_agent(agent)

    def add_agent(self, agent: Agent) -> None:
        self.agents[agent.job_number] = AgentStatus(agent)

    def status(self, job_number: str) -> AgentStatus:
        try:
            return self.agents[job_number]
        except KeyError:
            raise NoSuchAgent(f"no agent with job number {job_number}") from None

    def log_in(self, job_number: str, now: float, endpoint: str | None = None) -> list[Output]:
        """Log in, optionally at another phone (hot desking) for this session."""
        status = self.status(job_number)
        change = self._change(status, AgentAction.LOG_IN, now)
        if endpoint is not None:
            status.agent = replace(status.agent, endpoint=endpoint)
            change = replace(change, endpoint=endpoint)
        return [change]

    def log_out(self, job_number: str, now: float) -> list[Output]:
        return [self._change(self.status(job_number), AgentAction.LOG_OUT, now)]

    def request_break_after_call(self, job_number: str) -> None:
        status = self.status(job_number)
        if self.peak.level >= PeakLevel.CALLBACKS_AND_BREAKS_STOP:
            raise Refused("breaks are suspended by the peak plan")
        status.break_after_call = True

    def extend_wrap_up(self, job_number: str, seconds: float, now: float) -> float:
        """Give more after-call time (capped at max_wrap_up from now); return the new end."""
        status = self.status(job_number)
        if status.state is not AgentState.AFTER_CALL or status.wrap_up_until is None:
            raise Refused(f"agent {job_number} is not in after-call work")
        if seconds <= 0:
            raise Refused("extension must be positive")
        status.wrap_up_until = min(status.wrap_up_until + seconds, now + self.rules.max_wrap_up)
        return status.wrap_up_until

    def set_skills(self, job_number: str, skills: dict[str, int]) -> None:
        """New skill levels take effect at once (a ready agent is re-indexed)."""
        status = self.status(job_number)
        status.agent = replace(status.agent, skills=dict(skills))
        if status.state is AgentState.READY:
            self._ready.became_ready(status)

    def _change(
        self,
        status: AgentStatus,
        action: AgentAction,
        now: float,
        *,
        reason: NotReadyReason | None = None,
        call_id: str | None = None,
    ) -> AgentStateChanged:
        """Apply one agent transition; a newly ready agent joins the ready index."""
        change = status.apply(action, now, reason=reason, call_id=call_id)
        if change.new is AgentState.READY:
            self._ready.became_ready(status)
        # A transfer that failed takes the agent back from after-call work to talking:
        # still the same call's handling.
        if change.old in HANDLING and change.new not in HANDLING:
            if change.old is AgentState.AFTER_CALL:
                self.waits.agent_free(status.agent.job_number, now)
            else:
                self.waits.forget(status.agent.job_number)
        return change

    def staffed_for(self, line: str) -> int:
        """Agents working who may take ``line``'s calls (not logged out, not on a pause)."""
        return sum(
            1 for s in self.agents.values() if s.state in STAFFED and self._serves(s.agent, line)
        )

    def _serves(self, agent: Agent, line: str) -> bool:
        """Whether the agent may be offered the line's calls (skills, role, peak plan)."""
        all_staff = self.peak.level is PeakLevel.ALL_STAFF
        if agent.role is Role.SUPERVISOR and not all_staff:
            return False
        return all_staff or agent.level_for(line) > 0

    def _check_not_ready_allowed(self, status: AgentStatus, reason: NotReadyReason) -> None:
        level = self.peak.level
        if reason in BREAK_REASONS and level >= PeakLevel.CALLBACKS_AND_BREAKS_STOP:
            raise Refused(f"{reason.value} refused: breaks are suspended by the peak plan")
        if reason is NotReadyReason.CALLBACK_WORK:
            if level >= PeakLevel.CALLBACKS_AND_BREAKS_STOP:
                raise Refused("callback work is paused by the peak plan")
            busy = sum(
                1
                for s in self.agents.values()
                if s.reason is NotReadyReason.CALLBACK_WORK and s is not status
            )
            if busy >= self.rules.peak.max_callback_agents:
                raise Refused(
                    f"already {busy} agents on callback work "
                    f"(at most {self.rules.peak.max_callback_agents})"
                )

    def _can_take(self, status: AgentStatus, line: str) -> bool:
        return status.state is AgentState.READY and self._serves(status.agent, line)

    def _best_agent(self, line: str) -> AgentStatus | None:
        if self.peak.level is not PeakLevel.ALL_STAFF:
            return self._ready.best(line)
        # All staff on the phones: everyone ready takes every line (rare; a scan).
        candidates = [s for s in self.agents.values() if self._can_take(s, line)]
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda s: (-s.agent.level_for(line), s.idle_since, s.agent.job_number),
        )
