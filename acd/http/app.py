"""The HTTP application: /healthz, the v1 API and its event stream, the wallboard page."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from acd.agi.server import FastAgiServer
from acd.ami.connection import AmiConnection
from acd.engine import Engine
from acd.http.admin import ADMIN_ROUTES
from acd.http.aftercall import AFTERCALL_ROUTES
from acd.http.api import API, PREFIX, ROUTES, ApiContext, add_routes, auth_middleware
from acd.http.errors import errors_middleware
from acd.http.openapi import ROUTES_KEY, openapi
from acd.http.recordings import RECORDING_ROUTES
from acd.http.reports import REPORT_ROUTES
from acd.http.stream import events


@dataclass(frozen=True)
class Health:
    """What /healthz reports on."""

    ami: AmiConnection
    fastagi: FastAgiServer
    engine: Engine
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # raised, not yet cleared


HEALTH = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    """AMI and FastAGI status; 200 when both are up, 503 otherwise."""
    h = request.app[HEALTH]
    ami_up = h.ami.up
    body = {
        "status": "ok" if ami_up and h.fastagi.listening else "degraded",
        "ami": {
            "connected": ami_up,
            "asterisk": h.ami.asterisk_version,
            "connects": h.ami.connects,
            "up_for_s": round(time.time() - h.ami.up_since, 1) if h.ami.up_since else None,
            "last_error": h.ami.last_error,
        },
        "fastagi": {
            "listening": h.fastagi.listening,
            "active_sessions": h.fastagi.active_sessions,
            "sessions_served": h.fastagi.sessions_served,
        },
        "engine": {"live_channels": len(h.engine.channels), "resyncs": h.engine.resyncs},
        # Calls go on during an alarm (e.g. the recordings disk is full): still "ok".
        "alarms": [{"alarm": name, **details} for name, details in h.alarms.items()],
    }
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


WALLBOARD = Path(__file__).with_name("static") / "wallboard.html"


async def wallboard(request: web.Request) -> web.FileResponse:
    """The supervisors' live wallboard (it logs in and reads the event stream)."""
    return web.FileResponse(WALLBOARD, headers={"Cache-Control": "no-cache"})


def build_http_app(health: Health, api: ApiContext | None = None) -> web.Application:
    """/healthz always; the v1 API, its OpenAPI document and the event stream with ``api``."""
    app = web.Application(middlewares=[errors_middleware, auth_middleware])
    app[HEALTH] = health
    app.router.add_get("/healthz", healthz)
    if api is not None:
        app[API] = api
        routes = ROUTES + ADMIN_ROUTES + AFTERCALL_ROUTES + REPORT_ROUTES + RECORDING_ROUTES
        app[ROUTES_KEY] = routes
        add_routes(app, routes)
        app.router.add_get(PREFIX + "/openapi.json", openapi)
        app.router.add_get(PREFIX + "/events", events)
        app.router.add_get("/wallboard", wallboard)
    return app
