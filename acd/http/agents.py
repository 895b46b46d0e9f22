"""Agents' endpoints: state, log in and out, ready, wrap-up, and their current call."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field, model_validator

from acd.core.agents import NotReadyReason
from acd.http.errors import json_body
from acd.http.plumbing import API, Body, Route, agent_json, agent_target, audit_if_intervention


class AgentLoginBody(Body):
    """Optionally the SIP phone to work at today (e.g. PJSIP/1005); default: the configured one."""

    endpoint: str | None = Field(default=None, pattern=r"^PJSIP/[A-Za-z0-9_.-]{1,40}$")


class NotReadyBody(Body):
    """Why the agent is not ready."""

    reason: Literal["break", "lunch", "training", "callback_work", "other"]


class ExtendBody(Body):
    """How much more after-call time."""

    seconds: float = Field(gt=0, le=3600)


class TransferBody(Body):
    """Exactly one: a line, or a person (agent or supervisor, by job number)."""

    to_line: str | None = Field(default=None, max_length=32)
    to_agent: str | None = Field(default=None, max_length=16)

    @model_validator(mode="after")
    def _one_target(self) -> TransferBody:
        if (self.to_line is None) == (self.to_agent is None):
            raise ValueError("give exactly one of to_line and to_agent")
        return self


class DialBody(Body):
    """The outside number to call."""

    number: str = Field(
        pattern=r"^\+?[0-9]{3,20}$", description="digits as dialled, or E.164 (+8613...)"
    )


async def agent_state(request: web.Request) -> web.Response:
    """An agent's state and current call (the screen pop)."""
    job_number = agent_target(request)
    body = agent_json(request, job_number)
    call_id = body["call_id"]
    live = request.app[API].live
    body["call"] = await live.screen_pop(call_id, job_number) if call_id else None
    if body["call"] is not None:
        body["call"]["recording"] = request.app[API].control.recording_of(call_id)
    return web.json_response(body)


async def _done(request: web.Request, job_number: str, action: str, **details: Any) -> web.Response:
    """Audit an intervention and answer with the agent's new state."""
    await audit_if_intervention(request, f"force_{action}", job_number, **details)
    return web.json_response(agent_json(request, job_number))


async def log_in(request: web.Request) -> web.Response:
    """Log in (not ready), at the configured phone or the one given."""
    job_number = agent_target(request)
    body = AgentLoginBody.model_validate(await json_body(request))
    ctx = request.app[API]
    endpoint = body.endpoint or ctx.phones.home_of(job_number)  # no phone given: their own
    await ctx.phones.check_login_at(job_number, endpoint)
    ctx.centre.log_in(job_number, endpoint)
    return await _done(request, job_number, "log_in", **body.model_dump())


async def log_out(request: web.Request) -> web.Response:
    """Log out of the ACD."""
    job_number = agent_target(request)
    request.app[API].centre.log_out(job_number)
    return await _done(request, job_number, "log_out")


async def ready(request: web.Request) -> web.Response:
    """Ready for calls."""
    job_number = agent_target(request)
    request.app[API].centre.ready(job_number)
    return await _done(request, job_number, "ready")


async def not_ready(request: web.Request) -> web.Response:
    """Not ready, with a reason."""
    job_number = agent_target(request)
    body = NotReadyBody.model_validate(await json_body(request))
    request.app[API].centre.not_ready(job_number, NotReadyReason(body.reason))
    return await _done(request, job_number, "not_ready", **body.model_dump())


async def end_wrap_up(request: web.Request) -> web.Response:
    """End after-call work now."""
    job_number = agent_target(request)
    request.app[API].centre.end_wrap_up(job_number)
    return await _done(request, job_number, "end_wrap_up")


async def extend_wrap_up(request: web.Request) -> web.Response:
    """More after-call time."""
    job_number = agent_target(request)
    body = ExtendBody.model_validate(await json_body(request))
    until = request.app[API].centre.extend_wrap_up(job_number, body.seconds)
    return await _done(request, job_number, "extend_wrap_up", **body.model_dump(), until=until)


async def break_after_call(request: web.Request) -> web.Response:
    """Go on break when this call's after-call work ends."""
    job_number = agent_target(request)
    request.app[API].centre.break_after_call(job_number)
    return await _done(request, job_number, "break_after_call")


