"""End-to-end fixtures: the real Asterisk (docker/pbx), the real daemon, real callers."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from acd.ami.connection import AmiConnection
from acd.app import Daemon
from acd.settings import AmiSettings, Settings
from ivr.tree import DEFAULT_TREE
from tests.e2e.pbx import Pbx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pbx() -> Iterator[Pbx]:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests need root: docker/pbx uses debootstrap and chroot")
    instance = Pbx()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def running_pbx(pbx: Pbx) -> Pbx:
    """The instance, started again if a test stopped or killed it."""
    if pbx.run("status", check=False).startswith("stopped"):
        pbx.start()
    return pbx


AGENTS = [
    {
        "job_number": "1001",
        "name": "Li Na",
        "endpoint": "PJSIP/1001",
        "skills": {"tour": 5, "cruise": 2},
    },
    {"job_number": "1002", "name": "Wang Fang", "endpoint": "PJSIP/1002", "skills": {"cruise": 7}},
    {
        "job_number": "1003",
        "name": "Zhang Wei",
        "endpoint": "PJSIP/1003",
        "skills": {"free_travel": 5, "tour": 2},
    },
    {"job_number": "1901", "name": "Chen Jie", "endpoint": "PJSIP/1901", "role": "supervisor"},
]


ALL_DAY_HOURS = """
[hours]
days = [1, 2, 3, 4, 5, 6, 7]
[hours.summer]
open = "00:00:00"
close = "24:00"
[hours.winter]
open = "00:00:00"
close = "24:00"
"""


def open_all_day_tree(tmp_path: Path, hours: str = ALL_DAY_HOURS) -> Path:
    """The bundled IVR tree with other working hours (by default the whole day)."""
    menus, _, _ = DEFAULT_TREE.read_text(encoding="utf-8").partition("\n# Working hours")
    path = tmp_path / "ivr.toml"
    path.write_text(menus + hours, encoding="utf-8")
    return path


def zone_at_midday() -> str:
    """A fixed-offset time zone where it is now about noon: a test that reads
    "today's" report cannot straddle the centre's midnight, whenever CI runs."""
    east = 12 - datetime.now(UTC).hour  # hours east of UTC, -11..12
    return "Etc/GMT" if east == 0 else f"Etc/GMT{-east:+d}"  # POSIX sign: GMT-8 is UTC+8


def make_settings(
    pbx: Pbx,
    tmp_path: Path,
    *,
    ami_port: int | None = None,
    tree: Path | None = None,
    acd: dict[str, object] | None = None,
    recording: dict[str, object] | None = None,
    ivr: dict[str, object] | None = None,
    **ami: object,
) -> Settings:
    return Settings.model_validate(
        {
            "ami": {
                "port": ami_port or pbx.ami_port,
                "secret": pbx.secret,
                "ping_interval": 1,
                "ping_timeout": 1,
                "reconnect_min": 0.2,
                "reconnect_max": 1,
                "startup_timeout": 5,
                **ami,
            },
            "fastagi": {"port": pbx.agi_port},
            "http": {"port": free_port()},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/acd.db"},
            "ivr": {"tree": str(tree or open_all_day_tree(tmp_path)), "language": "en"}
            | (ivr or {}),
            "prompts": {
                "dir": str(pbx.host_path("sounds/acd")),
                "asterisk_dir": pbx.chroot_path("sounds/acd"),
            },
            "acd": {"ring_timeout": 8, "wrap_up": 2, "announce_every": 0, "tick_interval": 0.2}
            | (acd or {}),
            "agents": AGENTS,
            "recording": {
                "dir": str(pbx.host_path("spool/recordings")),
                "asterisk_dir": pbx.chroot_path("spool/recordings"),
            }
            | (recording or {}),
            "systemd": {"notify": False},
        }
    )


@pytest.fixture
async def daemon(running_pbx: Pbx, tmp_path: Path) -> AsyncIterator[Daemon]:
    async with Daemon(make_settings(running_pbx, tmp_path)) as d:
        yield d


