"""Cross-origin answers for the other engines of a standby pair, and no one else.

A desktop or console opened at one engine's address finds the new leader at
another when the first is gone (``[standby] peers``): it calls that engine's
API from the first one's origin. Only the configured engines' origins are
let in; a request from any other origin gets no CORS headers, so a browser
keeps other sites out as before. Tokens travel in the Authorization header
(no cookies), so no credentials mode is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from acd.addresses import origin_of

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"
EXPOSED_HEADERS = "Content-Disposition, Retry-After"  # a report's file name; when to retry


def cors_middleware(addresses: Iterable[str]) -> Middleware:
    """Let pages from these engines' origins call this one (preflight included)."""
    allowed = frozenset(origin_of(a) for a in addresses)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        if origin.lower() not in allowed:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                    "Vary": "Origin",
                },
            )
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # an error answer is readable by the page too
            _let_in(exc.headers, origin)
            raise
        if not response.prepared:  # (a WebSocket is already answered: not for CORS)
            _let_in(response.headers, origin)
        return response

    return cors


def _let_in(headers: MutableMapping[str, str], origin: str) -> None:
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    headers["Vary"] = "Origin"