async def transfer(request: web.Request) -> web.Response:
    """Blind transfer of the agent's call to a line or a person."""
    job_number = agent_target(request)
    body = TransferBody.model_validate(await json_body(request))
    control = request.app[API].control
    call_id = await control.transfer(job_number, line=body.to_line, to_agent=body.to_agent)
    await audit_if_intervention(request, "force_transfer", job_number, **body.model_dump())
    return web.json_response(
        {"call_id": call_id, **body.model_dump(), **agent_json(request, job_number)}
    )


async def dial(request: web.Request) -> web.Response:
    """Click-to-dial: the agent's phone rings, then the number."""
    job_number = agent_target(request)
    body = DialBody.model_validate(await json_body(request))
    call_id = request.app[API].control.dial_out(job_number, body.number)
    await audit_if_intervention(request, "force_dial", job_number, number=body.number)
    return web.json_response({"call_id": call_id, **agent_json(request, job_number)})


async def take_callback(request: web.Request) -> web.Response:
    """The next callback request of the agent's lines rings their phone."""
    job_number = agent_target(request)
    request_id = request.app[API].control.take_callback(job_number)
    return web.json_response({"request_id": request_id, **agent_json(request, job_number)})


async def hold(request: web.Request) -> web.Response:
    """The caller hears music until the agent takes them back."""
    job_number = agent_target(request)
    call_id = await request.app[API].control.hold(job_number)
    await audit_if_intervention(request, "force_hold", job_number)
    return web.json_response({"call_id": call_id, "held": True, **agent_json(request, job_number)})


async def unhold(request: web.Request) -> web.Response:
    """The caller rejoins the agent."""
    job_number = agent_target(request)
    call_id = await request.app[API].control.unhold(job_number)
    await audit_if_intervention(request, "force_unhold", job_number)
    return web.json_response({"call_id": call_id, "held": False, **agent_json(request, job_number)})


async def agent_hangup(request: web.Request) -> web.Response:
    """Hang up the agent's current call."""
    job_number = agent_target(request)
    await request.app[API].control.agent_hangup(job_number)
    await audit_if_intervention(request, "force_hangup_agent", job_number)
    return web.json_response(agent_json(request, job_number))


AGENT_ROUTES: list[Route] = [
    Route(
        "GET",
        "/agents/{job_number}",
        agent_state,
        "An agent's state and current call (screen pop)",
    ),
    Route(
        "POST",
        "/agents/{job_number}/login",
        log_in,
        "Log the agent in to the ACD (not ready), at their phone or the one given",
        AgentLoginBody,
    ),
    Route("POST", "/agents/{job_number}/logout", log_out, "Log the agent out"),
    Route("POST", "/agents/{job_number}/ready", ready, "Ready for calls"),
    Route(
        "POST",
        "/agents/{job_number}/not-ready",
        not_ready,
        "Not ready, with a reason",
        NotReadyBody,
    ),
    Route(
        "POST",
        "/agents/{job_number}/wrap-up/end",
        end_wrap_up,
        "End after-call work now",
    ),
    Route(
        "POST",
        "/agents/{job_number}/wrap-up/extend",
        extend_wrap_up,
        "More after-call time",
        ExtendBody,
    ),
    Route(
        "POST",
        "/agents/{job_number}/break-after-call",
        break_after_call,
        "Go on break when this call's wrap-up ends",
    ),
    Route("POST", "/agents/{job_number}/hangup", agent_hangup, "Hang up the agent's current call"),
    Route("POST", "/agents/{job_number}/hold", hold, "Put the caller on hold (they hear music)"),
    Route("POST", "/agents/{job_number}/unhold", unhold, "Take the caller off hold"),
    Route(
        "POST",
        "/agents/{job_number}/transfer",
        transfer,
        "Blind transfer of the current call to a line, an agent or a supervisor",
        TransferBody,
    ),
    Route("POST", "/agents/{job_number}/dial", dial, "Click-to-dial an outside number", DialBody),
    Route(
        "POST",
        "/agents/{job_number}/callbacks/next",
        take_callback,
        "Take the next callback request (agents on callback work)",
    ),
]
