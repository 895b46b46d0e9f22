"""What people watch: the numbered event stream, today's figures, snapshots, screen pops.

The call centre hands every output of the core to ``publish``; agents'
screens and the wallboard read the resulting events (see acd.eventbus).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acd.ami.executor import CallBook
from acd.core.agents import AgentStateChanged
from acd.core.commands import CallAbandoned, CallAnswered, RingAgent, TellAgent
from acd.core.distributor import CallDistributor
from acd.core.peak import PeakLevelChanged
from acd.eventbus import EventBus
from acd.storage.events import CallEventLog
from ivr.tree import IvrTree

Spawn = Callable[[Coroutine[Any, Any, Any], str], None]


@dataclass
class DayCounters:
    """Today's answered and abandoned calls; the service level counts abandons as missed."""

    day: str
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0

    def as_json(self, threshold: float) -> dict[str, Any]:
        offered = self.answered + self.abandoned
        level = round(100 * self.answered_in_time / offered, 1) if offered else None
        return {
            "day": self.day,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "service_level": level,
            "service_level_definition": f"answered within {threshold:g} s / (answered + abandoned)",
        }


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
    ) -> None:
        self._core = core
        self._book = book
        self._tree = tree
        self._events = events
        self._clock = clock
        self._local_time = local_time
        self._spawn = spawn
        self.bus = EventBus()
        self.service_level_seconds = 20.0
        self.today = DayCounters(day="")
        self.alarms: dict[str, dict[str, Any]] = {}  # raised and not yet cleared, by name

    def publish_queue(self) -> None:
        """Waiting per line, peak level and today's figures: what the wallboard shows."""
        snap = self.snapshot()
        self.bus.publish(
            "queue",
            snap["at"],
            lines=snap["lines"],
            peak_level=snap["peak_level"],
            today=snap["today"],
        )

    def _count(self, out: Any) -> None:
        if not isinstance(out, CallAnswered | CallAbandoned):
            return
        day = self._local_time().date().isoformat()
        if self.today.day != day:
            self.today = DayCounters(day=day)
        if isinstance(out, CallAnswered):
            self.today.answered += 1
            if out.waited <= self.service_level_seconds:
                self.today.answered_in_time += 1
        else:
            self.today.abandoned += 1

    async def load_today(self) -> None:
        """Today's answered/abandoned so far (after a restart the wallboard goes on counting)."""
        local = self._local_time()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        counts = await self._events.day_counts(midnight, self.service_level_seconds)
        self.today = DayCounters(local.date().isoformat(), **counts)

    def publish(self, out: Any) -> None:
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
                    "agent_message", self._clock(), agent=out.job_number, message=out.message
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
            "history": await self._events.history(number, exclude=call_id) if number else [],
        }

    def snapshot(self) -> dict[str, Any]:
        """Agents and lines right now (supervisor view, start of the event stream)."""
        now = self._clock()
        lines = {}
        for line in self._tree.lines:
            waiting = [c for c in self._core.waiting.values() if c.line == line]
            live = [c for c in waiting if c.callback_number is None]
            lines[line] = {
                "waiting": len(live),
                "longest_wait": round(max((now - c.enqueued_at for c in live), default=0.0), 1),
                "callbacks": len(waiting) - len(live),
            }
        return {
            "seq": self.bus.seq,
            "at": now,
            "peak_level": int(self._core.peak.level),
            "lines": lines,
            "today": self.today.as_json(self.service_level_seconds),
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
