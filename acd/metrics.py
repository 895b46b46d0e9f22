"""Metrics for Prometheus (``GET /metrics``): the wallboard's figures and the engine's health.

Two kinds:

* measured as things happen (counters and histograms, since this process
  started): calls offered, answered and abandoned per line, AMI action
  latency, event-loop lag, database write latency;
* read at scrape time from the live state (gauges): waiting callers and the
  longest wait per line, today's service level per line (the wallboard's
  definition, one place: ``acd.core.figures``), agents per state, the peak
  level, AMI up and its reconnects, FastAGI sessions, facts waiting to be
  stored, the recordings disk's free space, and each raised alarm.

Every metric lives in the application's own registry, never the process-wide
default one, so two engines in one process (the tests) do not share figures.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.core.agents import AgentState
from acd.core.commands import CallAbandoned, CallAnswered, CallNote, Output
from acd.core.figures import CALLBACK_PREFIX

# Latencies of a loopback PBX and an embedded or local database, in seconds.
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The event loop's lag, finer where the goal is (p99 at most 20 ms).
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
LAG_INTERVAL = 0.25  # how often the event loop's lag is sampled
COUNTED_CALLS = 20000  # calls remembered as counted (a few hours of a big centre)


class Metrics:
    """The application's registry and what the engine measures as it goes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counted: dict[tuple[str, str], None] = {}  # (call, offered|outcome), oldest first
        r = self.registry
        self.offered = Counter(
            "acd_calls_offered", "Callers queued for a line (since start)", ["line"], registry=r
        )
        self.answered = Counter(
            "acd_calls_answered",
            "Calls put through to an agent (since start)",
            ["line"],
            registry=r,
        )
        self.abandoned = Counter(
            "acd_calls_abandoned",
            "Callers who hung up before an agent answered (since start)",
            ["line"],
            registry=r,
        )
        self.ami_action_seconds = Histogram(
            "acd_ami_action_seconds",
            "Time from sending an AMI action to Asterisk's answer",
            ["action"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.ami_timeouts = Counter(
            "acd_ami_action_timeouts",
            "AMI actions Asterisk did not answer in time",
            ["action"],
            registry=r,
        )
        self.loop_lag_seconds = Histogram(
            "acd_event_loop_lag_seconds",
            f"How late the event loop ran a timer due every {LAG_INTERVAL} s",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.gc_pause_seconds = Histogram(
            "acd_gc_pause_seconds",
            "How long each garbage collection stopped the engine",
            ["generation"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._gc_started: float | None = None
        self.db_write_seconds = Histogram(
            "acd_db_write_seconds",
            "Time to store one batch of facts (agent states, calls, surveys)",
            buckets=FAST_BUCKETS,
            registry=r,
        )

    def count(self, out: Output) -> None:
        """Count a call the moment the core reports it (the pipeline's every output).

        Calls, not events, as the wallboard counts them: a call is offered once,
        answered once (a transfer answers it again), abandoned only if never
        answered; a callback's call to the customer is not an inbound call.
        """
        match out:
            case CallNote(kind="queued") if self._first(out.call_id, "offered"):
                self.offered.labels(str(out.data.get("line", ""))).inc()
            case CallAnswered() if not out.call_id.startswith(CALLBACK_PREFIX):
                if self._first(out.call_id, "outcome"):
                    self.answered.labels(out.line).inc()
            case CallAbandoned() if self._first(out.call_id, "outcome"):
                self.abandoned.labels(out.line).inc()
            case _:
                pass

    def _first(self, call_id: str, what: str) -> bool:
        """Whether this is the first time ``what`` is counted for the call."""
        key = (call_id, what)
        if key in self._counted:
            return False
        self._counted[key] = None
        if len(self._counted) > COUNTED_CALLS:
            del self._counted[next(iter(self._counted))]
        return True

    def ami_action(self, action: str, seconds: float) -> None:
        """One AMI action was answered after ``seconds``."""
        self.ami_action_seconds.labels(action).observe(seconds)

    def ami_timeout(self, action: str) -> None:
        """One AMI action went unanswered (its latency is not known)."""
        self.ami_timeouts.labels(action).inc()

    def db_write(self, seconds: float) -> None:
        """One batch of facts was stored after ``seconds``."""
        self.db_write_seconds.observe(seconds)

    async def watch_loop_lag(self, interval: float = LAG_INTERVAL) -> None:
        """Sample how late the loop wakes up (until cancelled): a blocked loop shows here.

        Python's garbage collector, which stops every thread while it runs, is
        timed meanwhile (one of the things a lag can come from).
        """
        loop = asyncio.get_running_loop()
        gc.callbacks.append(self._gc_phase)
        try:
            while True:
                due = loop.time() + interval
                await asyncio.sleep(interval)
                self.loop_lag_seconds.observe(max(0.0, loop.time() - due))
        finally:
            gc.callbacks.remove(self._gc_phase)

    def _gc_phase(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            paused = time.perf_counter() - self._gc_started
            self.gc_pause_seconds.labels(str(info.get("generation", ""))).observe(paused)
            self._gc_started = None

    def add_live(self, live: LiveSources) -> None:
        """Read the live state at each scrape."""
        self.registry.register(LiveCollector(live))


@dataclass(frozen=True)
class LineNow:
    """One line right now: waiting callers, the longest wait, today's service level."""

    waiting: int
    longest_wait: float
    service_level_pct: float | None
    average_speed_of_answer_s: float | None


@dataclass(frozen=True)
class LiveSources:
    """Where the scrape-time gauges come from (each a cheap read of in-memory state)."""

    lines: Callable[[], dict[str, LineNow]]
    agent_states: Callable[[], list[AgentState]]
    peak_level: Callable[[], int]
    ami_up: Callable[[], bool]
    ami_connects: Callable[[], int]
    fastagi_active: Callable[[], int]
    fastagi_served: Callable[[], int]
    facts_pending: Callable[[], int]
    facts_spilled: Callable[[], bool]
    disk_free_bytes: Callable[[], int | None]
    alarms: Callable[[], list[str]]
    tasks: Callable[[], int]


class LiveCollector(Collector):
    """Gauges read from the engine's memory when Prometheus scrapes."""

    def __init__(self, live: LiveSources) -> None:
        self._live = live

    def describe(self) -> list[Metric]:
        return []  # the metrics are known only when collected

    def collect(self) -> Iterator[Metric]:
        s = self._live
        waiting = GaugeMetricFamily("acd_line_waiting", "Callers waiting now", labels=["line"])
        longest = GaugeMetricFamily(
            "acd_line_longest_wait_seconds", "The longest wait now", labels=["line"]
        )
        level = GaugeMetricFamily(
            "acd_line_service_level_ratio",
            "Today's service level (the wallboard's): answered in time over offered, "
            "short abandons left out",
            labels=["line"],
        )
        asa = GaugeMetricFamily(
            "acd_line_average_speed_of_answer_seconds",
            "Today's average wait of the answered calls (the wallboard's)",
            labels=["line"],
        )
        for line, now in s.lines().items():
            waiting.add_metric([line], now.waiting)
            longest.add_metric([line], now.longest_wait)
            if now.service_level_pct is not None:
                level.add_metric([line], now.service_level_pct / 100)
            if now.average_speed_of_answer_s is not None:
                asa.add_metric([line], now.average_speed_of_answer_s)
        yield from (waiting, longest, level, asa)

        agents = GaugeMetricFamily(
            "acd_agents", "Agents per state (logged_out included)", labels=["state"]
        )
        states = s.agent_states()
        for state in AgentState:
            agents.add_metric([state.value], sum(1 for x in states if x is state))
        yield agents
        yield GaugeMetricFamily("acd_peak_level", "The peak plan's level (0-2)", s.peak_level())
        yield GaugeMetricFamily("acd_ami_up", "1 when logged in to Asterisk's AMI", s.ami_up())
        yield CounterMetricFamily(
            "acd_ami_connects", "AMI logins since start (1 + reconnects)", s.ami_connects()
        )
        yield GaugeMetricFamily(
            "acd_fastagi_sessions", "FastAGI sessions running now", s.fastagi_active()
        )
        yield CounterMetricFamily(
            "acd_fastagi_sessions_served", "FastAGI sessions since start", s.fastagi_served()
        )
        yield GaugeMetricFamily(
            "acd_facts_pending", "Facts queued for the database, not yet stored", s.facts_pending()
        )
        yield GaugeMetricFamily(
            "acd_facts_spilled",
            "1 while facts wait in the local spill file (the database was down too long)",
            s.facts_spilled(),
        )
        free = s.disk_free_bytes()
        if free is not None:
            yield GaugeMetricFamily(
                "acd_recordings_disk_free_bytes", "Free space where recordings go", free
            )
        yield GaugeMetricFamily(
            "acd_asyncio_tasks", "The engine's asyncio tasks now (grows only with load)", s.tasks()
        )
        alarms = GaugeMetricFamily("acd_alarm", "1 for each alarm raised", labels=["alarm"])
        for name in s.alarms():
            alarms.add_metric([name], 1)
        yield alarms
