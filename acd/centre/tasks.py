"""Short background tasks (a screen pop, a recording's row) kept until they are done."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from acd.ami.errors import AmiError

log = structlog.get_logger("acd.tasks")

# Errors that pass: the database is locked, restarting or unreachable, or its
# connections are all in use. Not a row it refuses (IntegrityError, DataError):
# retrying those never helps.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    OSError,
    TimeoutError,
    ConnectionError,
)
# PostgreSQL says which by its SQLSTATE (asyncpg's errors all reach SQLAlchemy as one
# class): connection exceptions (08), a transaction rolled back by a serialization
# failure or a deadlock (40), insufficient resources such as too many connections (53),
# a lock not available in time (55P03), operator intervention: statement or lock
# timeout, the server shutting down or starting up (57), and system errors (58).
TRANSIENT_SQLSTATES = ("08", "40", "53", "55P03", "57", "58")


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may work (the database, not the data, is the problem)."""
    if isinstance(exc, TRANSIENT):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    return code is not None and code.startswith(TRANSIENT_SQLSTATES)


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of a PostgreSQL error (None for others)."""
    orig = exc.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str) and code:
            return code
    return None


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


def _told(task: asyncio.Task[Any]) -> None:
    """A short task that failed is logged with its error (never 'never retrieved')."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("task_failed", task=task.get_name(), exc_info=exc)


class ShortTasks:
    """Spawns short tasks, keeps a reference to each, and lets a clean stop wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` beside the caller; its reference is held until it finishes."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_told)

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
