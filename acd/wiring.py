"""The composition root: every service built once, with its dependencies, in one place.

``build`` wires the call centre from settings and a migrated database and
starts nothing; the daemon (acd.app) starts and stops what it built, and the
tests build the same application through ``build``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.aftercall import AfterCall
from acd.agi.server import FastAgiServer
from acd.ami.connection import AmiConnection
from acd.ami.executor import AmiExecutor
from acd.ami.recorder import Recorder, RecordingDisk
from acd.auth import AuthService
from acd.centre.adoption import Adoption
from acd.centre.callflow import CallCentre
from acd.centre.control import CallControl
from acd.centre.facts import FactWriter
from acd.centre.pipeline import Pipeline
from acd.centre.recording import RecordingLifecycle
from acd.centre.tasks import ShortTasks
from acd.centre.tracking import CallTracking
from acd.core.agents import Agent, Role
from acd.core.calls import CallBook
from acd.core.distributor import CallDistributor
from acd.core.followups import FollowUpRules
from acd.core.peak import PeakRules
from acd.core.queueing import AcdRules
from acd.core.reports import ReportRules
from acd.engine import Engine
from acd.http.plumbing import ApiContext
from acd.live import LiveFeed
from acd.metrics import LineNow, LiveSources, Metrics
from acd.phones import PhoneBook
from acd.prompts import PromptLibrary
from acd.recordings import RecordingService
from acd.reports import ReportService
from acd.settings import AgentSettings, ConfigError, Settings
from acd.storage.agent_states import AgentStateLog
from acd.storage.events import CallEventLog
from acd.storage.facts import FactStore
from acd.storage.followups import FollowUpStore
from acd.storage.phone_directory import PhoneDirectory, PhoneProfile
from acd.storage.phones import PhoneStore
from acd.storage.recordings import RecordingStore
from acd.storage.reports import ReportSource
from acd.storage.transactions import HOT_BUSY_TIMEOUT, Transactions
from acd.storage.users import UserStore
from ivr.tree import IvrTree


def utc_now() -> datetime:
    """The time of stored events (UTC)."""
    return datetime.now(UTC)


def acd_rules(settings: Settings) -> AcdRules:
    """The ACD's timers and peak plan from the configuration (ConfigError if invalid)."""
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


def agents_from_settings(entries: Iterable[AgentSettings]) -> list[Agent]:
    """The configured agents and supervisors, with their phones, skills and teams."""
    return [
        Agent(a.job_number, a.name, a.endpoint, dict(a.skills), Role(a.role), a.team)
        for a in entries
    ]


def spill_file(settings: Settings) -> Path:
    """Where facts wait while the database is down (next to a SQLite file by default)."""
    if settings.database.spill_file is not None:
        return settings.database.spill_file
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().with_suffix(".facts-spill")
    return Path("acd-facts.spill")


def phone_book(settings: Settings, db: AsyncEngine, clock: Callable[[], float]) -> PhoneBook:
    """Agents' own phones, written where Asterisk reads them (``[phones] directory``)."""
    p = settings.phones
    directory = None
    if p.directory is not None:
        profile = PhoneProfile(p.context, p.transport, p.codecs)
        directory = PhoneDirectory(p.directory, profile, p.group)
    home = {a.job_number: a.endpoint for a in settings.agents}
    return PhoneBook(PhoneStore(db), directory, p.realm, clock, home)


@dataclass(frozen=True)
class Services:
    """The call centre, wired; nothing started yet."""

    engine: Engine
    ami: AmiConnection
    pipeline: Pipeline
    centre: CallCentre
    control: CallControl
    tracking: CallTracking
    adoption: Adoption
    live: LiveFeed
    aftercall: AfterCall
    recordings: RecordingService
    users: UserStore
    events: CallEventLog
    phones: PhoneBook
    api: ApiContext
    metrics: Metrics
    transactions: Transactions  # closed after the last write

    async def load(self) -> None:
        """What the centre remembers: admins' skills, agents' states, today's figures, disk.

        Facts an earlier run spilled while the database was down are written
        first, so that everything read here is up to date.
        """
        await self.pipeline.replay_facts()
        self.centre.add_agents((u.job_number, u.name, u.role) for u in await self.users.all())
        self.centre.apply_skills(await self.users.skills())
        await self.phones.publish()  # Asterisk reads every agent's own phone from here
        await self.adoption.restore_agents()
        await self.adoption.restore_callbacks()
        await self.live.load_today()
        await self.recordings.check_disk()  # before the first call is connected


