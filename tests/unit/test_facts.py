"""Facts are never dropped on a database error: a real SQLite database, really locked."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.centre.facts import DATABASE_ALARM, FactWriter, RetryRules
from acd.core.agents import AgentState, AgentStateChanged
from acd.core.commands import CallAnswered, CallNote
from acd.eventbus import EventBus
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.facts import FactStore, rows_for
from acd.storage.models import AgentStateRow, CallEventRow
from acd.storage.transactions import Transactions

A = AgentStateChanged("1001", AgentState.READY, AgentState.RINGING, None, 100.0, "c1")
B = CallNote("c1", "greeted", {"agent": "1001", "status": "SUCCESS"})
C = CallAnswered("c1", "tour", "1001", 4.0, 101.0)
D = CallNote("c1", "survey", {"score": 5, "agent": "1001", "line": "tour"})


# The writes run as the daemon runs them (a database thread of their own) or on the
# async engine (as on PostgreSQL): both must lose nothing.
HOT_WRITES: dict[AsyncEngine, Transactions] = {}


@pytest.fixture(params=["database thread", "async engine"])
async def db(request, tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    path = tmp_path / "acd.db"
    # A short busy timeout: a locked database answers "locked" within 0.2 s.
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout=0.2)
    await migrate(engine)
    own_thread = request.param == "database thread"
    HOT_WRITES[engine] = Transactions(engine, busy_timeout=0.2 if own_thread else None)
    yield engine, path
    await HOT_WRITES.pop(engine).close()
    await engine.dispose()


def lock(path: Path) -> sqlite3.Connection:
    """Another process's exclusive transaction: nobody else may write."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def writer(engine: AsyncEngine, tmp_path: Path, bus: EventBus, alarms: dict, **rules: float):
    return FactWriter(
        FactStore(engine, HOT_WRITES[engine]),
        tmp_path / "acd.facts-spill",
        bus,
        alarms,
        lambda: datetime.now(UTC),
        time.time,
        RetryRules(**{"first_delay": 0.05, "max_delay": 0.2, "spill_after": 60.0, **rules}),
    )


async def stored(engine: AsyncEngine) -> list[str]:
    """What the database holds, oldest first, as "table:what"."""
    async with engine.connect() as conn:
        states = (await conn.execute(select(AgentStateRow.new).order_by(AgentStateRow.id))).all()
        events = (await conn.execute(select(CallEventRow.kind).order_by(CallEventRow.id))).all()
    return [f"state:{s.new}" for s in states] + [f"event:{e.kind}" for e in events]


