"""Reports per line and per agent for a day, week or month, computed from stored facts. Pure.

Inputs are the engine's own records: call events keyed by the interaction id
(``queued``, ``answered``, ``abandoned``, ``held``/``resumed``, ``survey``,
``callback_requested``), agents' state changes (talking, after-call, ready,
not ready with a reason) and follow-up tickets.

What a call counts as and every figure's definition (service level, short
abandons, speed of answer, handle time, occupancy) are in ``acd.core.figures``,
shared with the live "today"; the definitions are returned with every report.
Talk time excludes hold.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from acd.core.agents import AgentState, AgentStateChanged, NotReadyReason
from acd.core.figures import (
    CallCounts,
    CallFact,
    CallOutcome,
    FigureRules,
    average,
    average_handle_time,
    by_call,
    definitions,
    occupancy,
    reduce_call,
)
from acd.core.followups import Ticket, TicketReason

__all__ = ["CallFact", "Period", "ReportRules", "build_report", "period_bounds"]

Period = Literal["day", "week", "month"]
BREAK_REASONS = tuple(r.value for r in NotReadyReason)

ReportRules = FigureRules  # the name the app and the tests know


def period_bounds(period: Period, day: date, zone: tzinfo | None) -> tuple[float, float, str]:
    """Start and end (epoch seconds, local midnights) of the day, ISO week or month of ``day``.

    ``zone`` None: the system's local time.
    """
    if period == "day":
        first, last = day, day
        label = day.isoformat()
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=6)
        year, week, _ = day.isocalendar()
        label = f"{year}-W{week:02d}"
    else:
        first = day.replace(day=1)
        last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        label = f"{day.year}-{day.month:02d}"
    start = datetime.combine(first, time(), zone).timestamp()
    end = datetime.combine(last + timedelta(days=1), time(), zone).timestamp()
    return start, end, label


@dataclass
class _Figures:
    """What is summed for one line or one agent."""

    calls: CallCounts = field(default_factory=CallCounts)
    longest_wait: float = 0.0
    talk: float = 0.0
    hold: float = 0.0
    after_call: float = 0.0
    handled: int = 0  # answered calls whose handling time is known
    scores: list[int] = field(default_factory=list)
    no_answer: int = 0
    follow_ups: int = 0
    met: int = 0
    missed: int = 0

    def survey_json(self) -> dict[str, Any]:
        return {
            "surveys": len(self.scores) + self.no_answer,
            "survey_no_answer": self.no_answer,
            "survey_average": average(sum(self.scores), len(self.scores), 2),
            "survey_distribution": {str(s): self.scores.count(s) for s in range(1, 6)},
            "low_score_follow_ups": self.follow_ups,
            "follow_ups_met_in_time": self.met,
            "follow_ups_missed": self.missed,
            "follow_ups_open": self.follow_ups - self.met - self.missed,
        }

    def handling_json(self) -> dict[str, Any]:
        return {
            "talk_s": round(self.talk, 1),
            "hold_s": round(self.hold, 1),
            "after_call_s": round(self.after_call, 1),
            "average_handle_time_s": average_handle_time(
                self.talk, self.hold, self.after_call, self.handled
            ),
        }


def build_report(
    *,
    period: Period,
    label: str,
    start: float,
    end: float,
    now: float,
    events: Iterable[CallFact],
    changes: Iterable[AgentStateChanged],
    tickets: Iterable[Ticket],
    rules: ReportRules,
) -> dict[str, Any]:
    """The report for [start, end): one row per line, one per agent, and the totals."""
    facts = by_call(events)
    calls = {
        cid: c for cid, evs in facts.items() if (c := reduce_call(evs, start, end)) is not None
    }
    lines: dict[str, _Figures] = {}
    agents: dict[str, _Figures] = {}
    total = _Figures()
    handling = _handling(changes, facts)

    for call_id, call in calls.items():
        rows = [lines.setdefault(call.line, _Figures()), total]
        for row in rows:
            _count_call(row, call, rules)
        if call.agent is not None:
            rows.append(agents.setdefault(call.agent, _Figures()))
            rows[-1].calls.answered += 1
        known = handling.get(call_id) if call.agent is not None else None
        for row in rows:
            if known is not None:
                row.handled += 1
                row.talk += known[0]
                row.hold += known[1]
                row.after_call += known[2]
            _count_survey(row, facts[call_id])

    for ticket in tickets:
        ticket_call = calls.get(ticket.call_id)
        if ticket.reason is not TicketReason.LOW_SCORE or ticket_call is None:
            continue
        met = ticket.met_in_time(now)
        rows = [lines.setdefault(ticket_call.line, _Figures()), total]
        if ticket.agent:
            rows.append(agents.setdefault(ticket.agent, _Figures()))
        for row in rows:
            row.follow_ups += 1
            row.met += met is True
            row.missed += met is False

    time_in_state = _time_in_states(changes, start, min(end, now))
    return {
        "period": period,
        "label": label,
        "from": start,
        "to": end,
        "definitions": definitions(rules),
        "lines": [{"line": name, **_line_json(fig)} for name, fig in sorted(lines.items())],
        "agents": [
            {
                "agent": job_number,
                **_agent_json(
                    agents.get(job_number, _Figures()), time_in_state.get(job_number, {})
                ),
            }
            for job_number in sorted(set(agents) | set(time_in_state))
        ],
        "total": _line_json(total),
    }


def _count_call(row: _Figures, call: CallOutcome, rules: ReportRules) -> None:
    row.calls.add(call, rules)
    if call.waited is not None:
        row.longest_wait = max(row.longest_wait, call.waited)


def _count_survey(row: _Figures, events: list[CallFact]) -> None:
    survey = next((e for e in events if e.kind == "survey"), None)
    if survey is None:
        return
    score = survey.data.get("score")
    if isinstance(score, int) and 1 <= score <= 5:
        row.scores.append(score)
    else:
        row.no_answer += 1


def _handling(
    changes: Iterable[AgentStateChanged], facts: Mapping[str, list[CallFact]]
) -> dict[str, tuple[float, float, float]]:
    """Per call: (talk without hold, hold, after-call), from the agents' state changes."""
    talking: dict[str, float] = {}
    after: dict[str, float] = {}
    for span in _spans(changes, None):
        if span.call_id is None:
            continue
        if span.state is AgentState.TALKING:
            talking[span.call_id] = talking.get(span.call_id, 0.0) + span.length
        elif span.state is AgentState.AFTER_CALL:
            after[span.call_id] = after.get(span.call_id, 0.0) + span.length
    out = {}
    for call_id, talk in talking.items():
        hold = min(_hold(facts.get(call_id, [])), talk)
        out[call_id] = (talk - hold, hold, after.get(call_id, 0.0))
    return out


