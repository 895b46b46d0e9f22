"""Time from an agent becoming ready (a caller waiting) to that agent's phone ringing.

Runs against the bundled Asterisk (its own instance, as root) with a real SIP
phone (pyVoIP). Callers queue up first; then, each round, the agent ends
after-call work and we time until the phone answers the INVITE with
"180 Ringing" (Asterisk's Newstate Ringing for the agent's channel, seen by an
AMI observer). pyVoIP itself hands the call to its callback a fixed second
later, so the phone's own callback time is not used.

    .venv/bin/python -m bench.ready_to_ring [CALLS]    (default 60)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from acd.app import Daemon
from acd.core.agents import AgentState
from acd.logs import configure_logging
from acd.settings import LogSettings, Settings
from tests.e2e.ami import Ami
from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Caller, Callers
from tests.e2e.centre import centre_config
from tests.e2e.pbx import Pbx
from tests.e2e.phones import Phone


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


async def choose_tour(caller: Caller) -> None:
    await caller.hears("main_menu", timeout=120)
    await caller.press("2", after=0)


async def main(calls: int) -> None:
    configure_logging(LogSettings(level="warning"))
    pbx = Pbx()
    pbx.start()
    tmp = Path(tempfile.mkdtemp())
    config = centre_config(pbx, tmp, acd={"wrap_up": 3600, "ring_timeout": 20})
    settings = Settings.model_validate(config | {"log": {"level": "warning"}})
    ami = Ami(pbx.ami_port, "tests", pbx.test_secret)
    await ami.connect()
    asterisk = Asterisk(pbx, ami)
    samples = []
    phone: Phone | None = None
    try:
        async with Daemon(settings) as daemon:
            assert daemon.services is not None
            # The agent's own phone, with its own secret.
            secret = await daemon.services.phones.issue_secret("1001")
            phone = Phone(asterisk, "1001", secret, answer_after=0.2, talk_for=0.2)
            await phone.start()
            centre, core = daemon.services.centre, daemon.services.pipeline.core
            centre.log_in("1001")
            callers = Callers(asterisk)
            placed = [await callers.dial(number=f"1390000{i:04d}") for i in range(calls)]
            await asyncio.gather(*(choose_tour(c) for c in placed))
            await wait_for(lambda: len(core.waiting) == calls, timeout=120)
            status = core.status("1001")
            for i in range(calls):
                mark = ami.mark()
                started = time.monotonic()
                if i == 0:
                    centre.ready("1001")
                else:
                    centre.end_wrap_up("1001")
                ring = await ami.wait(
                    lambda e: (
                        e.name == "Newstate"
                        and e.get("ChannelStateDesc") == "Ringing"
                        and e.get("Channel").startswith("PJSIP/1001-")
                    ),
                    timeout=20,
                    since=mark,
                )
                samples.append((ring.at - started) * 1000)
                await wait_for(lambda: status.state is AgentState.AFTER_CALL, timeout=20)
            await asterisk.hang_up_everything()
    finally:
        if phone is not None:
            await phone.stop()
        await ami.close()
        pbx.destroy()
    q = statistics.quantiles(samples, n=100, method="inclusive")
    print(
        f"ready_to_ring calls={len(samples)} p50_ms={statistics.median(samples):.1f} "
        f"p95_ms={q[94]:.1f} p99_ms={q[98]:.1f} max_ms={max(samples):.1f}"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
