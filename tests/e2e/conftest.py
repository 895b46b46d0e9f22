"""End-to-end fixtures: the real Asterisk, the real daemon (a process), real callers and phones.

Tests act and observe only as people do: callers (Local channels that react to
prompts), agents' phones (pyVoIP), the HTTP API and event stream, `/healthz`,
the `acd` command, Asterisk itself (AMI as an observer, CLI) and files on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import database
from tests.e2e.ami import Ami
from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import Centre, centre_config, create_users
from tests.e2e.pbx import REPO, Pbx
from tests.e2e.phones import Phone


def artifacts_root() -> Path:
    """test-artifacts/, or test-artifacts/postgresql/ for a PostgreSQL run (both may run at
    once: tests/both.py)."""
    return REPO / "test-artifacts" / ("postgresql" if database.on_postgresql() else "")


StartCentre = Callable[..., Awaitable[Centre]]
StartPhone = Callable[..., Awaitable[Phone]]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so fixtures know if it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def pbx() -> Iterator[Pbx]:
    """This run's own Asterisk instance (own name, own ports), deleted at the end."""
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests need root: docker/pbx uses debootstrap and chroot")
    instance = Pbx()
    try:
        instance.start()
        yield instance
    finally:
        instance.destroy()


@dataclass(frozen=True)
class TestUsers:
    """The test users' database (copied per test) and their phones' secrets."""

    db: Path  # a SQLite file...
    template: str | None  # ...or, on PostgreSQL, the database each test's is a copy of
    phone_secrets: dict[str, str]

    def copy_to(self, folder: Path) -> None:
        """Give ``folder`` (a centre's) its own copy of the users, unless it has a database."""
        if self.template is not None:
            database.database_for(folder, template=self.template)
        elif not (folder / "acd.db").exists():
            shutil.copy(self.db, folder / "acd.db")


@pytest.fixture(scope="session")
def users_db(pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> TestUsers:
    """The test users, made once with `acd user` (each agent gets a phone and its secret)."""
    workdir = tmp_path_factory.mktemp("users")
    template = None
    if database.on_postgresql():  # kept for the run: every test's database copies it
        template = database.database_for(workdir, keep=True)
    config = centre_config(pbx, workdir)
    from tests.e2e.tomlfile import write_toml

    secrets = asyncio.run(create_users(write_toml(workdir / "acd.toml", config)))
    return TestUsers(workdir / "acd.db", template, secrets)


@pytest.fixture
async def asterisk(pbx: Pbx, request: pytest.FixtureRequest) -> AsyncIterator[Asterisk]:
    """Asterisk, running and with no channels; left with none for the next test."""
    if not await asyncio.to_thread(pbx.running):
        await asyncio.to_thread(pbx.start)
    log = pbx.host_path("log/full")
    log_from = log.stat().st_size if log.exists() else 0
    ami = Ami(pbx.ami_port, "tests", pbx.test_secret)
    await ami.connect()
    switch = Asterisk(pbx, ami)
    try:
        await switch.hang_up_everything()
        yield switch
    finally:
        try:
            await switch.ensure_running()
            await switch.hang_up_everything()
        finally:
            await ami.close()
            if _failed(request):
                _keep_asterisk_log(request, log, log_from)


def _artifact_dir(request: pytest.FixtureRequest) -> Path:
    """test-artifacts/<test>/, emptied of an earlier run's files the first time it is used."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.removeprefix("tests/e2e/"))
    path = artifacts_root() / name
    if not getattr(request.node, "artifacts_fresh", False):
        shutil.rmtree(path, ignore_errors=True)
        request.node.artifacts_fresh = True
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Callable[[], Path]:
    """This test's folder under test-artifacts/, for evidence a test keeps itself."""
    return lambda: _artifact_dir(request)


def _keep_asterisk_log(request: pytest.FixtureRequest, log: Path, start: int) -> None:
    if not log.exists():
        return
    with log.open("rb") as source:
        source.seek(start if start <= log.stat().st_size else 0)
        (_artifact_dir(request) / "asterisk.log").write_bytes(source.read())


@pytest.fixture
async def callers(asterisk: Asterisk, request: pytest.FixtureRequest) -> AsyncIterator[Callers]:
    dialler = Callers(asterisk)
    try:
        yield dialler
    finally:
        if _failed(request) and any(c.recording for c in dialler.placed):
            # What each caller heard, to listen to: finished files (calls ended first).
            with contextlib.suppress(Exception):
                await asterisk.ensure_running()
                await asterisk.hang_up_everything()
            for caller in dialler.placed:
                if caller.recording is not None and caller.recording.exists():
                    shutil.copy(caller.recording, _artifact_dir(request))


@pytest.fixture
async def phones(asterisk: Asterisk, users_db: TestUsers) -> AsyncIterator[StartPhone]:
    """Start agents' SIP phones, each with its own secret: ``await phones("1001")``.

    ``secret=`` registers with another one (a test's own users, or a wrong one).
    """
    started: list[Phone] = []

    async def start(
        job_number: str, *, secret: str | None = None, register_within: float = 15, **behaviour: Any
    ) -> Phone:
        own = secret or users_db.phone_secrets[job_number]
        phone = Phone(asterisk, job_number, own, **behaviour)
        started.append(phone)
        await phone.start(timeout=register_within)
        return phone

    try:
        yield start
    finally:
        async with contextlib.AsyncExitStack() as stack:  # every phone stops, whatever fails
            for phone in started:
                stack.push_async_callback(phone.stop)


@pytest.fixture
async def centre(
    pbx: Pbx,
    asterisk: Asterisk,
    users_db: TestUsers,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[StartCentre]:
    """Start `acd run` with the test configuration plus overrides: ``await centre(acd={...})``.

    Each centre has its own folder (database with the test users, config,
    log); the log of a failed test is kept under test-artifacts/.
    """
    started: list[Centre] = []

    async def start(
        *, env: dict[str, str] | None = None, workdir: Path | None = None, **overrides: Any
    ) -> Centre:
        folder = workdir or tmp_path / f"centre{len(started) + 1}"
        folder.mkdir(exist_ok=True)
        if "database" not in overrides:
            users_db.copy_to(folder)
        running = Centre(folder, centre_config(pbx, folder, **overrides), env)
        started.append(running)
        await running.start()
        return running

    try:
        yield start
    finally:
        try:
            async with contextlib.AsyncExitStack() as stack:  # every engine stops
                for running in started:
                    stack.push_async_callback(running.stop)
        finally:
            if _failed(request):
                for n, running in enumerate(started, 1):
                    if running.log_path.exists():
                        shutil.copy(running.log_path, _artifact_dir(request) / f"acd-{n}.log")


@pytest.fixture
async def customer_trunk(asterisk: Asterisk) -> AsyncIterator[None]:
    """Outbound calls (callbacks, click-to-dial) reach a simulated customer phone:
    Local/<number>@customer-probe, which answers and stays on the line."""
    await asterisk.set_global("ACD_TRUNK", "Local")
    await asterisk.set_global("ACD_TRUNK_SUFFIX", "@customer-probe")
    try:
        yield
    finally:
        if asterisk.ami.connected:
            await asterisk.set_global("ACD_TRUNK", "")
            await asterisk.set_global("ACD_TRUNK_SUFFIX", "")
