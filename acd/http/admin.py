"""Admin endpoints: users (job number, role, password) and agents' skills."""

from __future__ import annotations

import re
from typing import Any, Literal

import structlog
from aiohttp import web
from pydantic import Field, field_validator

from acd.core.access import UserRole
from acd.http.errors import BadRequest, Forbidden, NotFound, json_body
from acd.http.plumbing import API, USER, Body, Route
from acd.phones import PhoneDirectoryUnavailable

log = structlog.get_logger("acd.http")

ENDPOINT = re.compile(r"PJSIP/[A-Za-z0-9_.-]{1,40}")
JOB_NUMBER = re.compile(r"[0-9]{2,16}")  # ASCII digits: it names a phone (PJSIP/<job>)


class UserBody(Body):
    """A user's name, role and password (admins)."""

    name: str = Field(default="", max_length=100)
    role: Literal["agent", "supervisor", "admin"]
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        description="required for a new user; a new password ends the user's sessions "
        "and their browser phones (a user only renamed or given another role keeps them)",
    )


WEB_PHONE = re.compile(r"PJSIP/web.*")  # a user's browser phone: never another's hot desk


class HotDesksBody(Body):
    """The phones an agent may log in at besides their own (admins)."""

    phones: list[str] = Field(
        max_length=20,
        description="endpoints, e.g. PJSIP/desk-3; their own phone is always allowed",
    )

    @field_validator("phones")
    @classmethod
    def _endpoints(cls, phones: list[str]) -> list[str]:
        bad = [p for p in phones if not ENDPOINT.fullmatch(p)]
        if bad:
            raise ValueError(f"not a PJSIP endpoint (PJSIP/<name>): {', '.join(bad)}")
        pages = [p for p in phones if WEB_PHONE.fullmatch(p)]
        if pages:
            raise ValueError(f"a browser phone is its user's own: {', '.join(pages)}")
        return phones


class SkillsBody(Body):
    """An agent's skill level per line (admins)."""

    skills: dict[str, int] = Field(description="line -> level 1-10")


def _admin(request: web.Request) -> str:
    user = request[USER]
    if user.role is not UserRole.ADMIN:
        raise Forbidden(f"{user.role.value} {user.job_number} is not an admin")
    return user.job_number


async def list_users(request: web.Request) -> web.Response:
    """Every user with what an admin looks after: skills, team, phone and hot desks."""
    _admin(request)
    ctx = request.app[API]
    users = []
    for r in await ctx.users.all():
        user: dict[str, Any] = {"job_number": r.job_number, "name": r.name, "role": r.role}
        skills = ctx.centre.skills_of(r.job_number)
        if r.role != "admin" and skills is not None:  # admins take no calls: no phone
            user |= {
                "skills": skills,
                "team": ctx.centre.team_of(r.job_number),
                "phone": ctx.phones.home_of(r.job_number),
                "phone_kept": ctx.phones.keeps_phone_of(r.job_number),
                "phone_secret_set": await ctx.phones.has_phone(r.job_number),
                "hot_desks": await ctx.phones.hot_desks(r.job_number),
            }
        users.append(user)
    return web.json_response(users)


