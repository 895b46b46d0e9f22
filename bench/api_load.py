"""API under load: 50 agents on the event stream changing state, a supervisor polling.

Prints p50/p99 of a state change (POST .../ready or .../not-ready) and of the
supervisor snapshot, plus how many events each agent's stream received.
The server runs in this process on loopback with the real core and SQLite.

    .venv/bin/python -m bench.api_load [AGENTS] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, web

from acd.core.agents import Agent, Role
from acd.logs import configure_logging
from acd.settings import LogSettings
from tests.apiapp import api_app


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


async def main(n_agents: int, rounds: int) -> None:
    configure_logging(LogSettings(level="warning"))
    agents = [
        Agent(str(2000 + i), f"agent {i}", f"PJSIP/{2000 + i}", {"tour": 5})
        for i in range(n_agents)
    ]
    agents.append(Agent("1901", "supervisor", "PJSIP/1901", {}, Role.SUPERVISOR))
    roles = tuple(
        (a.job_number, "supervisor" if a.role is Role.SUPERVISOR else "agent") for a in agents
    )
    async with api_app(Path(tempfile.mkdtemp()), agents, roles) as (app, services, _):
        await services.pipeline.start()  # stores state changes as in production
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await drive(f"http://127.0.0.1:{port}/api/v1", agents, rounds, n_agents)
        finally:
            await runner.cleanup()
            await services.pipeline.stop()


async def drive(base: str, agents: list[Agent], rounds: int, n_agents: int) -> None:
    changes: list[float] = []
    snapshots: list[float] = []
    received: dict[str, int] = {}

    async with ClientSession() as http:

        async def token(job: str) -> dict[str, str]:
            resp = await http.post(
                f"{base}/auth/login", json={"job_number": job, "password": f"secret-{job}"}
            )
            return {"Authorization": f"Bearer {(await resp.json())['token']}"}

        async def agent(job: str, headers: dict[str, str]) -> None:
            ws = await http.ws_connect(f"{base}/events", headers=headers)
            received[job] = 0

            async def listen() -> None:
                async for _ in ws:
                    received[job] += 1

            listener = asyncio.create_task(listen())
            await http.post(f"{base}/agents/{job}/login", headers=headers)
            for i in range(rounds):
                action = "ready" if i % 2 == 0 else "not-ready"
                body = None if action == "ready" else {"reason": "break"}
                started = time.perf_counter()
                resp = await http.post(f"{base}/agents/{job}/{action}", headers=headers, json=body)
                changes.append((time.perf_counter() - started) * 1000)
                assert resp.status == 200, await resp.text()
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            await ws.close()
            listener.cancel()

        async def supervisor(headers: dict[str, str], stop: asyncio.Event) -> None:
            while not stop.is_set():
                started = time.perf_counter()
                resp = await http.get(f"{base}/supervisor/snapshot", headers=headers)
                await resp.read()
                snapshots.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.1)

        tokens = {a.job_number: await token(a.job_number) for a in agents}
        stop = asyncio.Event()
        watcher = asyncio.create_task(supervisor(tokens["1901"], stop))
        await asyncio.gather(
            *(agent(a.job_number, tokens[a.job_number]) for a in agents if a.role is Role.AGENT)
        )
        stop.set()
        await watcher
    per_agent = statistics.mean(received.values())
    print(
        f"api_load agents={n_agents} state_changes={len(changes)} "
        f"change_p50_ms={statistics.median(changes):.1f} change_p99_ms={pct(changes, 99):.1f} "
        f"snapshots={len(snapshots)} snapshot_p50_ms={statistics.median(snapshots):.1f} "
        f"snapshot_p99_ms={pct(snapshots, 99):.1f} events_per_agent_stream={per_agent:.0f}"
    )


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 50,
            int(sys.argv[2]) if len(sys.argv) > 2 else 20,
        )
    )
