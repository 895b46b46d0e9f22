"""Hot transactions written as plain functions of a SQLAlchemy Connection, run off the loop.

aiosqlite hands each DBAPI call to its own thread and back (a cursor, an execute,
a commit, the pool's reset on return). Under load (100 calls at once) the hot
writes, a batch of facts many times a call, cost three times the CPU that SQLite
itself did. So a hot transaction is one plain function: on SQLite it runs whole
in a database thread of its own, one hand-off each; elsewhere (PostgreSQL, where
asyncpg is asynchronous itself) through the async engine's ``run_sync``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.storage.db import sqlite_pragmas

T = TypeVar("T")

# A locked SQLite file is waited for this long by the hot writes' thread. Their callers
# retry (the fact writer, with its alarm and spill; recording rows): a lock is told and
# tried again in 5 s rather than holding the thread, and all queued behind it, for 15.
HOT_BUSY_TIMEOUT = 5.0


class Transactions:
    """Runs ``work(connection)`` in one transaction: committed if it returns, else rolled back."""

    def __init__(self, engine: AsyncEngine, *, busy_timeout: float | None = None) -> None:
        """``busy_timeout`` (seconds a locked SQLite file is waited for): a database thread
        of its own for a SQLite file; without it (or on PostgreSQL) ``run_sync``."""
        self._engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        url = engine.url
        if busy_timeout is not None and url.get_backend_name() == "sqlite":
            if url.database not in (None, "", ":memory:"):
                self._sync = create_engine(
                    url.set(drivername="sqlite"),  # the standard library's sqlite3
                    connect_args={"timeout": busy_timeout},
                    hide_parameters=True,  # no row values in errors or logs
                )
                event.listen(self._sync, "connect", sqlite_pragmas)
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="acd-db")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """The result of ``work``, run in one transaction (errors are the database's own)."""
        if self._thread is None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._in_thread, work)

    def _in_thread(self, work: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.begin() as conn:
            return work(conn)

    async def close(self) -> None:
        """After the last write: the thread ends, its connections close (in that thread)."""
        thread, sync = self._thread, self._sync
        if thread is None or sync is None:
            return
        self._thread = None
        await asyncio.get_running_loop().run_in_executor(thread, sync.dispose)
        await asyncio.to_thread(thread.shutdown, True)
