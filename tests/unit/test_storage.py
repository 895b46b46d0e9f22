"""Migrations and the call event log on a real SQLite file."""

import uuid
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from acd.storage.db import _alembic_config, create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.models import RecordingRow
from acd.storage.recordings import RecordingStore, inspect_file
from tests import database


@pytest.fixture(params=database.BACKENDS)
def database_url(request, tmp_path):
    """A fresh database of each kind, whichever backend the run stores in."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/acd.db"
    return database.database_url(database.database_for(tmp_path))


REVISIONS = sorted(
    p.name[:4] for p in (Path(__file__).parents[2] / "acd/migrations/versions").glob("0*.py")
)


@pytest.mark.parametrize("start", ["base", *REVISIONS[:-1]])
async def test_a_database_at_any_earlier_revision_upgrades_to_the_newest_and_back(
    database_url, start
):
    engine = create_engine(database_url)
    try:
        if start != "base":
            await migrate(engine, start)
        await migrate(engine)
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert version == REVISIONS[-1]
        async with engine.begin() as conn:  # every downgrade works too: an upgrade can be undone
            await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "base"))
        await migrate(engine)
    finally:
        await engine.dispose()


async def test_migrations_create_the_schema_in_wal_mode_and_are_idempotent(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/sub/acd.db")
    try:
        await migrate(engine)
        await migrate(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar() == REVISIONS[-1]
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


async def test_a_report_reads_the_periods_facts_and_each_agents_state_at_its_start(database_url):
    from acd.core.agents import AgentState, AgentStateChanged
    from acd.storage.agent_states import AgentStateLog
    from acd.storage.reports import ReportSource

    start = datetime(2026, 11, 22, 16, tzinfo=UTC).timestamp()  # a day in Shanghai
    clock = [start - 60]
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        log = CallEventLog(engine, lambda: datetime.fromtimestamp(clock[0], UTC))
        await log.append("rep-old", "queued", line="tour")
        clock[0] = start + 10
        await log.append("rep-c1", "queued", line="tour")
        states = AgentStateLog(engine)
        s = AgentState
        await states.append(
            [
                AgentStateChanged("7001", s.LOGGED_OUT, s.NOT_READY, None, start - 7200),
                AgentStateChanged("7001", s.NOT_READY, s.READY, None, start - 3600),
                AgentStateChanged("7001", s.READY, s.RINGING, None, start + 11, "rep-c1"),
            ]
        )
        events, changes, _ = await ReportSource(engine).read(start, start + 86400)
        ours = [(e.call_id, e.at) for e in events if e.call_id.startswith("rep-")]
        assert ours == [("rep-c1", start + 10)]
        assert [(c.new, c.at) for c in changes if c.job_number == "7001"] == [
            (s.READY, start - 3600),
            (s.RINGING, start + 11),
        ]
    finally:
        await engine.dispose()


# One instance starting: imports done, it says so and waits for the go, then migrates.
MIGRATE = """
import asyncio, sys
from alembic import command