class Callers:
    """Simulated callers: Local channels originated into the hotline, sending DTMF."""

    def __init__(self, pbx: Pbx, ami: AmiConnection) -> None:
        self.pbx = pbx
        self.ami = ami

    async def call(
        self,
        *,
        digits: str = "",
        delay: float = 1,
        hold: float = 5,
        record: bool = False,
        number: str = "13800138000",
        name: str = "Test Caller",
        language: str = "",
    ) -> tuple[str, Path | None]:
        """Dial the hotline; return (call_id, host path of what the caller heard)."""
        tag = uuid.uuid4().hex[:12]
        # The hotline leg's uniqueid is the call id. Asterisk matches uniqueids
        # by prefix, so neither id may be a prefix of the other.
        call_id = f"probe-{tag}"
        recording = self.pbx.chroot_path(f"spool/monitor/{call_id}.wav") if record else ""
        variables = [
            f"PROBE_DIGITS={digits}",
            f"PROBE_DELAY={delay}",
            f"PROBE_HOLD={hold}",
            f"PROBE_RECORD={recording}",
        ]
        if language:
            variables.append(f"__HOTLINE_LANGUAGE={language}")  # inherited by the hotline leg
        await self.ami.originate(
            {
                "Channel": "Local/s@hotline",
                "Context": "hotline-probe",
                "Exten": "s",
                "Priority": "1",
                "ChannelId": f"caller-{tag}",
                "OtherChannelId": call_id,
                "CallerID": f'"{name}" <{number}>',
                "Variable": variables,
                "Async": "true",
            }
        )
        path = self.pbx.host_path(f"spool/monitor/{call_id}.wav") if record else None
        return call_id, path


@pytest.fixture
async def callers(running_pbx: Pbx) -> AsyncIterator[Callers]:
    ami = AmiConnection(
        AmiSettings(port=running_pbx.ami_port, secret=running_pbx.secret), on_event=lambda m: None
    )
    await ami.start()
    try:
        yield Callers(running_pbx, ami)
    finally:
        await ami.close()
        # Callers still on the line would be found by the next test's engine.
        await asyncio.to_thread(running_pbx.cli, "channel request hangup all")


async def stored_event(daemon, call_id: str, kind: str):
    """The first stored event of that kind for the call, or None."""
    events = await daemon.events.for_call(call_id)
    return next((e for e in events if e.kind == kind), None)


async def next_event(ws, kind: str) -> dict:
    """The next event of that kind on an API event stream (others are skipped)."""
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 30)
        if event["kind"] == kind:
            return event


async def eventually(predicate, timeout: float = 10.0, interval: float = 0.1):
    """Poll an (async or sync) predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
async def phones(running_pbx: Pbx):
    """Start agents' SIP phones: ``await phones("1001", answer_after=0.5)``."""
    from tests.e2e.phones import Phone

    started: list[Phone] = []

    async def start(job_number: str, **behaviour: float | None) -> Phone:
        phone = Phone(running_pbx, job_number, 25100 + len(started) * 2 + 1, **behaviour)
        await asyncio.to_thread(phone.start)
        started.append(phone)
        return phone

    yield start
    for phone in started:
        await asyncio.to_thread(phone.stop)


async def add_users(settings: Settings, roles: dict[str, str]) -> None:
    """Create API users in the daemon's database before it starts (password secret-<job>)."""
    from acd.auth import hash_password
    from acd.storage.db import create_engine, migrate
    from acd.storage.users import UserStore

    db = create_engine(settings.database.url)
    try:
        await migrate(db)
        for job, role in roles.items():
            await UserStore(db).put(
                job.removeprefix("u"),
                f"user {job}",
                role,
                hash_password(f"secret-{job.removeprefix('u')}"),
            )
    finally:
        await db.dispose()


async def api_login(http, base: str, job: str) -> dict[str, str]:
    """Log in through the API; the Authorization header for the token."""
    resp = await http.post(
        f"{base}/auth/login", json={"job_number": job, "password": f"secret-{job}"}
    )
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


@pytest.fixture
async def customer_trunk(callers: Callers) -> AsyncIterator[None]:
    """Outbound calls reach the simulated customer phone (context customer-probe)."""

    async def set_global(name: str, value: str) -> None:
        await callers.ami.send_action({"Action": "Setvar", "Variable": name, "Value": value})

    await set_global("ACD_TRUNK", "Local")
    await set_global("ACD_TRUNK_SUFFIX", "@customer-probe")
    yield
    await set_global("ACD_TRUNK", "")
    await set_global("ACD_TRUNK_SUFFIX", "")
