"""One supervised AMI connection on top of panoramisk's protocol.

What panoramisk's ``Manager`` gets wrong for a call centre, and what this
class does instead:

* the connection counts as up only after Asterisk confirmed the login
  (MD5 challenge: the secret itself never crosses the wire);
* our own ``Ping`` with a timeout finds a frozen or half-open Asterisk;
* reconnects back off, and after each one ``on_connected`` runs (the engine's
  resync) before the link is reported up;
* an action that was not answered when the link dropped fails with
  ``AmiDisconnected``: nothing is replayed, so an ``Originate`` never runs twice;
* every action has a timeout;
* events are handed to ``on_event`` straight from the read path; the engine
  only queues them there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from panoramisk.actions import Action
from panoramisk.message import Message

from acd.ami.errors import (
    AmiActionFailed,
    AmiAuthError,
    AmiDisconnected,
    AmiNotConnected,
    AmiTimeout,
    AmiUnreachable,
)
from acd.ami.protocol import Utf8AmiProtocol
from acd.settings import AmiSettings

log = structlog.get_logger("acd.ami")

EventSink = Callable[[Message], None]
OnConnected = Callable[[], Awaitable[None]]
OnLost = Callable[[str], None]


class AmiConnection:
    """A logged-in AMI link that reconnects by itself and never replays actions."""

    def __init__(
        self,
        settings: AmiSettings,
        on_event: EventSink,
        *,
        on_answered: Callable[[str, float], None] | None = None,
        on_timeout: Callable[[str], None] | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        """``fence`` is asked before every action goes out and raises to stop it (an
        engine that no longer leads: acd.leadership); the link is then dropped."""
        self._settings = settings
        self._fence = fence
        self._on_event = on_event
        self._on_answered = on_answered  # (action, seconds) for each answered action
        self._on_timeout = on_timeout  # (action) for each action left unanswered
        self._on_connected: OnConnected | None = None
        self._on_lost: OnLost | None = None
        self._protocol: Utf8AmiProtocol | None = None
        # The link actions may use: set once Asterisk accepted our login, so that
        # nothing of ours is sent on a link that is not logged in yet.
        self._logged_in: Utf8AmiProtocol | None = None
        self._up = False
        self._lost = asyncio.Event()
        self._inflight: dict[str, Action] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._closing = False
        self.connects = 0
        self.up_since: float | None = None
        self.last_error: str | None = None
        self.asterisk_version: str | None = None
        # panoramisk's protocol calls these attributes of its "factory".
        self.forgetable_actions: tuple[str, ...] = ()
        self.awaiting_actions: list[Action] = []

    # -- public API ---------------------------------------------------------

    @property
    def up(self) -> bool:
        return self._up

    @property
    def logged_in(self) -> bool:
        """Whether actions can be sent now (logged in; the resync may still be running)."""
        return self._logged_in is not None and not self._logged_in.closed

    def on_connected(self, callback: OnConnected) -> None:
        """Run ``callback`` after every successful login, before going up."""
        self._on_connected = callback

    def on_lost(self, callback: OnLost) -> None:
        """Call ``callback(reason)`` from the read path whenever a logged-in link drops."""
        self._on_lost = callback

    async def start(self) -> None:
        """Connect and log in, retrying refused connections until the startup deadline.

        A wrong secret fails at once with ``AmiAuthError``; an Asterisk that
        cannot be reached by the deadline fails with ``AmiUnreachable``.
        """
        deadline = time.monotonic() + self._settings.startup_timeout
        delay = self._settings.reconnect_min
        while True:
            try:
                await self._connect_once()
                break
            except (AmiUnreachable, AmiDisconnected) as exc:  # a cut mid-resync: again
                if time.monotonic() + delay > deadline:
                    raise AmiUnreachable(
                        f"cannot reach Asterisk AMI at {self._target}: {exc} "
                        f"(gave up after {self._settings.startup_timeout:g} s)"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.reconnect_max)
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")

    async def close(self) -> None:
        """Log off and stop reconnecting."""
        self._closing = True
        for task in (self._supervisor, self._pinger):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._protocol is not None and self._up:
            with contextlib.suppress(Exception):
                await self.send_action({"Action": "Logoff"}, timeout=1)
        self._drop("engine shutting down")

    async def send_action(
        self,
        fields: dict[str, Any],
        *,
        timeout: float | None = None,
        as_list: bool | None = None,
        in_stream: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send one action and wait for its answer, at most ``timeout`` seconds."""
        protocol = self._logged_in
        if protocol is None or protocol.closed:
            raise AmiNotConnected(f"AMI is not connected; {fields.get('Action')} not sent")
        return await self._send(
            protocol, fields, timeout=timeout, as_list=as_list, in_stream=in_stream
        )

    async def originate(self, fields: dict[str, Any], *, timeout: float | None = None) -> Message:
        """Originate exactly once: a lost or slow answer is an error, never a resend.

        With ``Async: true`` this returns when Asterisk queued the call; its
        outcome arrives later as events.
        """
        response = await self.send_action(
            {"Action": "Originate", **fields}, timeout=timeout, as_list=False
        )
        if not response.success:
            raise AmiActionFailed(f"Originate refused: {response.message or response}")
        return response

    # -- panoramisk protocol callbacks ---------------------------------------

    def dispatch(self, message: Message) -> None:
        """Called by the protocol for every event: hand it on, nothing slow."""
        self._on_event(message)

    def connection_lost(self, exc: object) -> None:
        """Called by the protocol when the socket closes or Asterisk shuts down."""
        reason = "Asterisk shut down" if isinstance(exc, Message) else f"connection lost ({exc})"
        self._drop(reason)

    # -- internals -----------------------------------------------------------

    @property
    def _target(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    async def _send(
        self,
        protocol: Utf8AmiProtocol,
        fields: dict[str, Any],
        *,
        timeout: float | None,
        as_list: bool | None = None,
        in_stream: Callable[[Any], None] | None = None,
    ) -> Any:
        if self._fence is not None:
            try:
                self._fence()
            except Exception as exc:
                self._drop(f"fenced: {exc}")
                raise AmiNotConnected(f"{fields.get('Action')} not sent: {exc}") from None
        action = Action(dict(fields), as_list=as_list)
        action.in_stream = in_stream
        self._inflight[action.id] = action
        future = protocol.send(action, as_list=as_list)
        limit = self._settings.action_timeout if timeout is None else timeout
        sent = time.perf_counter()
        try:
            answer = await asyncio.wait_for(asyncio.shield(future), limit)
            if self._on_answered is not None:
                self._on_answered(str(fields.get("Action")), time.perf_counter() - sent)
            return answer
        except TimeoutError:
            protocol.responses.pop(action.id, None)
            if self._on_timeout is not None:
                self._on_timeout(str(fields.get("Action")))
            raise AmiTimeout(
                f"Asterisk did not answer {fields.get('Action')} within {limit:g} s"
            ) from None
        finally:
            self._inflight.pop(action.id, None)

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self._settings
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(Utf8AmiProtocol, settings.host, settings.port),
                settings.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise AmiUnreachable(str(exc) or type(exc).__name__) from None
        protocol.factory = self
        protocol.encoding = "utf-8"
        protocol.log = structlog.get_logger("acd.ami.protocol")
        self._protocol = protocol
        self._lost.clear()
        try:
            await self._login(protocol)
            self._logged_in = protocol
            settings = await self._send(
                protocol, {"Action": "CoreSettings"}, timeout=self._settings.connect_timeout
            )
            self.asterisk_version = settings.get("AsteriskVersion") or None
            self._pinger = asyncio.create_task(self._ping_loop(protocol), name="ami-ping")
            if self._on_connected is not None:
                await self._on_connected()
            if self._protocol is not protocol or protocol.closed:
                # The link dropped while the resync was applied: it is not up (going
                # up without a link would leave the supervisor nothing to wait for).
                raise AmiDisconnected(f"the link to {self._target} dropped during the resync")
        except BaseException:
            self._drop("login or resync failed")
            raise
        self.connects += 1
        self._up = True
        self.up_since = time.time()
        self.last_error = None
        log.info(
            "ami_up", target=self._target, asterisk=self.asterisk_version, connects=self.connects
        )

    async def _login(self, protocol: Utf8AmiProtocol) -> None:
        timeout = self._settings.connect_timeout
        try:
            challenge = await self._send(
                protocol, {"Action": "Challenge", "AuthType": "MD5"}, timeout=timeout
            )
            if not challenge.success or not challenge.challenge:
                raise AmiUnreachable(f"AMI refused the MD5 challenge: {challenge.message}")
            secret = self._settings.secret.get_secret_value()
            key = hashlib.md5((challenge.challenge + secret).encode()).hexdigest()  # AMI's protocol
            response = await self._send(
                protocol,
                {
                    "Action": "Login",
                    "AuthType": "MD5",
                    "Username": self._settings.username,
                    "Key": key,
                    "Events": "on",
                },
                timeout=timeout,
            )
        except (AmiTimeout, AmiDisconnected) as exc:
            raise AmiUnreachable(f"no login answer from {self._target}: {exc}") from None
        if not response.success:
            raise AmiAuthError(
                f"Asterisk refused AMI login for user '{self._settings.username}' at "
                f"{self._target}: {response.message or 'authentication failed'} "
                "(check ami.username and ami.secret against manager.conf)"
            )

    async def _ping_loop(self, protocol: Utf8AmiProtocol) -> None:
        """Our own keep-alive: a frozen or half-open Asterisk is dropped, then redialled."""
        settings = self._settings
        while not protocol.closed:
            await asyncio.sleep(settings.ping_interval)
            try:
                await self._send(protocol, {"Action": "Ping"}, timeout=settings.ping_timeout)
            except AmiTimeout:
                log.warning("ami_ping_timeout", target=self._target, timeout=settings.ping_timeout)
                protocol.transport.abort()
                self._drop(f"no answer to Ping within {settings.ping_timeout:g} s")
                return
            except (AmiDisconnected, AmiNotConnected):
                return

    def _drop(self, reason: str) -> None:
        """Forget the current link; fail every unanswered action (no replay)."""
        protocol, self._protocol = self._protocol, None
        logged_in, self._logged_in = self._logged_in, None
        if protocol is not None and not protocol.closed:
            protocol.close()
        self.awaiting_actions.clear()
        for action in list(self._inflight.values()):
            if not action.future.done():
                action.future.set_exception(
                    AmiDisconnected(f"{action['action']} not answered before {reason}; not resent")
                )
                action.future.exception()  # mark retrieved: the waiter may be gone
        self._inflight.clear()
        if self._pinger is not None and self._pinger is not asyncio.current_task():
            self._pinger.cancel()
        self._pinger = None
        was_up, self._up = self._up, False
        self.up_since = None
        self.last_error = reason
        if was_up and not self._closing:
            log.warning("ami_down", target=self._target, reason=reason)
        if logged_in is not None and self._on_lost is not None and not self._closing:
            self._on_lost(reason)  # actions may have gone out on it: the engine must know
        self._lost.set()

    async def _supervise(self) -> None:
        """Reconnect with backoff whenever the link drops."""
        settings = self._settings
        while True:
            await self._lost.wait()
            self._lost.clear()  # a drop seen from here on sets it again: never a busy loop
            delay = settings.reconnect_min
            while not self._up:
                await asyncio.sleep(delay)
                try:
                    await self._connect_once()
                except AmiAuthError as exc:
                    log.error("ami_login_refused", error=str(exc))
                except Exception as exc:  # any failure means: try again later
                    log.info(
                        "ami_reconnect_failed", target=self._target, error=str(exc), retry_in=delay
                    )
                delay = min(delay * 2, settings.reconnect_max)
