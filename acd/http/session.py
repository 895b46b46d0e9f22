"""Logging in and out of the API, and who a token belongs to."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from acd.auth import AuthError, TooManyAttempts
from acd.core.access import User
from acd.http.errors import TooManyRequests, Unauthorized, json_body
from acd.http.plumbing import API, TOKEN, USER, Body, Route


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
    """End this token."""
    await request.app[API].auth.logout(request[TOKEN])
    return web.json_response({"logged_out": True})


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
]
