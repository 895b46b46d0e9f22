"""acd under load and over a soak, on the bundled Asterisk (numbers, not assertions).

Callers are Local channels into the hotline, as in every end-to-end test: the
bench presses the line's key when the menu plays (seen on AMI), and rates the
service when the survey asks. The agents' phones are one SIPp (Debian's
sip-tester, installed in the bundled root by ``docker/pbx build``), each agent
registered with their own SIP secret: a call rings, is answered after half a
second, talks with its audio echoed back and the agent hangs up. Every call
is recorded by acd. New calls arrive at ``--cps`` per second while fewer than
``--concurrent`` are up, for ``--minutes``; then the bench lets the last calls
end and looks at what is left.

Judged from ground truth: a caller who chose a line but was never bridged to
an agent, or never heard the survey after the agent hung up, is failed; so is
a call SIPp saw fail. Measured:

- event-loop lag p99 of acd, from its own histogram at ``/metrics`` between
  the end of the first minute and the end of the arrivals (the upper edge of
  the bucket that holds the 99th percentile), next to the same figure for an
  idle asyncio loop in another process over the same window (the machine's
  own share: two cores shared with Asterisk, SIPp and the bench);
- acd's CPU seconds as a percentage of Asterisk's over the same window;
- growth of acd's resident memory, open files and asyncio tasks over that
  window, and Asterisk's channels left after the last call ended;
- recordings finished (a complete WAV) per call bridged.

    .venv/bin/python -m bench.load [--concurrent 100] [--cps 5] [--minutes 5] [--agents 90]
    .venv/bin/python -m bench.load --minutes 30          # the soak
    .venv/bin/python -m bench.load --profile prof.txt    # py-spy (pip install py-spy) on acd

Prints ``load concurrent=100 cps=5 minutes=5 failed=0 loop_lag_p99_ms=X
acd_cpu_pct_of_asterisk=Y rss_growth_mb=Z fds_growth=W``, then the detail.
Traffic stays on loopback; the run is bounded by its arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from acd.metrics import LAG_BUCKETS
from bench.vs_app_queue import LINES, SUB_MENUS, _prompts, cpu_seconds
from tests.e2e.ami import Ami, AmiError, Event
from tests.e2e.audio import wav_complete
from tests.e2e.centre import ADMIN, Api, Centre, centre_config, create_users, password
from tests.e2e.pbx import Pbx, free_udp_port, free_udp_range
from tests.e2e.tomlfile import write_toml

SIPP = Path(__file__).resolve().parent / "sipp"
RING_TIMEOUT = 10
WRAP_UP = 2
ANSWER_MS = 500
CALL_LIMIT_S = 240.0  # a caller still on the line by then is hung up and failed
DRAIN_S = 120.0
SAMPLE_EVERY = 15.0


@dataclass
class Call:
    n: int
    call_id: str
    phone_id: str
    number: str
    line: str
    started: float
    chose_at: float | None = None
    bridged_at: float | None = None
    survey_at: float | None = None
    held_at: float | None = None  # music on hold: queued for an agent
    unheld_at: float | None = None  # the music stopped: an agent answered (or the caller left)
    ended_at: float | None = None
    menu_pressed: bool = False


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int
    tasks: float
    channels: int


class RoutedAmi(Ami):
    """The bench's AMI observer: events go to a handler as they come, and are not kept."""

    def __init__(self, port: int, username: str, secret: str, on_event: Any) -> None:
        super().__init__(port, username, secret, events="call,agi")
        self._on_event = on_event

    def _dispatch(self, block: str) -> None:
        super()._dispatch(block)
        events, self.events = self.events, []
        for event in events:
            self._on_event(event)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels} value`` lines of a Prometheus scrape (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


def grown(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """How much a counter (summed over its labels) grew between two scrapes."""
    keys = [k for k in after if k == name or k.startswith(name + "{")]
    return sum(after[k] - before.get(k, 0.0) for k in keys)


def lag_p99_ms(before: dict[str, float], after: dict[str, float]) -> tuple[float, int]:
    """The upper edge (ms) of the lag bucket holding the 99th percentile between two scrapes."""
    prefix = "acd_event_loop_lag_seconds_bucket{le="
    edges = sorted(
        (float(k[len(prefix) + 1 : -2]), k)
        for k in after
        if k.startswith(prefix) and "+Inf" not in k
    )
    total = after["acd_event_loop_lag_seconds_count"] - before.get(
        "acd_event_loop_lag_seconds_count", 0.0
    )
    if total <= 0:
        return float("nan"), 0
    for edge, key in edges:
        if after[key] - before.get(key, 0.0) >= 0.99 * total:
            return edge * 1000, int(total)
    return float("inf"), int(total)


# A peer for the lag figure: an idle asyncio loop on the same machine, sampled the
# way acd samples its own (acd.metrics.watch_loop_lag). What it sees is the
# machine (other processes on two cores), not acd.
PEER_LAG = """
import asyncio, sys
async def main(seconds):
    loop = asyncio.get_running_loop()
    lags, end = [], loop.time() + seconds
    while loop.time() < end:
        due = loop.time() + 0.25
        await asyncio.sleep(0.25)
        lags.append(max(0.0, loop.time() - due))
    lags.sort()
    print(lags[int(0.99 * (len(lags) - 1))] * 1000)
asyncio.run(main(float(sys.argv[1])))
"""


def gc_pauses(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Garbage collections between two scrapes: how many, and the longest one's bucket (ms)."""
    prefix = "acd_gc_pause_seconds_bucket{"
    counts: dict[float, float] = {}
    for key, value in after.items():
        if key.startswith(prefix) and "+Inf" not in key:
            edge = float(key.split('le="')[1].split('"')[0])
            counts[edge] = counts.get(edge, 0.0) + value - before.get(key, 0.0)
    total = sum(
        v - before.get(k, 0.0)
        for k, v in after.items()
        if k.startswith("acd_gc_pause_seconds_count")
    )
    full = sum(
        v - before.get(k, 0.0)
        for k, v in after.items()
        if k.startswith('acd_gc_pause_seconds_count{generation="2"')
    )
    longest = next((e * 1000 for e in sorted(counts) if counts[e] >= total), float("inf"))
    return {"collections": total, "full": full, "longest_ms": longest if total else 0.0}


def bucket_edge_ms(lag_ms: float) -> float:
    """The upper edge (ms) of acd's lag bucket that holds ``lag_ms`` (as acd's p99 reads)."""
    for edge in LAG_BUCKETS:
        if lag_ms <= edge * 1000:
            return edge * 1000
    return float("inf")


def p(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Load:
    def __init__(self, args: argparse.Namespace, pbx: Pbx, workdir: Path) -> None:
        self.args = args
        self.pbx = pbx
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.agents = [str(2001 + n) for n in range(args.agents)]
        self.calls: dict[str, Call] = {}  # by the hotline leg's uniqueid (the engine's call id)
        self.active = 0
        self._idle = asyncio.Event()  # set while no call is up
        self._place_free = asyncio.Event()  # a call ended
        self.samples: list[Sample] = []
        self.ami = RoutedAmi(pbx.ami_port, "tests", pbx.test_secret, self._on_event)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sipp: list[asyncio.subprocess.Process] = []

    # -- set-up -----------------------------------------------------------------

    async def _centre(self) -> Centre:
        skills = {job: {line: self.rng.randint(3, 9) for line in LINES} for job in self.agents}
        agents = [
            {"job_number": j, "name": f"Agent {j}", "endpoint": f"PJSIP/{j}", "skills": skills[j]}
            for j in self.agents
        ]
        overrides = {
            "acd": {"ring_timeout": RING_TIMEOUT, "wrap_up": WRAP_UP, "announce_every": 30},
            "agents": agents,
            "log": {"format": "json", "level": self.args.log},
            "metrics": {"enabled": True},
        }
        config = centre_config(self.pbx, self.workdir, **overrides)
        config["acd"].pop("tick_interval", None)  # the product's default
        toml = write_toml(self.workdir / "users.toml", config)
        await create_users(toml, {ADMIN: "admin"})
        centre = Centre(self.workdir, config)
        await centre.start()
        return centre

    async def _agents(self, centre: Centre) -> dict[str, str]:
        """Every agent as an admin creates them: a user, and a phone with its own secret."""
        admin = await centre.login(ADMIN)
        secrets = {}
        for job in self.agents:
            body = {"name": f"Agent {job}", "role": "agent", "password": password(job)}
            answer = await admin.request("PUT", f"/admin/users/{job}", body)
            secrets[job] = answer["sip_secret"]
        return secrets

    async def _start_sipp(self, *args: str, log: str) -> asyncio.subprocess.Process:
        root = (await asyncio.to_thread(self.pbx.run, "root")).strip()
        out = (self.workdir / log).open("ab")
        proc = await asyncio.create_subprocess_exec(
            "chroot",
            root,
            "/usr/bin/sipp",
            f"127.0.0.1:{self.pbx.sip_port}",
            "-i",
            "127.0.0.1",
            "-nostdin",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd="/",
        )
        out.close()
        return proc

    def _scenario(self, name: str, **values: object) -> str:
        """A SIPp scenario from bench/sipp, filled in and put where SIPp (in the root) sees it."""
        text = (SIPP / f"{name}.xml").read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", str(value))
        self.pbx.host_path(f"sipp/{name}.xml").write_text(text)
        return self.pbx.chroot_path(f"sipp/{name}.xml")

    async def _phones(self, secrets: dict[str, str], hold_s: float) -> None:
        """One SIPp registers every agent's phone and answers their calls (out-of-call scenario).

        One process for both, because Asterisk sends a phone's calls to where its
        REGISTER came from (``rewrite_contact``), as it does for phones behind NAT.
        """
        self.pbx.host_path("sipp").mkdir(exist_ok=True)
        agent = self._scenario("agent", ANSWER_MS=ANSWER_MS, TALK_MS=self.args.talk * 1000)
        register = self._scenario("register", HOLD_MS=int(hold_s * 1000))
        users = self.pbx.host_path("sipp/agents.csv")
        users.write_text("SEQUENTIAL\n" + "".join(f"{j};{secrets[j]}\n" for j in self.agents))
        self.errors_path = self.pbx.host_path("sipp/errors.log")
        count = str(len(self.agents))
        phones = await self._start_sipp(
            "-sf", register, "-oocsf", agent, "-inf", self.pbx.chroot_path("sipp/agents.csv"),
            "-m", count, "-l", count, "-r", "20", "-p", str(free_udp_port()),
            "-mp", str(free_udp_range(4)), "-rtp_echo", "-aa",
            "-trace_err", "-error_file", self.pbx.chroot_path("sipp/errors.log"),
            "-trace_stat", "-stf", self.pbx.chroot_path("sipp/stats.csv"), "-fd", "5",
            *(("-trace_msg", "-message_file", self.pbx.chroot_path("sipp/messages.log"))
              if self.args.sip_trace else ()),
            log="sipp.log",
        )  # fmt: skip
        self._sipp.append(phones)
        self.stats_path = self.pbx.host_path("sipp/stats.csv")
        deadline = time.monotonic() + 60
        while (registered := await self._registered()) < len(self.agents):
            if time.monotonic() > deadline or phones.returncode is not None:
                raise RuntimeError(f"only {registered} of {count} agents' phones registered")
            await asyncio.sleep(0.5)

    async def _registered(self) -> int:
        lines = await self.ami.command("pjsip show contacts")
        aors = {
            line.split()[1].split("/")[0]
            for line in lines
            if line.strip().startswith("Contact:") and "/" in line
        }
        return len(aors & set(self.agents))

    # -- callers ----------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _originate(self, n: int) -> None:
        tag = uuid.uuid4().hex[:12]
        call = Call(
            n,
            f"probe-{tag}",
            f"caller-{tag}",
            f"1380{n:07d}",
            self.rng.choice(list(LINES)),
            time.monotonic(),
        )
        self.calls[call.call_id] = call
        self.active += 1
        self._idle.clear()
        try:
            await self.ami.action(
                {
                    "Action": "Originate",
                    "Channel": "Local/s@hotline",
                    "Context": "hotline-probe",
                    "Exten": "s",
                    "Priority": "1",
                    "ChannelId": call.phone_id,
                    "OtherChannelId": call.call_id,
                    "CallerID": f'"Load Caller" <{call.number}>',
                    "Variable": ["PROBE_DELAY=0", f"PROBE_HOLD={int(CALL_LIMIT_S)}"],
                    "Async": "true",
                }
            )
        except AmiError:
            self._ended(call)

    def _ended(self, call: Call) -> None:
        if call.ended_at is None:
            call.ended_at = time.monotonic()
            self.active -= 1
            self._place_free.set()
            if self.active == 0:
                self._idle.set()

    def _on_event(self, e: Event) -> None:
        call = self.calls.get(e.get("Uniqueid"))
        if call is None or call.ended_at is not None:
            return
        if e.name == "Hangup":
            self._ended(call)
        elif e.name == "BridgeEnter" and call.bridged_at is None:
            call.bridged_at = e.at
        elif e.name == "MusicOnHoldStart" and call.held_at is None:
            call.held_at = e.at
        elif e.name == "MusicOnHoldStop" and call.unheld_at is None:
            call.unheld_at = e.at
        elif e.name == "AGIExecStart":
            keys = _prompts(e)
            if "main_menu" in keys and not call.menu_pressed:
                call.menu_pressed = True
                self._spawn(self._press(call, LINES[call.line], chose=call.line not in SUB_MENUS))
            elif SUB_MENUS.get(call.line, "-") in keys and call.chose_at is None:
                self._spawn(self._press(call, "0", chose=True))
            elif "survey_question" in keys and call.survey_at is None:
                call.survey_at = e.at
                self._spawn(self._press(call, str(self.rng.randint(1, 5)), chose=False))

    async def _press(self, call: Call, keys: str, *, chose: bool) -> None:
        await asyncio.sleep(0.4)
        for key in keys:
            with contextlib.suppress(AmiError):
                await self.ami.action(
                    {"Action": "PlayDTMF", "Channel": call.phone_id, "Digit": key, "Duration": 120}
                )
        if chose:
            call.chose_at = time.monotonic()

    async def _hang_up_late(self) -> None:
        """A caller left on the line past the limit is hung up (and counted as failed)."""
        while True:
            await asyncio.sleep(5)
            now = time.monotonic()
            for call in list(self.calls.values()):
                if call.ended_at is None and now - call.started > CALL_LIMIT_S:
                    with contextlib.suppress(AmiError):
                        await self.ami.action({"Action": "Hangup", "Channel": call.phone_id})

    # -- measuring --------------------------------------------------------------

    async def _scrape(self, session: aiohttp.ClientSession, centre: Centre) -> dict[str, float]:
        async with session.get(f"{centre.base}/metrics") as resp:
            return parse_metrics(await resp.text())

    async def _channels(self) -> int:
        lines = await self.ami.command("core show channels count")
        for line in lines:
            if "active channel" in line:
                return int(line.split()[0])
        return -1

    async def _sample(self, session: aiohttp.ClientSession, centre: Centre, pid: int) -> Sample:
        metrics = await self._scrape(session, centre)
        return Sample(
            time.monotonic(),
            rss_mb(pid),
            open_fds(pid),
            metrics.get("acd_asyncio_tasks", float("nan")),
            await self._channels(),
        )

    # -- the run ----------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        await self.ami.connect()
        centre = await self._centre()
        session = aiohttp.ClientSession()
        try:
            assert centre.process is not None
            self.baseline = await self._sample(session, centre, centre.process.pid)  # idle
            secrets = await self._agents(centre)
            await self._phones(secrets, self.args.minutes * 60 + DRAIN_S + 120)
            apis: list[Api] = []
            for job in self.agents:
                api = await centre.login(job)
                await api.post(f"/agents/{job}/login")
                await api.post(f"/agents/{job}/ready")
                apis.append(api)
            return await self._traffic(session, centre)
        finally:
            await session.close()
            for task in list(self._tasks):
                task.cancel()
            for proc in self._sipp:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), 10)
                    if proc.returncode is None:
                        proc.kill()
            with contextlib.suppress(Exception):
                await centre.stop()
            await self.ami.close()

    async def _traffic(self, session: aiohttp.ClientSession, centre: Centre) -> dict[str, Any]:
        args = self.args
        assert centre.process is not None
        acd_pid = centre.process.pid
        ast_pid = int((await asyncio.to_thread(self.pbx.run, "status")).split("pid=")[1].split()[0])
        reaper = asyncio.create_task(self._hang_up_late())
        profiler = None
        if args.profile:  # py-spy samples acd (not the bench) while the calls come in
            # py-spy on the PATH, or in the same virtual environment as this bench.
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            profiler = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(acd_pid), "--format", "raw", "--rate", "50",
                "--duration", str(int(args.minutes * 60)), "--output", args.profile,
                "--nonblocking",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        start = time.monotonic()
        end = start + args.minutes * 60
        warm_at = start + min(60.0, args.minutes * 60 / 5)
        warm: dict[str, Any] | None = None
        next_sample = next_call = start
        n = 0
        peak = 0
        while time.monotonic() < end:
            now = time.monotonic()
            if warm is None and now >= warm_at:
                peer = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", PEER_LAG, str(end - now), stdout=asyncio.subprocess.PIPE
                )
                warm = {
                    "metrics": await self._scrape(session, centre),
                    "acd_cpu": cpu_seconds(acd_pid),
                    "ast_cpu": cpu_seconds(ast_pid),
                    "sample": await self._sample(session, centre, acd_pid),
                }
            if now >= next_sample:
                self.samples.append(await self._sample(session, centre, acd_pid))
                next_sample += SAMPLE_EVERY
            if self.active < args.concurrent and now >= next_call:
                self._spawn(self._originate(n))
                n += 1
                # At --cps; after a wait for a free place, on from now (no burst to catch up).
                next_call = max(next_call + 1 / args.cps, now)
            peak = max(peak, self.active)
            if self.active >= args.concurrent:  # full: until a call ends (or a sample is due)
                self._place_free.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._place_free.wait(), SAMPLE_EVERY / 3)
            else:
                await asyncio.sleep(max(0.0, next_call - time.monotonic()))
        assert warm is not None
        metrics_end = await self._scrape(session, centre)
        acd_cpu = cpu_seconds(acd_pid) - warm["acd_cpu"]
        ast_cpu = cpu_seconds(ast_pid) - warm["ast_cpu"]
        last = await self._sample(session, centre, acd_pid)
        self.samples.append(last)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), DRAIN_S)
        reaper.cancel()
        if profiler is not None:
            await profiler.wait()
        await asyncio.sleep(WRAP_UP + 3)  # the last recordings close, the last legs go
        await centre.close_sessions()  # the agents' and admin's connections, as at the start
        await asyncio.sleep(1)
        drained = await self._sample(session, centre, acd_pid)
        leftover = await self.ami.command("core show channels concise")
        lag, lag_samples = lag_p99_ms(warm["metrics"], metrics_end)
        peer_out, _ = await peer.communicate()
        return {
            "offered": n,
            "peak_concurrent": peak,
            "acd_cpu": acd_cpu,
            "ast_cpu": ast_cpu,
            "warm": warm["sample"],
            "last": last,
            "drained": drained,
            "lag_p99_ms": lag,
            "lag_samples": lag_samples,
            "peer_lag_p99_ms": bucket_edge_ms(float(peer_out.decode().strip() or "nan")),
            "gc": gc_pauses(warm["metrics"], metrics_end),
            # What acd asked of the database and of Asterisk per call (counts, not times:
            # the same in any run on any machine, so changes to them compare exactly).
            "fact_batches": grown(warm["metrics"], metrics_end, "acd_db_write_seconds_count"),
            "ami_actions": grown(warm["metrics"], metrics_end, "acd_ami_action_seconds_count"),
            "calls_in_window": grown(warm["metrics"], metrics_end, "acd_calls_offered_total"),
            "leftover": [line.split("!")[0] for line in leftover if "!" in line],
        }

    # -- judging ----------------------------------------------------------------

    def sipp_failures(self) -> int:
        """Calls SIPp (the agents' phones) aborted or got an unexpected message in."""
        try:
            text = self.errors_path.read_text(errors="replace").lower()
        except OSError:
            return 0
        return text.count("aborting call") + text.count("unexpected")

    def recordings(self) -> tuple[int, int]:
        """This run's recordings (named after the call) that are whole WAVs, and all of them."""
        folder = self.pbx.host_path("spool/recordings")
        files = [f for f in folder.rglob("*") if f.is_file()] if folder.exists() else []
        ours = [f for f in files if f.stem in self.calls]
        return sum(1 for f in ours if wav_complete(f)), len(ours)


