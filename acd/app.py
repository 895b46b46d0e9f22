"""The composition root: settings → logging → adapters → services, in one place.

Everything long-lived is started here and stopped here in reverse order. If
any step fails, what was already started is stopped again before the error
leaves: nothing is left half-started.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.agi.ivr_route import CallbackRoute, IvrRoute
from acd.agi.server import AgiError, FastAgiServer
from acd.agi.survey_route import SurveyRoute
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiError
from acd.engine import Engine
from acd.http.app import build_http_app
from acd.http.health import Health
from acd.http.metrics import MetricsEndpoint
from acd.http.standby import standby_app
from acd.leadership import Leadership, LeadershipLost
from acd.phones import PhoneDirectoryUnavailable
from acd.prompts import PromptError, PromptLibrary
from acd.settings import ConfigError, Settings
from acd.storage.db import engine_for, migrate
from acd.systemd import Notifier
from acd.wiring import Services, build, live_sources
from ivr.speech import CatalogueError, Phrase, load_catalogue
from ivr.tree import DEFAULT_TREE, IvrTree, TreeError, load_tree

log = structlog.get_logger("acd")


class StartupError(Exception):
    """The daemon could not start; the message says what and why."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallFlow:
    """The validated IVR tree and prompt catalogue."""

    tree: IvrTree
    phrases: list[Phrase]


def load_call_flow(settings: Settings) -> CallFlow:
    """Load the IVR tree and catalogue and check the agents against the lines."""
    try:
        tree = load_tree(settings.ivr.tree or DEFAULT_TREE)
        phrases = load_catalogue(tree)
    except (TreeError, CatalogueError) as exc:
        raise ConfigError(str(exc)) from None
    problems = [
        f"agents.{i}.skills: '{line}' is not a line of the IVR tree"
        for i, agent in enumerate(settings.agents)
        for line in agent.skills
        if line not in tree.lines
    ]
    if problems:
        raise ConfigError("\n".join(problems))
    return CallFlow(tree, phrases)


