"""After-call endpoints: the agent registers the call; team leads work follow-up tickets."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.aftercall import AfterCall, may_handle_tickets, registration_json
from acd.core.followups import Category, Urgency
from acd.http.errors import BadRequest, Forbidden, NotFound, json_body
from acd.http.plumbing import API, USER, Body, Route, parse_query


class RegistrationBody(Body):
    """The agent's after-call registration: category, urgency, notes."""

    category: Literal["consultation", "service_request", "complaint", "suggestion"]
    urgency: Literal["normal", "urgent", "critical"] = "normal"
    notes: str = Field(default="", max_length=4000)
    follow_up: bool | None = Field(
        default=None,
        description="open a follow-up ticket; default: yes for complaints, service requests "
        "and critical calls (complaints and critical calls always get one)",
    )


class CloseBody(Body):
    """How a follow-up ticket was resolved."""

    outcome: str = Field(min_length=1, max_length=4000, description="what was done")


class TicketsQuery(Body):
    """Which follow-up tickets to list."""

    status: Literal["open", "all"] = "open"


def _service(request: web.Request) -> AfterCall:
    service = request.app[API].aftercall
    return service


def _ticket_handler(request: web.Request) -> AfterCall:
    user = request[USER]
    if not may_handle_tickets(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not work follow-up tickets")
    return _service(request)


def _ticket_id(request: web.Request) -> int:
    raw = request.match_info["ticket_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(f"a ticket id is a number, not {raw!r}")
    return int(raw)


async def register_call(request: web.Request) -> web.Response:
    service = _service(request)
    body = RegistrationBody.model_validate(await json_body(request))
    result = await service.register(
        request[USER],
        request.match_info["call_id"],
        Category(body.category),
        Urgency(body.urgency),
        body.notes,
        body.follow_up,
    )
    return web.json_response(result, status=201)


async def get_registration(request: web.Request) -> web.Response:
    service = _service(request)
    call_id = request.match_info["call_id"]
    row = await service.store.registration(call_id)
    user = request[USER]
    if row is None:
        raise NotFound(f"call {call_id} has not been registered")
    if not may_handle_tickets(user) and row.agent != user.job_number:
        raise Forbidden(f"call {call_id} was registered by another agent")
    return web.json_response(registration_json(row))


async def list_tickets(request: web.Request) -> web.Response:
    service = _ticket_handler(request)
    query = parse_query(request, TicketsQuery)
    tickets = await service.tickets(request[USER], open_only=query.status == "open")
    return web.json_response(tickets)


async def get_ticket(request: web.Request) -> web.Response:
    service = _ticket_handler(request)
    return web.json_response(await service.ticket(request[USER], _ticket_id(request)))


async def take_ticket(request: web.Request) -> web.Response:
    service = _ticket_handler(request)
    return web.json_response(await service.take(request[USER], _ticket_id(request)))


async def close_ticket(request: web.Request) -> web.Response:
    service = _ticket_handler(request)
    body = CloseBody.model_validate(await json_body(request))
    return web.json_response(await service.close(request[USER], _ticket_id(request), body.outcome))


AFTERCALL_ROUTES: list[Route] = [
    Route(
        "POST",
        "/calls/{call_id}/registration",
        register_call,
        "Register a call you handled: category, urgency, notes (once per call)",
        RegistrationBody,
    ),
    Route("GET", "/calls/{call_id}/registration", get_registration, "A call's registration"),
    Route(
        "GET",
        "/follow-ups",
        list_tickets,
        "Follow-up tickets, oldest first: open ones (default) or all (supervisors)",
        query=TicketsQuery,
    ),
    Route("GET", "/follow-ups/{ticket_id}", get_ticket, "One follow-up ticket (supervisors)"),
    Route("POST", "/follow-ups/{ticket_id}/take", take_ticket, "Take a follow-up ticket"),
    Route(
        "POST",
        "/follow-ups/{ticket_id}/close",
        close_ticket,
        "Close a follow-up ticket, saying what was done",
        CloseBody,
    ),
]
