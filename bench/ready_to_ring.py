"""Time from an agent becoming ready (a caller waiting) to that agent's phone ringing.

Runs against the bundled Asterisk (its own instance, as root) with a real SIP
phone (pyVoIP). Callers queue up first; then, each round, the agent ends
after-call work and we time until the phone answers the INVITE with
"180 Ringing" (Asterisk's Newstate Ringing for the agent's channel, as the
engine receives it). pyVoIP itself hands the call to its callback a fixed
second later, so the phone's own callback time is not used.

    .venv/bin/python -m bench.ready_to_ring [CALLS]    (default 60)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from acd.ami.connection import AmiConnection
from acd.app import Daemon
from acd.core.agents import AgentState
from acd.logs import configure_logging
from acd.settings import AmiSettings, LogSettings
from tests.e2e.conftest import Callers, make_settings
from tests.e2e.pbx import Pbx
from tests.e2e.phones import Phone


class RingWatcher:
    """Notes when the agent's channel reports Ringing (the phone sent 180)."""

    def __init__(self, prefix: str, rings: list[float]) -> None:
        self.prefix = prefix
        self.rings = rings

    def on_ami_event(self, message) -> None:
        if (
            message.get("Event") == "Newstate"
            and message.get("ChannelStateDesc") == "Ringing"
            and message.get("Channel", "").startswith(self.prefix)
        ):
            self.rings.append(time.monotonic())

    def on_resync(self, report, live) -> None:
        pass


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


async def main(calls: int) -> None:
    configure_logging(LogSettings(level="warning"))
    pbx = Pbx(instance="bench", ami_port=26038, sip_port=26060, agi_port=26573, rtp_start=33000)
    pbx.start()
    tmp = Path(tempfile.mkdtemp())
    settings = make_settings(pbx, tmp, acd={"wrap_up": 3600, "ring_timeout": 20})
    phone = Phone(pbx, "1001", 26101, answer_after=0.2, talk_for=0.2)
    await asyncio.to_thread(phone.start)
    try:
        async with Daemon(settings) as daemon:
            centre = daemon.centre
            centre.log_in("1001")
            ami = AmiConnection(AmiSettings(port=pbx.ami_port, secret=pbx.secret), lambda m: None)
            await ami.start()
            callers = Callers(pbx, ami)
            for i in range(calls):
                await callers.call(digits="2", delay=0.5, hold=900, number=f"1390000{i:04d}")
            await wait_for(lambda: len(centre.core.waiting) == calls, timeout=120)
            status = centre.core.status("1001")
            rings: list[float] = []
            daemon.engine.subscribe(RingWatcher("PJSIP/1001-", rings))
            samples = []
            for i in range(calls):
                started = time.monotonic()
                if i == 0:
                    centre.ready("1001")
                else:
                    centre.end_wrap_up("1001")
                await wait_for(lambda i=i: len(rings) > i, timeout=20)
                samples.append((rings[i] - started) * 1000)
                await wait_for(lambda: status.state is AgentState.AFTER_CALL, timeout=20)
            await ami.close()
    finally:
        await asyncio.to_thread(phone.stop)
        pbx.stop()
    q = statistics.quantiles(samples, n=100, method="inclusive")
    print(
        f"ready_to_ring calls={len(samples)} p50_ms={statistics.median(samples):.1f} "
        f"p95_ms={q[94]:.1f} p99_ms={q[98]:.1f} max_ms={max(samples):.1f}"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
