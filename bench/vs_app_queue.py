"""acd side by side with Asterisk's own queue (app_queue), in one run (numbers, not assertions).

Side A: ``Queue()`` in the dialplan (``[hotline-app-queue]``: the same menu
prompts and keys), one queue per line, the agents as members with their skill
as a penalty (10 - level), strategy ``leastrecent``, the same ring timeout and
wrap-up. Side B: acd. The same Asterisk, the same 4 SIP agents (pyVoIP
phones), the same callers (Local channels pressing the line's keys when the
menu plays) and the same arrival pattern; A and B alternate, round after
round. Judged from Asterisk's own events:

- ring: from an agent becoming free (their phone hung up, plus the wrap-up)
  to their phone ringing again, when callers were waiting then;
- wait: from the caller's key press to an agent picking up;
- failed: callers who chose a line and were never answered;
- CPU seconds per 100 calls: Asterisk for A; Asterisk and acd for B;
- expected wait: each side's estimate for a caller still waiting
  ``ANNOUNCE_EVERY`` seconds after joining the queue, against how much longer
  they really waited. acd: the estimate behind its first position
  announcement (the team lead's event stream carries it in seconds).
  app_queue: the estimate behind its ``announce-holdtime`` at the same
  moment, the queue's moving-average hold time (``QueueStatus``) less the
  time already waited, as app_queue computes it. Both in seconds, before
  either rounds it for speech (app_queue speaks whole minutes and says
  nothing under one; acd says "less than a minute"). A side with nothing to
  go on yet (no call handled on the line) is not counted.

Both sides' callers hear the same "please hold" after choosing a line (acd's
IVR plays it before the caller joins the queue; app_queue's dialplan plays it
before ``Queue()``). app_queue counts the wrap-up in whole seconds (its
``lastcall`` is a ``time_t``), so it may ring a member up to a second before
the wrap-up ends: its ring figures can be negative.

    .venv/bin/python -m bench.vs_app_queue [--rounds 2] [--calls 20] [--seed 5]

Prints ``vs_app_queue calls=N ring_p95_ms_acd=X ring_p95_ms_queue=Y
wait_p95_ratio=R cpu_per_call_ratio=C failed_acd=0 failed_queue=0`` (ratios
are acd / app_queue) and ``ewt calls=N mae_s_acd=X mae_s_queue=Y
within30_acd=P within30_queue=Q`` (mean absolute error in seconds; the share
of estimates within 30 % of the real wait). Traffic stays on loopback; the
run is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.ami import Ami, AmiError, Event
from tests.e2e.asterisk import PROMPT, Asterisk
from tests.e2e.callers import Caller
from tests.e2e.centre import SUPERVISOR, Api, Centre, centre_config, create_users
from tests.e2e.pbx import Pbx
from tests.e2e.phones import Phone
from tests.e2e.tomlfile import write_toml

AGENTS = ("1001", "1002", "1003", "1004")
LINES = {"tour": "2", "cruise": "1", "free_travel": "3"}
SUB_MENUS = {"cruise": "cruise_menu", "free_travel": "free_travel_menu"}
RING_TIMEOUT = 8
WRAP_UP = 3
ANNOUNCE_EVERY = 10  # both sides announce position and expected wait this often (queues.conf)
CALL_LIMIT_S = 180.0  # a caller never answered by then is failed


@dataclass
class CallerRecord:
    caller: Caller
    line: str
    chose_at: float | None = None  # pressed the line's key(s): waiting from now
    answered_at: float | None = None  # an agent's phone picked up their call
    estimate: tuple[float, float] | None = None  # (when, expected wait in s) first told
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Side:
    name: str
    calls: int = 0
    failed: int = 0
    rings_ms: list[float] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    estimates: list[tuple[float, float]] = field(default_factory=list)  # (told, real) s


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Bench:
    def __init__(self, pbx: Pbx, workdir: Path, rounds: int, calls: int, seed: int) -> None:
        self.pbx = pbx
        self.workdir = workdir
        self.rounds = rounds
        self.calls = calls
        self.seed = seed
        rng = random.Random(seed)
        self.skills = {job: {line: rng.randint(3, 9) for line in LINES} for job in AGENTS}
        self.sides = {"acd": Side("acd"), "queue": Side("queue")}

    async def run(self) -> dict[str, Side]:
        ami = Ami(self.pbx.ami_port, "tests", self.pbx.test_secret)
        await ami.connect()
        asterisk = Asterisk(self.pbx, ami)
        centre = await self._centre()
        phones = [await self._phone(asterisk, job, n) for n, job in enumerate(AGENTS)]
        apis = {job: await centre.login(job) for job in AGENTS}
        self.lead = await (await centre.login(SUPERVISOR)).events()
        try:
            for _ in range(self.rounds):
                for side in ("queue", "acd"):
                    await self._round(side, asterisk, centre, apis)
        finally:
            await self.lead.close()
            for phone in phones:
                await phone.stop()
            await centre.stop()
            await ami.close()
        return self.sides

    async def _centre(self) -> Centre:
        agents = [
            {
                "job_number": job,
                "name": f"Agent {job}",
                "endpoint": f"PJSIP/{job}",
                "skills": self.skills[job],
            }
            for job in AGENTS
        ]
        overrides = {
            "acd": {
                "ring_timeout": RING_TIMEOUT,
                "wrap_up": WRAP_UP,
                "announce_every": ANNOUNCE_EVERY,
                "tick_interval": 0.2,
            },
            "agents": agents,
        }
        config = centre_config(self.pbx, self.workdir, **overrides)
        toml = write_toml(self.workdir / "users.toml", config)
        users = {job: "agent" for job in AGENTS} | {SUPERVISOR: "supervisor"}
        self._secrets = await create_users(toml, users)
        centre = Centre(self.workdir, config)
        await centre.start()
        return centre

    async def _phone(self, asterisk: Asterisk, job: str, n: int) -> Phone:
        phone = Phone(asterisk, job, self._secrets[job], answer_after=0.5, talk_for=4 + n)
        await phone.start()
        return phone

    async def _round(
        self, side: str, asterisk: Asterisk, centre: Centre, apis: dict[str, Api]
    ) -> None:
        """One round of callers on one side; the other side's agents are away."""
        ami = asterisk.ami
        since = ami.mark()
        if side == "queue":
            # Phones acd keeps are realtime endpoints: Asterisk tracks their device state
            # (which app_queue needs) only once res_pjsip has loaded them.
            await asyncio.to_thread(self.pbx.run, "cli", "module reload res_pjsip.so")
            await asyncio.sleep(1)
            for job in AGENTS:
                for line, level in self.skills[job].items():
                    await ami.action(
                        {
                            "Action": "QueueAdd",
                            "Queue": line,
                            "Interface": f"PJSIP/{job}",
                            "Penalty": str(10 - level),
                            "MemberName": job,
                        }
                    )
        else:
            for api in apis.values():
                await api.post(f"/agents/{api.job}/login")
                await api.post(f"/agents/{api.job}/ready")
        rng = random.Random(self.seed)  # the same callers and arrivals on both sides
        records: list[CallerRecord] = []
        told_since = self.lead.mark()
        pids = [await self._asterisk_pid()]
        if side == "acd":
            assert centre.process is not None
            pids.append(centre.process.pid)
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        scripts = []
        for n in range(self.calls):
            line = rng.choice(list(LINES))
            record = CallerRecord(await self._dial(asterisk, side, n), line)
            records.append(record)
            scripts.append(asyncio.create_task(self._caller(asterisk, record, since)))
            if side == "queue":
                scripts.append(asyncio.create_task(self._queue_estimate(ami, record, since)))
            await asyncio.sleep(rng.expovariate(1 / 1.5))
        await asyncio.wait(scripts, timeout=CALL_LIMIT_S + 30)
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        await asyncio.sleep(WRAP_UP + 1)
        if side == "queue":
            for job in AGENTS:
                for line in LINES:
                    with contextlib.suppress(AmiError):
                        await ami.action(
                            {"Action": "QueueRemove", "Queue": line, "Interface": f"PJSIP/{job}"}
                        )
        else:
            for api in apis.values():
                await api.post(f"/agents/{api.job}/logout")
        if side == "acd":
            self._acd_estimates(records, self.lead.events[told_since:])
        self._judge(self.sides[side], records, ami.events[since:], cpu)

    async def _queue_estimate(self, ami: Ami, record: CallerRecord, since: int) -> None:
        """What app_queue's ``announce-holdtime`` says ``ANNOUNCE_EVERY`` s after joining."""
        uid = record.caller.call_id
        with contextlib.suppress(AssertionError, AmiError):  # never joined; no answer
            await ami.wait(
                lambda e: e.name == "QueueCallerJoin" and e.get("Uniqueid") == uid,
                CALL_LIMIT_S,
                since,
            )
            await asyncio.sleep(ANNOUNCE_EVERY)  # (answered by then: left out when judged)
            items = await ami.listing({"Action": "QueueStatus", "Queue": record.line})
            params = [e for e in items if e.name == "QueueParams"]
            holdtime = float(params[0].get("Holdtime", "0") or 0) if params else 0.0
            if holdtime > 0:  # with no call answered yet it has nothing to say
                record.estimate = (time.monotonic(), max(0.0, holdtime - ANNOUNCE_EVERY))

    def _acd_estimates(self, records: list[CallerRecord], told: list[dict[str, object]]) -> None:
        """Each caller's first announced expected wait, from the team lead's event stream."""
        to_monotonic = time.monotonic() - time.time()  # the engine stamps events in wall time
        by_call = {r.caller.call_id: r for r in records}
        for event in told:
            data = event.get("data")
            if event.get("kind") != "position_announced" or not isinstance(data, dict):
                continue
            record = by_call.get(str(data.get("call_id")))
            wait = data.get("expected_wait")
            if record is None or record.estimate is not None or wait is None:
                continue
            record.estimate = (float(str(event["at"])) + to_monotonic, float(str(wait)))

    async def _asterisk_pid(self) -> int:
        status = await asyncio.to_thread(self.pbx.run, "status")
        return int(status.split("pid=")[1].split()[0])

    async def _dial(self, asterisk: Asterisk, side: str, n: int) -> Caller:
        tag = uuid.uuid4().hex[:12]
        number = f"1390{'1' if side == 'acd' else '2'}{n:06d}"
        caller = Caller(asterisk, tag, number, "Bench Caller", None)
        context = "hotline" if side == "acd" else "hotline-app-queue"
        prompts = self.pbx.chroot_path("sounds/acd")
        await asterisk.ami.action(
            {
                "Action": "Originate",
                "Channel": f"Local/s@{context}",
                "Context": "hotline-probe",
                "Exten": "s",
                "Priority": "1",
                "ChannelId": caller.phone_id,
                "OtherChannelId": caller.call_id,
                "CallerID": f'"Bench Caller" <{number}>',
                "Variable": [
                    "PROBE_DELAY=0",
                    f"PROBE_HOLD={int(CALL_LIMIT_S + 60)}",
                    "PROBE_RECORD=",
                    f"__QUEUE_PROMPTS={prompts}/en",
                ],
                "Async": "true",
            }
        )
        return caller

    async def _caller(self, asterisk: Asterisk, record: CallerRecord, since: int) -> None:
        """Press the keys when the menus play; hang up once answered and done."""
        caller, ami = record.caller, asterisk.ami
        index = since
        deadline = time.monotonic() + CALL_LIMIT_S
        chosen = False
        while time.monotonic() < deadline:
            while index < len(ami.events):
                event = ami.events[index]
                index += 1
                if event.get("Uniqueid") != caller.call_id:
                    continue
                if event.name == "Hangup":
                    return
                keys = _prompts(event)
                if "main_menu" in keys and not chosen:
                    await caller.press(LINES[record.line], after=0.5)
                    if record.line not in SUB_MENUS:
                        chosen, record.chose_at = True, time.monotonic()
                elif SUB_MENUS.get(record.line, "-") in keys and not chosen:
                    await caller.press("0", after=0.5)
                    chosen, record.chose_at = True, time.monotonic()
                elif "survey_question" in keys:  # acd's survey: this bench does not rate
                    with contextlib.suppress(AmiError, AssertionError):
                        await caller.hang_up()
                    return
            await asyncio.sleep(0.05)
        with contextlib.suppress(AmiError, AssertionError):
            await caller.hang_up()

    def _judge(
        self, side: Side, records: list[CallerRecord], events: list[Event], cpu: float
    ) -> None:
        by_number = {r.caller.number: r for r in records}
        agent_of: dict[str, str] = {}  # agent channel uniqueid -> job
        rings: dict[str, list[float]] = {job: [] for job in AGENTS}
        frees: dict[str, list[tuple[float, float]]] = {job: [] for job in AGENTS}
        talked: set[str] = set()  # agent channels that were answered
        for e in events:
            channel = e.get("Channel")
            if not channel.startswith("PJSIP/"):
                continue
            job = channel.split("/")[1].split("-")[0]
            if job not in rings:
                continue
            uid = e.get("Uniqueid")
            if e.name == "Newchannel":
                agent_of[uid] = job
            if e.name in ("Newstate", "Newchannel") and e.get("ChannelState") == "5":
                rings[job].append(e.at)  # the phone answered the INVITE with 180 Ringing
            elif e.name == "Newstate" and e.get("ChannelState") == "6":
                talked.add(uid)
                record = by_number.get(e.get("CallerIDNum")) or by_number.get(
                    e.get("ConnectedLineNum")
                )
                if record is not None and record.answered_at is None:
                    record.answered_at = e.at
            elif e.name == "Hangup" and uid in talked:
                frees[job].append((e.at, e.at + WRAP_UP))  # hung up; free after the wrap-up
        for record in records:
            if record.chose_at is None:
                continue
            side.calls += 1
            if record.answered_at is None:
                side.failed += 1
            else:
                side.waits_s.append(max(0.0, record.answered_at - record.chose_at))
                if record.estimate is not None and record.answered_at > record.estimate[0]:
                    told_at, told = record.estimate
                    side.estimates.append((told, record.answered_at - told_at))
        for job in AGENTS:
            for hung_up, free in frees[job]:
                waiting = any(
                    r.chose_at is not None
                    and r.chose_at < free
                    and (r.answered_at is None or r.answered_at > free)
                    for r in records
                )
                after = [t for t in rings[job] if t > hung_up]
                if waiting and after:
                    side.rings_ms.append((after[0] - free) * 1000)
        side.cpu_s += cpu


def _prompts(event: Event) -> tuple[str, ...]:
    """The acd prompts a Playback, Read or AGI command starts playing (by file name)."""
    if event.name == "AGIExecStart":
        text = event.get("Command")
    elif event.name == "Newexten" and event.get("Application") in ("Playback", "Read"):
        text = event.get("AppData")
    else:
        return ()
    return tuple(key for _, key in PROMPT.findall(text))


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


async def main(rounds: int, calls: int, seed: int) -> None:
    pbx = Pbx()
    await asyncio.to_thread(pbx.start)
    try:
        workdir = Path(tempfile.mkdtemp(prefix="acd-vs-queue-"))
        sides = await Bench(pbx, workdir, rounds, calls, seed).run()
    finally:
        await asyncio.to_thread(pbx.destroy)
    a, b = sides["queue"], sides["acd"]
    for s in (b, a):
        print(
            f"side={s.name} calls={s.calls} failed={s.failed} "
            f"ring_p50_ms={p(s.rings_ms, 50):.0f} ring_p95_ms={p(s.rings_ms, 95):.0f} "
            f"rings={len(s.rings_ms)} wait_p50_s={p(s.waits_s, 50):.1f} "
            f"wait_p95_s={p(s.waits_s, 95):.1f} "
            f"answered/offered={s.calls - s.failed}/{s.calls} "
            f"cpu_s_per_100_calls={100 * s.cpu_s / max(1, s.calls):.2f}"
        )
    wait_ratio = p(b.waits_s, 95) / p(a.waits_s, 95) if a.waits_s else float("nan")
    per_call_a, per_call_b = a.cpu_s / max(1, a.calls), b.cpu_s / max(1, b.calls)
    cpu_ratio = per_call_b / per_call_a if per_call_a else float("nan")
    errors = {s.name: [abs(told - real) for told, real in s.estimates] for s in (a, b)}
    within = {
        s.name: sum(abs(told - real) <= 0.3 * real for told, real in s.estimates)
        / max(1, len(s.estimates))
        for s in (a, b)
    }
    for s in (b, a):
        print(
            f"side={s.name} estimates={len(s.estimates)} "
            + " ".join(f"{told:.0f}/{real:.0f}" for told, real in s.estimates)
            + " (told/real s)"
        )
    print(
        f"ewt calls={len(a.estimates) + len(b.estimates)} "
        f"mae_s_acd={_mean(errors['acd']):.1f} mae_s_queue={_mean(errors['queue']):.1f} "
        f"within30_acd={within['acd']:.2f} within30_queue={within['queue']:.2f}"
    )
    print(
        f"vs_app_queue calls={a.calls + b.calls} ring_p95_ms_acd={p(b.rings_ms, 95):.0f} "
        f"ring_p95_ms_queue={p(a.rings_ms, 95):.0f} wait_p95_ratio={wait_ratio:.2f} "
        f"cpu_per_call_ratio={cpu_ratio:.2f} failed_acd={b.failed} failed_queue={a.failed}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.calls, args.seed))
