"""Short background tasks (a screen pop, a recording's row) kept until they are done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from acd.ami.errors import AmiError


class ShortTasks:
    """Spawns short tasks, keeps a reference to each, and lets a clean stop wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` beside the caller; its reference is held until it finishes."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, grace: float) -> None:
        """Give running tasks up to ``grace`` seconds to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)

    async def cancel(self) -> None:
        """Cancel what is still running and wait until it has stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, AmiError):
                await task
