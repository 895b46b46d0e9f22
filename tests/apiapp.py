"""The application built through acd's composition root on SQLite, without Asterisk.

For API and service tests: the same wiring as the daemon (``acd.wiring.build``),
with AMI never connected, so commands for Asterisk simply wait in their queue.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from acd.agi.server import FastAgiServer
from acd.auth import hash_password
from acd.core.agents import Agent, Role
from acd.http.app import build_http_app
from acd.http.metrics import MetricsEndpoint
from acd.prompts import PromptLibrary
from acd.settings import Settings
from acd.storage.db import create_engine, migrate
from acd.storage.users import UserStore
from acd.wiring import Services, build, live_sources
from ivr.tree import load_tree
from tests import database

AGENTS = [
    Agent("1001", "Li Na", "PJSIP/1001", {"tour": 5}, Role.AGENT, "east"),
    Agent("1002", "Wang Fang", "PJSIP/1002", {"cruise": 5}, Role.AGENT, "west"),
    Agent("1901", "Chen Jie", "PJSIP/1901", {}, Role.SUPERVISOR, "east"),
]
USERS = (("1001", "agent"), ("1002", "agent"), ("1901", "supervisor"), ("9000", "admin"))


def settings_for(tmp_path: Path, agents: list[Agent], **sections: Any) -> Settings:
    """Settings as a site would write them, for these agents."""
    config: dict[str, Any] = {
        "ami": {"secret": "not-used-without-asterisk"},
        "database": {"url": database.url_for(tmp_path)},
        "ivr": {"timezone": "Asia/Shanghai"},
        "prompts": {"dir": str(tmp_path / "prompts"), "render": False},
        "recording": {"dir": str(tmp_path / "recordings"), "min_free_mb": 0},
        "agents": [
            {
                "job_number": a.job_number,
                "name": a.name,
                "endpoint": a.endpoint,
                "skills": a.skills,
                "role": a.role.value,
                "team": a.team,
            }
            for a in agents
        ],
    }
    return Settings.model_validate(config | sections)


@contextlib.asynccontextmanager
async def api_app(
    tmp_path: Path,
    agents: list[Agent] = AGENTS,
    users_and_roles: tuple[tuple[str, str], ...] = USERS,
    **sections: Any,
) -> AsyncIterator[tuple[web.Application, Services, UserStore]]:
    """Default users: 1001/1002 agents, 1901 supervisor, 9000 admin; password secret-<job>.

    ``sections`` replace whole sections of the settings (e.g. ``ami`` for a replayed PBX).
    """
    settings = settings_for(tmp_path, agents, **sections)
    db = create_engine(settings.database.url)
    await migrate(db)
    users = UserStore(db)
    for job_number, role in users_and_roles:
        await users.put(
            job_number, f"user {job_number}", role, hash_password(f"secret-{job_number}")
        )
    prompts = PromptLibrary(settings.prompts.dir, settings.prompts.asterisk_dir)
    services = build(settings, db, load_tree(), prompts, clock=time.time)
    await services.load()
    # /metrics as the daemon serves it (its FastAGI server not started here).
    services.metrics.add_live(live_sources(services, FastAgiServer(settings.fastagi)))
    app = build_http_app(
        services.api, scrape=MetricsEndpoint(services.metrics, settings.metrics.token)
    )
    try:
        yield app, services, users
    finally:
        await services.transactions.close()
        await db.dispose()
