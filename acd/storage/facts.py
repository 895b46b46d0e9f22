"""Writing the engine's facts: a batch of rows in one transaction, all of it or none.

Facts are turned into rows when they happen (with their own time), so a row
written late, after a database outage, still says when it happened. Rows are
plain dicts so that they can wait in a local spill file while the database
is down and be written from there later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.core.agents import AgentStateChanged
from acd.core.commands import CallAbandoned, CallAnswered, CallNote, Fact
from acd.core.peak import PeakLevelChanged
from acd.storage.models import AgentStateRow, CallEventRow, caller_column
from acd.storage.transactions import Transactions

Row = dict[str, Any]  # {"table": "call_events" | "agent_state_changes", ...its columns}


def rows_for(fact: Fact, at: datetime) -> list[Row]:
    """The rows one fact is stored as; ``at`` is when it happened (for call events)."""
    stamp = at.astimezone(UTC).isoformat()
    match fact:
        case AgentStateChanged():
            return [
                {
                    "table": "agent_state_changes",
                    "job_number": fact.job_number,
                    "old": fact.old.value,
                    "new": fact.new.value,
                    "reason": fact.reason.value if fact.reason else None,
                    "call_id": fact.call_id,
                    "at": fact.at,
                    "endpoint": fact.endpoint,
                }
            ]
        case CallAbandoned():
            data: Mapping[str, Any] = {
                "line": fact.line,
                "waited": round(fact.waited, 3),
                "while_ringing": fact.while_ringing,
            }
            return [_event(fact.call_id, "abandoned", data, stamp)]
        case CallAnswered():
            data = {"line": fact.line, "agent": fact.job_number, "waited": round(fact.waited, 3)}
            return [_event(fact.call_id, "answered", data, stamp)]
        case PeakLevelChanged():
            data = {"old": int(fact.old), "new": int(fact.new), "waiting": fact.waiting}
            return [_event("peak", "peak_level", data, stamp)]
        case CallNote():
            return [_event(fact.call_id, fact.kind, fact.data, stamp)]


def _event(call_id: str, kind: str, data: Mapping[str, Any], stamp: str) -> Row:
    return {
        "table": "call_events",
        "call_id": call_id,
        "kind": kind,
        "data": dict(data),
        "at": stamp,
    }


class FactStore:
    """Writes rows of facts, a batch per transaction.

    Plain multi-row inserts (one statement per table and batch), not ORM
    objects: under load the unit of work cost more than the writes themselves;
    the batch is one transaction run whole off the loop (``Transactions``).
    """

    def __init__(self, engine: AsyncEngine, transactions: Transactions | None = None) -> None:
        self._run = (transactions or Transactions(engine)).run

    async def write(self, rows: Iterable[Row]) -> None:
        """Every row, in order, in one transaction: all of them are stored or none."""
        states: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for row in rows:
            if row["table"] == "agent_state_changes":
                states.append(
                    {
                        "job_number": row["job_number"],
                        "old": row["old"],
                        "new": row["new"],
                        "reason": row["reason"],
                        "call_id": row["call_id"],
                        "at": row["at"],
                        "endpoint": row.get("endpoint"),  # none in an older spill file
                    }
                )
            else:
                events.append(
                    {
                        "call_id": row["call_id"],
                        "at": datetime.fromisoformat(row["at"]),
                        "kind": row["kind"],
                        "data": row["data"],
                        "caller": caller_column(row["kind"], row["data"]),
                    }
                )
        if not states and not events:
            return

        def write(conn: Connection) -> None:
            # Each table's ids follow the order things happened (rows go in in order).
            if states:
                conn.execute(insert(AgentStateRow), states)
            if events:
                conn.execute(insert(CallEventRow), events)

        await self._run(write)
