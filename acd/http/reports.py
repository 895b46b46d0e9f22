"""Reports for team leads: per line and per agent, a day, week or month, as JSON or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.core.access import may_supervise
from acd.core.reports import Period
from acd.http.errors import Forbidden, NotFound
from acd.http.plumbing import API, USER, Body, Route, parse_query
from acd.reports import as_csv

PERIODS: dict[str, Period] = {"day": "day", "week": "week", "month": "month"}


class ReportQuery(Body):
    """Which day's period, as JSON or CSV (by lines or by agents)."""

    date: dt.date | None = Field(default=None, description="a day in the period; default: today")
    format: Literal["json", "csv"] = "json"
    rows: Literal["lines", "agents"] = Field(default="lines", description="CSV only")


async def report(request: web.Request) -> web.Response:
    user = request[USER]
    if not may_supervise(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not read reports")
    service = request.app[API].reports
    period = PERIODS.get(request.match_info["period"])
    if period is None:
        raise NotFound(f"no report period {request.match_info['period']!r} (day, week, month)")
    query = parse_query(request, ReportQuery)
    body = await service.report(period, query.date or service.today())
    if query.format == "csv":
        name = f"acd-{body['label']}-{query.rows}.csv"
        return web.Response(
            text=as_csv(body, query.rows),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return web.json_response(body)


REPORT_ROUTES: list[Route] = [
    Route(
        "GET",
        "/reports/{period}",
        report,
        "Traffic, service level, handle times, breaks and satisfaction per line and agent for "
        "the day, week or month (period) containing date; JSON or CSV (supervisors)",
        query=ReportQuery,
    ),
]
