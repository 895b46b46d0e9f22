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
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
)
AUTH_COLUMNS = ("id", "auth_type", "username", "realm", "password_digest")
AOR_COLUMNS = ("id", "max_contacts", "remove_existing")


@dataclass(frozen=True, slots=True)
class DirectoryPhone:
    """One phone as Asterisk needs it."""

    name: str
    realm: str
    digest: str  # MD5 of "name:realm:secret"


@dataclass(frozen=True, slots=True)
class PhoneProfile:
    """What every phone shares: dialplan context, transport, codecs."""

    context: str
    transport: str
    codecs: str


class PhoneDirectory:
    """Writes the phones into the SQLite file Asterisk's PJSIP realtime reads."""

    def __init__(self, path: Path, profile: PhoneProfile) -> None:
        self.path = path
        self._profile = profile
        self._lock = asyncio.Lock()

    async def write(self, phones: Sequence[DirectoryPhone]) -> None:
        """Make the directory hold exactly these phones (one transaction, off the loop)."""
        async with self._lock:
            await asyncio.to_thread(_write, self.path, self._profile, list(phones))


def _write(path: Path, profile: PhoneProfile, phones: list[DirectoryPhone]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # The file holds password digests: readable by its owner (Asterisk runs as root
        # in the bundled chroot; a site gives the file to Asterisk's user) only.
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
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
                    (
                        phone.name,
                        profile.transport,
                        phone.name,
                        phone.name,
                        profile.context,
                        "all",
                        profile.codecs,
                        "no",
                        "yes",
                        "yes",
                        "yes",
                        "rfc4733",
                    ),
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
