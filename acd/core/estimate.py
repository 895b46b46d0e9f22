"""Expected wait: what a waiting caller is told ("about 4 minutes"). Pure, no clock of its own.

The queue-length estimator. A caller at position *k* on a line with *N*
agents staffed for it (ready, ringing, talking or in after-call work, with a
skill for the line) is served after *k* agents free up; agents free up at
*N / AHT*, where AHT is the line's recent average handle time (from the
moment the caller was put through to the moment the agent is free again:
talk, hold and after-call work). Callers ahead who give up shorten the wait:
of the *k - 1* ahead, the line's recent share of abandons is taken off.

*k* counts the callers ahead whom those agents may take, of any line (an
agent with tour and cruise skills serves the cruise caller who came first
too), each by the share of their own line's staffed agents who are among
the *N*; the caller hears their place in their own line's queue as their
position (``OfferingQueue.place_for_agents``).

    EWT = (1 + (k - 1) * (1 - abandon share)) * AHT / N

No estimate (and nothing is announced) when nobody is staffed for the line,
or before the line has a handle time measured since the engine started.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

HANDLE_WINDOW = 20  # handle times kept per line (the most recent)
OUTCOME_WINDOW = 50  # answered / abandoned outcomes kept per line
SEEN_CALLS = 2000  # calls whose outcome was taken (a transfer answers a call again)


@dataclass
class _Line:
    handle_times: deque[float] = field(default_factory=lambda: deque(maxlen=HANDLE_WINDOW))
    abandoned: deque[bool] = field(default_factory=lambda: deque(maxlen=OUTCOME_WINDOW))

    @property
    def average_handle_time(self) -> float | None:
        if not self.handle_times:
            return None
        return sum(self.handle_times) / len(self.handle_times)

    @property
    def abandon_share(self) -> float:
        if not self.abandoned:
            return 0.0
        return sum(self.abandoned) / len(self.abandoned)


class WaitEstimator:
    """Recent handle times and abandons per line; an expected wait for a place in the queue."""

    def __init__(self) -> None:
        self._lines: dict[str, _Line] = {}
        self._handling: dict[str, tuple[str, float]] = {}  # agent -> (line, put through at)
        self._outcome_of: dict[str, None] = {}  # calls already counted (oldest first)

    def _line(self, line: str) -> _Line:
        return self._lines.setdefault(line, _Line())

    def _first_outcome(self, call_id: str) -> bool:
        if call_id in self._outcome_of:
            return False
        self._outcome_of[call_id] = None
        if len(self._outcome_of) > SEEN_CALLS:
            del self._outcome_of[next(iter(self._outcome_of))]
        return True

    def answered(self, call_id: str, line: str, job_number: str, at: float) -> None:
        """A caller of ``line`` was put through to the agent at ``at``: their handling starts.

        Each agent's part of a transferred call is a handle time of its own; the
        call's outcome (answered) counts once.
        """
        if self._first_outcome(call_id):
            self._line(line).abandoned.append(False)
        self._handling[job_number] = (line, at)

    def abandoned(self, call_id: str, line: str) -> None:
        """A caller of ``line`` gave up before an answer (once answered, a call is not)."""
        if self._first_outcome(call_id):
            self._line(line).abandoned.append(True)

    def agent_free(self, job_number: str, at: float) -> None:
        """The agent's after-call work ended: the call's handle time is known."""
        handling = self._handling.pop(job_number, None)
        if handling is not None:
            line, since = handling
            self._line(line).handle_times.append(max(0.0, at - since))

    def forget(self, job_number: str) -> None:
        """The agent's call ended in no measurable way (e.g. logged out mid-call)."""
        self._handling.pop(job_number, None)

    def average_handle_time(self, line: str) -> float | None:
        """The line's recent average handle time in seconds (None before the first)."""
        known = self._lines.get(line)
        return known.average_handle_time if known else None

    def expected_wait(self, line: str, position: float, staffed: int) -> float | None:
        """Seconds a caller at ``position`` can expect to wait; None when it cannot be said."""
        known = self._lines.get(line)
        aht = known.average_handle_time if known else None
        if known is None or aht is None or staffed <= 0 or position < 1:
            return None
        ahead = (position - 1) * (1 - known.abandon_share)
        return (1 + ahead) * aht / staffed
