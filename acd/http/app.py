"""The HTTP application: /healthz, the v1 API and its event stream, the wallboard page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from acd.addresses import origin_of
from acd.http.admin import ADMIN_ROUTES
from acd.http.aftercall import AFTERCALL_ROUTES
from acd.http.agents import AGENT_ROUTES
from acd.http.cors import cors_middleware
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

STATIC = Path(__file__).with_name("static")
WALLBOARD = STATIC / "wallboard.html"
DESKTOP_FILES = {
    "desktop.js": "text/javascript",
    "desktop.css": "text/css",
    "phone.js": "text/javascript",
    "page.js": "text/javascript",  # what the desktop and the console share
    "console.js": "text/javascript",
    "tickets.js": "text/javascript",  # the console's follow-up tickets
    "admin.js": "text/javascript",  # the console's users, skills and phones
}
# SIP.js as npm installed it (acd/web, `npm ci` in docker/bootstrap): ES modules, served
# as they are. No build step and nothing fetched from elsewhere at run time.
NODE_MODULES = Path(__file__).parents[1] / "web" / "node_modules"
SIP_JS = NODE_MODULES / "sip.js" / "lib"
CHART_JS = NODE_MODULES / "chart.js" / "dist"  # the console's charts (chart.umd.min.js)

log = structlog.get_logger("acd.http")


async def wallboard(request: web.Request) -> web.FileResponse:
    """The supervisors' live wallboard (it logs in and reads the event stream)."""
    return web.FileResponse(WALLBOARD, headers={"Cache-Control": "no-cache"})


def page_policy(websocket: str | None, peers: tuple[str, ...] = ()) -> str:
    """The desktop's Content Security Policy: its files, its API and Asterisk's phone
    socket; a standby pair's other engines too (the page finds the leader there)."""
    connect = "'self'"
    if websocket:
        parts = urlsplit(websocket)
        connect += f" {parts.scheme}://{parts.netloc}"
    for peer in map(origin_of, peers):
        connect += f" {peer} {peer.replace('http', 'ws', 1)}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; media-src 'self' blob: mediastream:; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


async def desktop(request: web.Request) -> web.FileResponse:
    """The agent desktop, with its phone in the page."""
    return _page(request, "desktop.html")


async def console(request: web.Request) -> web.FileResponse:
    """The supervisor console: the centre live, listen/whisper/barge, reports, recordings."""
    return _page(request, "console.html")


def _page(request: web.Request, name: str) -> web.FileResponse:
    api = request.app[API]
    return web.FileResponse(
        STATIC / name,
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": page_policy(api.websocket, api.peers),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


async def desktop_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in DESKTOP_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name,
        headers={
            "Content-Type": DESKTOP_FILES[name],
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


def build_http_app(
    api: ApiContext, health: Health | None = None, scrape: MetricsEndpoint | None = None
) -> web.Application:
    """The v1 API, its OpenAPI document, event stream and wallboard; /healthz with
    ``health``, /metrics with ``scrape``."""
    # Pages opened at another engine of a standby pair call this one (cross-origin).
    cors = [cors_middleware(api.peers)] if api.peers else []
    app = web.Application(middlewares=[*cors, errors_middleware, auth_middleware])
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
    app.router.add_get("/", desktop)
    app.router.add_get("/desktop/{name:[a-z]+[.](?:js|css)}", desktop_file)
    app.router.add_get("/console", console)
    for url, folder in (("/desktop/sip.js/", SIP_JS), ("/desktop/chart.js/", CHART_JS)):
        if folder.is_dir():
            app.router.add_static(url, folder)
        else:
            log.warning("desktop_library_missing", expected=str(folder), fix="docker/bootstrap")
    return app