class Daemon:
    """The running acd: database, engine, FastAGI, AMI and HTTP, wired together."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        notifier: Notifier | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """``leadership``: this engine leads a standby pair; every AMI action checks it."""
        self.settings = settings
        self._leadership = leadership
        self._clock = clock
        self._notifier = notifier or Notifier()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self.db: AsyncEngine | None = None
        self.services: Services | None = None
        self.engine: Engine | None = None
        self.prompts: PromptLibrary | None = None
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
        self.db = engine_for(s.database)
        self._stack.push_async_callback(self.db.dispose)
        try:
            await migrate(self.db)
        except Exception as exc:
            raise StartupError(f"database {_safe_url(s.database.url)}: {exc}") from exc
        try:
            flow = await asyncio.to_thread(load_call_flow, s)  # reads files
        except ConfigError as exc:
            raise StartupError(str(exc)) from None

        self.prompts = PromptLibrary(s.prompts.dir, s.prompts.asterisk_dir)
        if s.prompts.render:
            try:
                await self.prompts.render(flow.phrases)
            except (PromptError, OSError) as exc:
                raise StartupError(f"prompts: {exc}") from None

        try:
            fence = self._leadership.check if self._leadership is not None else None
            services = build(
                s, self.db, flow.tree, self.prompts, stored_at=self._clock, fence=fence
            )
        except ConfigError as exc:
            raise StartupError(str(exc)) from None
        self.services = services
        self._stack.push_async_callback(services.transactions.close)  # after the last write
        self._stack.callback(services.api.auth.close)
        try:
            await services.load()
        except PhoneDirectoryUnavailable as exc:
            raise StartupError(str(exc)) from None
        self.engine = services.engine

        await self.engine.start()
        self._stack.push_async_callback(self.engine.stop)

        self.fastagi = FastAgiServer(s.fastagi)
        centre = services.centre
        ivr = IvrRoute(flow.tree, self.prompts, centre, s.ivr.language, time.time)
        self.fastagi.add_route("ivr", ivr.__call__)
        callback = CallbackRoute(self.prompts, centre, s.ivr.language)
        self.fastagi.add_route("callback", callback.__call__)
        survey = SurveyRoute(self.prompts, centre, s.ivr.language, flow.tree.silence_timeout)
        self.fastagi.add_route("survey", survey.__call__)
        try:
            await self.fastagi.start()
        except AgiError as exc:
            raise StartupError(str(exc)) from None
        self._stack.push_async_callback(self.fastagi.stop)

        self.ami = services.ami
        self._stack.push_async_callback(self.ami.close)
        if self._leadership is not None:
            # After every (re)connect: an Asterisk restarted meanwhile has its configured
            # ACD_AGI back (perhaps the other engine's, dead or frozen). Again once it is
            # fully booted: loading its dialplan sets the globals over an earlier value.
            tasks = services.pipeline.tasks
            ami = services.ami

            def lead() -> None:
                tasks.spawn(self._lead_the_dialplan(), "acd-lead-dialplan")

            self.engine.on_resync(lambda _report, _live: lead())
            # (Told at login too, before the link is up: the resync that follows leads.)
            self.engine.on_booted(lambda: lead() if ami.up else None)
        try:
            await self.ami.start()
        except AmiError as exc:
            raise StartupError(str(exc)) from None
        if self._leadership is not None:
            await self._lead_the_dialplan()  # set before READY (the first resync's may lag)
        # Timers and commands start once the view of Asterisk is in sync.
        await services.pipeline.start()
        self._stack.push_async_callback(services.pipeline.stop)
        await services.aftercall.start()
        self._stack.push_async_callback(services.aftercall.stop)
        await services.recordings.start()
        self._stack.push_async_callback(services.recordings.stop)

        node = self._leadership.node if self._leadership is not None else None
        health = Health(
            self.ami, self.fastagi, self.engine, services.live.alarms, node, services.api.peers
        )
        scrape = None
        if s.metrics.enabled:
            services.metrics.add_live(live_sources(services, self.fastagi))
            self._spawn(services.metrics.watch_loop_lag(), "acd-loop-lag")
            scrape = MetricsEndpoint(services.metrics, s.metrics.token)
            if not s.metrics.token and not _loopback(s.http.host):
                log.warning(
                    "metrics_without_token",
                    http=s.http.host,
                    hint="anyone who reaches the API's address reads /metrics: set [metrics] token",
                )
        runner = web.AppRunner(build_http_app(services.api, health, scrape))
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, s.http.host, s.http.port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen for HTTP on {s.http.host}:{s.http.port}: {exc.strerror}"
            ) from None
        # The bound port, useful when port 0 was asked for.
        addresses = runner.addresses
        self.http_port = int(addresses[0][1]) if addresses else s.http.port

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

    async def _lead_the_dialplan(self) -> None:
        """New calls come here first: the dialplan's ACD_AGI is this engine's FastAGI.

        (A frozen old leader's FastAGI still accepts connections, in the kernel:
        without this, new callers would wait in it.) Not fatal if refused: the
        dialplan tries ACD_AGI_2 when the first address refuses.
        """
        s = self.settings
        address = s.standby.fastagi_address or f"agi://{s.fastagi.host}:{s.fastagi.port}"
        assert self.ami is not None
        try:
            answer = await self.ami.send_action(
                {"Action": "Setvar", "Variable": "ACD_AGI", "Value": address}
            )
        except AmiError as exc:
            log.warning("dialplan_not_led", fastagi=address, error=str(exc))
            return
        if not answer.success:
            log.warning("dialplan_not_led", fastagi=address, error=str(answer.message))
            return
        log.info("dialplan_led", fastagi=address)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
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


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe_url(url: str) -> str:
    # Never log a database password.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully.

    With ``[standby] enabled``, first wait as the standby until this engine
    leads; raise ``LeadershipLost`` (after a fenced stop) if it stops leading.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not settings.standby.enabled:
        async with Daemon(settings):
            await stop.wait()
            log.info("acd_stopping")
        return
    leadership = await _stand_by(settings, stop)
    if leadership is None:
        return
    keeper = asyncio.ensure_future(leadership.keep())  # confirmations from the first moment
    stopping = asyncio.ensure_future(stop.wait())
    try:
        async with Daemon(settings, leadership=leadership):
            await asyncio.wait({keeper, stopping}, return_when=asyncio.FIRST_COMPLETED)
            log.info("acd_stopping", leading=leadership.leading())
    finally:
        for task in (keeper, stopping):
            task.cancel()
        await leadership.close()
    if not stop.is_set():
        raise LeadershipLost(f"{leadership.node} no longer leads: stopped, to start as the standby")


async def _stand_by(settings: Settings, stop: asyncio.Event) -> Leadership | None:
    """Wait as the standby (HTTP answers 503 with the leader's address) until this engine
    leads: its ``Leadership``; None if told to stop first."""
    s = settings.standby
    node = s.node or socket.gethostname()
    address = s.address or f"http://{settings.http.host}:{settings.http.port}"
    db = engine_for(settings.database)
    try:
        await migrate(db)  # the leader's table, whoever starts first
    except Exception as exc:
        raise StartupError(f"database {_safe_url(settings.database.url)}: {exc}") from exc
    finally:
        await db.dispose()
    leadership = Leadership(settings.database.url, node, address, lease=s.lease, poll=s.poll)
    notifier = Notifier()
    async with contextlib.AsyncExitStack() as stack:
        peers = tuple(s.peers)
        runner = web.AppRunner(standby_app(node, lambda: leadership.known_leader, peers))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)  # the port is the leader's next
        try:
            await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        except OSError as exc:
            raise StartupError(
                f"cannot listen for HTTP on {settings.http.host}:{settings.http.port}: "
                f"{exc.strerror}"
            ) from None
        watchdog = asyncio.ensure_future(notifier.watchdog())
        stack.callback(watchdog.cancel)
        if settings.systemd.notify:
            notifier.notify(f"READY=1\nSTATUS=standby {node}: waiting to lead")
        log.info("standby", node=node, address=address)
        leading = asyncio.ensure_future(leadership.acquire())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({leading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not leading.done():
            leading.cancel()
            await leadership.close()
            return None
    if settings.systemd.notify:
        notifier.notify(f"STATUS={node} leads: starting")
    return leadership
