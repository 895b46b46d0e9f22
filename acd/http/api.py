"""The agents' and supervisors' API (v1): thin handlers over the call centre.

Each handler checks who is asking, parses its body with pydantic, calls one
service method and returns JSON. Interventions on someone else are audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from acd.aftercall import AfterCall
from acd.auth import AuthError, AuthService
from acd.callcentre import CallCentre
from acd.core.access import User, may_act_on_agent, may_supervise
from acd.core.agents import NotReadyReason
from acd.http.errors import Forbidden, NotFound, Unauthorized, json_body
from acd.storage.users import UserStore

if TYPE_CHECKING:
    from acd.recordings import RecordingService
    from acd.reports import ReportService

PREFIX = "/api/v1"


@dataclass(frozen=True)
class ApiContext:
    centre: CallCentre
    auth: AuthService
    users: UserStore
    clock: Callable[[], float]
    aftercall: AfterCall | None = None
    reports: ReportService | None = None
    recordings: RecordingService | None = None


API = web.AppKey("api", ApiContext)
Q = TypeVar("Q", bound=BaseModel)
USER = web.RequestKey("user", User)
TOKEN = web.RequestKey("token", str)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    job_number: str = Field(min_length=1, max_length=16)
    password: str = Field(min_length=1, max_length=200)


class AgentLoginBody(_Body):
    """Optionally the SIP phone to work at today (e.g. PJSIP/1005); default: the configured one."""

    endpoint: str | None = Field(default=None, pattern=r"^PJSIP/[A-Za-z0-9_.-]{1,40}$")


class NotReadyBody(_Body):
    reason: Literal["break", "lunch", "training", "callback_work", "other"]


class ExtendBody(_Body):
    seconds: float = Field(gt=0, le=3600)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    body: type[BaseModel] | None = None
    public: bool = False
    query: type[BaseModel] | None = None  # query parameters, if any


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.query.get("token", "")  # browsers cannot set headers on a WebSocket


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """Query parameters checked like a body (``token`` is the credential, not a parameter)."""
    return model.model_validate({k: v for k, v in request.query.items() if k != "token"})


async def authenticate(request: web.Request) -> User:
    token = bearer(request)
    if not token:
        raise Unauthorized("log in first: no bearer token")
    try:
        user = await request.app[API].auth.authenticate(token)
    except AuthError as exc:
        raise Unauthorized(str(exc)) from None
    request[USER] = user
    request[TOKEN] = token
    return user


def _agent_target(request: web.Request) -> str:
    """The agent in the path, checked: it exists and the user may act on it."""
    ctx = request.app[API]
    job = request.match_info["job"]
    status = ctx.centre.core.agents.get(job)
    if status is None:
        raise NotFound(f"no agent with job number {job}")
    user = request[USER]
    if not may_act_on_agent(user, job, status.agent.team):
        raise Forbidden(f"{user.role.value} {user.job_number} may not act on agent {job}")
    return job


async def _audit_if_intervention(
    request: web.Request, action: str, target: str, **details: Any
) -> None:
    user = request[USER]
    if user.job_number != target:
        ctx = request.app[API]
        await ctx.users.audit(ctx.clock(), user.job_number, action, target, **details)


def _state(request: web.Request, job: str) -> dict[str, Any]:
    status = request.app[API].centre.core.status(job)
    return {
        "job_number": job,
        "state": status.state.value,
        "reason": status.reason.value if status.reason else None,
        "since": status.since,
        "call_id": status.call_id,
    }


# -- handlers -------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    body = LoginBody.model_validate(await json_body(request))
    try:
        token, user, expires_at = await request.app[API].auth.login(body.job_number, body.password)
    except AuthError as exc:
        raise Unauthorized(str(exc)) from None
    return web.json_response({"token": token, "expires_at": expires_at, "user": _user_json(user)})


async def logout(request: web.Request) -> web.Response:
    await request.app[API].auth.logout(request[TOKEN])
    return web.json_response({"logged_out": True})


async def me(request: web.Request) -> web.Response:
    return web.json_response(_user_json(request[USER]))


async def agent_state(request: web.Request) -> web.Response:
    job = _agent_target(request)
    centre = request.app[API].centre
    body = _state(request, job)
    call_id = body["call_id"]
    body["call"] = await centre.screen_pop(call_id, job) if call_id else None
    return web.json_response(body)


def _agent_action(
    action: str, body_model: type[BaseModel] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        job = _agent_target(request)
        centre = request.app[API].centre
        body = body_model.model_validate(await json_body(request)) if body_model else None
        details: dict[str, Any] = body.model_dump() if body else {}
        match action:
            case "log_in":
                assert body is None or isinstance(body, AgentLoginBody)
                centre.log_in(job, body.endpoint if body else None)
            case "log_out":
                centre.log_out(job)
            case "ready":
                centre.ready(job)
            case "not_ready":
                assert isinstance(body, NotReadyBody)
                centre.not_ready(job, NotReadyReason(body.reason))
            case "end_wrap_up":
                centre.end_wrap_up(job)
            case "extend_wrap_up":
                assert isinstance(body, ExtendBody)
                details["until"] = centre.extend_wrap_up(job, body.seconds)
            case "break_after_call":
                centre.break_after_call(job)
        await _audit_if_intervention(request, f"force_{action}", job, **details)
        return web.json_response(_state(request, job))

    return handler


class TransferBody(_Body):
    """Exactly one: a line, or a person (agent or supervisor, by job number)."""

    to_line: str | None = Field(default=None, max_length=32)
    to_agent: str | None = Field(default=None, max_length=16)

    @model_validator(mode="after")
    def _one_target(self) -> TransferBody:
        if (self.to_line is None) == (self.to_agent is None):
            raise ValueError("give exactly one of to_line and to_agent")
        return self


async def transfer(request: web.Request) -> web.Response:
    job = _agent_target(request)
    body = TransferBody.model_validate(await json_body(request))
    call_id = request.app[API].centre.transfer(job, line=body.to_line, to_agent=body.to_agent)
    await _audit_if_intervention(request, "force_transfer", job, **body.model_dump())
    return web.json_response({"call_id": call_id, **body.model_dump(), **_state(request, job)})


class DialBody(_Body):
    number: str = Field(pattern=r"^[0-9]{3,20}$", description="digits only, as dialled")


async def dial(request: web.Request) -> web.Response:
    job = _agent_target(request)
    body = DialBody.model_validate(await json_body(request))
    call_id = request.app[API].centre.dial_out(job, body.number)
    await _audit_if_intervention(request, "force_dial", job, number=body.number)
    return web.json_response({"call_id": call_id, **_state(request, job)})


async def take_callback(request: web.Request) -> web.Response:
    job = _agent_target(request)
    request_id = request.app[API].centre.take_callback(job)
    return web.json_response({"request_id": request_id, **_state(request, job)})


class MonitorBody(_Body):
    mode: Literal["listen", "whisper", "barge"]


def _supervisor(request: web.Request) -> User:
    user = request[USER]
    if not may_supervise(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not supervise calls")
    if user.job_number not in request.app[API].centre.core.agents:
        raise Forbidden(f"{user.job_number} has no phone configured (add them to [[agents]])")
    return user


async def monitor(request: web.Request) -> web.Response:
    """The supervisor's own phone rings and joins the agent's call in that mode."""
    user = _supervisor(request)
    job = _agent_target(request)
    body = MonitorBody.model_validate(await json_body(request))
    ctx = request.app[API]
    session = await ctx.centre.spy(user.job_number, job, body.mode)
    await ctx.users.audit(ctx.clock(), user.job_number, body.mode, job)
    return web.json_response({"agent": job, "mode": session.mode, "supervisor": user.job_number})


async def stop_monitor(request: web.Request) -> web.Response:
    user = _supervisor(request)
    await request.app[API].centre.stop_spying(user.job_number)
    return web.json_response({"stopped": True})


async def force_hangup(request: web.Request) -> web.Response:
    user = _supervisor(request)
    call_id = request.match_info["call_id"]
    ctx = request.app[API]
    agent = next(
        (c.job_number for c in ctx.centre.core.connected.values() if c.call_id == call_id), None
    )
    if agent is not None:
        team = ctx.centre.core.status(agent).agent.team
        if not may_act_on_agent(user, agent, team):
            raise Forbidden(f"call {call_id} is with agent {agent}, outside your team")
    await ctx.centre.force_hangup(call_id)
    await ctx.users.audit(ctx.clock(), user.job_number, "force_hangup", call_id, agent=agent)
    return web.json_response({"call_id": call_id, "hung_up": True})


async def hold(request: web.Request) -> web.Response:
    job = _agent_target(request)
    call_id = await request.app[API].centre.hold(job)
    await _audit_if_intervention(request, "force_hold", job)
    return web.json_response({"call_id": call_id, "held": True, **_state(request, job)})


async def unhold(request: web.Request) -> web.Response:
    job = _agent_target(request)
    call_id = await request.app[API].centre.unhold(job)
    await _audit_if_intervention(request, "force_unhold", job)
    return web.json_response({"call_id": call_id, "held": False, **_state(request, job)})


async def agent_hangup(request: web.Request) -> web.Response:
    job = _agent_target(request)
    await request.app[API].centre.agent_hangup(job)
    await _audit_if_intervention(request, "force_hangup_agent", job)
    return web.json_response(_state(request, job))


async def snapshot(request: web.Request) -> web.Response:
    user = request[USER]
    if not may_supervise(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not see the supervisor view")
    return web.json_response(request.app[API].centre.snapshot())


def _user_json(user: User) -> dict[str, Any]:
    return {
        "job_number": user.job_number,
        "name": user.name,
        "role": user.role.value,
        "team": user.team,
    }


ROUTES: list[Route] = [
    Route(
        "POST",
        "/auth/login",
        login,
        "Log in with job number and password; get a bearer token",
        LoginBody,
        public=True,
    ),
    Route("POST", "/auth/logout", logout, "End this token"),
    Route("GET", "/me", me, "Who this token belongs to"),
    Route("GET", "/agents/{job}", agent_state, "An agent's state and current call (screen pop)"),
    Route(
        "POST",
        "/agents/{job}/login",
        _agent_action("log_in", AgentLoginBody),
        "Log the agent in to the ACD (not ready), at their phone or the one given",
        AgentLoginBody,
    ),
    Route("POST", "/agents/{job}/logout", _agent_action("log_out"), "Log the agent out"),
    Route("POST", "/agents/{job}/ready", _agent_action("ready"), "Ready for calls"),
    Route(
        "POST",
        "/agents/{job}/not-ready",
        _agent_action("not_ready", NotReadyBody),
        "Not ready, with a reason",
        NotReadyBody,
    ),
    Route(
        "POST", "/agents/{job}/wrap-up/end", _agent_action("end_wrap_up"), "End after-call work now"
    ),
    Route(
        "POST",
        "/agents/{job}/wrap-up/extend",
        _agent_action("extend_wrap_up", ExtendBody),
        "More after-call time",
        ExtendBody,
    ),
    Route(
        "POST",
        "/agents/{job}/break-after-call",
        _agent_action("break_after_call"),
        "Go on break when this call's wrap-up ends",
    ),
    Route("POST", "/agents/{job}/hangup", agent_hangup, "Hang up the agent's current call"),
    Route("POST", "/agents/{job}/hold", hold, "Put the caller on hold (they hear music)"),
    Route("POST", "/agents/{job}/unhold", unhold, "Take the caller off hold"),
    Route(
        "POST",
        "/agents/{job}/transfer",
        transfer,
        "Blind transfer of the current call to a line, an agent or a supervisor",
        TransferBody,
    ),
    Route("POST", "/agents/{job}/dial", dial, "Click-to-dial an outside number", DialBody),
    Route(
        "POST",
        "/agents/{job}/callbacks/next",
        take_callback,
        "Take the next callback request (agents on callback work)",
    ),
    Route("GET", "/supervisor/snapshot", snapshot, "Agents and lines right now (supervisors)"),
    Route(
        "POST",
        "/supervisor/agents/{job}/monitor",
        monitor,
        "Listen, whisper or barge in on an agent's call from your phone (again: switch mode)",
        MonitorBody,
    ),
    Route("DELETE", "/supervisor/monitor", stop_monitor, "Stop listening (your phone hangs up)"),
    Route("POST", "/supervisor/calls/{call_id}/hangup", force_hangup, "Force a call down"),
]


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    match = request.match_info
    public = (
        match.http_exception is not None  # unknown path or method: let it be a 404/405
        or getattr(match.route.handler, "acd_public", False)
        or not request.path.startswith(PREFIX)
    )
    if not public:
        await authenticate(request)
    return await handler(request)


def add_routes(app: web.Application, routes: list[Route]) -> None:
    for r in routes:
        if r.public:
            r.handler.acd_public = True  # type: ignore[attr-defined]
        app.router.add_route(r.method, PREFIX + r.path, r.handler)