from acd.storage.db import _alembic_config, create_engine, migrate
async def main():
    engine = create_engine(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    await migrate(engine)
    await engine.dispose()
asyncio.run(main())
"""


async def test_two_instances_starting_at_once_both_migrate_and_come_up(database_url):
    import asyncio
    import sys

    from sqlalchemy.engine import make_url

    target = make_url(database_url).render_as_string(hide_password=False)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE,
            target,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for p in procs:
        assert await asyncio.wait_for(p.stdout.readline(), 30) == b"ready\n"
    for p in procs:  # all at the same moment, as after a host reboot
        p.stdin.write(b"go\n")
        await p.stdin.drain()
    results = [(await p.wait(), (await p.stderr.read()).decode()[-300:]) for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], results


async def test_a_caller_id_longer_than_40_characters_never_fails_a_row(database_url):
    # Asterisk can hand over a SIP URI as the caller id; PostgreSQL enforces column limits.
    engine = create_engine(database_url)
    long_caller = "sip:+8613800138000@carrier.example.com;user=phone"
    try:
        await migrate(engine)
        store = RecordingStore(engine)
        await store.started(
            RecordingRow(
                call_id="long-caller-1",
                line="tour",
                agent="1001",
                caller=long_caller,
                path="/srv/rec/x.wav",
                started_at=1.0,
                complete=False,
            )
        )
        row = await store.get("long-caller-1")
        assert row is not None and row.caller == long_caller[:40]
    finally:
        await engine.dispose()


async def test_a_call_recorded_again_keeps_one_row_for_the_new_file(database_url, tmp_path):
    db = create_engine(database_url)
    await migrate(db)
    store = RecordingStore(db)
    call = f"rerecorded-{uuid.uuid4().hex[:8]}"
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    wav(first, 1.5)
    for path, at in ((first, 100.0), (second, 160.0)):
        row = RecordingRow(
            call_id=call, line="tour", agent="1001", caller="1380", path=str(path), started_at=at
        )
        await store.started(row)
        if path == first:  # the first file is measured before the call is recorded again
            await store.finished(call, inspect_file(first), True)
            measured = await store.get(call)
            assert measured is not None and measured.size and measured.complete
    assert await store.path_of(call) == str(second)
    assert await store.path_of("nobody") is None
    row = await store.get(call)
    assert row is not None  # the new file's row, not measured yet
    assert (row.path, row.started_at) == (str(second), 160.0)
    await store.finished("nobody", None, True)  # a row that was never stored: nothing happens
    assert await store.get("nobody") is None
    await db.dispose()


def wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


async def test_a_callers_earlier_calls_are_found_by_index_including_those_before_the_upgrade(
    database_url,
):
    engine = create_engine(database_url)
    try:
        await migrate(engine, "0011")  # a centre with calls from before the number's column
        async with engine.begin() as conn:
            for call_id, number, minute in (("old-1", "13800000001", 1), ("old-2", "x", 2)):
                await conn.execute(
                    text(
                        "INSERT INTO call_events (call_id, at, kind, data)"
                        " VALUES (:call_id, :at, 'ivr_entered', :data)"
                    ),
                    {
                        "call_id": call_id,
                        "at": datetime(2026, 12, 1, 9, minute, tzinfo=UTC),
                        "data": f'{{"caller": "{number}", "language": "en"}}',
                    },
                )
        await migrate(engine)
        now = [datetime(2026, 12, 7, 9, 0, tzinfo=UTC)]
        log = CallEventLog(engine, clock=lambda: now[0])
        await log.append("old-1", "queued", line="tour")
        await log.append("new-1", "ivr_entered", caller="13800000001", language="zh")
        await log.append("new-1", "abandoned", line="cruise", waited=3.0)

        # The next call of that number pops up both earlier calls, newest first.
        history = await log.history("13800000001", exclude="new-2")
        assert [(h["call_id"], h["outcome"]) for h in history] == [
            ("new-1", "abandoned"),
            ("old-1", "ivr_only"),
        ]
        assert history[1]["line"] == "tour"
        assert await log.history("13900000000") == []
        if engine.dialect.name == "sqlite":  # read through the index, not the whole log
            async with engine.connect() as conn:
                plan = " ".join(
                    str(row[-1])
                    for row in await conn.execute(
                        text(
                            "EXPLAIN QUERY PLAN SELECT call_id FROM call_events"
                            " WHERE caller = '1' AND kind = 'ivr_entered' ORDER BY at DESC"
                        )
                    )
                )
            assert "ix_call_events_caller_at" in plan, plan
    finally:
        await engine.dispose()


async def test_on_postgresql_a_write_behind_a_lock_fails_after_the_lock_timeout(tmp_path):
    import asyncio
    import time

    from sqlalchemy.exc import DBAPIError

    from acd.centre.tasks import is_transient
    from acd.settings import DatabaseSettings

    url = database.database_url(database.database_for(tmp_path))
    limits = DatabaseSettings(url=url, lock_timeout=0.5, statement_timeout=2)
    engine = create_engine(url, postgres=limits)
    holder = create_engine(url)
    try:
        await migrate(engine)
        log = CallEventLog(engine, clock=lambda: datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
        async with holder.begin() as conn:  # a report gone wrong, an admin's shell
            await conn.execute(text("LOCK TABLE call_events IN EXCLUSIVE MODE"))
            started = time.monotonic()
            with pytest.raises(DBAPIError, match="lock timeout") as raised:
                await asyncio.wait_for(log.append("c1", "queued", line="tour"), 10)
            assert time.monotonic() - started < 2  # told, not stuck behind the lock
            assert is_transient(raised.value)  # so kept and retried, not set aside as bad
        await log.append("c1", "queued", line="tour")  # and written once the lock is gone
        assert [e.kind for e in await log.for_call("c1")] == ["queued"]
    finally:
        await holder.dispose()
        await engine.dispose()
