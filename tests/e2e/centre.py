"""The engine as ops run it: `acd run --config FILE`, a separate process.

A test starts the daemon from a TOML file, waits for systemd's READY=1 (sent
once AMI is logged in and the channels are in sync), then works only through
what people have: the HTTP API and its event stream, `/healthz`, the exit
code and the log. Nothing in here reaches into the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests import database
from tests.e2e.pbx import REPO, Pbx, free_tcp_port
from tests.e2e.tomlfile import write_toml

ACD = str(Path(sys.executable).parent / "acd")
DEFAULT_TREE = REPO / "ivr" / "default_tree.toml"

AGENTS: list[dict[str, Any]] = [
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
# API users of every test centre: password "secret-<job>" (see users_template).
USERS = {"1001": "agent", "1002": "agent", "1003": "agent", "1901": "supervisor", "9000": "admin"}
SUPERVISOR, ADMIN = "1901", "9000"

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


def password(job: str) -> str:
    return f"secret-{job}"


def tree_with(path: Path, hours: str = ALL_DAY_HOURS, extra: str = "") -> Path:
    """The bundled IVR tree with other working hours (default: all day) and extra tables."""
    menus, _, _ = DEFAULT_TREE.read_text(encoding="utf-8").partition("\n# Working hours")
    path.write_text(menus + hours + extra, encoding="utf-8")
    return path


def hours(
    open_: str, close: str, lunch: tuple[str, str] | None = None, days: list[int] | None = None
) -> str:
    """[hours] of an IVR tree: the same day all year (summer and winter alike)."""
    day = f'open = "{open_}"\nclose = "{close}"\n'
    if lunch is not None:
        day += f'lunch_start = "{lunch[0]}"\nlunch_end = "{lunch[1]}"\n'
    every_day = days if days is not None else [1, 2, 3, 4, 5, 6, 7]
    return f"\n[hours]\ndays = {every_day}\n[hours.summer]\n{day}[hours.winter]\n{day}"


# Lunch from 11:00 to 14:00 where it is about noon now (zone_at_midday()): no agent is offered.
LUNCH_NOW = hours("08:00:00", "20:00:00", lunch=("11:00:00", "14:00:00"))


def zone_at_midday() -> str:
    """A fixed-offset time zone where it is now about noon: a test that reads
    "today's" figures cannot straddle the centre's midnight, whenever CI runs."""
    east = 12 - datetime.now(UTC).hour  # hours east of UTC, -11..12
    return "Etc/GMT" if east == 0 else f"Etc/GMT{-east:+d}"  # POSIX sign: GMT-8 is UTC+8


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "skills":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def centre_config(pbx: Pbx, workdir: Path, **overrides: Any) -> dict[str, Any]:
    """A test centre's configuration; ``overrides`` are merged section by section."""
    base: dict[str, Any] = {
        "ami": {
            "port": pbx.ami_port,
            "secret": pbx.secret,
            "ping_interval": 1,
            "ping_timeout": 1,
            "reconnect_min": 0.2,
            "reconnect_max": 1,
            "startup_timeout": 10,
        },
        "fastagi": {"port": pbx.agi_port},
        "http": {"port": free_tcp_port()},
        "database": {"url": database.url_for(workdir)},
        "log": {"format": "json", "level": "info"},
        "ivr": {"language": "en"},
        "prompts": {
            "dir": str(pbx.host_path("sounds/acd")),
            "asterisk_dir": pbx.chroot_path("sounds/acd"),
        },
        "acd": {"ring_timeout": 8, "wrap_up": 2, "announce_every": 0, "tick_interval": 0.2},
        "phones": {"directory": str(pbx.phones_file), "websocket": pbx.websocket},
        "agents": AGENTS,
        "recording": {
            "dir": str(pbx.host_path("spool/recordings")),
            "asterisk_dir": pbx.chroot_path("spool/recordings"),
        },
    }
    if "tree" not in overrides.get("ivr", {}):  # the bundled menus, open all day
        base["ivr"]["tree"] = str(tree_with(workdir / "ivr.toml"))
    return _merge(base, overrides)


def clean_environ() -> dict[str, str]:
    """This process's environment without ACD_* settings: only the test's file configures acd."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}


class CentreFailed(AssertionError):
    """The daemon exited or did not become ready; the message has its log's tail."""


