"""Users, their bearer tokens (hashed) and the audit log."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.storage.models import AgentSkillsRow, AuditRow, TokenRow, UserRow


class UserStore:
    """Users, their token hashes, agents' skills and the audit log in the database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get(self, job_number: str) -> UserRow | None:
        async with self._sessions() as session:
            return await session.get(UserRow, job_number)

    async def put(
        self,
        job_number: str,
        name: str,
        role: str,
        password_hash: str,
        *,
        end_sessions: bool = True,
    ) -> None:
        """Create or change a user; their tokens end (a new password must be used at once)
        unless ``end_sessions`` is false (the same password)."""
        async with self._sessions.begin() as session:
            await session.merge(
                UserRow(job_number=job_number, name=name, role=role, password_hash=password_hash)
            )
            if end_sessions:
                await session.execute(delete(TokenRow).where(TokenRow.job_number == job_number))

    async def all(self) -> list[UserRow]:
        async with self._sessions() as session:
            return list(await session.scalars(select(UserRow).order_by(UserRow.job_number)))

    async def delete(self, job_number: str) -> bool:
        async with self._sessions.begin() as session:
            await session.execute(delete(TokenRow).where(TokenRow.job_number == job_number))
            result = await session.execute(delete(UserRow).where(UserRow.job_number == job_number))
            # A DELETE's result is a CursorResult (execute() is typed as plain Result).
            return bool(cast("CursorResult[Any]", result).rowcount)

    async def set_skills(self, job_number: str, skills: dict[str, int]) -> None:
        async with self._sessions.begin() as session:
            await session.merge(AgentSkillsRow(job_number=job_number, skills=skills))

    async def skills(self) -> dict[str, dict[str, int]]:
        async with self._sessions() as session:
            rows = await session.scalars(select(AgentSkillsRow))
            return {r.job_number: dict(r.skills) for r in rows}

    async def add_token(self, token_hash: str, job_number: str, expires_at: float) -> None:
        async with self._sessions.begin() as session:
            session.add(
                TokenRow(token_hash=token_hash, job_number=job_number, expires_at=expires_at)
            )

    async def token(self, token_hash: str) -> TokenRow | None:
        async with self._sessions() as session:
            return await session.get(TokenRow, token_hash)

    async def drop_token(self, token_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(TokenRow).where(TokenRow.token_hash == token_hash))

    async def audit(self, at: float, actor: str, action: str, target: str, **details: Any) -> None:
        async with self._sessions.begin() as session:
            session.add(AuditRow(at=at, actor=actor, action=action, target=target, details=details))

    async def audit_log(self) -> list[AuditRow]:
        async with self._sessions() as session:
            return list(await session.scalars(select(AuditRow).order_by(AuditRow.id)))