def build(
    settings: Settings,
    db: AsyncEngine,
    tree: IvrTree,
    prompts: PromptLibrary,
    *,
    clock: Callable[[], float] = time.time,
    stored_at: Callable[[], datetime] = utc_now,
    fence: Callable[[], None] | None = None,
) -> Services:
    """Wire every service from settings, a migrated database, the IVR tree and prompts;
    ``fence`` stops every AMI action of an engine that no longer leads."""
    s = settings
    zone = ZoneInfo(s.ivr.timezone)

    def local_time() -> datetime:
        return datetime.fromtimestamp(clock(), zone)

    # The hot writes (facts, recording rows) run whole off the loop.
    transactions = Transactions(db, busy_timeout=HOT_BUSY_TIMEOUT)
    events = CallEventLog(db, stored_at)
    users = UserStore(db)
    agent_log = AgentStateLog(db)
    recording_store = RecordingStore(db, transactions)
    core = CallDistributor(acd_rules(s), agents_from_settings(s.agents))
    book = CallBook()
    tasks = ShortTasks()
    figures = ReportRules(s.acd.service_level_seconds, s.reports.short_abandon_seconds)
    live = LiveFeed(core, book, tree, events, clock, local_time, tasks.spawn, figures)
    f = s.follow_up
    aftercall = AfterCall(
        FollowUpStore(db),
        events,
        core,
        live.bus,
        FollowUpRules(
            f.low_score_max, f.low_score_within, f.normal_within, f.urgent_within, f.take_within
        ),
        clock,
        f.sweep_every,
    )
    metrics = Metrics()
    engine = Engine()
    ami = AmiConnection(
        s.ami,
        engine.on_ami_event,
        on_answered=metrics.ami_action,
        on_timeout=metrics.ami_timeout,
        fence=fence,
    )
    engine.bind(ami)
    disk = RecordingDisk()
    recording = RecordingLifecycle(recording_store, core, tasks, clock)
    recorder = Recorder(
        ami,
        engine.channels,
        book,
        recording=s.recording,
        disk=disk,
        recording_started=recording.started,
        recording_ended=recording.ended,
        local_date=lambda: local_time().date(),
    )
    executor = AmiExecutor(
        ami,
        engine.channels,
        book,
        prompts,
        {name: spec.name_prompt for name, spec in tree.lines.items()},
        s.ivr.language,
        recorder,
    )
    pipeline = Pipeline(
        core,
        book,
        executor,
        FactWriter(
            FactStore(db, transactions),
            spill_file(s),
            live.bus,
            live.alarms,
            stored_at,
            clock,
            on_written=metrics.db_write,
        ),
        live,
        tasks,
        clock,
        s.acd.tick_interval,
        observe=metrics.count,
    )
    centre = CallCentre(pipeline, tree, aftercall, local_time)
    control = CallControl(pipeline, tree, s.recording.policy_for, disk)
    tracking = CallTracking(pipeline, recording)
    adoption = Adoption(
        pipeline, tree, agent_log, events, tracking, recording, engine.channels, recording_store
    )
    engine.subscribe(tracking.on_pbx_event, adoption.on_resync, adoption.on_link_lost)
    recordings = RecordingService(
        recording_store,
        aftercall.store,
        users,
        s.recording,
        live.bus,
        live.alarms,
        clock,
        on_disk_full=disk.set_full,
        zone=zone,
        team_of=centre.team_of,
    )
    auth = AuthService(users, s.api.token_ttl, clock, team_of=centre.team_of)
    phones = phone_book(s, db, clock)
    reports = ReportService(ReportSource(db), figures, zone, clock)
    api = ApiContext(
        centre,
        control,
        live,
        auth,
        users,
        clock,
        aftercall,
        reports,
        recordings,
        phones,
        settings.phones.websocket,
        tuple(settings.standby.peers) if settings.standby.enabled else (),
    )
    return Services(
        engine,
        ami,
        pipeline,
        centre,
        control,
        tracking,
        adoption,
        live,
        aftercall,
        recordings,
        users,
        events,
        phones,
        api,
        metrics,
        transactions,
    )


def live_sources(services: Services, fastagi: FastAgiServer) -> LiveSources:
    """What ``/metrics`` reads at each scrape, from the running services."""
    live, core = services.live, services.pipeline.core

    def lines() -> dict[str, LineNow]:
        snap = live.snapshot()["lines"]
        today = live.today().lines
        return {
            line: LineNow(
                now["waiting"],
                now["longest_wait"],
                today[line].service_level_pct if line in today else None,
                today[line].average_speed_of_answer_s if line in today else None,
            )
            for line, now in snap.items()
        }

    return LiveSources(
        lines=lines,
        agent_states=lambda: [s.state for s in core.agents.values()],
        peak_level=lambda: int(core.peak.level),
        ami_up=lambda: services.ami.up,
        ami_connects=lambda: services.ami.connects,
        fastagi_active=lambda: fastagi.active_sessions,
        fastagi_served=lambda: fastagi.sessions_served,
        facts_pending=lambda: services.pipeline.facts_pending,
        facts_spilled=lambda: services.pipeline.facts_spilled,
        disk_free_bytes=lambda: services.recordings.free_bytes,
        alarms=lambda: list(live.alarms),
        tasks=lambda: len(asyncio.all_tasks()),
    )
