"""The composition root: settings → logging → adapters → services, in one place.

Everything long-lived is started here and stopped here in reverse order. If
any step fails, what was already started is stopped again before the error
leaves: nothing is left half-started.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.agi.ivr_route import IvrRoute
from acd.agi.server import AgiError, FastAgiServer
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiError
from acd.engine import Engine
from acd.http.app import Health, build_http_app
from acd.settings import Settings
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.systemd import Notifier

log = structlog.get_logger("acd")


class StartupError(Exception):
    """The daemon could not start; the message says what and why."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """The running acd: database, engine, FastAGI, AMI and HTTP, wired together."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._notifier = notifier or Notifier()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self.db: AsyncEngine | None = None
        self.events: CallEventLog | None = None
        self.engine = Engine()
        self.ami: AmiConnection | None = None
        self.fastagi: FastAgiServer | None = None
        self.http_port: int | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start everything, or nothing: on failure, undo and raise StartupError."""
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self) -> None:
        s = self.settings
        self.db = create_engine(s.database.url)
        self._stack.push_async_callback(self.db.dispose)
        try:
            await migrate(self.db)
        except Exception as exc:
            raise StartupError(f"database {_safe_url(s.database.url)}: {exc}") from exc
        self.events = CallEventLog(self.db, self._clock)

        await self.engine.start()
        self._stack.push_async_callback(self.engine.stop)

        self.fastagi = FastAgiServer(s.fastagi)
        self.fastagi.add_route("ivr", IvrRoute(s.ivr, self.events).__call__)
        try:
            await self.fastagi.start()
        except AgiError as exc:
            raise StartupError(str(exc)) from None
        self._stack.push_async_callback(self.fastagi.stop)

        self.ami = AmiConnection(s.ami, self.engine.on_ami_event)
        self.engine.bind(self.ami)
        self._stack.push_async_callback(self.ami.close)
        try:
            await self.ami.start()
        except AmiError as exc:
            raise StartupError(str(exc)) from None

        runner = web.AppRunner(build_http_app(Health(self.ami, self.fastagi, self.engine)))
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, s.http.host, s.http.port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen for HTTP on {s.http.host}:{s.http.port}: {exc.strerror}"
            ) from None
        server = site._server  # the bound port, useful when port 0 was asked for
        self.http_port = (
            server.sockets[0].getsockname()[1] if server and server.sockets else s.http.port
        )

        if s.systemd.notify:
            self._notifier.notify("READY=1\nSTATUS=AMI up, channels in sync")
            self._spawn(self._notifier.watchdog(), "watchdog")
        log.info(
            "acd_ready",
            http=f"http://{s.http.host}:{self.http_port}",
            fastagi=f"agi://{s.fastagi.host}:{s.fastagi.port}",
            asterisk=self.ami.asterisk_version,
            live_channels=len(self.engine.channels),
        )

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.append(task)

        async def _cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._stack.push_async_callback(_cancel)

    async def stop(self) -> None:
        """Stop in reverse order of start."""
        if self.settings.systemd.notify:
            self._notifier.notify("STOPPING=1")
        await self._stack.aclose()
        log.info("acd_stopped")


def _safe_url(url: str) -> str:
    # Never log a database password.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Daemon(settings):
        await stop.wait()
        log.info("acd_stopping")
