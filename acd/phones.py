"""Agents' own SIP phones: a secret per phone (shown once), and the hot desks an admin allows.

Every agent and supervisor has their own phone, ``PJSIP/<job number>``, with
their own secret: nobody can register as someone else (a supervisor's phone
receives their listen and whisper legs). acd generates the secret, shows it
once, keeps only its digest (as PJSIP's ``password_digest`` takes it) and
writes the phones to the directory Asterisk reads, where a change takes effect
at once. Logging in at another phone is limited to phones an admin allowed.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable, Mapping

import structlog

from acd.storage.models import PhoneRow
from acd.storage.phone_directory import DirectoryPhone, PhoneDirectory
from acd.storage.phones import PhoneStore

log = structlog.get_logger("acd.phones")

SECRET_BYTES = 18  # 24 characters of URL-safe base64


class PhoneDirectoryUnavailable(Exception):
    """The phone directory Asterisk reads could not be written."""


class NotAllowedPhone(Exception):
    """An agent asked to log in at a phone no admin allowed for them."""


class PhoneNotKept(Exception):
    """acd keeps no phone for this agent (no ``[phones] directory``, or a pjsip.conf phone)."""


def sip_digest(name: str, realm: str, secret: str) -> str:
    """MD5 of "name:realm:secret": what SIP digest authentication checks (RFC 2617's HA1)."""
    return hashlib.md5(f"{name}:{realm}:{secret}".encode()).hexdigest()


def own_endpoint(job_number: str) -> str:
    """The phone every agent and supervisor has: PJSIP/<job number>."""
    return f"PJSIP/{job_number}"


WEB_PREFIX = "web"  # job numbers are digits: "web1001" is nobody's desk phone
# Each page with a phone has its own, so the console listening in never takes the
# desktop's registration (a team lead may have both open): web<job>, webc<job>.
WEB_PAGES = {"desktop": WEB_PREFIX, "console": f"{WEB_PREFIX}c"}


def web_phone_name(job_number: str, page: str = "desktop") -> str:
    """The user's phone in a page (the desktop's or the console's WebRTC phone)."""
    return f"{WEB_PAGES[page]}{job_number}"


def web_endpoint(job_number: str, page: str = "desktop") -> str:
    return f"PJSIP/{web_phone_name(job_number, page)}"


def is_web_phone(name: str) -> bool:
    return name.startswith(WEB_PREFIX)


class PhoneBook:
    """Issues phone secrets, publishes the phones to Asterisk, checks hot desks."""

    def __init__(
        self,
        store: PhoneStore,
        directory: PhoneDirectory | None,
        realm: str,
        clock: Callable[[], float],
        home: Mapping[str, str],
    ) -> None:
        self._store = store
        self._directory = directory
        self.realm = realm
        self._clock = clock
        self._home = home  # configured phones ([[agents]] endpoint) by job number

    def home_of(self, job_number: str) -> str:
        """The agent's own phone: as configured, else PJSIP/<job number>."""
        return self._home.get(job_number, own_endpoint(job_number))

    def keeps_phone_of(self, job_number: str) -> bool:
        """Whether acd keeps this agent's phone: a directory is set and it is PJSIP/<job>."""
        return self._directory is not None and self.home_of(job_number) == own_endpoint(job_number)

    async def issue_secret(self, job_number: str) -> str:
        """A new secret for the agent's own phone, returned once (the old one stops at once).

        All or nothing: if Asterisk's directory cannot be written, the old
        secret stays in force and nothing is shown.
        """
        if self._directory is None:
            raise PhoneNotKept(
                "acd keeps no phones: set [phones] directory to the file Asterisk reads"
            )
        home = self.home_of(job_number)
        if home != own_endpoint(job_number):
            raise PhoneNotKept(
                f"agent {job_number}'s phone is {home}, configured in pjsip.conf, not by acd"
            )
        secret = await self._issue(job_number, job_number)
        log.info("phone_secret_issued", agent=job_number)  # never the secret itself
        return secret

    async def issue_web_secret(
        self, job_number: str, page: str = "desktop", *, session: str | None = None
    ) -> str:
        """A new secret for the user's phone in ``page`` (web<job>, webc<job>), for the
        page that asked, belonging to its ``session`` (the token's hash).

        Each time the page opens it gets its own: that page's phone opened
        earlier stops at its next registration. The desk phone and the other
        page's phone keep theirs.
        """
        if self._directory is None:
            raise PhoneNotKept(
                "acd keeps no phones: set [phones] directory to the file Asterisk reads"
            )
        name = web_phone_name(job_number, page)
        secret = await self._issue(name, job_number, issued_to=session)
        log.info("web_phone_secret_issued", user=job_number, page=page)
        return secret

    async def end_session_phones(self, session: str) -> list[str]:
        """A session logged out: the browser phones it opened register nothing any more."""
        if self._directory is None:
            return []
        return await self._revoked(await self._store.delete_issued_to(session))

    async def end_web_phones(self, job_number: str) -> list[str]:
        """The user's sessions all ended (a new password): so do their browser phones."""
        if self._directory is None:
            return []
        return await self._revoked(await self._store.delete_web_of(job_number, WEB_PREFIX))

    async def _revoked(self, names: list[str]) -> list[str]:
        """Asterisk is told of phones deleted from storage. The database is what counts:
        if the directory cannot be written now, its next write leaves them out."""
        if names:
            await self.publish()
            log.info("web_phone_secrets_revoked", phones=names)
        return names

    async def _issue(self, name: str, job_number: str, issued_to: str | None = None) -> str:
        """All or nothing: stored and written to the directory, or the old one stays."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        row = PhoneRow(
            name=name,
            job_number=job_number,
            realm=self.realm,
            digest=sip_digest(name, self.realm, secret),
            changed_at=self._clock(),
            issued_to=issued_to,
        )
        old = await self._store.get(name)
        await self._store.put(row)
        try:
            await self.publish()
        except PhoneDirectoryUnavailable:
            if old is None:
                await self._store.delete(name)
            else:
                await self._store.put(_copy(old))
            raise
        return secret

    async def has_phone(self, job_number: str) -> bool:
        """Whether the agent's desk phone has a secret (their browser phone aside)."""
        return await self._store.get(job_number) is not None

    async def remove(self, job_number: str) -> None:
        """The user is gone (or no longer takes calls): their phone stops registering.

        All or nothing: if the directory cannot be written the phone stays stored.
        """
        old = [r for r in await self._store.all() if r.job_number == job_number]
        hot_desks = await self._store.hot_desks(job_number)
        if not old and not hot_desks:
            return
        await self._store.delete_of(job_number)
        try:
            await self.publish()
        except PhoneDirectoryUnavailable:
            for row in old:
                await self._store.put(_copy(row))
            await self._store.set_hot_desks(job_number, hot_desks)
            raise

    async def publish(self) -> None:
        """Write every phone to the directory Asterisk reads (if acd keeps the phones)."""
        if self._directory is None:
            return
        store = self._store

        async def stored() -> list[DirectoryPhone]:
            return [
                DirectoryPhone(r.name, r.realm, r.digest, webrtc=is_web_phone(r.name))
                for r in await store.all()
            ]

        try:
            await self._directory.write_latest(stored)
        except (OSError, sqlite3.Error, KeyError) as exc:
            log.error("phone_directory_failed", path=str(self._directory.path), error=str(exc))
            raise PhoneDirectoryUnavailable(
                f"cannot write the phone directory {self._directory.path}: {exc}"
            ) from exc

    async def check_login_at(
        self, job_number: str, endpoint: str, *, console: bool = False
    ) -> None:
        """NotAllowedPhone unless it is the agent's own phone (desk or browser; ``console``:
        the console's too, where a team lead listens in) or a hot desk allowed for them."""
        own = [self.home_of(job_number), web_endpoint(job_number)]
        if console:
            own.append(web_endpoint(job_number, "console"))
        if endpoint in own:
            return
        if endpoint not in await self._store.hot_desks(job_number):
            raise NotAllowedPhone(
                f"agent {job_number} may not log in at {endpoint}: "
                "an admin allows other phones (PUT /admin/agents/{job_number}/phones)"
            )

    async def hot_desks(self, job_number: str) -> list[str]:
        return await self._store.hot_desks(job_number)

    async def set_hot_desks(self, job_number: str, endpoints: list[str]) -> list[str]:
        """The phones this agent may log in at besides their own (replaces the list)."""
        allowed = sorted(set(endpoints) - {self.home_of(job_number)})
        await self._store.set_hot_desks(job_number, allowed)
        return allowed


def _copy(row: PhoneRow) -> PhoneRow:
    """A detached copy of a stored phone, to put back."""
    return PhoneRow(
        name=row.name,
        job_number=row.job_number,
        realm=row.realm,
        digest=row.digest,
        changed_at=row.changed_at,
        issued_to=row.issued_to,
    )
