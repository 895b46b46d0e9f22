"""Reports for team leads: per line and per agent, a day, week or month, as JSON or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.core.access import may_supervise
from acd.http.api import API, USER, Route, _Body, parse_query
from acd.http.errors import Forbidden, NotFound
from acd.reports import as_csv


class ReportQuery(_Body):
    date: dt.date | None = Field(default=None, description="a day in the period; default: today")
    format: Literal["json", "csv"] = "json"
    rows: Literal["lines", "agents"] = Field(default="lines", description="CSV only")


async def report(request: web.Request) -> web.Response:
    user = request[USER]
    if not may_supervise(user):
        raise Forbidden(f"{user.role.value} {user.job_number} may not read reports")
    service = request.app[API].reports
    if service is None:
        raise NotFound("reports are not enabled on this server")
    period = request.match_info["period"]
    if period not in ("day", "week", "month"):
        raise NotFound(f"no report period {period!r} (day, week, month)")
    query = parse_query(request, ReportQuery)
    body = await service.report(period, query.date or service.today())  # type: ignore[arg-type]
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
