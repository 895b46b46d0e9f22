"""The API application wired to the real core and SQLite, without Asterisk (for API tests)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from acd.aftercall import AfterCall
from acd.auth import AuthService, hash_password
from acd.callcentre import CallCentre
from acd.core.agents import Agent, Role
from acd.core.distributor import CallDistributor
from acd.core.followups import FollowUpRules
from acd.core.reports import ReportRules
from acd.http.api import ApiContext
from acd.http.app import build_http_app
from acd.recordings import RecordingService
from acd.reports import ReportService
from acd.settings import RecordingSettings
from acd.storage.agent_states import AgentStateLog
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.followups import FollowUpStore
from acd.storage.recordings import RecordingStore
from acd.storage.reports import ReportSource
from acd.storage.users import UserStore
from ivr.tree import load_tree

AGENTS = [
    Agent("1001", "Li Na", "PJSIP/1001", {"tour": 5}, Role.AGENT, "east"),
    Agent("1002", "Wang Fang", "PJSIP/1002", {"cruise": 5}, Role.AGENT, "west"),
    Agent("1901", "Chen Jie", "PJSIP/1901", {}, Role.SUPERVISOR, "east"),
]
USERS = (("1001", "agent"), ("1002", "agent"), ("1901", "supervisor"), ("9000", "admin"))


class NoHealth:
    """/healthz is not under test with this app."""


@contextlib.asynccontextmanager
async def api_app(
    tmp_path: Path,
    agents: list[Agent] = AGENTS,
    users_and_roles: tuple[tuple[str, str], ...] = USERS,
) -> AsyncIterator[tuple[web.Application, CallCentre, UserStore]]:
    """Default users: 1001/1002 agents, 1901 supervisor, 9000 admin; password secret-<job>."""
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path}/acd.db")
    await migrate(db)
    users = UserStore(db)
    for job, role in users_and_roles:
        await users.put(job, f"user {job}", role, hash_password(f"secret-{job}"))
    events = CallEventLog(db, lambda: datetime.now(UTC))
    centre = CallCentre(
        CallDistributor(agents=agents),
        load_tree(),
        events,
        AgentStateLog(db),
        clock=time.time,
        local_time=datetime.now,
        tick_interval=1,
    )
    teams = {a.job_number: a.team for a in agents}
    auth = AuthService(users, 3600, time.time, team_of=lambda job: teams.get(job, ""))
    centre.aftercall = AfterCall(
        FollowUpStore(db), events, centre.core, centre.bus, FollowUpRules(), time.time
    )
    reports = ReportService(ReportSource(db), ReportRules(), ZoneInfo("Asia/Shanghai"), time.time)
    centre.recordings = RecordingStore(db)
    recordings = RecordingService(
        centre.recordings,
        centre.aftercall.store,
        users,
        RecordingSettings(dir=tmp_path / "recordings", min_free_mb=0),
        centre.bus,
        centre.live.alarms,
        time.time,
        on_disk_full=lambda full: None,
        zone=ZoneInfo("Asia/Shanghai"),
    )
    context = ApiContext(centre, auth, users, time.time, centre.aftercall, reports, recordings)
    app = build_http_app(NoHealth(), context)  # type: ignore[arg-type]
    try:
        yield app, centre, users
    finally:
        await db.dispose()
