"""The queue's data and rules that need no agent: waiting calls, positions, errors.

Waiting calls are served by priority, then by how long they have waited; a
position is counted among the calls of the same line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from acd.core.agents import AgentState, NotReadyReason
from acd.core.commands import AnnouncePosition
from acd.core.peak import PeakRules

BREAK_REASONS = frozenset({NotReadyReason.BREAK, NotReadyReason.LUNCH})


class NoSuchAgent(Exception):
    """No agent has that job number."""


class NoSuchCall(Exception):
    """No waiting or connected call has that id."""


class Refused(Exception):
    """A request the rules do not allow right now (the message says why)."""


@dataclass(frozen=True, slots=True)
class AcdRules:
    """The ACD's timers: ringing, after-call work, announcements, and the peak plan."""

    ring_timeout: float = 15.0
    wrap_up: float = 30.0
    max_wrap_up: float = 300.0
    announce_every: float | None = 30.0
    peak: PeakRules = field(default_factory=PeakRules)


@dataclass(frozen=True, slots=True)
class Resume:
    """Where an agent goes back to if a call of theirs is never put through."""

    state: AgentState
    reason: NotReadyReason | None = None
    wrap_up_until: float | None = None


@dataclass(slots=True)
class WaitingCall:
    """A caller (or a callback request) waiting for an agent."""

    call_id: str
    line: str
    enqueued_at: float
    priority: int = 0
    caller: str = ""
    callback_number: str | None = None
    offered_to: str | None = None
    ring_deadline: float | None = None
    announced_at: float | None = None
    # An announcement is playing (the dialplan says when it ended): none on top of it.
    announcing: bool = False
    target_agent: str | None = None  # a transfer to one person waits for them only
    target_until: float | None = None  # ...until then; then anyone on the line
    resume: Resume | None = None  # offered to an agent on callback work: back to it on failure

    @property
    def order(self) -> tuple[int, float, str]:
        return (-self.priority, self.enqueued_at, self.call_id)


@dataclass(slots=True)
class ConnectedCall:
    """A call an agent has (talking, on hold, or dialling out)."""

    call_id: str
    line: str
    job_number: str
    # Until Asterisk confirms the caller was put through: the caller as they waited
    # (to put them back at their place if it fails) and when the agent answered.
    waited_as: WaitingCall | None = None
    answered_at: float = 0.0
    # Where the agent goes back to if the call is never put through (default: ready).
    resume: Resume | None = None

    @property
    def confirmed(self) -> bool:
        """Whether Asterisk has put the caller through (or nobody needs to wait for it)."""
        return self.waited_as is None


def position(waiting: dict[str, WaitingCall], call_id: str) -> int:
    """1-based place of a waiting call among the calls of its line."""
    call = waiting[call_id]
    return 1 + sum(1 for c in waiting.values() if c.line == call.line and c.order < call.order)


def in_order(calls: Iterable[WaitingCall]) -> list[WaitingCall]:
    """Waiting calls in the order they are served."""
    return sorted(calls, key=lambda c: c.order)


ANNOUNCEMENT_LONGEST = 60.0  # seconds an announcement may play before it counts as ended


def announcements_due(
    waiting: dict[str, WaitingCall], every: float | None, now: float
) -> list[AnnouncePosition]:
    """Callers who have heard no position for ``every`` seconds hear it now (not while ringing).

    The interval runs from the end of the last announcement (a long one, in
    Mandarin with the expected wait, is never cut by the next); one whose end
    was never reported counts as ended ``ANNOUNCEMENT_LONGEST`` seconds on.
    """
    if every is None:
        return []
    out = []
    for call in in_order(waiting.values()):
        if call.callback_number is not None or call.offered_to is not None:
            continue
        last = call.announced_at if call.announced_at is not None else call.enqueued_at
        if call.announcing:
            last += ANNOUNCEMENT_LONGEST
        if now - last >= every:
            call.announced_at, call.announcing = now, True
            out.append(AnnouncePosition(call.call_id, position(waiting, call.call_id)))
    return out


def announcement_ended(waiting: dict[str, WaitingCall], call_id: str, now: float) -> None:
    """The caller heard the whole announcement (or it stopped): the interval starts now."""
    call = waiting.get(call_id)
    if call is not None and call.announcing:
        call.announced_at, call.announcing = now, False
