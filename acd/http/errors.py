"""API errors: a stable ``error_id``, a message a person understands, details.

The mapping from errors (ours and the core's) to HTTP status lives here only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from acd.aftercall import TicketDenied
from acd.ami.errors import AmiActionFailed, AmiDisconnected, AmiError, AmiNotConnected, AmiTimeout
from acd.auth import AuthError
from acd.centre.tasks import is_transient
from acd.core.agents import TransitionRefused
from acd.core.queueing import NoSuchAgent, NoSuchCall, Refused
from acd.phones import NotAllowedPhone, PhoneDirectoryUnavailable, PhoneNotKept
from acd.recordings import NoSuchRecording, RecordingDenied, RecordingGone
from acd.storage.followups import AlreadyRegistered, NoSuchTicket
from recording.policy import RecordingRefused

log = structlog.get_logger("acd.http")


class ApiError(Exception):
    """An error the API answers with its own status and error id."""

    status = 400
    error_id = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class BadRequest(ApiError):
    """The request cannot be understood (400)."""


class Unauthorized(ApiError):
    """No valid token (401)."""

    status, error_id = 401, "unauthorized"


class Forbidden(ApiError):
    """The user may not do this (403)."""

    status, error_id = 403, "forbidden"


class NotFound(ApiError):
    """No such thing (404)."""

    status, error_id = 404, "not_found"


class TooManyRequests(ApiError):
    """Too many attempts: try again after ``Retry-After`` seconds (429)."""

    status, error_id = 429, "too_many_attempts"


class Gone(ApiError):
    """It existed but is gone, e.g. a purged recording (410)."""

    status, error_id = 410, "gone"


# The core's and adapters' errors by class: (status, error_id). A subclass that is not
# listed maps like its nearest listed base (see ``domain_error``).
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    AmiActionFailed: (409, "pbx_refused"),
    AmiNotConnected: (503, "pbx_unavailable"),
    AmiDisconnected: (503, "pbx_unavailable"),
    AmiTimeout: (504, "pbx_timeout"),
    # The database is locked, restarting or unreachable: try again shortly.
    OperationalError: (503, "database_unavailable"),
    AmiError: (503, "pbx_unavailable"),
    AuthError: (401, "unauthorized"),
    NoSuchAgent: (404, "no_such_agent"),
    NoSuchCall: (404, "no_such_call"),
    Refused: (409, "refused"),
    TransitionRefused: (409, "invalid_state"),
    AlreadyRegistered: (409, "already_registered"),
    NoSuchTicket: (404, "no_such_ticket"),
    RecordingRefused: (409, "recording_refused"),
    RecordingDenied: (403, "forbidden"),
    TicketDenied: (403, "forbidden"),
    RecordingGone: (410, "recording_gone"),
    NoSuchRecording: (404, "no_such_recording"),
    NotAllowedPhone: (403, "phone_not_allowed"),
    PhoneNotKept: (409, "phone_not_kept"),
    PhoneDirectoryUnavailable: (503, "phone_directory_unavailable"),
}


def domain_error(exc: Exception) -> tuple[int, str]:
    """Status and error id of the nearest listed class of ``exc`` (subclasses map like a base)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls]
    return 500, "internal_error"


def error_response(status: int, error_id: str, message: str, details: Any = None) -> web.Response:
    body = {"error_id": error_id, "message": message, "details": details or {}}
    return web.json_response(body, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.error_id, str(exc), exc.details)
        if "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return error_response(400, "invalid_input", "the request body is not valid", details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_id = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return error_response(exc.status, error_id, exc.reason)
    except tuple(DOMAIN_ERRORS) as exc:
        status, error_id = domain_error(exc)
        return error_response(status, error_id, str(exc))
    except DBAPIError as exc:
        if not is_transient(exc):  # PostgreSQL's lock or statement timeout, its restart
            log.exception("api_internal_error", path=request.path)
            return error_response(500, "internal_error", "something went wrong on our side")
        return error_response(503, "database_unavailable", "the database is busy: try again")
    except Exception:
        log.exception("api_internal_error", path=request.path)
        return error_response(500, "internal_error", "something went wrong on our side")


async def json_body(request: web.Request) -> Any:
    """The request body as JSON, or a 400 that says why not."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    refuse_nul(body, "the body")
    return body


def refuse_nul(value: Any, where: str) -> None:
    """A 400 for text holding a NUL character (U+0000), anywhere in ``value``.

    No name, number or note has one, and PostgreSQL cannot store one: refused
    at the door, it never becomes a failed write (or a 500) further in.
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequest(f"{where} contains a NUL character (U+0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, where)
            refuse_nul(item, f"{where}: {key}" if isinstance(key, str) else where)
    elif isinstance(value, list):
        for item in value:
            refuse_nul(item, where)
