"""Agents and their state machine (table-driven, pure, timestamped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AgentState(StrEnum):
    """Where an agent is: logged out, not ready, ready, ringing, talking, after-call work."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"  # reserved for one offered call
    TALKING = "talking"
    AFTER_CALL = "after_call"  # wrap-up: registering the call
    NOT_READY = "not_ready"


class NotReadyReason(StrEnum):
    """Why an agent is not ready (break, lunch, training, callback work, no answer...)."""

    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    CALLBACK_WORK = "callback_work"
    NO_ANSWER = "no_answer"
    OTHER = "other"


class Role(StrEnum):
    """An agent takes calls; a supervisor also listens, whispers and barges."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"


class AgentAction(StrEnum):
    """What moves an agent from one state to another."""

    LOG_IN = "log_in"
    LOG_OUT = "log_out"
    READY = "ready"
    NOT_READY = "not_ready"
    OFFER = "offer"
    ANSWER = "answer"
    RING_NO_ANSWER = "ring_no_answer"
    OFFER_WITHDRAWN = "offer_withdrawn"
    CALL_ENDED = "call_ended"
    WRAP_UP_ENDED = "wrap_up_ended"
    DIAL_OUT = "dial_out"  # click-to-dial: the agent's own outbound call
    TAKE_CALLBACK = "take_callback"  # an agent on callback work pulls the next request
    # Asterisk did not put the call through (not the phone's fault): free again.
    CONNECT_FAILED = "connect_failed"
    CALL_NOT_MADE = "call_not_made"  # never put through: back to not ready (their reason)
    TRANSFER_FAILED = "transfer_failed"  # the caller is still with the agent


S, A = AgentState, AgentAction

# (state, action) -> new state. Anything not listed is refused.
TRANSITIONS: dict[tuple[AgentState, AgentAction], AgentState] = {
    (S.LOGGED_OUT, A.LOG_IN): S.NOT_READY,
    (S.READY, A.LOG_OUT): S.LOGGED_OUT,
    (S.NOT_READY, A.LOG_OUT): S.LOGGED_OUT,
    (S.AFTER_CALL, A.LOG_OUT): S.LOGGED_OUT,
    (S.NOT_READY, A.READY): S.READY,
    (S.READY, A.READY): S.READY,
    (S.AFTER_CALL, A.READY): S.READY,
    (S.READY, A.NOT_READY): S.NOT_READY,
    (S.NOT_READY, A.NOT_READY): S.NOT_READY,
    (S.AFTER_CALL, A.NOT_READY): S.NOT_READY,
    (S.READY, A.OFFER): S.RINGING,
    (S.RINGING, A.ANSWER): S.TALKING,
    (S.RINGING, A.RING_NO_ANSWER): S.NOT_READY,
    (S.RINGING, A.OFFER_WITHDRAWN): S.READY,
    (S.TALKING, A.CALL_ENDED): S.AFTER_CALL,
    (S.AFTER_CALL, A.WRAP_UP_ENDED): S.READY,
    (S.READY, A.DIAL_OUT): S.TALKING,
    (S.NOT_READY, A.DIAL_OUT): S.TALKING,
    (S.AFTER_CALL, A.DIAL_OUT): S.TALKING,
    (S.NOT_READY, A.TAKE_CALLBACK): S.RINGING,
    (S.TALKING, A.CONNECT_FAILED): S.READY,
    (S.TALKING, A.CALL_NOT_MADE): S.NOT_READY,
    (S.AFTER_CALL, A.TRANSFER_FAILED): S.TALKING,
}


class TransitionRefused(Exception):
    """The agent cannot do that in their current state."""

    def __init__(self, job_number: str, state: AgentState, action: AgentAction) -> None:
        super().__init__(f"agent {job_number} cannot {action.value} while {state.value}")
        self.job_number = job_number
        self.state = state
        self.action = action


@dataclass(frozen=True, slots=True)
class Agent:
    """Who an agent is: job number, name, phone, skills per line (level 1-10), role."""

    job_number: str
    name: str
    endpoint: str
    skills: dict[str, int] = field(default_factory=dict)
    role: Role = Role.AGENT
    team: str = ""

    def level_for(self, line: str) -> int:
        return self.skills.get(line, 0)


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """One timestamped state change; stored so reports can add up time per state."""

    job_number: str
    old: AgentState
    new: AgentState
    reason: NotReadyReason | None
    at: float
    call_id: str | None = None
    # The phone the agent works at (their own, their browser phone or a hot desk): an
    # engine restarted keeps ringing that one.
    endpoint: str | None = None


@dataclass(slots=True)
class AgentStatus:
    """Where an agent is now. Mutated only through ``apply``."""

    agent: Agent
    state: AgentState = AgentState.LOGGED_OUT
    reason: NotReadyReason | None = None
    since: float = 0.0
    idle_since: float = 0.0  # when they last became free for calls: "longest idle"
    call_id: str | None = None
    wrap_up_until: float | None = None
    break_after_call: bool = False

    def apply(
        self,
        action: AgentAction,
        now: float,
        *,
        reason: NotReadyReason | None = None,
        call_id: str | None = None,
    ) -> AgentStateChanged:
        """Move through the transition table; raise TransitionRefused if not allowed."""
        new = TRANSITIONS.get((self.state, action))
        if new is None:
            raise TransitionRefused(self.agent.job_number, self.state, action)
        old = self.state
        if new is AgentState.READY and old is not AgentState.RINGING:
            # A withdrawn offer keeps the agent's place in the idle order.
            self.idle_since = now
        self.state = new
        self.reason = reason if new is AgentState.NOT_READY else None
        self.since = now
        if new in (AgentState.RINGING, AgentState.TALKING, AgentState.AFTER_CALL):
            self.call_id = call_id or self.call_id
        else:
            self.call_id = None
        if new is not AgentState.AFTER_CALL:
            self.wrap_up_until = None
        return AgentStateChanged(
            self.agent.job_number,
            old,
            new,
            self.reason,
            now,
            call_id or self.call_id,
            self.agent.endpoint,
        )
