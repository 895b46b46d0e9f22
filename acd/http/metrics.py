"""``GET /metrics``: Prometheus' text format, on the API's own address.

No token by default (the API listens on loopback unless a site says
otherwise); with ``[metrics] token`` set, a scraper must send it as a bearer
token. The API's tokens are not accepted here: a scraper is not a user.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acd.metrics import Metrics


@dataclass(frozen=True)
class MetricsEndpoint:
    """The registry to expose and the token a scraper needs (empty: none)."""

    metrics: Metrics
    token: str = ""


METRICS = web.AppKey("metrics", MetricsEndpoint)


async def metrics(request: web.Request) -> web.Response:
    """Every metric, as Prometheus reads them."""
    endpoint = request.app[METRICS]
    if endpoint.token:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {endpoint.token}"
        # aiohttp keeps undecodable header bytes as surrogates: compare them as bytes.
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
            return web.json_response(
                {
                    "error_id": "unauthorized",
                    "message": "/metrics needs the [metrics] token as a bearer token",
                    "details": {},
                },
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="acd-metrics"'},
            )
    body = generate_latest(endpoint.metrics.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
