"""Short background tasks (a screen pop, a recording's row) kept until they are done."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from acd.ami.errors import AmiError

log = structlog.get_logger("acd.tasks")

# Errors that pass: the database is locked, restarting or unreachable. Not a
# row it refuses (IntegrityError, DataError): retrying those never helps.
TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may work (the database, not the data, is the problem)."""
    if isinstance(exc, TRANSIENT):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


RETRY_FIRST_DELAY, RETRY_MAX_DELAY = 0.5, 10.0


async def retry_while_busy(
    action: Callable[[], Awaitable[None]], what: str, *, give_up_after: float = 300.0
) -> None:
    """Run ``action``, again with backoff while the database is busy or down."""
    delay, deadline = RETRY_FIRST_DELAY, time.monotonic() + give_up_after
    while True:
        try:
            await action()
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            if time.monotonic() > deadline:
                log.error("gave_up", what=what, error=str(exc))
                return
            log.warning("retrying", what=what, in_s=delay, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)


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
