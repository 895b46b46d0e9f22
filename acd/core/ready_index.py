"""Ready agents per line, best first: highest skill level, then longest idle.

A heap per line with lazy deletion: an entry is valid only while its agent is
still ready with the same readiness stamp, so choosing an agent costs
O(log n) instead of a scan of every agent. Stale entries of a line whose best
agents stay ready never reach the top: a heap grown past a few entries per
agent is rebuilt from its valid entries (amortised O(1) per push), so a long
day does not accumulate them.
"""

from __future__ import annotations

import heapq

from acd.core.agents import AgentState, AgentStatus, Role

STALE_FACTOR = 3  # a line's heap is rebuilt past this many entries per known agent...
STALE_SLACK = 32  # ...plus this many


class ReadyIndex:
    """Ready agents per line, best first (skill level, then longest idle), for fast routing."""

    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[int, float, str, int]]] = {}
        self._stamps: dict[str, int] = {}
        self._agents: dict[str, AgentStatus] = {}

    def became_ready(self, status: AgentStatus) -> None:
        """Index an agent who just became ready (old entries of theirs go stale)."""
        job_number = status.agent.job_number
        stamp = self._stamps.get(job_number, 0) + 1
        self._stamps[job_number] = stamp
        self._agents[job_number] = status
        if status.agent.role is Role.SUPERVISOR:
            return  # supervisors take calls only when the peak plan puts all staff on
        for line, level in status.agent.skills.items():
            if level > 0:
                heap = self._heaps.setdefault(line, [])
                heapq.heappush(heap, (-level, status.idle_since, job_number, stamp))
                if len(heap) > STALE_FACTOR * len(self._agents) + STALE_SLACK:
                    heap[:] = [e for e in heap if self._valid(e[2], e[3])]
                    heapq.heapify(heap)

    @property
    def entries(self) -> int:
        """Entries held over all lines, stale ones included (what the index costs in memory)."""
        return sum(len(heap) for heap in self._heaps.values())

    def best(self, line: str) -> AgentStatus | None:
        """The best ready agent for ``line`` (skipping stale entries), without removing it."""
        heap = self._heaps.get(line)
        while heap:
            _, _, job_number, stamp = heap[0]
            if self._valid(job_number, stamp):
                return self._agents[job_number]
            heapq.heappop(heap)
        return None

    def _valid(self, job_number: str, stamp: int) -> bool:
        return (
            stamp == self._stamps[job_number] and self._agents[job_number].state is AgentState.READY
        )