def per_call(result: dict[str, Any], key: str) -> float:
    calls = result["calls_in_window"]
    return result[key] / calls if calls else float("nan")


@dataclass
class Verdict:
    """What callers and phones lived through one run, and what acd cost."""

    args: argparse.Namespace
    result: dict[str, Any]
    calls: list[Call]
    sipp_failed: int
    recordings_complete: int
    recordings: int
    samples: list[Sample]
    baseline: Sample  # the engine idle, before any agent or call

    @property
    def chose(self) -> list[Call]:
        return [c for c in self.calls if c.chose_at is not None]

    @property
    def never_chose(self) -> list[Call]:
        return [c for c in self.calls if c.chose_at is None]

    @property
    def not_bridged(self) -> list[Call]:
        return [c for c in self.chose if c.bridged_at is None]

    @property
    def no_survey(self) -> list[Call]:
        return [c for c in self.chose if c.bridged_at is not None and c.survey_at is None]

    @property
    def failed(self) -> int:
        lost = self.never_chose + self.not_bridged + self.no_survey
        return len(lost) + self.sipp_failed

    def lines(self) -> list[str]:
        args, result = self.args, self.result
        waits = [
            c.unheld_at - c.held_at
            for c in self.chose
            if c.bridged_at is not None and c.held_at is not None and c.unheld_at is not None
        ]
        warm, last, drained = result["warm"], result["last"], result["drained"]
        cpu = result["acd_cpu"], result["ast_cpu"]
        ratio = 100 * cpu[0] / cpu[1] if cpu[1] else float("nan")
        out = [
            f"load concurrent={args.concurrent} cps={args.cps:g} minutes={args.minutes:g} "
            f"failed={self.failed} loop_lag_p99_ms={result['lag_p99_ms']:g} "
            f"acd_cpu_pct_of_asterisk={ratio:.1f} "
            f"rss_growth_mb={last.rss_mb - warm.rss_mb:.1f} fds_growth={last.fds - warm.fds}",
            f"detail calls={len(self.calls)} peak_concurrent={result['peak_concurrent']} "
            f"agents={args.agents} never_chose={len(self.never_chose)} "
            f"not_bridged={len(self.not_bridged)} no_survey={len(self.no_survey)} "
            f"sipp_failed={self.sipp_failed} "
            f"recordings_complete={self.recordings_complete}/{self.recordings} "
            f"bridged={len(self.chose) - len(self.not_bridged)} "
            f"queued_p50_s={p(waits, 50):.2f} queued_p95_s={p(waits, 95):.2f} "
            f"lag_samples={result['lag_samples']} "
            f"peer_loop_lag_p99_ms={result['peer_lag_p99_ms']:g} "
            f"gc_collections={result['gc']['collections']:.0f} gc_full={result['gc']['full']:.0f} "
            f"gc_longest_ms={result['gc']['longest_ms']:g} "
            f"acd_cpu_s={cpu[0]:.1f} asterisk_cpu_s={cpu[1]:.1f}",
            f"per_call fact_batches={per_call(result, 'fact_batches'):.2f} "
            f"ami_actions={per_call(result, 'ami_actions'):.2f} "
            f"(over {result['calls_in_window']:.0f} calls queued after the warm-up)",
            f"growth rss_mb={warm.rss_mb:.1f}->{last.rss_mb:.1f}->{drained.rss_mb:.1f} "
            f"fds={warm.fds}->{last.fds}->{drained.fds} "
            f"tasks={warm.tasks:g}->{last.tasks:g}->{drained.tasks:g} "
            f"channels={warm.channels}->{last.channels}->{drained.channels} "
            "(end of warm-up -> end of arrivals -> after the last call)",
            f"idle tasks_before={self.baseline.tasks:g} tasks_after={drained.tasks:g} "
            f"fds_before={self.baseline.fds} fds_after={drained.fds} "
            f"leftover_channels={','.join(result['leftover']) or '-'}",
        ]
        first = self.samples[0].at if self.samples else 0.0
        out += [
            f"sample t={s.at - first:.0f}s rss_mb={s.rss_mb:.1f} fds={s.fds} "
            f"tasks={s.tasks:g} channels={s.channels}"
            for s in self.samples
        ]
        return out


