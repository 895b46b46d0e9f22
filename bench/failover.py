"""Failovers under a stream of calls: the leading engine of a standby pair killed again and again.

    python -m bench.failover [--failovers 10] [--every 12] [--gap 3]

Two engines (README, "Hot standby") on a private PostgreSQL cluster and the
bundled Asterisk, three agents' phones (pyVoIP) and callers arriving every
``--gap`` seconds on the tour line (Local channels pressing 2 when the menu
plays), more than the agents can take at once, so that some always wait.
Every ``--every`` seconds the leader is killed (``kill -9``) and started again
as the standby. Judged from outside:

- takeover: from the kill to the other engine's /healthz answering 200 as
  the leader;
- callers waiting at the kill (the leader's own count just before);
- a caller is lost unless they hear an agent's greeting (a caller dropped,
  or left waiting past 3 minutes, is lost). Callers press 2 whenever the
  main menu plays, as people do: one in the menu when the leader dies hears
  it again from the new one (counted as ``menus_heard_again``);
- an agent is restored when the new leader has them logged in with the
  state and reason they had (a talking agent may have moved on to wrap-up or
  ready meanwhile: any logged-in state counts for them).

Prints one line per failover, then
``failover takeover_s=X callers_waiting=N callers_lost=0 agents_restored=N/N``
(X: the slowest takeover; the median is printed beside it). Loopback only;
it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests import database
from tests.e2e.ami import Ami
from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import SUPERVISOR, Centre, centre_config, create_users
from tests.e2e.pbx import Pbx, free_tcp_port
from tests.e2e.phones import Phone
from tests.e2e.tomlfile import write_toml

AGENTS = ("1001", "1002", "1003")
CALL_LIMIT_S = 180.0
LEASE = 3.0


async def leads(c: Centre, timeout: float = 60) -> float:
    """When (monotonic) ``c`` answers /healthz as the ready leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            status, body = await c.healthz()
            if status == 200 and body.get("role") == "leader":
                return time.monotonic()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{c.workdir.name} did not lead within {timeout} s:\n{c.log_tail()}")


