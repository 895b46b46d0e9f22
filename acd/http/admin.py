"""Admin endpoints: users (job number, role, password) and agents' skills."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.auth import hash_password
from acd.core.access import UserRole
from acd.http.api import API, USER, Route, _Body
from acd.http.errors import BadRequest, Forbidden, NotFound, json_body


class UserBody(_Body):
    name: str = Field(default="", max_length=100)
    role: Literal["agent", "supervisor", "admin"]
    password: str = Field(min_length=8, max_length=200)


class SkillsBody(_Body):
    skills: dict[str, int] = Field(description="line -> level 1-10")


def _admin(request: web.Request) -> str:
    user = request[USER]
    if user.role is not UserRole.ADMIN:
        raise Forbidden(f"{user.role.value} {user.job_number} is not an admin")
    return user.job_number


async def list_users(request: web.Request) -> web.Response:
    _admin(request)
    rows = await request.app[API].users.all()
    return web.json_response(
        [{"job_number": r.job_number, "name": r.name, "role": r.role} for r in rows]
    )


async def put_user(request: web.Request) -> web.Response:
    actor = _admin(request)
    job = request.match_info["job"]
    if not job.isdigit() or len(job) > 16:
        raise NotFound(f"a job number is digits only, not {job!r}")
    body = UserBody.model_validate(await json_body(request))
    ctx = request.app[API]
    hashed = await asyncio.to_thread(hash_password, body.password)
    await ctx.users.put(job, body.name, body.role, hashed)
    ctx.auth.forget_user(job)
    await ctx.users.audit(ctx.clock(), actor, "user_saved", job, role=body.role)
    return web.json_response({"job_number": job, "name": body.name, "role": body.role})


async def delete_user(request: web.Request) -> web.Response:
    actor = _admin(request)
    job = request.match_info["job"]
    ctx = request.app[API]
    if not await ctx.users.delete(job):
        raise NotFound(f"no user {job}")
    ctx.auth.forget_user(job)
    await ctx.users.audit(ctx.clock(), actor, "user_deleted", job)
    return web.json_response({"deleted": job})


async def put_skills(request: web.Request) -> web.Response:
    actor = _admin(request)
    job = request.match_info["job"]
    ctx = request.app[API]
    if job not in ctx.centre.core.agents:
        raise NotFound(f"no agent with job number {job}")
    body = SkillsBody.model_validate(await json_body(request))
    problems = [
        f"'{line}' is not a line" for line in body.skills if line not in ctx.centre.tree.lines
    ]
    problems += [
        f"{line}: level {lv} is not 1-10" for line, lv in body.skills.items() if not 1 <= lv <= 10
    ]
    if problems:
        raise BadRequest("; ".join(problems), lines=sorted(ctx.centre.tree.lines))
    ctx.centre.core.set_skills(job, body.skills)
    await ctx.users.set_skills(job, body.skills)
    await ctx.users.audit(ctx.clock(), actor, "skills_set", job, skills=body.skills)
    return web.json_response({"job_number": job, "skills": body.skills})


async def list_lines(request: web.Request) -> web.Response:
    """The lines of the IVR tree (they are defined in the tree file)."""
    _admin(request)
    return web.json_response(sorted(request.app[API].centre.tree.lines))


async def audit_log(request: web.Request) -> web.Response:
    """Who did what to whom, oldest first: interventions, recording access, admin changes."""
    _admin(request)
    rows = await request.app[API].users.audit_log()
    return web.json_response(
        [
            {
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "details": r.details,
            }
            for r in rows
        ]
    )


ADMIN_ROUTES: list[Route] = [
    Route("GET", "/admin/users", list_users, "All users (admins)"),
    Route("PUT", "/admin/users/{job}", put_user, "Create or update a user (admins)", UserBody),
    Route("DELETE", "/admin/users/{job}", delete_user, "Delete a user and end their tokens"),
    Route("PUT", "/admin/agents/{job}/skills", put_skills, "Set an agent's skills", SkillsBody),
    Route("GET", "/admin/lines", list_lines, "The hotline's lines (from the IVR tree)"),
    Route("GET", "/admin/audit", audit_log, "The audit log, oldest first (admins)"),
]
