"""Faults an operator meets, injected from outside the engine (as another process would)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
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


class DatabaseLock:
    """``async with DatabaseLock(path):`` nobody else may write to that SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> DatabaseLock:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _LOCKER,
            str(self.path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        assert line.strip() == b"locked", f"could not lock {self.path}: {line!r}"
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
