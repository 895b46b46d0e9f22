"""Agents' SIP phones in the database: each phone's secret digest, and who may hot-desk where."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from acd.storage.models import HotDeskRow, PhoneRow


class PhoneStore:
    """Phones (name, owner, digest) and hot desks, stored with everything else."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def put(self, row: PhoneRow) -> None:
        """Create a phone or give it a new secret's digest."""
        async with self._sessions.begin() as session:
            await session.merge(row)

    async def get(self, name: str) -> PhoneRow | None:
        async with self._sessions() as session:
            return await session.get(PhoneRow, name)

    async def all(self) -> list[PhoneRow]:
        async with self._sessions() as session:
            return list(await session.scalars(select(PhoneRow).order_by(PhoneRow.name)))

    async def delete(self, name: str) -> None:
        """One phone goes (its owner's other phones and hot desks stay)."""
        async with self._sessions.begin() as session:
            await session.execute(delete(PhoneRow).where(PhoneRow.name == name))

    async def delete_issued_to(self, token_hash: str) -> list[str]:
        """The browser phones a session opened go; their names."""
        async with self._sessions.begin() as session:
            names = list(
                await session.scalars(
                    delete(PhoneRow)
                    .where(PhoneRow.issued_to == token_hash)
                    .returning(PhoneRow.name)
                )
            )
        return names

    async def delete_web_of(self, job_number: str, prefix: str) -> list[str]:
        """A user's browser phones (names starting with ``prefix``) go; their names."""
        async with self._sessions.begin() as session:
            names = list(
                await session.scalars(
                    delete(PhoneRow)
                    .where(PhoneRow.job_number == job_number, PhoneRow.name.startswith(prefix))
                    .returning(PhoneRow.name)
                )
            )
        return names

    async def delete_of(self, job_number: str) -> None:
        """A user is gone: their phones and hot desks go too."""
        async with self._sessions.begin() as session:
            await session.execute(delete(PhoneRow).where(PhoneRow.job_number == job_number))
            await session.execute(delete(HotDeskRow).where(HotDeskRow.job_number == job_number))

    async def hot_desks(self, job_number: str) -> list[str]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(HotDeskRow.endpoint)
                .where(HotDeskRow.job_number == job_number)
                .order_by(HotDeskRow.endpoint)
            )
            return list(rows)

    async def set_hot_desks(self, job_number: str, endpoints: list[str]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(HotDeskRow).where(HotDeskRow.job_number == job_number))
            session.add_all(HotDeskRow(job_number=job_number, endpoint=e) for e in endpoints)