async def put_user(request: web.Request) -> web.Response:
    actor = _admin(request)
    job_number = request.match_info["job_number"]
    if not JOB_NUMBER.fullmatch(job_number):
        raise NotFound(f"a job number is digits only, not {job_number!r}")
    body = UserBody.model_validate(await json_body(request))
    ctx = request.app[API]
    existing = await ctx.users.get(job_number)
    if body.password is not None:
        hashed = await ctx.auth.hash(body.password)
    elif existing is not None:
        hashed = existing.password_hash
    else:
        raise BadRequest(f"user {job_number} is new: give them a password", field="password")
    await ctx.users.put(
        job_number, body.name, body.role, hashed, end_sessions=body.password is not None
    )
    ctx.auth.forget_user(job_number)
    if body.password is not None:  # their sessions ended: so do the pages' phones
        try:
            await ctx.phones.end_web_phones(job_number)
        except PhoneDirectoryUnavailable as exc:  # gone from storage: the next write drops them
            log.warning("web_phone_not_revoked", user=job_number, error=str(exc))
    await ctx.users.audit(ctx.clock(), actor, "user_saved", job_number, role=body.role)
    answer: dict[str, str] = {"job_number": job_number, "name": body.name, "role": body.role}
    if body.role == "admin":
        await ctx.phones.remove(job_number)  # admins take no calls: no phone
    else:
        # A new agent takes calls at once, on a phone of their own (its secret shown once).
        ctx.centre.add_agents([(job_number, body.name, body.role)])
        kept = ctx.phones.keeps_phone_of(job_number)
        if kept and not await ctx.phones.has_phone(job_number):
            answer |= await _new_phone_secret(request, actor, job_number)
    return web.json_response(answer)


async def _new_phone_secret(request: web.Request, actor: str, job_number: str) -> dict[str, str]:
    ctx = request.app[API]
    secret = await ctx.phones.issue_secret(job_number)
    await ctx.users.audit(ctx.clock(), actor, "phone_secret_issued", job_number)
    return {"sip_endpoint": ctx.phones.home_of(job_number), "sip_secret": secret}


async def new_phone_secret(request: web.Request) -> web.Response:
    """A new secret for an agent's own phone (shown once; the old one stops at once)."""
    actor = _admin(request)
    job_number = request.match_info["job_number"]
    ctx = request.app[API]
    user = await ctx.users.get(job_number)
    if (user is None or user.role == "admin") and not ctx.centre.is_agent(job_number):
        raise NotFound(f"no agent or supervisor {job_number}")
    return web.json_response(
        {"job_number": job_number, **await _new_phone_secret(request, actor, job_number)}
    )


async def get_hot_desks(request: web.Request) -> web.Response:
    """The phones an agent may log in at besides their own."""
    _admin(request)
    job_number = request.match_info["job_number"]
    ctx = request.app[API]
    if not ctx.centre.is_agent(job_number):
        raise NotFound(f"no agent with job number {job_number}")
    phones = await ctx.phones.hot_desks(job_number)
    return web.json_response({"job_number": job_number, "phones": phones})


async def put_hot_desks(request: web.Request) -> web.Response:
    """Allow an agent to log in at these phones (besides their own); replaces the list."""
    actor = _admin(request)
    job_number = request.match_info["job_number"]
    ctx = request.app[API]
    if not ctx.centre.is_agent(job_number):
        raise NotFound(f"no agent with job number {job_number}")
    body = HotDesksBody.model_validate(await json_body(request))
    phones = await ctx.phones.set_hot_desks(job_number, body.phones)
    await ctx.users.audit(ctx.clock(), actor, "hot_desks_set", job_number, phones=phones)
    return web.json_response({"job_number": job_number, "phones": phones})


async def delete_user(request: web.Request) -> web.Response:
    actor = _admin(request)
    job_number = request.match_info["job_number"]
    ctx = request.app[API]
    if await ctx.users.get(job_number) is None:
        raise NotFound(f"no user {job_number}")
    await ctx.phones.remove(job_number)  # first: their phone stops registering (or 503)
    await ctx.users.delete(job_number)
    ctx.auth.forget_user(job_number)
    ctx.centre.leave(job_number)
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
    Route(
        "POST",
        "/admin/users/{job_number}/phone",
        new_phone_secret,
        "A new secret for the agent's own SIP phone (shown once)",
    ),
    Route("GET", "/admin/agents/{job_number}/phones", get_hot_desks, "An agent's hot desks"),
    Route(
        "PUT",
        "/admin/agents/{job_number}/phones",
        put_hot_desks,
        "Allow an agent to log in at other phones",
        HotDesksBody,
    ),
    Route("GET", "/admin/lines", list_lines, "The hotline's lines (from the IVR tree)"),
    Route("GET", "/admin/audit", audit_log, "The audit log, oldest first (admins)"),
]
