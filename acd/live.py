"""What people watch: the numbered event stream, today's figures, snapshots, screen pops.

The call centre hands every output of the core to ``publish``; agents'
screens and the wallboard read the resulting events (see acd.eventbus).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import structlog

from acd.core.agents import AgentStateChanged
from acd.core.calls import CallBook
from acd.core.commands import (
    AnnouncePosition,
    CallAbandoned,
    CallAnswered,
    CallNote,
    Output,
    RingAgent,
    TellAgent,
)
from acd.core.distributor import CallDistributor
from acd.core.figures import (
    CALL_KINDS,
    CallCounts,
    CallFact,
    CallOutcome,
    FigureRules,
    call_key,
    definitions,
    outcome_only,
    reduce_call,
)
from acd.core.peak import PeakLevelChanged
from acd.core.reports import period_bounds
from acd.eventbus import EventBus
from acd.storage.events import CallEventLog
from ivr.tree import IvrTree

log = structlog.get_logger("acd.live")

HISTORY_WAIT_SECONDS = 2.0  # a screen pop waits no longer for the caller's earlier calls

Spawn = Callable[[Coroutine[Any, Any, Any], str], None]


class DayFigures:
    """One local day's calls, reduced and counted as the day report does, fact by fact.

    Holds the day's facts of the kinds a call's outcome depends on; a call is
    re-counted when one of its facts arrives. Facts may come twice (stored and
    live): the reduction does not change.
    """

    def __init__(self, day: str, start: float, end: float, rules: FigureRules) -> None:
        self.day = day
        self.start = start
        self._end = end
        self._rules = rules
        self._facts: dict[str, list[CallFact]] = {}
        self._calls: dict[str, CallOutcome] = {}
        self.counts = CallCounts()
        self.lines: dict[str, CallCounts] = {}  # the same calls, per line

    def add(self, fact: CallFact) -> None:
        """Take one fact into account (those of other kinds are ignored)."""
        if fact.kind not in CALL_KINDS:
            return
        key = call_key(fact)
        facts = self._facts.setdefault(key, [])
        bisect.insort(facts, outcome_only(fact), key=_at)  # a day of them: only what counts
        new = reduce_call(facts, self.start, self._end)
        old = self._calls.get(key)
        if new == old:
            return
        if old is not None:
            self.counts.remove(old, self._rules)
            self.lines[old.line].remove(old, self._rules)
            del self._calls[key]
        if new is not None:
            self.counts.add(new, self._rules)
            self.lines.setdefault(new.line, CallCounts()).add(new, self._rules)
            self._calls[key] = new

    def as_json(self) -> dict[str, Any]:
        c = self.counts
        return {
            "day": self.day,
            "offered": c.offered,
            "answered": c.answered,
            "abandoned": c.abandoned,
            "short_abandoned": c.short_abandoned,
            "callbacks_requested": c.callbacks_requested,
            "answered_within_service_level": c.answered_in_time,
            "service_level": c.service_level_pct,
            "service_level_definition": definitions(self._rules)["service_level"],
            "average_speed_of_answer_s": c.average_speed_of_answer_s,
        }


def _at(fact: CallFact) -> float:
    return fact.at


class LiveFeed:
    """Publishes what changed and answers "what is it like now"."""

    def __init__(
        self,
        core: CallDistributor,
        book: CallBook,
        tree: IvrTree,
        events: CallEventLog,
        clock: Callable[[], float],
        local_time: Callable[[], datetime],
        spawn: Spawn,
        rules: FigureRules,
    ) -> None:
        self._core = core
        self._book = book
        self._tree = tree
        self._events = events
        self._clock = clock
        self._local_time = local_time
        self._spawn = spawn
        self._rules = rules
        self.bus = EventBus()
        self._today = DayFigures("", 0.0, 0.0, rules)
        self.alarms: dict[str, dict[str, Any]] = {}  # raised and not yet cleared, by name

    def publish_queue(self) -> None:
        """Waiting per line, peak level and today's figures: what the wallboard shows."""
        now = self._clock()
        self.bus.publish(
            "queue",
            now,
            lines=self._lines_now(now),
            peak_level=int(self._core.peak.level),
            today=self.today().as_json(),
        )

    def today(self) -> DayFigures:
        """Today's figures: calls that joined the queue on the centre's local day."""
        local = self._local_time()
        day = local.date().isoformat()
        if self._today.day != day:
            start, end, _ = period_bounds("day", local.date(), local.tzinfo)
            self._today = DayFigures(day, start, end, self._rules)
        return self._today

    async def load_today(self) -> None:
        """Today's calls so far, from the event log (after a restart the wallboard goes on)."""
        today = self.today()
        for fact in await self._events.call_facts(today.start):
            today.add(fact)

    def _count(self, out: Output) -> None:
        # Waits rounded as they are stored, so the live and stored figures agree.
        match out:
            case CallAnswered():
                data = {"line": out.line, "agent": out.job_number, "waited": round(out.waited, 3)}
                self.today().add(CallFact(out.call_id, out.at, "answered", data))
            case CallAbandoned():
                data = {"line": out.line, "waited": round(out.waited, 3)}
                self.today().add(CallFact(out.call_id, out.at, "abandoned", data))
            case CallNote() if out.kind in CALL_KINDS:
                self.today().add(CallFact(out.call_id, self._clock(), out.kind, dict(out.data)))
            case _:
                pass

    def publish(self, out: Output) -> None:
        """Tell the live event stream (agents' screens, wallboard) what changed."""
        self._count(out)
        bus = self.bus
        match out:
            case AgentStateChanged():
                bus.publish(
                    "agent_state",
                    out.at,
                    agent=out.job_number,
                    state=out.new.value,
                    old=out.old.value,
                    reason=out.reason.value if out.reason else None,
                    call_id=out.call_id,
                )
            case RingAgent():
                self._spawn(self._publish_ringing(out), "acd-screen-pop")
            case CallAnswered():
                bus.publish(
                    "call_connected",
                    out.at,
                    call_id=out.call_id,
                    agent=out.job_number,
                    line=out.line,
                    waited=round(out.waited, 3),
                )
            case CallAbandoned():
                bus.publish(
                    "call_abandoned",
                    out.at,
                    call_id=out.call_id,
                    line=out.line,
                    waited=round(out.waited, 3),
                    while_ringing=out.while_ringing,
                )
            case PeakLevelChanged():
                bus.publish(
                    "peak_level", out.at, level=int(out.new), old=int(out.old), waiting=out.waiting
                )
            case TellAgent():
                bus.publish(
                    "agent_message",
                    self._clock(),
                    agent=out.job_number,
                    message=out.message,
                    code=out.code,
                )
            case AnnouncePosition():
                # What a waiting caller is told now (team leads: no agent field).
                waiting = self._core.waiting.get(out.call_id)
                wait = out.expected_wait
                bus.publish(
                    "position_announced",
                    self._clock(),
                    call_id=out.call_id,
                    line=waiting.line if waiting else "",
                    position=out.position,
                    expected_wait=None if wait is None else round(wait, 1),
                )

    async def _publish_ringing(self, ring: RingAgent) -> None:
        """The screen pop: who is calling, from where in the IVR, and their history."""
        pop = await self.screen_pop(ring.call_id, ring.job_number)
        self.bus.publish("call_ringing", self._clock(), **pop)

    async def screen_pop(self, call_id: str, job_number: str) -> dict[str, Any]:
        info = self._book.calls.get(call_id)
        call = self._core.waiting.get(call_id)
        callback = call.callback_number if call else None
        number = callback or (info.caller_number if info else "")
        now = self._clock()
        return {
            "call_id": call_id,
            "agent": job_number,
            "line": info.line if info else (call.line if call else ""),
            "caller_number": number,
            "caller_name": info.caller_name if info else "",
            "callback": callback is not None,
            "ivr_path": list(info.ivr_path) if info else [],
            "waited": round(now - info.enqueued_at, 1) if info and info.enqueued_at else None,
            "history": await self._history(number, call_id) if number else [],
        }

    async def _history(self, number: str, call_id: str) -> list[dict[str, Any]]:
        """The caller's earlier calls, or none if the database is slow: the pop goes out
        while the phone rings, not after."""
        try:
            async with asyncio.timeout(HISTORY_WAIT_SECONDS):
                return await self._events.history(number, exclude=call_id)
        except Exception as exc:  # a busy or unreachable database: a pop without history
            log.warning("screen_pop_without_history", call_id=call_id, error=repr(exc))
            return []

    def agent_snapshot(self, job_number: str) -> dict[str, Any]:
        """What an agent's screen starts from: their own state only (no one else's)."""
        snap = self.snapshot()
        return {
            "seq": snap["seq"],
            "at": snap["at"],
            "agents": [a for a in snap["agents"] if a["job_number"] == job_number],
        }

    def snapshot(self) -> dict[str, Any]:
        """Agents and lines right now (supervisor view, start of the event stream)."""
        now = self._clock()
        return {
            "seq": self.bus.seq,
            "at": now,
            "peak_level": int(self._core.peak.level),
            "lines": self._lines_now(now),
            "today": self.today().as_json(),
            "alarms": [{"alarm": name, **details} for name, details in self.alarms.items()],
            "agents": [
                {
                    "job_number": s.agent.job_number,
                    "name": s.agent.name,
                    "role": s.agent.role.value,
                    "team": s.agent.team,
                    "state": s.state.value,
                    "reason": s.reason.value if s.reason else None,
                    "since": s.since,
                    "in_state_for": round(now - s.since, 1) if s.since else None,
                    "call_id": s.call_id,
                }
                for s in self._core.agents.values()
            ],
        }

    def _lines_now(self, now: float) -> dict[str, dict[str, Any]]:
        """Per line: callers waiting, the longest wait, callbacks waiting."""
        lines = {}
        for line in self._tree.lines:
            waiting = [c for c in self._core.waiting.values() if c.line == line]
            live = [c for c in waiting if c.callback_number is None]
            lines[line] = {
                "waiting": len(live),
                "longest_wait": round(max((now - c.enqueued_at for c in live), default=0.0), 1),
                "callbacks": len(waiting) - len(live),
            }
        return lines
