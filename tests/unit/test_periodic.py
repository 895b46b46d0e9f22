"""A periodic job (follow-up sweep, disk check, purge) survives a round that fails."""

from __future__ import annotations

import asyncio

from acd.periodic import Periodic


async def test_a_job_that_fails_once_keeps_running_on_its_timer():
    rounds: list[int] = []

    async def job() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the database went away for a moment")

    periodic = Periodic("sweep", 0.01, job)
    await periodic.start()
    try:
        for _ in range(200):
            if len(rounds) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await periodic.stop()
    assert len(rounds) >= 3  # the failing first round did not end the timer
