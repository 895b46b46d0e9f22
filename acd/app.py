"""The composition root: settings → logging → adapters → services, in one place.

Everything long-lived is started here and stopped here in reverse order. If
any step fails, what was already started is stopped again before the error
leaves: nothing is left half-started.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.aftercall import AfterCall
from acd.agi.ivr_route import CallbackRoute, IvrRoute
from acd.agi.server import AgiError, FastAgiServer
from acd.agi.survey_route import SurveyRoute
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiError
from acd.ami.executor import AmiExecutor
from acd.auth import AuthService
from acd.callcentre import CallCentre, agents_from_settings
from acd.core.distributor import AcdRules, CallDistributor
from acd.core.followups import FollowUpRules
from acd.core.peak import PeakRules
from acd.core.reports import ReportRules
from acd.engine import Engine
from acd.http.api import ApiContext
from acd.http.app import Health, build_http_app
from acd.prompts import PromptError, PromptLibrary
from acd.recordings import RecordingService
from acd.reports import ReportService
from acd.settings import ConfigError, Settings
from acd.storage.agent_states import AgentStateLog
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.followups import FollowUpStore
from acd.storage.recordings import RecordingStore
from acd.storage.reports import ReportSource
from acd.storage.users import UserStore
from acd.systemd import Notifier
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


def acd_rules(settings: Settings) -> AcdRules:
    a = settings.acd
    try:
        peak = PeakRules(**a.peak.model_dump())
    except ValueError as exc:
        raise ConfigError(f"acd.peak: {exc}") from None
    return AcdRules(
        ring_timeout=a.ring_timeout,
        wrap_up=a.wrap_up,
        max_wrap_up=a.max_wrap_up,
        announce_every=a.announce_every or None,
        peak=peak,
    )


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
        self.centre: CallCentre | None = None
        self.aftercall: AfterCall | None = None
        self.recordings: RecordingService | None = None
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
        self.db = create_engine(s.database.url)
        self._stack.push_async_callback(self.db.dispose)
        try:
            await migrate(self.db)
        except Exception as exc:
            raise StartupError(f"database {_safe_url(s.database.url)}: {exc}") from exc
        self.events = CallEventLog(self.db, self._clock)
        try:
            flow = await asyncio.to_thread(load_call_flow, s)  # reads files
            rules = acd_rules(s)
        except ConfigError as exc:
            raise StartupError(str(exc)) from None

        self.prompts = PromptLibrary(s.prompts.dir, s.prompts.asterisk_dir)
        if s.prompts.render:
            try:
                await self.prompts.render(flow.phrases)
            except (PromptError, OSError) as exc:
                raise StartupError(f"prompts: {exc}") from None

        zone = ZoneInfo(s.ivr.timezone)
        self.centre = CallCentre(
            CallDistributor(rules, agents_from_settings(s.agents)),
            flow.tree,
            self.events,
            AgentStateLog(self.db),
            clock=time.time,
            local_time=lambda: datetime.now(zone),
            tick_interval=s.acd.tick_interval,
        )
        self.centre.live.service_level_seconds = s.acd.service_level_seconds
        self.centre.apply_skills(await UserStore(self.db).skills())
        await self.centre.restore_agents()
        await self.centre.live.load_today()
        self.engine.subscribe(self.centre)

        await self.engine.start()
        self._stack.push_async_callback(self.engine.stop)

        self.fastagi = FastAgiServer(s.fastagi)
        ivr = IvrRoute(flow.tree, self.prompts, self.centre, self.events, s.ivr.language, time.time)
        self.fastagi.add_route("ivr", ivr.__call__)
        callback = CallbackRoute(self.prompts, self.centre, s.ivr.language)
        self.fastagi.add_route("callback", callback.__call__)
        survey = SurveyRoute(self.prompts, self.centre, s.ivr.language, flow.tree.silence_timeout)
        self.fastagi.add_route("survey", survey.__call__)
        try:
            await self.fastagi.start()
        except AgiError as exc:
            raise StartupError(str(exc)) from None
        self._stack.push_async_callback(self.fastagi.stop)

        self.ami = AmiConnection(s.ami, self.engine.on_ami_event)
        self.engine.bind(self.ami)
        line_prompts = {name: spec.name_prompt for name, spec in flow.tree.lines.items()}
        self.centre.recordings = RecordingStore(self.db)
        f = s.follow_up
        self.aftercall = AfterCall(
            FollowUpStore(self.db),
            self.events,
            self.centre.core,
            self.centre.bus,
            FollowUpRules(
                f.low_score_max, f.low_score_within, f.normal_within, f.urgent_within, f.take_within
            ),
            time.time,
            f.sweep_every,
        )
        self.centre.aftercall = self.aftercall
        executor = AmiExecutor(
            self.ami,
            self.engine.channels,
            self.centre.book,
            self.prompts,
            line_prompts,
            s.ivr.language,
            s.recording,
        )
        executor.recording_started = self.centre.recording_started
        self.centre.recording_policy = s.recording.policy_for
        self.recordings = RecordingService(
            self.centre.recordings,
            self.aftercall.store,
            UserStore(self.db),
            s.recording,
            self.centre.bus,
            self.centre.live.alarms,
            time.time,
            on_disk_full=lambda full: setattr(executor, "disk_full", full),
            zone=zone,
        )
        await self.recordings.check_disk()  # before the first call is connected
        self.centre.bind(self.ami, executor)
        self._stack.push_async_callback(self.ami.close)
        try:
            await self.ami.start()
        except AmiError as exc:
            raise StartupError(str(exc)) from None
        # Timers and commands start once the view of Asterisk is in sync.
        await self.centre.start()
        self._stack.push_async_callback(self.centre.stop)
        await self.aftercall.start()
        self._stack.push_async_callback(self.aftercall.stop)
        await self.recordings.start()
        self._stack.push_async_callback(self.recordings.stop)

        users = UserStore(self.db)
        agents = self.centre.core.agents
        auth = AuthService(
            users,
            s.api.token_ttl,
            time.time,
            team_of=lambda job: agents[job].agent.team if job in agents else "",
        )
        reports = ReportService(
            ReportSource(self.db),
            ReportRules(s.acd.service_level_seconds, s.reports.short_abandon_seconds),
            zone,
            time.time,
        )
        api = ApiContext(
            self.centre, auth, users, time.time, self.aftercall, reports, self.recordings
        )
        runner = web.AppRunner(
            build_http_app(
                Health(self.ami, self.fastagi, self.engine, self.centre.live.alarms), api
            )
        )
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
