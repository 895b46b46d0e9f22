"""Admin endpoints: users (job number, role, password) and agents' skills."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.core.access import UserRole
from acd.http.errors import BadRequest, Forbidden, NotFound, json_body
from acd.http.plumbing import API, USER, Body, Route


class UserBody(Body):
    """A user's name, role and password (admins)."""

    name: str = Field(default="", max_length=100)
    role: Literal["agent", "supervisor", "admin"]
    password: str = Field(min_length=8, max_length=200)


class SkillsBody(Body):
    """An agent's skill level per line (admins)."""

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
    job_number = request.match_info["job_number"]
    if not job_number.isdigit() or len(job_number) > 16:
        raise NotFound(f"a job number is digits only, not {job_number!r}")
    body = UserBody.model_validate(await json_body(request))
    ctx = request.app[API]
    hashed = await ctx.auth.hash(body.password)
    await ctx.users.put(job_number, body.name, body.role, hashed)
    ctx.auth.forget_user(job_number)
    await ctx.users.audit(ctx.clock(), actor, "user_saved", job_number, role=body.role)
    return web.json_response({"job_number": job_number, "name": body.name, "role": body.role})


async def delete_user(request: web.Request) -> web.Response:
    actor = _admin(request)
    job_number = request.match_info["job_number"]
    ctx = request.app[API]
    if not await ctx.users.delete(job_number):
        raise NotFound(f"no user {job_number}")
    ctx.auth.forget_user(job_number)
    await ctx.users.audit(ctx.clock(), actor, "user_deleted", job_number)
    return web.json_response({"deleted": job_number})


async def put_skills(request: web.Request) -> web.Response:
    actor = _admin(request)
    job_number = request.match_info["job_number"]
    ctx = request.app[API]
    if not ctx.centre.is_agent(job_number):
        raise NotFound(f"no agent with job number {job_number}")
    body = SkillsBody.model_validate(await json_body(request))
    lines = ctx.centre.lines()
    problems = [f"'{line}' is not a line" for line in body.skills if line not in lines]
    problems += [
        f"{line}: level {lv} is not 1-10" for line, lv in body.skills.items() if not 1 <= lv <= 10
    ]
    if problems:
        raise BadRequest("; ".join(problems), lines=lines)
    ctx.centre.set_skills(job_number, body.skills)
    await ctx.users.set_skills(job_number, body.skills)
    await ctx.users.audit(ctx.clock(), actor, "skills_set", job_number, skills=body.skills)
    return web.json_response({"job_number": job_number, "skills": body.skills})


async def list_lines(request: web.Request) -> web.Response:
    """The lines of the IVR tree (they are defined in the tree file)."""
    _admin(request)
    return web.json_response(request.app[API].centre.lines())


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
    Route(
        "PUT", "/admin/users/{job_number}", put_user, "Create or update a user (admins)", UserBody
    ),
    Route("DELETE", "/admin/users/{job_number}", delete_user, "Delete a user and end their tokens"),
    Route(
        "PUT", "/admin/agents/{job_number}/skills", put_skills, "Set an agent's skills", SkillsBody
    ),
    Route("GET", "/admin/lines", list_lines, "The hotline's lines (from the IVR tree)"),
    Route("GET", "/admin/audit", audit_log, "The audit log, oldest first (admins)"),
]
