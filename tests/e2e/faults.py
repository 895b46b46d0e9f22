"""Faults an operator meets, injected from outside the engine (as another process would)."""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType

# Another program holding the database: a backup, a report query gone wrong, an admin's shell.
# It takes SQLite's exclusive lock, says so, and lets go when its standard input closes.
_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("COMMIT")
"""
# The same on PostgreSQL: every table locked against writers (readers go on, as with
# SQLite's write-ahead log), in one transaction held until standard input closes.
_PG_LOCKER = """
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    tables = [r[0] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    async with conn.transaction():
        await conn.execute(
            "LOCK TABLE " + ", ".join(f'"{t}"' for t in tables) + " IN EXCLUSIVE MODE")
        print("locked", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await conn.close()
asyncio.run(main())
"""


class DatabaseLock:
    """``async with DatabaseLock(url):`` nobody else may write to that database
    (a SQLite file or a PostgreSQL database, by its URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> DatabaseLock:
        scheme, _, rest = self.url.partition("://")
        if scheme.startswith("sqlite"):
            script, target = _LOCKER, rest.removeprefix("/")
        else:
            script, target = _PG_LOCKER, "postgresql://" + rest
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            target,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        assert line.strip() == b"locked", f"could not lock {self.url}: {line!r}"
        return self

    async def release(self) -> None:
        """Let go of the lock (the holder commits and exits)."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