async def eventually(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_locked_database_delays_facts_with_an_alarm_and_loses_none(db, tmp_path):
    engine, path = db
    bus, alarms = EventBus(), {}
    facts = writer(engine, tmp_path, bus, alarms)
    task = asyncio.create_task(facts.run())
    held = lock(path)
    try:
        for fact in (A, B, C):
            facts.put(fact)
        await eventually(lambda: asyncio.sleep(0, DATABASE_ALARM in alarms))
        assert await stored(engine) == []  # all or nothing: no half batch
    finally:
        held.execute("COMMIT")
        held.close()
    await eventually(lambda: asyncio.sleep(0, DATABASE_ALARM not in alarms))
    assert await stored(engine) == ["state:ringing", "event:greeted", "event:answered"]
    assert [(e.kind, e.data["raised"]) for e in bus.since(0) or []] == [
        ("alarm", True),
        ("alarm", False),
    ]
    task.cancel()


async def test_a_database_down_too_long_spills_to_a_file_written_back_in_order(db, tmp_path):
    engine, path = db
    facts = writer(engine, tmp_path, EventBus(), {}, spill_after=0.3)
    task = asyncio.create_task(facts.run())
    spill = tmp_path / "acd.facts-spill"
    held = lock(path)
    try:
        facts.put(A)
        facts.put(B)
        await eventually(lambda: asyncio.sleep(0, spill.exists()))
        facts.put(C)  # behind the spilled ones, so after them too
        await eventually(lambda: asyncio.sleep(0, len(spill.read_text().splitlines()) == 3))
    finally:
        held.execute("COMMIT")
        held.close()
    facts.put(D)  # the database is back: the spill goes first, then this
    await eventually(lambda: asyncio.sleep(0, not spill.exists()))
    await eventually(lambda: stored_is(engine, 4))
    assert await stored(engine) == [
        "state:ringing",
        "event:greeted",
        "event:answered",
        "event:survey",
    ]
    task.cancel()


async def stored_is(engine: AsyncEngine, count: int) -> bool:
    return len(await stored(engine)) == count


async def test_a_clean_stop_during_an_outage_spills_and_the_next_start_writes_it(db, tmp_path):
    engine, path = db
    held = lock(path)
    try:
        first = writer(engine, tmp_path, EventBus(), {})
        first.put(A)
        first.put(C)
        await first.flush()  # stopping: no time to wait for the database
    finally:
        held.execute("COMMIT")
        held.close()
    assert await stored(engine) == []
    second = writer(engine, tmp_path, EventBus(), {})  # the engine starts again
    second.put(D)
    await second.flush()
    assert await stored(engine) == ["state:ringing", "event:answered", "event:survey"]


async def test_a_stop_while_a_batch_is_retried_keeps_that_batch(db, tmp_path):
    engine, path = db
    alarms: dict = {}
    facts = writer(engine, tmp_path, EventBus(), alarms)
    task = asyncio.create_task(facts.run())
    held = lock(path)
    try:
        facts.put(A)
        await eventually(lambda: asyncio.sleep(0, DATABASE_ALARM in alarms))  # being retried
        task.cancel()  # the engine stops (pipeline.stop cancels the writer, then flushes)
        await asyncio.gather(task, return_exceptions=True)
        await facts.flush()
    finally:
        held.execute("COMMIT")
        held.close()
    await writer(engine, tmp_path, EventBus(), {}).replay_spill()  # the next start
    assert await stored(engine) == ["state:ringing"]


async def test_a_half_written_spill_line_is_skipped_and_the_rest_written(db, tmp_path):
    engine, _ = db
    first = writer(engine, tmp_path, EventBus(), {})
    spill = tmp_path / "acd.facts-spill"
    first.put(C)
    await first.flush()  # the database is up: written at once, nothing spilled
    assert not spill.exists()
    # A spill left by a run killed while it wrote its last line.
    spill.write_text(
        '{"table": "call_events", "call_id": "c2", "kind": "queued", "data": {}, '
        '"at": "2026-11-24T01:00:00+00:00"}\n{"table": "call_ev'
    )
    await writer(engine, tmp_path, EventBus(), {}).replay_spill()
    assert await stored(engine) == ["event:answered", "event:queued"]
    assert not spill.exists()


async def test_a_row_the_database_refuses_is_set_aside_and_does_not_block_the_rest(db, tmp_path):
    engine, _ = db
    alarms: dict = {}
    facts = writer(engine, tmp_path, EventBus(), alarms)
    task = asyncio.create_task(facts.run())
    broken = AgentStateChanged(None, AgentState.READY, AgentState.RINGING, None, 1.0, "c9")  # type: ignore[arg-type]
    facts.put(broken)  # NOT NULL: no retry can help
    await eventually(lambda: asyncio.sleep(0, (tmp_path / "acd.facts-spill.rejected").exists()))
    facts.put(D)
    await eventually(lambda: stored_is(engine, 1))
    assert await stored(engine) == ["event:survey"] and alarms == {}
    task.cancel()


async def test_a_refused_row_in_a_batch_is_the_only_one_set_aside(db, tmp_path):
    """One call's bad fact (NOT NULL broken) in the same batch as other calls' facts:
    theirs are stored, in order; only the bad one waits in the rejected file."""
    engine, _ = db
    alarms: dict = {}
    facts = writer(engine, tmp_path, EventBus(), alarms)
    broken = AgentStateChanged(None, AgentState.READY, AgentState.RINGING, None, 1.0, "c9")  # type: ignore[arg-type]
    for fact in (A, broken, B, C):
        facts.put(fact)
    task = asyncio.create_task(facts.run())  # the four as one batch
    await eventually(lambda: stored_is(engine, 3))
    assert await stored(engine) == ["state:ringing", "event:greeted", "event:answered"]
    rejected = (tmp_path / "acd.facts-spill.rejected").read_text().splitlines()
    assert [json.loads(line)["call_id"] for line in rejected] == ["c9"]
    assert facts.pending == 0 and alarms == {}
    task.cancel()


async def test_a_refused_row_the_disk_will_not_take_either_waits_and_nothing_is_lost(db, tmp_path):
    """The rejected file cannot be written (here: a directory is in its place). The bad
    row is kept in hand, without a database alarm, and what follows it waits behind it;
    once the file can be written, the row goes there and the rest is stored."""
    engine, _ = db
    alarms: dict = {}
    facts = writer(engine, tmp_path, EventBus(), alarms)
    rejected = tmp_path / "acd.facts-spill.rejected"
    rejected.mkdir()
    broken = AgentStateChanged(None, AgentState.READY, AgentState.RINGING, None, 1.0, "c9")  # type: ignore[arg-type]
    for fact in (A, broken, B):
        facts.put(fact)
    task = asyncio.create_task(facts.run())
    await eventually(lambda: stored_is(engine, 1))
    await asyncio.sleep(0.5)  # several tries, each refused by the disk
    assert await stored(engine) == ["state:ringing"]
    assert facts.pending > 0 and alarms == {}
    rejected.rmdir()
    await eventually(lambda: stored_is(engine, 2))
    assert await stored(engine) == ["state:ringing", "event:greeted"]
    assert [json.loads(line)["call_id"] for line in rejected.read_text().splitlines()] == ["c9"]
    assert facts.pending == 0 and alarms == {}
    task.cancel()


async def test_a_refused_row_in_the_spill_does_not_hold_back_the_rest_of_it(db, tmp_path):
    engine, _ = db
    spill = tmp_path / "acd.facts-spill"
    good = rows_for(C, datetime.now(UTC)) + rows_for(D, datetime.now(UTC))
    bad = rows_for(B, datetime.now(UTC))[0] | {"kind": None}  # NOT NULL broken
    spill.write_text("\n".join(json.dumps(r) for r in [good[0], bad, good[1]]) + "\n")
    await writer(engine, tmp_path, EventBus(), {}).replay_spill()  # the next start
    assert await stored(engine) == ["event:answered", "event:survey"]
    assert not spill.exists()
    rejected = (tmp_path / "acd.facts-spill.rejected").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in rejected] == [None]


