"""The HTTP application: /healthz, the v1 API and its event stream, the wallboard page."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from acd.http.admin import ADMIN_ROUTES
from acd.http.aftercall import AFTERCALL_ROUTES
from acd.http.agents import AGENT_ROUTES
from acd.http.errors import errors_middleware
from acd.http.health import HEALTH, Health, healthz
from acd.http.metrics import METRICS, MetricsEndpoint, metrics
from acd.http.openapi import ROUTES_KEY, openapi
from acd.http.plumbing import API, PREFIX, ApiContext, add_routes, auth_middleware
from acd.http.recordings import RECORDING_ROUTES
from acd.http.reports import REPORT_ROUTES
from acd.http.session import SESSION_ROUTES
from acd.http.stream import events
from acd.http.supervisor import SUPERVISOR_ROUTES

# Every API route, by resource group.
ROUTES = (
    SESSION_ROUTES
    + AGENT_ROUTES
    + SUPERVISOR_ROUTES
    + ADMIN_ROUTES
    + AFTERCALL_ROUTES
    + REPORT_ROUTES
    + RECORDING_ROUTES
)

WALLBOARD = Path(__file__).with_name("static") / "wallboard.html"


async def wallboard(request: web.Request) -> web.FileResponse:
    """The supervisors' live wallboard (it logs in and reads the event stream)."""
    return web.FileResponse(WALLBOARD, headers={"Cache-Control": "no-cache"})


def build_http_app(
    api: ApiContext, health: Health | None = None, scrape: MetricsEndpoint | None = None
) -> web.Application:
    """The v1 API, its OpenAPI document, event stream and wallboard; /healthz with
    ``health``, /metrics with ``scrape``."""
    app = web.Application(middlewares=[errors_middleware, auth_middleware])
    if health is not None:
        app[HEALTH] = health
        app.router.add_get("/healthz", healthz)
    if scrape is not None:
        app[METRICS] = scrape
        app.router.add_get("/metrics", metrics)
    app[API] = api
    app[ROUTES_KEY] = ROUTES
    add_routes(app, ROUTES)
    app.router.add_get(PREFIX + "/openapi.json", openapi)
    app.router.add_get(PREFIX + "/events", events)
    app.router.add_get("/wallboard", wallboard)
    return app
