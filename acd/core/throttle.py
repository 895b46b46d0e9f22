"""Login throttling: too many failed logins for one job number or one address wait a while.

Pure: time comes in as an argument. A failure is remembered for ``window``
seconds; once ``limit`` failures are remembered for a key, that key must
wait until the oldest of them is forgotten. A successful login clears the
job number's failures (not the address's: one address may try many users).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_KEYS = 10_000  # above this many remembered keys, forgotten ones are swept out
PENDING_WAIT = 1.0  # the limit is reached only by attempts still being checked: wait a moment


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """How many failed logins are allowed within how long."""

    per_user: int = 5
    per_address: int = 20
    window: float = 300.0


@dataclass
class LoginThrottle:
    """Failed logins per job number and per client address, within a sliding window."""

    rules: ThrottleRules = field(default_factory=ThrottleRules)
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _pending: dict[str, int] = field(default_factory=dict)  # attempts being checked now

    def wait_for(self, job_number: str, address: str, now: float) -> float:
        """Seconds before this job number may try again from this address (0: go ahead)."""
        return max(
            self._wait(f"user:{job_number}", self.rules.per_user, now),
            self._wait(f"address:{address}", self.rules.per_address, now),
        )

    def started(self, job_number: str, address: str) -> None:
        """An attempt is being checked: it counts against the job number until it is known
        to have failed or not, so that guesses sent at once cannot all slip past the limit."""
        key = f"user:{job_number}"
        self._pending[key] = self._pending.get(key, 0) + 1

    def failed(self, job_number: str, address: str, now: float) -> None:
        """A login with a wrong job number or password."""
        self._done(job_number, address)
        if len(self._failures) >= MAX_KEYS:
            self._forget_before(now - self.rules.window)
        for key in _keys(job_number, address):
            self._failures.setdefault(key, deque()).append(now)

    def _done(self, job_number: str, address: str) -> None:
        key = f"user:{job_number}"
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)

    def _forget_before(self, moment: float) -> None:
        """Drop keys whose failures are all older than ``moment`` (a flood of names)."""
        for key, times in list(self._failures.items()):
            if not times or times[-1] <= moment:
                del self._failures[key]

    def succeeded(self, job_number: str, address: str = "") -> None:
        """The user proved who they are: their failures are forgotten."""
        self._done(job_number, address)
        self._failures.pop(f"user:{job_number}", None)

    def _wait(self, key: str, limit: int, now: float) -> float:
        pending = self._pending.get(key, 0)
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.rules.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)  # nothing to remember: the table stays small
        if len(times) + pending < limit:
            return 0.0
        if len(times) < limit:  # full only with attempts still being checked
            return PENDING_WAIT
        return times[-limit] + self.rules.window - now


def _keys(job_number: str, address: str) -> tuple[str, str]:
    return f"user:{job_number}", f"address:{address}"
