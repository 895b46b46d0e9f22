"""/healthz: is the engine connected to Asterisk and listening for the IVR, and any alarms."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from acd.agi.server import FastAgiServer
from acd.ami.connection import AmiConnection
from acd.engine import Engine


@dataclass(frozen=True)
class Health:
    """What /healthz reports on."""

    ami: AmiConnection
    fastagi: FastAgiServer
    engine: Engine
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # raised, not yet cleared
    node: str | None = None  # this engine's name when it leads a standby pair
    peers: tuple[str, ...] = ()  # the pair's other engines (where pages look when it is gone)


HEALTH = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    """AMI and FastAGI status; 200 when both are up, 503 otherwise."""
    h = request.app[HEALTH]
    ami_up = h.ami.up
    body: dict[str, Any] = {
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
    if h.node is not None:  # a standby pair: this one leads (the standby answers "standby")
        body["node"], body["role"], body["peers"] = h.node, "leader", list(h.peers)
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)