async def test_hot_writes_run_whole_in_a_database_thread_and_a_read_never_waits_behind_them(
    tmp_path,
):
    path = tmp_path / "acd.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    hot = Transactions(engine, busy_timeout=1.0)
    events = CallEventLog(engine, lambda: datetime.now(UTC))
    try:
        await events.append("c0", "ivr_entered", caller="13800000000")

        def where(conn: Connection) -> str:
            conn.execute(select(CallEventRow.id).limit(1))
            return threading.current_thread().name

        assert (await hot.run(where)).startswith("acd-db")  # off the event loop's thread
        # Another process holds the database for writing: a hot write waits (in its
        # thread), while a screen pop's read goes on at once.
        holder = lock(path)
        try:
            write = asyncio.ensure_future(
                FactStore(engine, hot).write(rows_for(C, datetime.now(UTC)))
            )
            started = time.monotonic()
            history = await events.history("13800000000")
            assert [h["call_id"] for h in history] == ["c0"]
            assert time.monotonic() - started < 0.5 and not write.done()
        finally:
            holder.rollback()
            holder.close()
        await write
        assert await stored(engine) == ["event:ivr_entered", "event:answered"]
        # After the last write its thread is gone; anything later runs on the async engine.
        await hot.close()
        assert not (await hot.run(where)).startswith("acd-db")
    finally:
        await hot.close()
        await engine.dispose()
