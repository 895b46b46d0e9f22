"""What every API handler shares: the services it may call, routes, bodies, authentication.

Handlers call the services in ``ApiContext`` only, never the core directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from acd.aftercall import AfterCall
from acd.auth import AuthError, AuthService
from acd.core.access import User, may_act_on_agent
from acd.http.errors import Forbidden, NotFound, Unauthorized, refuse_nul
from acd.live import LiveFeed
from acd.phones import PhoneBook
from acd.storage.users import UserStore

if TYPE_CHECKING:
    from acd.centre.callflow import CallCentre
    from acd.centre.control import CallControl
    from acd.recordings import RecordingService
    from acd.reports import ReportService

PREFIX = "/api/v1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ApiContext:
    """The services the API's handlers call."""

    centre: CallCentre
    control: CallControl
    live: LiveFeed
    auth: AuthService
    users: UserStore
    clock: Callable[[], float]
    aftercall: AfterCall
    reports: ReportService
    recordings: RecordingService
    phones: PhoneBook
    websocket: str | None = None  # browsers' SIP over WebSocket ([phones] websocket)
    peers: tuple[str, ...] = ()  # the other engines of a standby pair ([standby] peers)


API = web.AppKey("api", ApiContext)
Q = TypeVar("Q", bound=BaseModel)
USER = web.RequestKey("user", User)
TOKEN = web.RequestKey("token", str)


class Body(BaseModel):
    """A request body: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Route:
    """One API route: method, path under /api/v1, handler, and what the docs say of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    public: bool = False
    query: type[BaseModel] | None = None  # query parameters, if any


def bearer(request: web.Request) -> str:
    """The bearer token of the request's ``Authorization`` header.

    Never one in the URL (URLs end up in histories and logs), except on the event
    stream's WebSocket, where browsers can set no header (``acd.http.stream``).
    """
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return ""


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """Query parameters checked like a body (``token`` is the credential, not a parameter)."""
    return model.model_validate({k: v for k, v in request.query.items() if k != "token"})


async def authenticate(request: web.Request, token: str | None = None) -> User:
    """The user the request's token (or ``token``) belongs to (401 otherwise); kept on
    the request."""
    token = bearer(request) if token is None else token
    if not token:
        raise Unauthorized("log in first: no bearer token")
    try:
        user = await request.app[API].auth.authenticate(token)
    except AuthError as exc:
        raise Unauthorized(str(exc)) from None
    request[USER] = user
    request[TOKEN] = token
    return user


def agent_target(request: web.Request) -> str:
    """The agent in the path, checked: it exists and the user may act on it."""
    centre = request.app[API].centre
    job_number = request.match_info["job_number"]
    if not centre.is_agent(job_number):
        raise NotFound(f"no agent with job number {job_number}")
    user = request[USER]
    if not may_act_on_agent(user, job_number, centre.team_of(job_number)):
        raise Forbidden(f"{user.role.value} {user.job_number} may not act on agent {job_number}")
    return job_number


async def audit_if_intervention(
    request: web.Request, action: str, target: str, **details: Any
) -> None:
    """Audit an action taken on someone else (a supervisor's or admin's intervention)."""
    user = request[USER]
    if user.job_number != target:
        ctx = request.app[API]
        await ctx.users.audit(ctx.clock(), user.job_number, action, target, **details)


def agent_json(request: web.Request, job_number: str) -> dict[str, Any]:
    """An agent's state as the API shows it."""
    view = request.app[API].centre.agent(job_number)
    return {
        "job_number": job_number,
        "state": view.state,
        "reason": view.reason,
        "since": view.since,
        "call_id": view.call_id,
        "endpoint": view.endpoint,
    }


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api/v1 route needs a valid token unless it is marked public."""
    match = request.match_info
    public = (
        match.http_exception is not None  # unknown path or method: let it be a 404/405
        or getattr(match.route.handler, "acd_public", False)
        or not request.path.startswith(PREFIX)
    )
    if not public:
        await authenticate(request)
    if match.http_exception is None:
        for name, value in match.items():
            refuse_nul(value, f"the path's {name}")
        for name, value in request.query.items():
            refuse_nul(value, f"the query's {name}")
    return await handler(request)


def add_routes(app: web.Application, routes: list[Route]) -> None:
    """Register routes under /api/v1 (public ones are marked for the auth middleware)."""
    for r in routes:
        if r.public:
            r.handler.acd_public = True  # type: ignore[attr-defined]
        app.router.add_route(r.method, PREFIX + r.path, r.handler)
