"""Tables. Every change goes with an Alembic migration in acd/migrations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

CALLER_LENGTH = 40  # a caller id as stored with a recording, registration or ticket


class Base(DeclarativeBase):
    """The declarative base of acd's tables (their metadata is what migrations track)."""


def fit_caller(value: str) -> str:
    """A caller id as the row keeps it: Asterisk may hand over a longer one (a SIP URI)."""
    return value[:CALLER_LENGTH]


class CallEventRow(Base):
    """One thing that happened to a call; reports are computed from these."""

    __tablename__ = "call_events"
    __table_args__ = (
        Index("ix_call_events_call_id_at", "call_id", "at"),
        Index("ix_call_events_at", "at"),
        # Only first events have a caller: the others cost no index entry.
        Index(
            "ix_call_events_caller_at",
            "caller",
            "at",
            sqlite_where=text("caller IS NOT NULL"),
            postgresql_where=text("caller IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # The caller's number on a call's first event: their earlier calls (the screen
    # pop) are found through this index, not by reading every event's JSON.
    caller: Mapped[str | None] = mapped_column(String(CALLER_LENGTH), nullable=True)


FIRST_EVENT = "ivr_entered"  # a call's first event, which names the caller


def caller_column(kind: str, data: Mapping[str, Any]) -> str | None:
    """What ``call_events.caller`` holds for an event: the number, on a call's first."""
    number = data.get("caller") if kind == FIRST_EVENT else None
    return fit_caller(str(number)) if number else None


class AgentStateRow(Base):
    """One agent state change; time per state (talk, break...) is summed from these."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (
        Index("ix_agent_state_changes_job_at", "job_number", "at"),
        Index("ix_agent_state_changes_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_number: Mapped[str] = mapped_column(String(16), nullable=False)
    old: Mapped[str] = mapped_column(String(16), nullable=False)
    new: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[float] = mapped_column(Float, nullable=False)  # epoch seconds
    endpoint: Mapped[str | None] = mapped_column(String(60), nullable=True)  # the phone


class UserRow(Base):
    """Someone who may use the API: agent, supervisor or admin."""

    __tablename__ = "users"

    job_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)


class TokenRow(Base):
    """A bearer token, stored only as its SHA-256."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_number: Mapped[str] = mapped_column(String(16), nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)


class AuditRow(Base):
    """Who did what to whom: supervisor interventions, recording access."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, nullable=False)
    actor: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class AgentSkillsRow(Base):
    """An agent's skills as last set by an admin (they win over acd.toml)."""

    __tablename__ = "agent_skills"

    job_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    skills: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False)


class RecordingRow(Base):
    """One call's recording: who, when, how long, how big, its checksum, and if it is whole."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_started_at", "started_at"),)

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line: Mapped[str] = mapped_column(String(32), nullable=False)
    agent: Mapped[str] = mapped_column(String(16), nullable=False)
    caller: Mapped[str] = mapped_column(String(CALLER_LENGTH), nullable=False)
    path: Mapped[str] = mapped_column(String(400), nullable=False)
    started_at: Mapped[float] = mapped_column(Float, nullable=False)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checksum: Mapped[str | None] = mapped_column(String(64), nullable=True)
    complete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    purged_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # file deleted

    @validates("caller")
    def _fit_caller(self, _key: str, value: str) -> str:
        return fit_caller(value)


class CallRegistrationRow(Base):
    """What the agent registered about a call in after-call work."""

    __tablename__ = "call_registrations"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(16), nullable=False)
    line: Mapped[str] = mapped_column(String(32), nullable=False)
    caller: Mapped[str] = mapped_column(String(CALLER_LENGTH), nullable=False)
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    urgency: Mapped[str] = mapped_column(String(10), nullable=False)
    notes: Mapped[str] = mapped_column(String(4000), nullable=False)
    at: Mapped[float] = mapped_column(Float, nullable=False)

    @validates("caller")
    def _fit_caller(self, _key: str, value: str) -> str:
        return fit_caller(value)


class FollowUpRow(Base):
    """A follow-up ticket for the team lead (low score, or a registered call)."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_closed_at", "closed_at"),
        Index("ix_follow_ups_call_id", "call_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)
    urgency: Mapped[str] = mapped_column(String(10), nullable=False)
    line: Mapped[str] = mapped_column(String(32), nullable=False)
    agent: Mapped[str] = mapped_column(String(16), nullable=False)
    caller: Mapped[str] = mapped_column(String(CALLER_LENGTH), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    opened_at: Mapped[float] = mapped_column(Float, nullable=False)
    due_at: Mapped[float] = mapped_column(Float, nullable=False)
    taken_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    taken_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    escalated_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    chased_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    @validates("caller")
    def _fit_caller(self, _key: str, value: str) -> str:
        return fit_caller(value)


class PhoneRow(Base):
    """An agent's or supervisor's SIP phone: its name (the PJSIP endpoint) and secret's digest.

    The secret itself is never stored: only MD5(name:realm:secret), as PJSIP's
    ``password_digest`` takes it.
    """

    __tablename__ = "phones"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_number: Mapped[str] = mapped_column(String(16), nullable=False)  # whose phone it is
    realm: Mapped[str] = mapped_column(String(40), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    changed_at: Mapped[float] = mapped_column(Float, nullable=False)
    # A browser phone's secret belongs to the session that opened the page (the SHA-256
    # of its token, as api_tokens keeps it): logging out ends it.
    issued_to: Mapped[str | None] = mapped_column(String(64), nullable=True)


class HotDeskRow(Base):
    """A phone an admin allowed an agent to log in at besides their own."""

    __tablename__ = "hot_desks"

    job_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(60), primary_key=True)
