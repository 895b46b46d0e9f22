"""Which of two engines leads: a PostgreSQL advisory lock held on a connection of its own.

Two ``acd`` processes with the same configuration share one PostgreSQL and one
Asterisk. The one holding the lock leads; the other waits, trying for it every
``poll`` seconds. The lock belongs to the leader's database session, so it is
let go when that session ends:

- the leader killed (``kill -9``) or its host gone: its connection closes, the
  server ends the session at once;
- the leader frozen (SIGSTOP, a stuck host) or cut off from the database: its
  connection asks the server to end it after ``lease`` seconds without a word
  (``idle_session_timeout``); a live leader says one every ``lease / 3``.

Fencing: a leader acts only while it confirmed its lock less than two thirds of
a lease ago (``leading``; every AMI action asks ``check``). A leader that wakes
from a freeze finds its confirmation too old before anything else runs, so it
sends nothing until it has confirmed again; the standby cannot have started
before the server ended the session, a whole lease after the last word, and
then the confirmation fails: the lock is lost, which is final for the
process (it stops, and systemd starts it again as the standby). A stall
shorter than that only delays actions until the next confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
import structlog
from sqlalchemy.engine import make_url

log = structlog.get_logger("acd.leadership")

LEADER_LOCK_KEY = 0x61636421  # "acd!": not the migrations' key
CONFIRM_SHARE = 2 / 3  # of a lease: how old a confirmation may be for a leader to act


class LeadershipLost(Exception):
    """This engine no longer holds the leader's lock (or cannot tell): it must stop acting."""


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL ``postgresql+asyncpg://...`` as asyncpg's own DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Leadership:
    """This engine's bid for the lead, and its lock once it leads."""

    def __init__(
        self,
        url: str,
        node: str,
        address: str,
        *,
        lease: float = 3.0,
        poll: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node = node
        self.address = address
        self._dsn = asyncpg_dsn(url)
        self._lease = lease
        self._poll = poll
        self._clock = clock
        self._conn: asyncpg.Connection | None = None
        self._confirmed: float | None = None  # when the last confirmation was sent
        self._lost = asyncio.Event()
        self.leader_since: float | None = None
        self.known_leader: tuple[str, str] | None = None  # (node, address), read while waiting

    # -- waiting ----------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this engine leads (it has the lock and has said so in ``leader``)."""
        while True:
            try:
                if await self._try():
                    return
            except Exception as exc:  # whatever the driver says: not leading, try again
                log.warning("standby_database_unreachable", error=f"{type(exc).__name__}: {exc}")
                self._confirmed, self.leader_since = None, None  # a lock won is gone with it
                await self._drop()
            await asyncio.sleep(self._poll)

    async def _try(self) -> bool:
        conn = await self._connection()
        sent = self._clock()
        won = await conn.fetchval(
            "SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY, timeout=self._lease / 3
        )
        if not won:
            row = await conn.fetchrow(
                "SELECT node, address FROM leader WHERE id = 1", timeout=self._lease / 3
            )
            self.known_leader = (row["node"], row["address"]) if row else None
            return False
        self._confirmed = sent
        await conn.execute(
            "INSERT INTO leader (id, node, address, since) VALUES (1, $1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET node = $1, address = $2, since = $3",
            self.node,
            self.address,
            datetime.now(UTC),
            timeout=self._lease / 3,
        )
        self.leader_since = self._clock()
        self.known_leader = (self.node, self.address)
        log.info("leading", node=self.node, address=self.address)
        return True

    # -- leading ----------------------------------------------------------------

    def leading(self) -> bool:
        """Whether this engine may act now: it holds the lock, confirmed recently enough."""
        if self._lost.is_set() or self._confirmed is None:
            return False
        return self._clock() - self._confirmed < self._lease * CONFIRM_SHARE

    def check(self) -> None:
        """Raise ``LeadershipLost`` unless this engine may act now (see ``leading``).

        A confirmation merely too old (the loop stalled) refuses the action without
        giving up: ``keep`` confirms again, or finds the lock gone for good.
        """
        if self._lost.is_set():
            raise LeadershipLost(f"{self.node} is not the leader")
        if not self.leading():
            age = self._clock() - self._confirmed if self._confirmed is not None else None
            raise LeadershipLost(
                f"{self.node} has not confirmed its lead for "
                f"{'ever' if age is None else f'{age:.1f} s'}"
            )

    async def keep(self) -> None:
        """Confirm the lock every third of a lease; return when it is lost (its session
        ended, or the lock is not held). A slow answer only delays the confirmation."""
        interval = self._lease / 3
        while not self._lost.is_set():
            await asyncio.sleep(interval)
            # Late (frozen, a stuck loop)? Actions wait meanwhile (``check``); if the
            # server ended the silent session, this fails and the lead is lost for good.
            sent = self._clock()
            try:
                conn = await self._connection()
                held = await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND objid = $1 AND granted",
                    LEADER_LOCK_KEY & 0xFFFFFFFF,
                    timeout=interval,
                )
            except LeadershipLost:
                break
            except TimeoutError:  # a slow server: actions wait (``check``), try again
                log.warning("leader_lock_slow", node=self.node, timeout_s=round(interval, 2))
                continue
            except Exception as exc:  # (woken from a freeze: asyncpg's InternalClientError)
                # Whatever the driver says, the lock is not confirmed: lost, said so.
                self._lose(f"database: {type(exc).__name__}: {exc}")
                break
            if not held:
                self._lose("the lock is no longer held")
                break
            self._confirmed = sent
        await self._lost.wait()

    def _lose(self, why: str) -> None:
        if not self._lost.is_set():
            log.error("leadership_lost", node=self.node, reason=why)
            self._lost.set()

    # -- the connection ---------------------------------------------------------

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            if self._confirmed is not None:  # the lock was on the old session: gone with it
                self._lose("the lock's connection closed")
                raise LeadershipLost(f"{self.node} lost the lock's connection")
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=self._lease,
                server_settings={
                    "application_name": f"acd leader lock {self.node}"[:63],
                    # Silent longer than a lease: the server ends the session, and the lock.
                    "idle_session_timeout": str(round(self._lease * 1000)),
                },
            )
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        """Let go of the lock (the session ends) and of the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self._lease)
            if not conn.is_closed():
                conn.terminate()
