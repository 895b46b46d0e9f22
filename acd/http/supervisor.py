"""Supervisors' endpoints: the snapshot, listen/whisper/barge, and forcing a call down."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.core.access import User, may_act_on_agent, may_supervise
from acd.http.errors import Forbidden, json_body
from acd.http.plumbing import API, USER, Body, Route, agent_target


class MonitorBody(Body):
    """How the supervisor joins the agent's call."""

    mode: Literal["listen", "whisper", "barge"]
    endpoint: str | None = Field(
        default=None,
        max_length=80,
        description="the phone to ring: your own desk phone (default) or your browser phone",
    )


def _supervisor(request: web.Request) -> User:
    user = request[USER]
    if not may_supervise(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not supervise calls")
    if not request.app[API].centre.is_agent(user.job_number):
        raise Forbidden(f"{user.job_number} has no phone configured (add them to [[agents]])")
    return user


async def monitor(request: web.Request) -> web.Response:
    """The supervisor's own phone rings and joins the agent's call in that mode."""
    user = _supervisor(request)
    job_number = agent_target(request)
    body = MonitorBody.model_validate(await json_body(request))
    ctx = request.app[API]
    if body.endpoint is not None:  # only a phone of one's own
        await ctx.phones.check_login_at(user.job_number, body.endpoint, console=True)
    session = await ctx.control.spy(user.job_number, job_number, body.mode, body.endpoint)
    await ctx.users.audit(ctx.clock(), user.job_number, body.mode, job_number)
    return web.json_response(
        {"agent": job_number, "mode": session.mode, "supervisor": user.job_number}
    )


async def stop_monitor(request: web.Request) -> web.Response:
    """The supervisor's phone leaves the call."""
    user = _supervisor(request)
    await request.app[API].control.stop_spying(user.job_number)
    return web.json_response({"stopped": True})


async def force_hangup(request: web.Request) -> web.Response:
    """End a live call (within the supervisor's team)."""
    user = _supervisor(request)
    call_id = request.match_info["call_id"]
    ctx = request.app[API]
    agent = ctx.centre.agent_of_call(call_id)
    if agent is not None and not may_act_on_agent(user, agent, ctx.centre.team_of(agent)):
        raise Forbidden(f"call {call_id} is with agent {agent}, outside your team")
    await ctx.control.force_hangup(call_id)
    await ctx.users.audit(ctx.clock(), user.job_number, "force_hangup", call_id, agent=agent)
    return web.json_response({"call_id": call_id, "hung_up": True})


async def snapshot(request: web.Request) -> web.Response:
    """Agents and lines right now."""
    user = request[USER]
    if not may_supervise(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not see the supervisor view")
    return web.json_response(request.app[API].live.snapshot())


SUPERVISOR_ROUTES: list[Route] = [
    Route("GET", "/supervisor/snapshot", snapshot, "Agents and lines right now (supervisors)"),
    Route(
        "POST",
        "/supervisor/agents/{job_number}/monitor",
        monitor,
        "Listen, whisper or barge in on an agent's call from your phone (again: switch mode)",
        MonitorBody,
    ),
    Route("DELETE", "/supervisor/monitor", stop_monitor, "Stop listening (your phone hangs up)"),
    Route("POST", "/supervisor/calls/{call_id}/hangup", force_hangup, "Force a call down"),
]
