"""The one definition of each call-centre figure, for the reports and the live "today". Pure.

What one call counts as (``reduce_call``):
- One call per call id; a callback request, stored as "cb-<call id>", belongs
  to the call it was asked from.
- The call belongs to the line and period of its "queued" fact; without one
  it is not counted.
- The first answer gives the wait; the last answer's agent gets the call (a
  transferred call counts for the agent who finished it).
- Abandoned only if never answered.

The figures over those calls:
- Service level = answered within ``service_level`` s / (answered + abandoned
  - short abandons). A short abandon is a caller who hung up within
  ``short_abandon`` s: counted as abandoned, left out of the service level.
- Average speed of answer = the answered calls' waits / answered.
- Average handle time = (talk + hold + after-call work) / handled calls.
- Occupancy = (talking + ringing + after-call) / (that + ready).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acd.core.agents import AgentState

# The fact kinds ``reduce_call`` reads; any others are ignored.
# The facts a call's outcome depends on, and the only details of each that
# ``reduce_call`` reads (a day's facts held in memory keep just these).
OUTCOME_FIELDS: Mapping[str, tuple[str, ...]] = {
    "queued": ("line",),
    "answered": ("agent", "waited"),
    "abandoned": ("waited",),
    "callback_requested": (),
}
CALL_KINDS = frozenset(OUTCOME_FIELDS)
CALLBACK_PREFIX = "cb-"
WORKING_STATES = (AgentState.TALKING, AgentState.RINGING, AgentState.AFTER_CALL)


@dataclass(frozen=True, slots=True)
class CallFact:
    """One stored (or live) event of a call: when (epoch seconds), what, and its details."""

    call_id: str
    at: float
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FigureRules:
    """The thresholds of the figures, in seconds."""

    service_level: float = 20.0
    short_abandon: float = 5.0


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one call counts as."""

    line: str
    agent: str | None  # who finished it; None if never answered
    waited: float | None  # until the first answer, or until the caller hung up
    abandoned: bool
    callback: bool


@dataclass
class CallCounts:
    """The calls of a line, an agent or a whole period, summed for the figures."""

    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    callbacks_requested: int = 0
    # The answered calls' waits, in whole milliseconds (as stored): a sum that does not
    # depend on the order calls are added and removed in.
    total_wait_ms: int = 0

    def add(self, call: CallOutcome, rules: FigureRules) -> None:
        """Count one call."""
        self._count(call, rules, 1)

    def remove(self, call: CallOutcome, rules: FigureRules) -> None:
        """Undo ``add`` (a call whose outcome changed is removed, then added again)."""
        self._count(call, rules, -1)

    def _count(self, call: CallOutcome, rules: FigureRules, sign: int) -> None:
        self.offered += sign
        if call.agent is not None and call.waited is not None:
            self.answered += sign
            self.total_wait_ms += sign * round(call.waited * 1000)
            self.answered_in_time += sign * answered_in_time(call.waited, rules)
        elif call.abandoned:
            self.abandoned += sign
            self.short_abandoned += sign * is_short_abandon(call.waited, rules)
        elif call.callback:
            self.callbacks_requested += sign

    @property
    def service_level_pct(self) -> float | None:
        return service_level(
            self.answered_in_time, self.answered, self.abandoned, self.short_abandoned
        )

    @property
    def average_speed_of_answer_s(self) -> float | None:
        return average_speed_of_answer(self.total_wait_ms / 1000, self.answered)


def call_key(fact: CallFact) -> str:
    """The call a fact belongs to: a callback request counts for the call it was asked from."""
    if fact.kind == "callback_requested":
        return fact.call_id.removeprefix(CALLBACK_PREFIX)
    return fact.call_id


def by_call(facts: Iterable[CallFact]) -> dict[str, list[CallFact]]:
    """Facts grouped by ``call_key``, each call's oldest first (ties keep their order)."""
    out: dict[str, list[CallFact]] = {}
    for fact in sorted(facts, key=lambda f: f.at):
        out.setdefault(call_key(fact), []).append(fact)
    return out


def outcome_only(fact: CallFact) -> CallFact:
    """The fact with only the details its call's outcome depends on (``OUTCOME_FIELDS``)."""
    keep = OUTCOME_FIELDS.get(fact.kind, ())
    data = {k: fact.data[k] for k in keep if k in fact.data}
    return CallFact(fact.call_id, fact.at, fact.kind, data)


def reduce_call(facts: Sequence[CallFact], start: float, end: float) -> CallOutcome | None:
    """What one call (its facts, oldest first) counts as; None unless queued in [start, end)."""
    queued = next((f for f in facts if f.kind == "queued"), None)
    if queued is None or not start <= queued.at < end:
        return None
    answers = [f for f in facts if f.kind == "answered"]
    abandoned = next((f for f in facts if f.kind == "abandoned"), None)
    waited = answers[0] if answers else abandoned
    return CallOutcome(
        line=str(queued.data.get("line", "")),
        agent=str(answers[-1].data.get("agent")) if answers else None,
        waited=float(waited.data.get("waited", 0.0)) if waited else None,
        abandoned=not answers and abandoned is not None,
        callback=any(f.kind == "callback_requested" for f in facts),
    )


def answered_in_time(waited: float, rules: FigureRules) -> bool:
    """Whether an answered call counts as within the service level."""
    return waited <= rules.service_level


def is_short_abandon(waited: float | None, rules: FigureRules) -> bool:
    """Whether an abandon is short: left out of the service level."""
    return (waited or 0.0) < rules.short_abandon


def service_level(
    answered_in_time: int, answered: int, abandoned: int, short_abandoned: int
) -> float | None:
    """Percentage answered within the threshold; None when no call counts."""
    return average(100.0 * answered_in_time, answered + abandoned - short_abandoned)


def average_speed_of_answer(total_wait: float, answered: int) -> float | None:
    """Mean wait of the answered calls, in seconds."""
    return average(total_wait, answered)


def average_handle_time(talk: float, hold: float, after_call: float, handled: int) -> float | None:
    """Mean of talk + hold + after-call work over the calls whose handling is known."""
    return average(talk + hold + after_call, handled)


def occupancy(seconds_in_state: Mapping[str, float]) -> float | None:
    """Percentage of working time in (working + ready); keys are ``AgentState`` values."""
    working = sum(seconds_in_state.get(s.value, 0.0) for s in WORKING_STATES)
    return average(100.0 * working, working + seconds_in_state.get(AgentState.READY.value, 0.0))


def average(total: float, count: float, digits: int = 1) -> float | None:
    """``total / count`` rounded, None when ``count`` is 0."""
    return round(total / count, digits) if count else None


def definitions(rules: FigureRules) -> dict[str, str]:
    """The figures' definitions, stated with every report and every live snapshot."""
    return {
        "service_level": (
            f"answered within {rules.service_level:g} s / (answered + abandoned - short"
            f" abandons); abandons after {rules.short_abandon:g} s count as missed"
        ),
        "short_abandon": f"caller hung up within {rules.short_abandon:g} s of queueing",
        "average_handle_time": "(talk + hold + after-call work) / answered calls",
        "occupancy": "(talking + ringing + after-call) / (that + ready)",
        "period": "a call belongs to the period in which it joined the queue",
    }