async def run_load(args: argparse.Namespace, pbx: Pbx, workdir: Path) -> Verdict:
    """One run on a started Asterisk; SIPp's logs are copied into ``workdir``."""
    load = Load(args, pbx, workdir)
    try:
        result = await load.run()
        complete, files = load.recordings()
        return Verdict(
            args,
            result,
            list(load.calls.values()),
            load.sipp_failures(),
            complete,
            files,
            load.samples,
            load.baseline,
        )
    finally:
        with contextlib.suppress(OSError):  # kept for a look afterwards
            shutil.copytree(pbx.host_path("sipp"), workdir / "sipp", dirs_exist_ok=True)


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--cps", type=float, default=5)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--agents", type=int, default=90)
    parser.add_argument(
        "--talk",
        type=int,
        default=12,
        help="seconds from answering to hanging up (the caller's greeting included)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--log", default="warning", help="acd's log level")
    parser.add_argument("--profile", help="py-spy acd into this file (collapsed stacks)")
    parser.add_argument("--sip-trace", action="store_true", help="log SIP in Asterisk (slow)")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    pbx = Pbx()
    await asyncio.to_thread(pbx.start)
    workdir = Path(tempfile.mkdtemp(prefix="acd-load-"))
    full_log = pbx.chroot_path("log/full")
    try:
        if args.sip_trace:  # every SIP message in Asterisk's log, kept with the bench's
            await asyncio.to_thread(pbx.run, "cli", "pjsip set logger on")
        else:  # Asterisk's verbose log, which the tests keep, is no part of a production load
            await asyncio.to_thread(pbx.run, "cli", f"logger remove channel {full_log}")
        verdict = await run_load(args, pbx, workdir)
    finally:
        with contextlib.suppress(OSError):
            shutil.copy(pbx.host_path("log/full"), workdir / "asterisk-full.log")
        await asyncio.to_thread(pbx.destroy)
        print(f"logs in {workdir}")
    print("\n".join(verdict.lines()))


if __name__ == "__main__":
    asyncio.run(main(options()))
