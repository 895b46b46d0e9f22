"""Database engine creation and migrations (run at start, before anything else)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from acd.settings import DatabaseSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def sqlite_pragmas(dbapi_conn: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    """Every SQLite connection: write-ahead log, synced at checkpoints, foreign keys."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


BUSY_TIMEOUT = 15.0  # seconds a locked SQLite file is waited for before an error


def engine_for(database: DatabaseSettings) -> AsyncEngine:
    """The engine the ``[database]`` section describes."""
    return create_engine(database.url, postgres=database)


def create_engine(
    url: str, *, busy_timeout: float = BUSY_TIMEOUT, postgres: DatabaseSettings | None = None
) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout, its folder is created;
    PostgreSQL its pool size and time limits (the server's, and the client's a little
    longer: a server that stopped answering cannot hold a connection forever)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # No row values in errors or logs: they hold phone digests and callers' numbers.
        engine = create_async_engine(
            url, connect_args={"timeout": busy_timeout}, hide_parameters=True
        )
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    pg = postgres or DatabaseSettings(url=url)  # its pool and time limits, or the defaults
    return create_async_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=pg.pool_size,
        max_overflow=pg.max_overflow,
        pool_timeout=pg.pool_timeout,
        connect_args={
            "timeout": pg.connect_timeout,
            "command_timeout": pg.statement_timeout + 5.0,
            "server_settings": {
                "statement_timeout": str(round(pg.statement_timeout * 1000)),
                "lock_timeout": str(round(pg.lock_timeout * 1000)),
                "application_name": "acd",
            },
        },
    )


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# PostgreSQL advisory lock key for migrations ("acd" in ASCII).
MIGRATION_LOCK_KEY = 0x616364


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to the newest revision (or ``revision``; idempotent).

    Two instances starting at once both come up: migrations run under a lock
    (a file lock beside a SQLite database, an advisory lock on PostgreSQL),
    so the second finds the schema done instead of creating it again.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        fd = await asyncio.to_thread(_open_lock, url.database)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)  # waits for the other one
            await _upgrade(engine, revision)
        finally:
            os.close(fd)  # closing releases the lock
        return
    await _upgrade(engine, revision)


def _open_lock(database: str) -> int:
    """The lock file beside a SQLite database (blocking: run it in a thread)."""
    path = Path(database).expanduser()
    return os.open(path.with_name(path.name + ".migrating"), os.O_RDWR | os.O_CREAT, 0o600)


async def _upgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # held until this transaction ends
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))
