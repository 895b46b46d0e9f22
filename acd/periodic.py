"""A job that runs every few seconds until stopped (follow-up sweep, disk check...)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("acd.periodic")


class Periodic:
    """Run ``job`` now and then every ``every`` seconds; a failing round is logged, not fatal."""

    def __init__(self, name: str, every: float, job: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._every = every
        self._job = job
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._job()
            except Exception:
                log.exception("periodic_job_failed", job=self.name)
            await asyncio.sleep(self._every)
