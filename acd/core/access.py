"""Who may act on whom. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UserRole(StrEnum):
    """What a user may do: agent, supervisor or admin."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    """Who is asking (from their token): job number, name, role and team."""

    job_number: str
    name: str
    role: UserRole
    team: str = ""  # from the agent configuration; a supervisor leads their team


def may_act_on_agent(user: User, agent_job: str, agent_team: str) -> bool:
    """An agent acts only on themself; a supervisor on their team (all if no team); admin on all."""
    if user.role is UserRole.ADMIN:
        return True
    if user.role is UserRole.SUPERVISOR:
        return not user.team or user.team == agent_team or user.job_number == agent_job
    return user.job_number == agent_job


def may_supervise(user: User) -> bool:
    return user.role in (UserRole.SUPERVISOR, UserRole.ADMIN)
