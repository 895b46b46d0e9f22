"""Recordings: a row when recording starts, completed (size, checksum, length) when it stops."""

from __future__ import annotations

import hashlib
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.storage.models import RecordingRow
from acd.storage.transactions import Transactions


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What a recording file holds: its size, SHA-256 and length."""

    size: int
    checksum: str
    duration: float | None  # None: not a readable WAV (cut off)
    intact: bool = False  # the header was finished: its sizes match the file


def wav_intact(data: bytes) -> bool:
    """Whether a WAV's header was finished (Asterisk writes its sizes when it closes the file).

    A file cut off (Asterisk killed while recording) keeps the sizes it was
    created with; a whole one says exactly how long it is.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    riff_size: int = struct.unpack_from("<I", data, 4)[0]
    if riff_size != len(data) - 8:
        return False
    offset = 12
    while offset + 8 <= len(data):
        chunk = data[offset : offset + 4]
        size: int = struct.unpack_from("<I", data, offset + 4)[0]
        if chunk == b"data":
            return offset + 8 + size == len(data)
        offset += 8 + size + (size & 1)
    return False


def inspect_file(path: Path) -> FileFacts | None:
    """Size, SHA-256 and length of a recording (blocking: run it in a thread)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        with wave.open(str(path), "rb") as wav:
            duration: float | None = wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError):
        duration = None
    return FileFacts(len(data), hashlib.sha256(data).hexdigest(), duration, wav_intact(data))


class RecordingStore:
    """Recording rows in the database: started, finished, listed and purged.

    A call's start and end (twice a recorded call) are single statements, each
    one transaction run whole off the loop (``Transactions``).
    """

    def __init__(self, engine: AsyncEngine, transactions: Transactions | None = None) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._run = (transactions or Transactions(engine)).run

    async def started(self, row: RecordingRow) -> None:
        """Store a recording's row. A row already there (the call recorded again, or an
        engine that restarted) takes the values given and keeps the others, as a merge."""
        values = {c.key: getattr(row, c.key) for c in RecordingRow.__table__.columns}
        values["complete"] = bool(values["complete"])
        given = row.__dict__  # the attributes set on the row (as the ORM's merge copies them)
        fresh = {k: v for k, v in values.items() if k != "call_id" and k in given}

        def upsert(conn: Connection) -> None:
            # One statement (no race between two starts); in SQLite or PostgreSQL.
            postgres = conn.dialect.name == "postgresql"
            insert = (postgresql_insert if postgres else sqlite_insert)(RecordingRow)
            conn.execute(
                insert.values(values).on_conflict_do_update(index_elements=["call_id"], set_=fresh)
            )

        await self._run(upsert)

    async def path_of(self, call_id: str) -> str | None:
        """Where a call's recording is (None: no such row)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(RecordingRow.path).where(RecordingRow.call_id == call_id)
            )

    async def finished(self, call_id: str, facts: FileFacts | None, complete: bool) -> None:
        values: dict[str, object] = {"complete": complete}
        if facts is not None:
            values |= {"size": facts.size, "checksum": facts.checksum, "duration": facts.duration}

        def measured(conn: Connection) -> None:  # one UPDATE; no row, nothing to do
            conn.execute(update(RecordingRow).where(RecordingRow.call_id == call_id).values(values))

        await self._run(measured)

    async def get(self, call_id: str) -> RecordingRow | None:
        async with self._sessions() as session:
            return await session.get(RecordingRow, call_id)

    async def open_ones(self) -> list[RecordingRow]:
        """Recordings that never got their stop (e.g. Asterisk crashed)."""
        async with self._sessions() as session:
            rows = await session.scalars(select(RecordingRow).where(RecordingRow.size.is_(None)))
            return list(rows)

    async def listing(
        self,
        since: float,
        until: float,
        *,
        agent: str | None = None,
        line: str | None = None,
        caller: str | None = None,
        limit: int = 500,
    ) -> list[RecordingRow]:
        """Recordings started in a period, newest first."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.started_at >= since)
            .where(RecordingRow.started_at < until)
            .order_by(RecordingRow.started_at.desc())
            .limit(limit)
        )
        if agent is not None:
            query = query.where(RecordingRow.agent == agent)
        if line is not None:
            query = query.where(RecordingRow.line == line)
        if caller is not None:
            query = query.where(RecordingRow.caller == caller)
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def older_than(self, cutoff: float) -> list[RecordingRow]:
        """Recordings started before ``cutoff`` whose file is still kept."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RecordingRow)
                .where(RecordingRow.started_at < cutoff)
                .where(RecordingRow.purged_at.is_(None))
            )
            return list(rows)

    async def mark_purged(self, call_id: str, at: float) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(RecordingRow, call_id)
            if row is not None:
                row.purged_at = at
