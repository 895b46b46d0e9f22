"""Routing throughput of the pure core: one line per size.

    agents=N lines=L decisions_per_s=X p99_us=Y

A decision is one routing step: a call arriving (pick the best ready agent)
or an agent coming back from after-call work (pick the longest-waiting call).
Agents have 1-3 of the lines at levels 1-10; about a tenth are on calls.
Run from the repository root: .venv/bin/python -m bench.routing
"""

from __future__ import annotations

import random
import time

from acd.core.agents import Agent
from acd.core.distributor import CallDistributor
from acd.core.queueing import AcdRules

LINES = ("cruise", "tour", "free_travel")


def run(n_agents: int, decisions: int = 20_000, seed: int = 7) -> tuple[float, float]:
    rng = random.Random(seed)
    agents = [
        Agent(
            str(100000 + i),
            f"agent {i}",
            f"PJSIP/{100000 + i}",
            {line: rng.randint(1, 10) for line in rng.sample(LINES, rng.randint(1, 3))},
        )
        for i in range(n_agents)
    ]
    acd = CallDistributor(AcdRules(announce_every=None, wrap_up=3600), agents)
    now = 0.0
    for a in agents:
        acd.log_in(a.job_number, now)
        acd.set_ready(a.job_number, now)
    busy: list[str] = []
    samples: list[int] = []
    call = 0
    while len(samples) < decisions:
        now += 0.001
        if busy and (len(busy) > n_agents // 10 or rng.random() < 0.5):
            job = busy.pop(rng.randrange(len(busy)))
            started = time.perf_counter_ns()
            outputs = acd.end_wrap_up(job, now)
        else:
            call += 1
            started = time.perf_counter_ns()
            outputs = acd.call_arrived(f"c{call}", rng.choice(LINES), now)
        samples.append(time.perf_counter_ns() - started)
        for out in outputs:
            job = getattr(out, "job_number", None)
            if type(out).__name__ == "RingAgent":
                acd.agent_answered(out.job_number, out.call_id, now)
                acd.call_ended(out.call_id, now)
                busy.append(job)
    samples.sort()
    total_s = sum(samples) / 1e9
    return decisions / total_s, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    for n in (10, 100, 1000, 10_000):
        rate, p99 = run(n)
        line = f"agents={n} lines={len(LINES)} decisions_per_s={rate:,.0f} p99_us={p99:.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
