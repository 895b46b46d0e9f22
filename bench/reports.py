"""How long a team lead waits for a report: a month of synthetic calls in SQLite.

    calls_per_day=N month_calls=M events=E read_ms=R compute_ms=C total_ms=T
    longest_loop_stall_ms=S

Each day has N inbound calls over 10 hours on three lines, 20 agents; 90 %
answered (talk 2-6 min, some on hold, 30 s after-call work, a rating), the rest
abandoned. The month's report is read from SQLite and computed three times;
the best run is printed, and the longest the event loop was held while the
report service (reading in slices, computing in a thread) made the report.
Run from the repository root: .venv/bin/python -m bench.reports [calls_per_day]
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from acd.core.reports import ReportRules, build_report, period_bounds
from acd.reports import ReportService
from acd.storage.db import create_engine, migrate
from acd.storage.models import AgentStateRow, CallEventRow
from acd.storage.reports import ReportSource

LINES = ("cruise", "tour", "free_travel")
ZONE = ZoneInfo("Asia/Shanghai")


def synthetic_month(calls_per_day: int, seed: int = 3) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    start, end, _ = period_bounds("month", date(2026, 11, 1), ZONE)
    events: list[dict] = []
    states: list[dict] = []
    free_at = {str(1001 + i): 0.0 for i in range(20)}
    for day in range(int((end - start) // 86400)):
        opening = start + day * 86400 + 9 * 3600
        for n in range(calls_per_day):
            call_id = f"d{day}-{n}"
            queued = opening + rng.uniform(0, 10 * 3600)
            line = rng.choice(LINES)

            def ev(at: float, kind: str, data: dict, cid: str = call_id) -> None:
                events.append(
                    {
                        "call_id": cid,
                        "at": datetime.fromtimestamp(at, UTC),
                        "kind": kind,
                        "data": data,
                    }
                )

            ev(queued, "queued", {"line": line})
            waited = rng.expovariate(1 / 25)
            if rng.random() < 0.1:
                ev(queued + waited, "abandoned", {"line": line, "waited": waited})
                continue
            agent = min(free_at, key=free_at.__getitem__)
            answered = queued + waited
            ended = answered + rng.uniform(120, 360)
            free_at[agent] = ended + 30
            ev(answered, "answered", {"line": line, "agent": agent, "waited": waited})
            if rng.random() < 0.2:
                ev(answered + 30, "held", {"agent": agent})
                ev(answered + 60, "resumed", {"agent": agent})
            ev(ended + 10, "survey", {"score": rng.randint(1, 5), "agent": agent, "line": line})
            for old, new, at in (
                ("ready", "talking", answered),
                ("talking", "after_call", ended),
                ("after_call", "ready", ended + 30),
            ):
                states.append(
                    {
                        "job_number": agent,
                        "old": old,
                        "new": new,
                        "reason": None,
                        "call_id": call_id if new != "ready" else None,
                        "at": at,
                    }
                )
    return events, states


async def main(calls_per_day: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await migrate(db)
        events, states = synthetic_month(calls_per_day)
        async with db.begin() as conn:
            await conn.execute(insert(CallEventRow), events)
            await conn.execute(insert(AgentStateRow), states)
        n_events = len(events)
        del events, states  # the daemon does not hold a month of rows in memory
        gc.collect()
        start, end, label = period_bounds("month", date(2026, 11, 1), ZONE)
        service = ReportService(ReportSource(db), ReportRules(), ZONE, lambda: end)
        source = ReportSource(db)
        best = (float("inf"), 0.0, 0.0)
        stall = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            facts, changes, tickets = await source.read(start, end)
            t1 = time.perf_counter()
            build_report(
                period="month",
                label=label,
                start=start,
                end=end,
                now=end,
                events=facts,
                changes=changes,
                tickets=tickets,
                rules=ReportRules(),
            )
            t2 = time.perf_counter()
            del facts, changes, tickets
            watch = asyncio.create_task(_longest_stall())
            report = await service.report("month", date(2026, 11, 1))
            watch.cancel()
            stall = max(stall, await watch)
            if t2 - t0 < best[0]:
                best = (t2 - t0, t1 - t0, t2 - t1)
        await db.dispose()
    print(
        f"reports calls_per_day={calls_per_day} month_calls={report['total']['offered']}"
        f" events={n_events} read_ms={best[1] * 1000:.0f} compute_ms={best[2] * 1000:.0f}"
        f" total_ms={best[0] * 1000:.0f} longest_loop_stall_ms={stall * 1000:.0f}"
    )


async def _longest_stall() -> float:
    """The longest the event loop was held while the report was read."""
    longest, last = 0.0, time.perf_counter()
    try:
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last - 0.001), now
    except asyncio.CancelledError:
        return longest


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
