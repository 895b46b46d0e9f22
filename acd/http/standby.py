"""What a standby engine answers on the API's address: 503, and where the leader is.

A standby does not proxy: it points. Every request gets a 503 with a
``Retry-After`` and the leader's node and address as the leader wrote them
(acd.leadership); a load balancer or a client's health check on ``/healthz``
sees ``"status": "standby"`` and sends people to the engine that answers 200.
A browser asking for a page gets a short page with a link to the leader.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from aiohttp import web

from acd.http.cors import cors_middleware

LeaderOf = Callable[[], tuple[str, str] | None]  # the leader as last read, never a query


def standby_app(node: str, leader_of: LeaderOf, peers: tuple[str, ...] = ()) -> web.Application:
    """The standby's whole HTTP application (any path, any method). Pages opened at a
    ``peers`` engine read its answers too (cross-origin): they learn the leader there."""

    async def answer(request: web.Request) -> web.Response:
        leader = leader_of()
        where: dict[str, str] | None = {"node": leader[0], "address": leader[1]} if leader else None
        if request.path == "/healthz":
            body = {
                "status": "standby",
                "node": node,
                "role": "standby",
                "leader": where,
                "peers": list(peers),
            }
            return web.json_response(body, status=503, headers={"Retry-After": "1"})
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            return web.Response(
                status=503,
                content_type="text/html",
                charset="utf-8",
                headers={"Retry-After": "1", "Content-Security-Policy": "default-src 'none'"},
                text=_page(node, where),
            )
        message = (
            f"this engine ({node}) is the standby; the leader is {where['node']} at "
            f"{where['address']}"
            if where
            else f"this engine ({node}) is the standby; no leader is known yet"
        )
        details: dict[str, Any] = {"leader": where}
        body = {"error_id": "standby", "message": message, "details": details}
        return web.json_response(body, status=503, headers={"Retry-After": "1"})

    app = web.Application(middlewares=[cors_middleware(peers)] if peers else [])
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


# English and Chinese (Chinese punctuation written as escapes: U+FF0C, U+FF1A, U+3002).
NO_LEADER = "No engine leads yet: try again in a moment. 暂无主引擎\uff0c请稍后重试\u3002"
STANDBY = "This is the standby engine ({node}); the leader serves the call centre: {link}"
STANDBY_ZH = "这是备用引擎 ({node})\uff0c请使用主引擎\uff1a{link}"


def _page(node: str, leader: dict[str, str] | None) -> str:
    """This is the standby; the desk is at the leader's address (or none leads yet)."""
    if leader is None:
        body = f"<p>{html.escape(NO_LEADER)}</p>"
    else:
        href = html.escape(leader["address"], quote=True)
        link = f'<a href="{href}">{href}</a>'
        name = html.escape(node)
        body = f"<p>{STANDBY.format(node=name, link=link)}</p>"
        body += f'<p lang="zh">{STANDBY_ZH.format(node=name, link=link)}</p>'
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>acd standby</title></head>'
        f"<body>{body}</body></html>"
    )
