"""Ready agents per line, best first: highest skill level, then longest idle.

A heap per line with lazy deletion: an entry is valid only while its agent is
still ready with the same readiness stamp, so choosing an agent costs
O(log n) instead of a scan of every agent.
"""

from __future__ import annotations

import heapq

from acd.core.agents import AgentState, AgentStatus, Role


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
                heapq.heappush(
                    self._heaps.setdefault(line, []), (-level, status.idle_since, job_number, stamp)
                )

    def best(self, line: str) -> AgentStatus | None:
        """The best ready agent for ``line`` (skipping stale entries), without removing it."""
        heap = self._heaps.get(line)
        while heap:
            _, _, job_number, stamp = heap[0]
            status = self._agents[job_number]
            if stamp == self._stamps[job_number] and status.state is AgentState.READY:
                return status
            heapq.heappop(heap)
        return None