def _hold(events: list[CallFact]) -> float:
    total, since = 0.0, None
    for event in events:
        if event.kind == "held" and since is None:
            since = event.at
        elif event.kind == "resumed" and since is not None:
            total += event.at - since
            since = None
    return total


@dataclass(frozen=True, slots=True)
class _Span:
    job_number: str
    state: AgentState
    reason: NotReadyReason | None
    call_id: str | None
    begin: float
    length: float


def _spans(changes: Iterable[AgentStateChanged], until: float | None) -> list[_Span]:
    """Each agent's time in each state; the last state lasts until ``until`` (or not at all)."""
    per_agent: dict[str, list[AgentStateChanged]] = {}
    for change in sorted(changes, key=lambda c: c.at):
        per_agent.setdefault(change.job_number, []).append(change)
    spans = []
    for job_number, items in per_agent.items():
        for this, after in zip(items, [*items[1:], None], strict=True):
            stop = after.at if after is not None else until
            if stop is not None and stop > this.at:
                spans.append(
                    _Span(job_number, this.new, this.reason, this.call_id, this.at, stop - this.at)
                )
    return spans


def _time_in_states(
    changes: Iterable[AgentStateChanged], start: float, stop: float
) -> dict[str, dict[str, float]]:
    """Seconds per state (and per not-ready reason) for each agent, clipped to the period."""
    out: dict[str, dict[str, float]] = {}
    for span in _spans(changes, stop):
        seconds = min(span.begin + span.length, stop) - max(span.begin, start)
        if seconds <= 0 or span.state is AgentState.LOGGED_OUT:
            continue
        key = span.state.value
        if span.state is AgentState.NOT_READY:
            key = f"not_ready:{(span.reason or NotReadyReason.OTHER).value}"
        bucket = out.setdefault(span.job_number, {})
        bucket[key] = bucket.get(key, 0.0) + seconds
    return out


def _line_json(fig: _Figures) -> dict[str, Any]:
    calls = fig.calls
    return {
        "offered": calls.offered,
        "answered": calls.answered,
        "abandoned": calls.abandoned,
        "short_abandoned": calls.short_abandoned,
        "callbacks_requested": calls.callbacks_requested,
        "answered_within_service_level": calls.answered_in_time,
        "service_level_pct": calls.service_level_pct,
        "average_speed_of_answer_s": calls.average_speed_of_answer_s,
        "longest_wait_s": round(fig.longest_wait, 1),
        **fig.handling_json(),
        **fig.survey_json(),
    }


def _agent_json(fig: _Figures, states: Mapping[str, float]) -> dict[str, Any]:
    return {
        "answered": fig.calls.answered,
        **fig.handling_json(),
        "logged_in_s": round(sum(states.values()), 1),
        "ready_s": round(states.get("ready", 0.0), 1),
        "talking_state_s": round(states.get("talking", 0.0), 1),
        "after_call_state_s": round(states.get("after_call", 0.0), 1),
        "occupancy_pct": occupancy(states),
        "break_s": {r: round(states.get(f"not_ready:{r}", 0.0), 1) for r in BREAK_REASONS},
        **fig.survey_json(),
    }
