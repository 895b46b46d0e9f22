"""Logging in and out of the API, and who a token belongs to."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from pydantic import Field

from acd.auth import AuthError, TooManyAttempts, session_of
from acd.core.access import User, UserRole
from acd.http.errors import Forbidden, TooManyRequests, Unauthorized, json_body
from acd.http.plumbing import API, TOKEN, USER, Body, Route
from acd.phones import PhoneDirectoryUnavailable, PhoneNotKept, web_endpoint, web_phone_name

log = structlog.get_logger("acd.http")


class LoginBody(Body):
    """Job number and password, exchanged for a bearer token."""

    job_number: str = Field(min_length=1, max_length=16)
    password: str = Field(min_length=1, max_length=200)


async def login(request: web.Request) -> web.Response:
    """A token for the job number and password (the password never travels again)."""
    body = LoginBody.model_validate(await json_body(request))
    auth = request.app[API].auth
    try:
        token, user, expires_at = await auth.login(
            body.job_number, body.password, request.remote or ""
        )
    except TooManyAttempts as exc:
        raise TooManyRequests(str(exc), retry_after=exc.retry_after) from None
    except AuthError as exc:
        raise Unauthorized(str(exc)) from None
    return web.json_response({"token": token, "expires_at": expires_at, "user": user_json(user)})


async def logout(request: web.Request) -> web.Response:
    """End this token, and the browser phones its pages opened (no other session's)."""
    ctx = request.app[API]
    await ctx.auth.logout(request[TOKEN])
    try:
        await ctx.phones.end_session_phones(session_of(request[TOKEN]))
    except PhoneDirectoryUnavailable as exc:  # logged out all the same; ops are told
        log.warning("web_phone_not_revoked", user=request[USER].job_number, error=str(exc))
    return web.json_response({"logged_out": True})


class WebPhoneBody(Body):
    """Which page's phone: the agent desktop's or the supervisor console's."""

    page: Literal["desktop", "console"] = "desktop"


async def web_phone(request: web.Request) -> web.Response:
    """A browser phone of one's own: where it registers and a secret for this page."""
    ctx = request.app[API]
    user = request[USER]
    page = (
        WebPhoneBody.model_validate(await json_body(request)).page
        if request.can_read_body
        else "desktop"
    )
    if user.role is UserRole.ADMIN:
        raise Forbidden("admins take no calls: they have no phone")
    if page == "console" and user.role is not UserRole.SUPERVISOR:
        raise Forbidden("the console's phone is a supervisor's")
    if ctx.websocket is None:
        raise PhoneNotKept("no browser phones: set [phones] websocket (Asterisk's ws:// address)")
    secret = await ctx.phones.issue_web_secret(
        user.job_number, page, session=session_of(request[TOKEN])
    )
    name = web_phone_name(user.job_number, page)
    host = urlsplit(ctx.websocket).hostname or "localhost"
    body = {
        "endpoint": web_endpoint(user.job_number, page),
        "websocket": ctx.websocket,
        "uri": f"sip:{name}@{host}",
        "username": name,
        "realm": ctx.phones.realm,
        "secret": secret,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def my_day(request: web.Request) -> web.Response:
    """One's own figures today (the day report's row): calls, talk time, ratings."""
    ctx = request.app[API]
    user = request[USER]
    report = await ctx.reports.today_report()  # shared by every desktop, a moment old
    row = next((r for r in report["agents"] if r["agent"] == user.job_number), None)
    if row is None:  # nothing today yet
        row = {"agent": user.job_number, "answered": 0, "talk_s": 0.0, "surveys": 0}
        row |= {"survey_average": None}
    return web.json_response({"label": report["label"], **row})


async def me(request: web.Request) -> web.Response:
    """Who this token belongs to."""
    return web.json_response(user_json(request[USER]))


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows them."""
    return {
        "job_number": user.job_number,
        "name": user.name,
        "role": user.role.value,
        "team": user.team,
    }


SESSION_ROUTES: list[Route] = [
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
    Route("GET", "/me/today", my_day, "Your own figures today: calls, talk time, ratings"),
    Route(
        "POST",
        "/me/web-phone",
        web_phone,
        "Your browser phone (the desktop's, or with page=console the console's): its "
        "WebSocket address and a new secret (this page's)",
        WebPhoneBody,
    ),
]
