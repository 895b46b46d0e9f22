"""Passwords (scrypt), bearer tokens and who the caller of the API is."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from acd.core.access import User, UserRole
from acd.core.throttle import LoginThrottle, ThrottleRules
from acd.storage.users import UserStore

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# Password hashing gets its own small pool: a login flood waits there instead of
# taking the threads that measure recordings and read files.
HASHING_THREADS = 2
# A cached token is checked against the database again after this long, so a
# revoked token (password changed, user deleted, logged out elsewhere) ends soon.
TOKEN_CACHE_SECONDS = 30.0


class AuthError(Exception):
    """Login refused or token unknown/expired (the message never says which part was wrong)."""


class TooManyAttempts(AuthError):
    """Too many failed logins for this job number or from this address: wait."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed logins; try again in {self.retry_after} s")


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing: scrypt$n$r$p$salt$hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(actual, base64.b64decode(digest))


# A fixed hash with the same cost as real ones (scrypt of a random password).
_DECOY_HASH = (
    f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$"
    "AAAAAAAAAAAAAAAAAAAAAA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_of(token: str) -> str:
    """What names a session in storage: its token's SHA-256 (never the token itself)."""
    return _token_hash(token)


class AuthService:
    """Logs users in and resolves bearer tokens; teams come from the agent configuration."""

    def __init__(
        self,
        store: UserStore,
        token_ttl: float,
        clock: Callable[[], float],
        team_of: Callable[[str], str],
        throttle: ThrottleRules | None = None,
    ) -> None:
        self._store = store
        self._ttl = token_ttl
        self._clock = clock
        self._team_of = team_of
        self._throttle = LoginThrottle(throttle or ThrottleRules())
        self._hashing = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="acd-hash")
        # token hash -> (user, check again at): most requests never touch the database.
        self._cache: dict[str, tuple[User, float]] = {}

    async def hash(self, password: str) -> str:
        """A new password's hash, computed in the hashing pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._hashing, hash_password, password)

    def close(self) -> None:
        """Stop the hashing threads."""
        self._hashing.shutdown(wait=False, cancel_futures=True)

    async def login(
        self, job_number: str, password: str, address: str = ""
    ) -> tuple[str, User, float]:
        """A new token for the job number and password (TooManyAttempts after failures)."""
        wait = self._throttle.wait_for(job_number, address, self._clock())
        if wait > 0:
            raise TooManyAttempts(wait)
        self._throttle.started(job_number, address)
        try:
            row = await self._store.get(job_number)
            # Check a hash even for unknown users so timing does not tell who exists.
            stored = row.password_hash if row else _DECOY_HASH
            loop = asyncio.get_running_loop()
            valid = await loop.run_in_executor(self._hashing, verify_password, password, stored)
        except BaseException:
            self._throttle.failed(job_number, address, self._clock())
            raise
        if row is None or not valid:
            self._throttle.failed(job_number, address, self._clock())
            raise AuthError("wrong job number or password")
        self._throttle.succeeded(job_number, address)
        token = secrets.token_urlsafe(32)
        expires_at = self._clock() + self._ttl
        await self._store.add_token(_token_hash(token), job_number, expires_at)
        user = self._user(row.job_number, row.name, row.role)
        self._cache[_token_hash(token)] = (
            user,
            min(expires_at, self._clock() + TOKEN_CACHE_SECONDS),
        )
        return token, user, expires_at

    async def authenticate(self, token: str) -> User:
        key = _token_hash(token)
        cached = self._cache.get(key)
        if cached is not None and cached[1] >= self._clock():
            return cached[0]
        self._cache.pop(key, None)
        row = await self._store.token(key)  # e.g. issued before a restart
        if row is None or row.expires_at < self._clock():
            raise AuthError("token unknown or expired; log in again")
        found = await self._store.get(row.job_number)
        if found is None:
            raise AuthError("token unknown or expired; log in again")
        user = self._user(found.job_number, found.name, found.role)
        self._cache[key] = (user, min(row.expires_at, self._clock() + TOKEN_CACHE_SECONDS))
        return user

    def forget_user(self, job_number: str) -> None:
        """Drop cached tokens of a user (deleted or changed by an admin)."""
        for key, (user, _) in list(self._cache.items()):
            if user.job_number == job_number:
                del self._cache[key]

    async def logout(self, token: str) -> None:
        # Gone from the database first: a request meanwhile cannot cache it again.
        await self._store.drop_token(_token_hash(token))
        self._cache.pop(_token_hash(token), None)

    def _user(self, job_number: str, name: str, role: str) -> User:
        return User(job_number, name, UserRole(role), self._team_of(job_number))