class Centre:
    """One `acd run` process and its configuration file."""

    def __init__(self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None):
        self.workdir = workdir
        self.config = config
        self.config_path = write_toml(workdir / "acd.toml", config)
        self.log_path = workdir / "acd.log"
        self.http_port = int(config["http"]["port"])
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.api_base = f"{self.base}/api/v1"
        self.extra_env = env or {}
        self.process: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None
        self._sessions: list[aiohttp.ClientSession] = []

    # -- the process ------------------------------------------------------------

    async def start(self, timeout: float = 60) -> None:
        """Start `acd run` and wait for READY=1 on the notify socket, as systemd does."""
        notify = self.workdir / f"notify-{time.monotonic_ns()}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify))
        sock.setblocking(False)
        env = {
            **clean_environ(),
            **self.extra_env,
            "NOTIFY_SOCKET": str(notify),
            "PYTHONUNBUFFERED": "1",
        }
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                ACD,
                "run",
                "--config",
                str(self.config_path),
                env=env,
                stdout=log,
                stderr=log,
                cwd=self.workdir,  # as systemd's WorkingDirectory (its spill file lands there)
            )
            self.returncode = None
            ready = asyncio.ensure_future(asyncio.get_running_loop().sock_recv(sock, 4096))
            exited = asyncio.ensure_future(self.process.wait())
            done, _ = await asyncio.wait(
                {ready, exited}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
            if ready in done and ready.result().startswith(b"READY=1"):
                exited.cancel()
                return
            ready.cancel()
            if exited in done:
                self.returncode = exited.result()
                raise CentreFailed(f"acd exited with {self.returncode}:\n{self.log_tail()}")
            exited.cancel()
            await self.kill()
            raise CentreFailed(f"acd was not ready within {timeout} s:\n{self.log_tail()}")
        finally:
            log.close()
            sock.close()
            notify.unlink(missing_ok=True)

    async def stop(self, timeout: float = 20) -> int:
        """SIGTERM, as systemd stops it; the exit code."""
        await self.close_sessions()
        if self.process is None:
            return 0
        if self.process.returncode is not None:  # it had exited (or was killed) already
            self.returncode = self.process.returncode
            return self.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            self.returncode = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise CentreFailed(f"acd did not stop within {timeout} s of SIGTERM") from None
        return self.returncode

    async def facts_stored(self, timeout: float = 10) -> None:
        """Until no fact waits in the engine's memory (``acd_facts_pending`` 0 on /metrics:
        stored, or in the spill file on disk). A kill -9 loses what it had in memory: a test
        that means to kill the engine *after* something (a caller queued, an agent's
        state) waits for this."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                async with session.get(f"{self.base}/metrics") as resp:
                    text = await resp.text()
                if re.search(r"^acd_facts_pending 0(\.0)?$", text, re.MULTILINE):
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"facts still pending after {timeout} s")
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """kill -9: the engine dies at once, mid-whatever."""
        await self.close_sessions()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            self.returncode = await self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def log_events(self) -> list[dict[str, Any]]:
        """The engine's JSON log lines so far."""
        found = []
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        found.append(json.loads(line))
        return found

    # -- HTTP -------------------------------------------------------------------

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        session = await self._session()
        async with session.get(f"{self.base}/healthz", timeout=aiohttp.ClientTimeout(5)) as r:
            return r.status, await r.json()

    async def agent_logged_in(self, job: str, *, ready: bool = True) -> Api:
        """The agent logs in through the API (and says they are ready); their API client."""
        api = await self.login(job)
        await api.post(f"/agents/{job}/login")
        if ready:
            await api.post(f"/agents/{job}/ready")
        return api

    async def login(self, job: str, secret: str | None = None) -> Api:
        """An API client logged in as that user (password ``secret-<job>``)."""
        session = await self._session()
        async with session.post(
            f"{self.api_base}/auth/login",
            json={"job_number": job, "password": secret or password(job)},
        ) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        return Api(self, session, body["token"], job)

    async def _session(self) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._sessions.append(session)
        return session

    async def close_sessions(self) -> None:
        for session in self._sessions:
            await session.close()
        self._sessions.clear()


class Api:
    """One user's view of the API: requests with their token, and their event stream."""

    def __init__(self, centre: Centre, session: aiohttp.ClientSession, token: str, job: str):
        self.centre = centre
        self.session = session
        self.token = token
        self.job = job
        self.headers = {"Authorization": f"Bearer {token}"}

    async def request(
        self, method: str, path: str, body: Any = None, *, expect: int | None = 200, **kw: Any
    ) -> Any:
        """``method path`` under /api/v1; the JSON answer (the status is checked)."""
        url = path if path.startswith("http") else f"{self.centre.api_base}{path}"
        async with self.session.request(
            method, url, json=body, headers={**self.headers, **kw.pop("headers", {})}, **kw
        ) as resp:
            text = await resp.text()
            data = json.loads(text) if text and resp.content_type == "application/json" else text
            if expect is not None:
                assert resp.status == expect, f"{method} {path}: {resp.status} {text}"
            return data

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return await self.request("POST", path, body, **kw)

    async def agent(self, job: str | None = None) -> dict[str, Any]:
        """GET /agents/{job}: state, reason and the current call's screen pop."""
        return dict(await self.get(f"/agents/{job or self.job}"))

    async def wait_agent(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        job: str | None = None,
        timeout: float = 15,
    ) -> dict[str, Any]:
        """Poll GET /agents/{job} until ``predicate`` holds; that view."""
        deadline = time.monotonic() + timeout
        while True:
            view = await self.agent(job)
            if predicate(view):
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"agent {job or self.job} is still {view} after {timeout} s")
            await asyncio.sleep(0.1)

    async def snapshot_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        """Poll GET /supervisor/snapshot until ``predicate`` holds; that snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snap = dict(await self.get("/supervisor/snapshot"))
            if predicate(snap):
                return snap
            if time.monotonic() > deadline:
                shown = {k: snap.get(k) for k in ("lines", "today")}
                raise AssertionError(f"the supervisor still sees {shown} after {timeout} s")
            await asyncio.sleep(0.2)

    async def finished_recording(self, call_id: str, timeout: float = 20) -> dict[str, Any]:
        """GET /recordings/{call_id} once the engine has measured the finished file (size set)."""
        deadline = time.monotonic() + timeout
        while True:
            row = await self.request("GET", f"/recordings/{call_id}", expect=None)
            if isinstance(row, dict) and row.get("size") is not None:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"recording of {call_id} not finished in {timeout} s: {row}")
            await asyncio.sleep(0.2)

    async def events(self, since: int | None = None) -> EventStream:
        """The live event stream (WebSocket), read in the background."""
        url = f"{self.centre.api_base}/events" + (f"?since={since}" if since is not None else "")
        ws = await self.session.ws_connect(url, headers=self.headers)
        stream = EventStream(ws)
        await stream.start()
        return stream


class EventStream:
    """Everything an API user's event stream delivered, kept in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name="test-event-stream")
        await self.next("snapshot", timeout=10)

    async def close(self) -> None:
        await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(message.data))
                self._changed.set()

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Events of that kind so far whose data has those values."""
        return [
            e
            for e in self.events
            if e["kind"] == kind and all(e.get("data", {}).get(k) == v for k, v in match.items())
        ]

    async def next(
        self, kind: str, timeout: float = 30, after: int = 0, **match: Any
    ) -> dict[str, Any]:
        """The first event of that kind (from index ``after`` on) whose data matches."""
        deadline = time.monotonic() + timeout
        index = after
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                data = event.get("data", {})
                if event["kind"] == kind and all(data.get(k) == v for k, v in match.items()):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [e["kind"] for e in self.events]
                raise AssertionError(f"no {kind} {match} event within {timeout} s; got {kinds}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def mark(self) -> int:
        return len(self.events)


async def acd_command(
    *args: str, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 60
) -> tuple[int, str, str]:
    """Run the `acd` command (async, never blocking the loop); exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        ACD,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean_environ(), **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"acd {' '.join(args)} did not finish within {timeout} s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


PHONE_SECRET = re.compile(r"^phone secret for (\d+) \(PJSIP/\d+\): (\S+)$", re.M)


async def create_users(config_path: Path, users: dict[str, str] = USERS) -> dict[str, str]:
    """Create API users with the `acd user` command, as an admin would.

    Agents and supervisors get their own phone; the secret that `acd user`
    prints once, by job number.
    """
    secrets: dict[str, str] = {}
    for job, role in users.items():
        code, out, err = await acd_command(
            "user",
            job,
            "--role",
            role,
            "--config",
            str(config_path),
            env={"ACD_USER_PASSWORD": password(job)},
        )
        assert code == 0, f"acd user {job}: {out}{err}"
        secrets |= dict(PHONE_SECRET.findall(out))
    return secrets


def days_ahead(days: float) -> dict[str, str]:
    """Environment that runs the engine with its clock ``days`` ahead (libfaketime),
    as if the centre had been running that long; timers (monotonic) are untouched."""
    import glob

    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise RuntimeError("libfaketime is missing: make bootstrap installs it (package faketime)")
    return {
        "LD_PRELOAD": found[0],
        "FAKETIME": f"+{days * 86400:.0f}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }
