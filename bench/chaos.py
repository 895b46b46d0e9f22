"""Chaos under a stream of calls, judged from ground truth (numbers, not assertions).

A steady stream of callers (Local channels that press keys when a menu or the
survey question plays, as people do; some give up while waiting) and 8 real
SIP agents (pyVoIP) work for N minutes while faults are injected at random
intervals: ``kill -9`` of acd (started again), the AMI link cut, Asterisk
frozen 10 s (SIGSTOP), Asterisk restarted, the database locked 20 s. At the
end it checks what the phones and Asterisk saw, not what the engine believes:

- dropped: callers whose call ended though they did not hang up, were not
  done (the survey's thanks), and Asterisk itself did not die under them;
- lost_facts: the day report against what callers lived (offered, answered,
  abandoned, surveys);
- stuck_agents: agents shown ringing or talking with no call on their phone
  for more than 30 s;
- leftover_channels: channels still on Asterisk once every caller is gone;
- bad_recordings: answered calls whose recording is missing or not complete
  (calls that Asterisk itself killed are left out).

    .venv/bin/python -m bench.chaos --minutes 10 [--seed 7]

Traffic stays on loopback; the run is bounded in calls and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.ami import Ami, AmiError, Event
from tests.e2e.asterisk import Asterisk, played
from tests.e2e.callers import Caller, Callers
from tests.e2e.centre import SUPERVISOR, Api, Centre, centre_config, create_users, zone_at_midday
from tests.e2e.faults import DatabaseLock
from tests.e2e.pbx import Pbx
from tests.e2e.phones import Phone
from tests.e2e.tcpproxy import TcpProxy
from tests.e2e.tomlfile import write_toml

AGENTS = [f"100{i}" for i in range(1, 9)]
LINES = {
    "tour": ("2", None),
    "cruise": ("1", "cruise_menu"),
    "free_travel": ("3", "free_travel_menu"),
}
FAULTS = ("kill_acd", "ami_cut", "asterisk_freeze", "asterisk_restart", "db_lock")
MAX_CALL_SECONDS = 240.0  # a caller who was never served gives up by then
STUCK_AFTER_SECONDS = 30.0


@dataclass
class CallRecord:
    """What one caller lived, as they and Asterisk saw it."""

    caller: Caller
    line: str
    patience: float | None  # seconds of waiting before they give up (None: they wait)
    started: float = field(default_factory=time.monotonic)
    queued: bool = False  # heard "please hold": the engine took them into the queue
    greeted: bool = False  # heard "agent 1001 at your service": answered
    score: int | None = None  # the key they pressed for the survey
    thanked: bool = False  # heard the survey's thanks: their rating was taken
    hung_up_themselves: bool = False
    stranded: bool = False  # waited MAX_CALL_SECONDS unserved (or stuck in the IVR): our fault
    ended: bool = False
    ended_at: float | None = None
    killed_by_asterisk: bool = False  # Asterisk died or restarted while they were on


@dataclass
class Result:
    minutes: float
    calls: int = 0
    faults: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    lost_facts: int = 0
    stuck_agents: set[str] = field(default_factory=set)
    leftover_channels: int = 0
    bad_recordings: list[str] = field(default_factory=list)
    report: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"chaos minutes={self.minutes:g} calls={self.calls} faults={len(self.faults)} "
            f"dropped={len(self.dropped)} lost_facts={self.lost_facts} "
            f"stuck_agents={len(self.stuck_agents)} leftover_channels={self.leftover_channels} "
            f"bad_recordings={len(self.bad_recordings)}"
        )


class EventRouter:
    """Hands each caller the observer's events about their own hotline leg, once each."""

    def __init__(self, ami: Ami) -> None:
        self._ami = ami
        self._queues: dict[str, asyncio.Queue[Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, uniqueid: str) -> asyncio.Queue[Event]:
        return self._queues.setdefault(uniqueid, asyncio.Queue())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chaos-router")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        index = 0
        while True:
            events = self._ami.events
            while index < len(events):
                event = events[index]
                index += 1
                queue = self._queues.get(event.get("Uniqueid"))
                if queue is not None:
                    queue.put_nowait(event)
            await asyncio.sleep(0.05)


async def press(caller: Caller, keys: str, after: float) -> None:
    """The caller presses keys; a frozen or restarting Asterisk may not take them."""
    with contextlib.suppress(AmiError, AssertionError, OSError):
        await asyncio.wait_for(caller.press(keys, after=after), 15)


async def play_caller(record: CallRecord, router: EventRouter, rng: random.Random) -> None:
    """React to what the hotline plays, until the call ends."""
    caller = record.caller
    events = router.subscribe(caller.call_id)
    first_key, sub_menu = LINES[record.line]
    waiting_since: float | None = None
    presses: set[asyncio.Task[None]] = set()

    def later(keys: str, after: float) -> None:
        task = asyncio.create_task(press(caller, keys, after))
        presses.add(task)
        task.add_done_callback(presses.discard)

    while not record.ended:
        deadline = record.started + MAX_CALL_SECONDS
        if waiting_since is not None and record.patience is not None and not record.greeted:
            deadline = min(deadline, waiting_since + record.patience)
        try:
            event = await asyncio.wait_for(events.get(), max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            if time.monotonic() >= deadline and not record.ended:
                record.hung_up_themselves = True  # gives up (or is done waiting)
                # A caller who would have waited was never served: the hotline lost them.
                out_of_patience = record.patience is not None and waiting_since is not None
                record.stranded = not out_of_patience
                with contextlib.suppress(AmiError, AssertionError, OSError):
                    await asyncio.wait_for(caller.hang_up(), 30)
                record.ended, record.ended_at = True, time.monotonic()
            continue
        if event.name == "Hangup":
            record.ended, record.ended_at = True, event.at
            break
        heard = played(event)
        if heard is None:
            continue
        keys = heard.keys
        if "welcome" in keys:
            # The hotline starts again from the top (acd restarted before queueing them for
            # good): they are not waiting in the queue any more until they choose again.
            record.queued, waiting_since = False, None
        if "main_menu" in keys:
            later(first_key, rng.uniform(0.3, 1.0))
        elif sub_menu is not None and sub_menu in keys:
            later("0", rng.uniform(0.3, 1.0))
        elif "please_hold" in keys:
            record.queued = True
            waiting_since = waiting_since or time.monotonic()
        elif "agent_greeting_before" in keys:
            record.greeted = True
        elif "survey_question" in keys:
            record.score = rng.randint(1, 5)
            later(str(record.score), rng.uniform(0.8, 1.5))
        elif "survey_thanks" in keys:
            record.thanked = True


class Chaos:
    """One chaos run: the PBX, the engine behind a cuttable AMI link, agents and callers."""

    def __init__(self, pbx: Pbx, workdir: Path, minutes: float, seed: int) -> None:
        self.pbx = pbx
        self.workdir = workdir
        self.minutes = minutes
        self.rng = random.Random(seed)
        self.records: list[CallRecord] = []
        self.result = Result(minutes)
        self._inconsistent_since: dict[str, float] = {}
        self._scripts: list[asyncio.Task[None]] = []
        self._restarts: list[tuple[float, float]] = []  # when Asterisk itself was down

    async def run(
        self, faults: list[str] | None = None, fault_every: tuple[float, float] = (15, 40)
    ) -> Result:
        ami = Ami(self.pbx.ami_port, "tests", self.pbx.test_secret)
        await ami.connect()
        asterisk = Asterisk(self.pbx, ami)
        router = EventRouter(ami)
        await router.start()
        async with TcpProxy(self.pbx.ami_port) as proxy:
            centre = await self._centre(proxy)
            phones = await self._phones(asterisk)
            for job in AGENTS:
                await centre.agent_logged_in(job)
            stop, judged = asyncio.Event(), asyncio.Event()
            callers = Callers(asterisk)
            watcher = asyncio.create_task(self._watch_agents(centre, asterisk, judged))
            tasks = [
                asyncio.create_task(self._place_calls(callers, router, stop)),
                asyncio.create_task(
                    self._inject(centre, proxy, asterisk, stop, faults, fault_every)
                ),
            ]
            try:
                await asyncio.sleep(self.minutes * 60)
            finally:
                stop.set()
                await tasks[1]  # faults end (Asterisk thawed, links back) before judging
                await tasks[0]
            await self._drain(asterisk)
            judged.set()  # agents are watched through the drain too
            await watcher
            lead = await self._lead(centre)
            await self._judge(lead, asterisk)
            for phone in phones:
                await phone.stop()
            await centre.stop()
        await router.stop()
        await asterisk.hang_up_everything()
        await ami.close()
        return self.result

    async def _centre(self, proxy: TcpProxy) -> Centre:
        agents = [
            {
                "job_number": job,
                "name": f"Agent {job}",
                "endpoint": f"PJSIP/{job}",
                "skills": {line: self.rng.randint(3, 8) for line in LINES},
            }
            for job in AGENTS
        ] + [
            {
                "job_number": SUPERVISOR,
                "name": "Lead",
                "endpoint": f"PJSIP/{SUPERVISOR}",
                "role": "supervisor",
            }
        ]
        overrides: dict[str, Any] = {
            "ami": {"port": proxy.port},
            "ivr": {"timezone": zone_at_midday()},
            "acd": {"ring_timeout": 8, "wrap_up": 2, "announce_every": 0, "tick_interval": 0.2},
            "agents": agents,
        }
        config = centre_config(self.pbx, self.workdir, **overrides)
        users = {job: "agent" for job in AGENTS} | {SUPERVISOR: "supervisor"}
        self._secrets = await create_users(write_toml(self.workdir / "users.toml", config), users)
        centre = Centre(self.workdir, config)
        await centre.start()
        return centre

    async def _phones(self, asterisk: Asterisk) -> list[Phone]:
        phones = []
        for job in AGENTS:
            phone = Phone(
                asterisk,
                job,
                self._secrets[job],
                answer_after=self.rng.uniform(0.4, 1.5),
                talk_for=self.rng.uniform(3, 8),
            )
            await phone.start()
            phones.append(phone)
        return phones

    async def _place_calls(
        self, callers: Callers, router: EventRouter, stop: asyncio.Event
    ) -> None:
        scripts = self._scripts
        n = 0
        while not stop.is_set():
            n += 1
            line = self.rng.choice(list(LINES))
            patience = self.rng.uniform(5, 40) if self.rng.random() < 0.2 else None
            with contextlib.suppress(AmiError, AssertionError, OSError, TimeoutError):
                caller = await asyncio.wait_for(
                    callers.dial(number=f"139{n:08d}", max_seconds=int(MAX_CALL_SECONDS + 60)), 15
                )
                record = CallRecord(caller, line, patience)
                self.records.append(record)
                scripts.append(asyncio.create_task(play_caller(record, router, self.rng)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(1.5, 4.0))
        self.result.calls = len(self.records)

    async def _inject(
        self,
        centre: Centre,
        proxy: TcpProxy,
        asterisk: Asterisk,
        stop: asyncio.Event,
        faults: list[str] | None,
        every: tuple[float, float],
    ) -> None:
        planned = list(faults) if faults is not None else None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(*every))
            if stop.is_set():
                return
            if planned is not None:
                if not planned:
                    continue
                fault = planned.pop(0)
            else:
                fault = self.rng.choice(FAULTS)
            self.result.faults.append(fault)
            print(f"chaos fault={fault} at={time.strftime('%H:%M:%S')}", flush=True)
            await self._fault(fault, centre, proxy, asterisk)

    async def _fault(self, fault: str, centre: Centre, proxy: TcpProxy, asterisk: Asterisk) -> None:
        if fault == "kill_acd":
            await centre.kill()
            await asyncio.sleep(self.rng.uniform(1, 4))
            await centre.start()
        elif fault == "ami_cut":
            proxy.blocked = True
            proxy.cut()
            await asyncio.sleep(self.rng.uniform(2, 8))
            proxy.blocked = False
        elif fault == "asterisk_freeze":
            await asterisk.freeze()
            await asyncio.sleep(10)
            await asterisk.thaw()
        elif fault == "asterisk_restart":
            began = time.monotonic()
            await asterisk.stop()
            await asterisk.start()
            self._restarts.append((began, time.monotonic() + 2))
        elif fault == "db_lock":
            async with DatabaseLock(centre.config["database"]["url"]):
                await asyncio.sleep(20)

    async def _watch_agents(self, centre: Centre, asterisk: Asterisk, stop: asyncio.Event) -> None:
        """Agents shown ringing or talking whose phone has no call, for how long."""
        lead: Api | None = None
        while not stop.is_set():
            with contextlib.suppress(Exception):
                lead = lead or await centre.login(SUPERVISOR)
                snapshot = await asyncio.wait_for(lead.get("/supervisor/snapshot"), 5)
                names = await asyncio.wait_for(asterisk.channel_names(), 5)
                now = time.monotonic()
                for agent in snapshot["agents"]:
                    job = agent["job_number"]
                    busy = agent["state"] in ("ringing", "talking")
                    on_phone = any(n.startswith(f"PJSIP/{job}-") for n in names.values())
                    if busy and not on_phone:
                        since = self._inconsistent_since.setdefault(job, now)
                        if now - since > STUCK_AFTER_SECONDS:
                            self.result.stuck_agents.add(job)
                    else:
                        self._inconsistent_since.pop(job, None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)

    async def _drain(self, asterisk: Asterisk) -> None:
        """Every caller finishes (served, rated, or given up); then no channel may be left."""
        if self._scripts:
            await asyncio.wait(self._scripts, timeout=MAX_CALL_SECONDS + 60)
        live: dict[str, list[str]] = {}
        end = time.monotonic() + 30
        while time.monotonic() < end:
            live = await asterisk.channels()
            if not live:
                break
            await asyncio.sleep(1)
        self.result.leftover_channels = len(live)

    async def _lead(self, centre: Centre) -> Api:
        return await centre.login(SUPERVISOR)

    async def _judge(self, lead: Api, asterisk: Asterisk) -> None:
        r = self.result
        for record in self.records:
            if any(
                a <= (record.ended_at or 0) <= b
                or (record.started <= b and (record.ended_at or b) >= a)
                for a, b in self._restarts
            ):
                record.killed_by_asterisk = True  # Asterisk died while they were on
        for record in self.records:
            done = record.thanked or record.hung_up_themselves or record.killed_by_asterisk
            if (record.ended and not done) or (record.stranded and not record.killed_by_asterisk):
                r.dropped.append(record.caller.call_id)
        expected = {
            "offered": sum(1 for x in self.records if x.queued or x.greeted),
            "answered": sum(1 for x in self.records if x.greeted),
            "abandoned": sum(1 for x in self.records if x.queued and not x.greeted),
            "surveys": sum(1 for x in self.records if x.thanked),
        }
        report: dict[str, int] = {}
        deadline = time.monotonic() + 60  # facts spilled during a database lock come back
        while True:
            day = await lead.get("/reports/day")
            report = {k: sum(int(row[k]) for row in day["lines"]) for k in expected}
            if report == expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        r.report, r.expected = report, expected
        r.lost_facts = sum(abs(report[k] - expected[k]) for k in expected)
        for record in self.records:
            if not record.greeted or record.killed_by_asterisk:
                continue
            with contextlib.suppress(AssertionError):
                row = await lead.finished_recording(record.caller.call_id, timeout=20)
                if row.get("complete") is True:
                    continue
            r.bad_recordings.append(record.caller.call_id)


async def main(minutes: float, seed: int) -> None:
    import tempfile

    pbx = Pbx()
    await asyncio.to_thread(pbx.start)
    try:
        workdir = Path(tempfile.mkdtemp(prefix="acd-chaos-"))
        result = await Chaos(pbx, workdir, minutes, seed).run()
    finally:
        await asyncio.to_thread(pbx.destroy)
    print(f"chaos expected={result.expected} report={result.report}")
    if result.dropped or result.bad_recordings:
        print(f"chaos dropped={result.dropped} bad_recordings={result.bad_recordings}")
    print(f"chaos faults: {' '.join(result.faults)}")
    print(result.line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.seed))
