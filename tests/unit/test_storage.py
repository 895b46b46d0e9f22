"""Migrations and the call event log on a real SQLite file."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from tests.pgserver import PgServer


@pytest.fixture(scope="module")
def postgres_url():
    server = PgServer()
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/acd.db"
    return request.getfixturevalue("postgres_url")


async def test_migrations_create_the_schema_in_wal_mode_and_are_idempotent(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/sub/acd.db")
    try:
        await migrate(engine)
        await migrate(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar() == "0006"
    finally:
        await engine.dispose()


async def test_call_events_are_stored_and_read_back_in_order(database_url):
    engine = create_engine(database_url)
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    try:
        await migrate(engine)
        log = CallEventLog(engine, clock=lambda: now)
        await log.append("1.0", "ivr_entered", caller="13800138000", name="张伟")
        await log.append("1.0", "ivr_digit", digit="2", line="tour")
        await log.append("2.0", "ivr_no_input")
        events = await log.for_call("1.0")
        assert [(e.kind, e.data) for e in events] == [
            ("ivr_entered", {"caller": "13800138000", "name": "张伟"}),
            ("ivr_digit", {"digit": "2", "line": "tour"}),
        ]
    finally:
        await engine.dispose()
