"""Storing the core's facts in order, in batches, off the AMI event path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import assert_never

import structlog

from acd.core.agents import AgentStateChanged
from acd.core.commands import CallAbandoned, CallAnswered, CallNote, Fact
from acd.core.peak import PeakLevelChanged
from acd.storage.agent_states import AgentStateLog
from acd.storage.events import CallEventLog

log = structlog.get_logger("acd.facts")


class FactWriter:
    """A queue of facts and the task that writes them: agents' states and call events."""

    def __init__(self, events: CallEventLog, agent_log: AgentStateLog) -> None:
        self._events = events
        self._agent_log = agent_log
        self._queue: asyncio.Queue[Fact] = asyncio.Queue()

    def put(self, fact: Fact) -> None:
        """Queue one fact; it is stored after every fact queued before it."""
        self._queue.put_nowait(fact)

    async def run(self) -> None:
        """Store what arrives, a batch at a time, until cancelled."""
        while True:
            batch = [await self._queue.get(), *self._drain()]
            try:
                await self.store(batch)
            except Exception:
                log.exception("store_failed", count=len(batch))

    async def flush(self) -> None:
        """Store what is still queued (a clean stop loses nothing)."""
        await self.store(self._drain())

    def _drain(self) -> list[Fact]:
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def store(self, facts: Iterable[Fact]) -> None:
        """Write facts in order: agents' state changes in one go, then each call event."""
        facts = list(facts)
        await self._agent_log.append(f for f in facts if isinstance(f, AgentStateChanged))
        for fact in facts:
            match fact:
                case AgentStateChanged():
                    pass  # stored above
                case CallAbandoned():
                    await self._events.append(
                        fact.call_id,
                        "abandoned",
                        line=fact.line,
                        waited=round(fact.waited, 3),
                        while_ringing=fact.while_ringing,
                    )
                case CallAnswered():
                    await self._events.append(
                        fact.call_id,
                        "answered",
                        line=fact.line,
                        agent=fact.job_number,
                        waited=round(fact.waited, 3),
                    )
                case PeakLevelChanged():
                    await self._events.append(
                        "peak",
                        "peak_level",
                        old=int(fact.old),
                        new=int(fact.new),
                        waiting=fact.waiting,
                    )
                case CallNote():
                    await self._events.append(fact.call_id, fact.kind, **fact.data)
                case _:
                    assert_never(fact)
