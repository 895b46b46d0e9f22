"""The phone directory Asterisk reads: PJSIP endpoints, auths and AORs (realtime, SQLite).

Asterisk's ``res_config_sqlite3`` reads this file on every lookup
(``asterisk-conf/sorcery.conf`` maps PJSIP's endpoints, auths and AORs to it),
so a phone added, removed or given a new secret works at once, with no reload
and no AMI rights beyond what the engine already has. acd writes it whole, in
one transaction, in place: Asterisk keeps the file open, so it is never
replaced or deleted. Written in a thread: nothing here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import grp
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ENDPOINT_COLUMNS = (
    "id",
    "transport",
    "aors",
    "auth",
    "context",
    "disallow",
    "allow",
    "direct_media",
    "rtp_symmetric",
    "force_rport",
    "rewrite_contact",
    "dtmf_mode",
    "webrtc",
    "dtls_auto_generate_cert",
)
AUTH_COLUMNS = ("id", "auth_type", "username", "realm", "password_digest")
AOR_COLUMNS = ("id", "max_contacts", "remove_existing")


@dataclass(frozen=True, slots=True)
class DirectoryPhone:
    """One phone as Asterisk needs it."""

    name: str
    realm: str
    digest: str  # MD5 of "name:realm:secret"
    webrtc: bool = False  # a browser's phone: SIP over WebSocket, DTLS-SRTP and ICE


@dataclass(frozen=True, slots=True)
class PhoneProfile:
    """What every phone shares: dialplan context, transport, codecs."""

    context: str
    transport: str
    codecs: str


LOCK_WAIT_SECONDS = 10.0


class PhoneDirectory:
    """Writes the phones into the SQLite file Asterisk's PJSIP realtime reads."""

    def __init__(self, path: Path, profile: PhoneProfile, group: str | None = None) -> None:
        self.path = path
        self._profile = profile
        self._group = group  # Asterisk's group, when it runs as another user than acd
        self._lock = asyncio.Lock()

    async def write(self, phones: Sequence[DirectoryPhone]) -> None:
        """Make the directory hold exactly these phones (one transaction, off the loop)."""
        await self.write_latest(_constant(list(phones)))

    async def write_latest(self, read: Callable[[], Awaitable[list[DirectoryPhone]]]) -> None:
        """Read the phones and write them, as one step against any other writer.

        The daemon and the `acd` command may both publish; each reads the
        phones only once it holds the directory's lock, so an older reading can
        never be written over a newer one (a deleted phone coming back).
        """
        async with self._lock:
            lock = await asyncio.to_thread(_lock_file, self.path)
            try:
                phones = await read()
                await asyncio.to_thread(_write, self.path, self._profile, phones, self._group)
            finally:
                lock.close()  # releases the flock


def _constant(phones: list[DirectoryPhone]) -> Callable[[], Awaitable[list[DirectoryPhone]]]:
    async def read() -> list[DirectoryPhone]:
        return phones

    return read


def _lock_file(path: Path) -> TextIO:
    """An exclusive lock beside the directory (another process publishing waits)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(f"{path}.lock", "a")
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise OSError(f"{path}.lock is held by another writer") from None
            time.sleep(0.05)


def _protect(path: Path, group: str | None) -> None:
    """Digests are as good as secrets: owner only, or owner and Asterisk's group."""
    if group is not None:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    os.chmod(path, 0o640 if group is not None else 0o600)


def _endpoint(profile: PhoneProfile, phone: DirectoryPhone) -> tuple[str | None, ...]:
    """A phone's ps_endpoints row, in ENDPOINT_COLUMNS' order (None: Asterisk's default)."""
    if phone.webrtc:
        # webrtc = yes: AVPF, DTLS-SRTP (a certificate Asterisk makes itself), ICE and
        # rtcp-mux. No transport: Asterisk answers on the WebSocket it registered over.
        transport, nat, webrtc = None, None, "yes"
    else:
        transport, nat, webrtc = profile.transport, "yes", None
    return (
        phone.name,
        transport,
        phone.name,
        phone.name,
        profile.context,
        "all",
        profile.codecs,
        "no",
        "yes",
        nat,
        nat,
        "rfc4733",
        webrtc,
        webrtc,
    )


def _write(
    path: Path, profile: PhoneProfile, phones: list[DirectoryPhone], group: str | None
) -> None:
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    # Whoever created it (Asterisk opens it at start), it is kept from other users.
    _protect(path, group)
    with contextlib.closing(sqlite3.connect(path, timeout=10, isolation_level=None)) as db:
        db.execute("PRAGMA busy_timeout = 10000")
        for table, columns in (
            ("ps_endpoints", ENDPOINT_COLUMNS),
            ("ps_auths", AUTH_COLUMNS),
            ("ps_aors", AOR_COLUMNS),
        ):
            rest = ", ".join(f"{c} TEXT" for c in columns[1:])
            db.execute(f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, {rest})")
            # A directory from an earlier acd (or a site's own) may lack a column.
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("ps_endpoints", "ps_auths", "ps_aors"):
                db.execute(f"DELETE FROM {table}")
            for phone in phones:
                db.execute(
                    f"INSERT INTO ps_endpoints ({', '.join(ENDPOINT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in ENDPOINT_COLUMNS)})",
                    _endpoint(profile, phone),
                )
                db.execute(
                    "INSERT INTO ps_auths (id, auth_type, username, realm, password_digest) "
                    "VALUES (?, 'digest', ?, ?, ?)",
                    (phone.name, phone.name, phone.realm, f"md5:{phone.digest}"),
                )
                # One registration per phone: a second one replaces the first.
                db.execute(
                    "INSERT INTO ps_aors (id, max_contacts, remove_existing) "
                    "VALUES (?, '1', 'yes')",
                    (phone.name,),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