class Bench:
    def __init__(self, pbx: Pbx, workdir: Path, args: argparse.Namespace) -> None:
        self.pbx = pbx
        self.workdir = workdir
        self.args = args
        self.served = 0
        self.menus_again = 0  # callers who heard the main menu again (in it at a kill)
        self.lost: list[str] = []
        self.rounds: list[dict[str, Any]] = []

    def _config(self, node: str, url: str) -> dict[str, Any]:
        folder = self.workdir / node
        folder.mkdir(exist_ok=True)
        return centre_config(
            self.pbx,
            folder,
            database={"url": url},
            fastagi={"port": free_tcp_port()},
            standby={"enabled": True, "node": node, "lease": LEASE, "poll": 0.2},
            acd={"ring_timeout": 8, "wrap_up": 2, "announce_every": 0, "tick_interval": 0.2},
        )

    async def run(self) -> None:
        database.choose("postgresql")
        url = database.database_url(database.database_for(self.workdir, keep=True))
        configs = {node: self._config(node, url) for node in ("a", "b")}
        users = {job: "agent" for job in AGENTS} | {SUPERVISOR: "supervisor"}
        secrets = await create_users(write_toml(self.workdir / "users.toml", configs["a"]), users)
        ami = Ami(self.pbx.ami_port, "tests", self.pbx.test_secret)
        await ami.connect()
        asterisk = Asterisk(self.pbx, ami)
        engines = {node: Centre(self.workdir / node, config) for node, config in configs.items()}
        phones: list[Phone] = []
        callers: set[asyncio.Task[None]] = set()
        try:
            await engines["a"].start()
            await leads(engines["a"])
            await engines["b"].start()  # the standby
            await asterisk.set_global(
                "ACD_AGI_2", f"agi://127.0.0.1:{configs['b']['fastagi']['port']}"
            )
            for job in AGENTS:
                phone = Phone(asterisk, job, secrets[job], answer_after=1.0, talk_for=6)
                await phone.start()
                phones.append(phone)
                await engines["a"].agent_logged_in(job)
            arrivals = asyncio.ensure_future(self._arrivals(Callers(asterisk), callers))
            leader, standby = "a", "b"
            for n in range(1, self.args.failovers + 1):
                await asyncio.sleep(self.args.every)
                result = await self._failover(engines[leader], engines[standby])
                self.rounds.append(result)
                print(
                    f"round={n} killed={leader} takeover_s={result['takeover_s']:.2f} "
                    f"callers_waiting={result['waiting']} "
                    f"agents_restored={result['restored']}/{len(AGENTS)}",
                    flush=True,
                )
                await engines[leader].start()  # back as the standby
                leader, standby = standby, leader
            arrivals.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await arrivals
            if callers:
                await asyncio.wait(callers, timeout=CALL_LIMIT_S + 30)
        finally:
            for task in callers:
                task.cancel()
            for phone in phones:
                await phone.stop()
            for engine in engines.values():
                with contextlib.suppress(Exception):
                    await engine.stop()
            with contextlib.suppress(Exception):
                await asterisk.set_global("ACD_AGI", f"agi://127.0.0.1:{self.pbx.agi_port}")
                await asterisk.set_global("ACD_AGI_2", "")
            await ami.close()
            await asyncio.to_thread(database.stop)

    async def _arrivals(self, dialler: Callers, tasks: set[asyncio.Task[None]]) -> None:
        n = 0
        while True:
            n += 1
            task = asyncio.ensure_future(self._caller(dialler, f"1391{n:07d}"))
            tasks.add(task)
            await asyncio.sleep(self.args.gap)

    async def _caller(self, dialler: Callers, number: str) -> None:
        """A caller as a person is: presses 2 whenever the main menu plays, until an agent."""
        deadline = time.monotonic() + CALL_LIMIT_S
        try:
            caller = await dialler.dial(number=number, max_seconds=int(CALL_LIMIT_S) + 60)
            menu = await caller.hears("main_menu", timeout=60)
            while True:
                await caller.press("2")
                left = max(1.0, deadline - time.monotonic())
                served = asyncio.ensure_future(caller.hears("agent_greeting_before", left))
                again = asyncio.ensure_future(caller.hears_next("main_menu", menu, left))
                for task in (served, again):  # the one not awaited may fail on its own
                    task.add_done_callback(lambda t: t.cancelled() or t.exception())
                done, _ = await asyncio.wait({served, again}, return_when="FIRST_COMPLETED")
                if served in done:
                    again.cancel()
                    served.result()
                    self.served += 1
                    return
                served.cancel()
                menu = again.result()  # the menu again: the engine was switched mid-menu
                self.menus_again += 1
        except Exception as exc:  # dropped, or never served: lost
            self.lost.append(f"{number}: {type(exc).__name__}: {exc}"[:200])

    async def _failover(self, leader: Centre, standby: Centre) -> dict[str, Any]:
        snapshot = await (await leader.login(SUPERVISOR)).get("/supervisor/snapshot")
        waiting = sum(line["waiting"] for line in snapshot["lines"].values())
        before = {a["job_number"]: a for a in snapshot["agents"] if a["job_number"] in AGENTS}
        killed = time.monotonic()
        await leader.kill()
        took = await leads(standby) - killed
        snapshot = await (await standby.login(SUPERVISOR)).get("/supervisor/snapshot")
        after = {a["job_number"]: a for a in snapshot["agents"]}
        restored = 0
        for job, was in before.items():
            now = after[job]
            if was["state"] == "not_ready":
                restored += (now["state"], now.get("reason")) == ("not_ready", was.get("reason"))
            else:
                restored += now["state"] != "logged_out"
        return {"takeover_s": took, "waiting": waiting, "restored": restored}

    def summary(self) -> str:
        takeovers = [r["takeover_s"] for r in self.rounds]
        worst = max(takeovers) if takeovers else float("nan")
        median = statistics.median(takeovers) if takeovers else float("nan")
        waiting = sum(r["waiting"] for r in self.rounds)
        restored = sum(r["restored"] for r in self.rounds)
        return (
            f"failover takeover_s={worst:.2f} callers_waiting={waiting} "
            f"callers_lost={len(self.lost)} "
            f"agents_restored={restored}/{len(AGENTS) * len(self.rounds)}"
            f"\ndetail failovers={len(self.rounds)} takeover_p50_s={median:.2f} "
            f"callers_served={self.served} menus_heard_again={self.menus_again}"
        )


async def main(args: argparse.Namespace) -> None:
    pbx = Pbx()
    await asyncio.to_thread(pbx.start)
    bench: Bench | None = None
    try:
        workdir = Path(tempfile.mkdtemp(prefix="acd-failover-"))
        print(f"logs in {workdir}", flush=True)
        bench = Bench(pbx, workdir, args)
        await bench.run()
    finally:
        await asyncio.to_thread(pbx.destroy)
    print(bench.summary())
    for line in bench.lost:
        print(f"lost {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failovers", type=int, default=10)
    parser.add_argument("--every", type=float, default=12.0, help="seconds between failovers")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between callers")
    asyncio.run(main(parser.parse_args()))
