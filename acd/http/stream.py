"""The live event stream (WebSocket): a snapshot first, then every change, numbered.

``GET /api/v1/events?token=...&epoch=E&since=N``: with the epoch and the last
sequence number the client saw, the server replays exactly what was missed,
or sends a fresh snapshot if that is no longer possible (e.g. the engine has
restarted: a new epoch). Agents see their own events; supervisors see
everything. The stream closes (code 4401) once its token expires or is revoked.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from acd.auth import AuthError
from acd.centre.tasks import is_transient
from acd.core.access import User, UserRole, may_supervise
from acd.eventbus import LiveEvent
from acd.http.errors import BadRequest, Unauthorized
from acd.http.plumbing import API, TOKEN, authenticate, bearer

# How often an open stream checks that its token is still valid.
TOKEN_RECHECK_SECONDS = 15.0
# WebSocket close code when the token expired or was revoked (the page asks to log in).
CLOSE_TOKEN_ENDED = 4401

PRIVATE_TO_SUPERVISORS = frozenset(
    {
        "call_waiting",
        "call_abandoned",
        "peak_level",
        "follow_up_opened",
        "follow_up_overdue",
        "follow_up_not_taken",
        "critical_call",
        "alarm",
    }
)


def visible(user: User, event: LiveEvent) -> bool:
    """Whether this user's stream carries the event."""
    if user.role is UserRole.ADMIN:
        return True
    if may_supervise(user):
        # Follow-ups (the caller's number included) go to the agent's team leads only.
        named = event.data.get("supervisors")
        return not isinstance(named, list) or user.job_number in named
    return event.kind not in PRIVATE_TO_SUPERVISORS and event.data.get("agent") == user.job_number


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read what the client sends (pings, close) so a closed socket is noticed."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def _refused(request: web.Request, exc: Unauthorized) -> web.WebSocketResponse:
    """A browser sees no HTTP status when a WebSocket is refused: tell it in the close
    code (4401), so that a page asks to log in again instead of reconnecting for ever."""
    ws = web.WebSocketResponse()
    if not ws.can_prepare(request).ok:
        raise exc
    await ws.prepare(request)
    await ws.close(code=CLOSE_TOKEN_ENDED, message=str(exc).encode()[:120])
    return ws


async def events(request: web.Request) -> web.WebSocketResponse:
    # Browsers set no header on a WebSocket: here only, the token may come in the URL.
    token = bearer(request) or request.query.get("token", "")
    try:
        user = await authenticate(request, token)
    except Unauthorized as exc:
        return await _refused(request, exc)
    since_raw = request.query.get("since")
    try:
        since = int(since_raw) if since_raw is not None else None
    except ValueError:
        raise BadRequest(f"since must be a sequence number, not {since_raw!r}") from None
    epoch = request.query.get("epoch")
    auth = request.app[API].auth
    loop = asyncio.get_running_loop()
    live = request.app[API].live
    bus = live.bus
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    subscription = bus.subscribe()  # from here on nothing is missed
    reader = asyncio.create_task(_drain(ws))
    try:
        missed = bus.resume(since, epoch) if since is not None else None
        if missed is None:
            # Supervisors get the whole centre; an agent only their own state.
            if may_supervise(user):
                data = live.snapshot()
            else:
                data = live.agent_snapshot(user.job_number)
            snapshot = {"kind": "snapshot", "epoch": bus.epoch, "seq": bus.seq, "data": data}
            await ws.send_json(snapshot)
            sent = bus.seq
        else:
            sent = since or 0
            for earlier in missed:
                sent = earlier.seq
                if visible(user, earlier):
                    await ws.send_json(earlier.as_json())
        checked = loop.time()
        while not reader.done():
            if loop.time() - checked >= TOKEN_RECHECK_SECONDS:
                # A token revoked (password changed, logged out) or expired ends the stream.
                try:
                    await auth.authenticate(request[TOKEN])
                except AuthError as exc:
                    await ws.close(code=CLOSE_TOKEN_ENDED, message=str(exc).encode()[:120])
                    break
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    # The database is down (its alarm is on the stream): check again later.
                checked = loop.time()
            getter = asyncio.ensure_future(subscription.queue.get())
            await asyncio.wait(
                {getter, reader},
                timeout=TOKEN_RECHECK_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not getter.done():
                getter.cancel()
                if reader.done():
                    break
                continue
            event = getter.result()
            if event is None:  # too slow: the client reconnects with `since`
                await ws.close(code=1013, message=b"lagging; reconnect with since")
                break
            if event.seq > sent and visible(user, event):
                await ws.send_json(event.as_json())
            sent = max(sent, event.seq)
    finally:
        bus.unsubscribe(subscription)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await ws.close()
    return ws


events.acd_public = True  # type: ignore[attr-defined]  # it authenticates itself (token in query)
