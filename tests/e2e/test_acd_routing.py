"""Routing on the real Asterisk with real SIP phones: skills, no answer, abandon, restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from acd.app import Daemon
from acd.core.agents import AgentState, AgentStateChanged, NotReadyReason
from acd.storage.agent_states import AgentStateLog
from acd.storage.db import create_engine, migrate
from tests.e2e.conftest import Callers, eventually, make_settings, stored_event
from tests.e2e.tomlfile import write_toml

ACD = str(Path(sys.executable).parent / "acd")


def ready(daemon: Daemon, *jobs: str) -> None:
    for job in jobs:
        daemon.centre.log_in(job)
        daemon.centre.ready(job)


async def test_three_lines_route_by_skill(daemon: Daemon, callers: Callers, phones):
    agents = {
        job: await phones(job, answer_after=0.5, talk_for=10) for job in ("1001", "1002", "1003")
    }
    ready(daemon, "1001", "1002", "1003")
    cruise, _ = await callers.call(digits="10", delay=2, hold=40, number="13900000001")
    tour, _ = await callers.call(digits="2", delay=2, hold=40, number="13900000002")
    free, _ = await callers.call(digits="30", delay=2, hold=40, number="13900000003")
    for call_id, job in ((cruise, "1002"), (tour, "1001"), (free, "1003")):
        answered = await eventually(
            lambda c=call_id: stored_event(daemon, c, "answered"), timeout=30
        )
        assert answered.data["agent"] == job, (call_id, answered.data)
    assert [c.caller_number for c in agents["1002"].calls] == ["13900000001"]
    assert [c.caller_number for c in agents["1001"].calls] == ["13900000002"]
    assert [c.caller_number for c in agents["1003"].calls] == ["13900000003"]


async def test_ring_no_answer_moves_to_the_next_agent(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path, acd={"ring_timeout": 4})
    async with Daemon(settings) as daemon:
        sleepy = await phones("1001", answer_after=None)  # tour level 5: rung first
        backup = await phones("1003", answer_after=0.5, talk_for=5)  # tour level 2
        ready(daemon, "1001", "1003")
        call_id, _ = await callers.call(digits="2", delay=2, hold=40)
        answered = await eventually(lambda: stored_event(daemon, call_id, "answered"), timeout=30)
        assert answered.data["agent"] == "1003"
        assert len(sleepy.calls) == 1 and sleepy.calls[0].answered_at is None
        status = daemon.centre.core.status("1001")
        assert (status.state, status.reason) == (AgentState.NOT_READY, NotReadyReason.NO_ANSWER)
        assert backup.calls[0].caller_number == "13800138000"
        # The unanswered phone stopped ringing: no channel of 1001 is left.
        await eventually(
            lambda: not any(n.startswith("PJSIP/1001-") for n in running_pbx.channels().values()),
            timeout=5,
        )


async def test_caller_hanging_up_while_the_agent_rings_frees_the_agent_within_2_s(
    daemon: Daemon, callers: Callers, phones
):
    phone = await phones("1001", answer_after=None)
    ready(daemon, "1001")
    call_id, _ = await callers.call(digits="2", delay=2, hold=9)
    await eventually(lambda: phone.calls, timeout=20)
    status = daemon.centre.core.status("1001")
    assert status.state is AgentState.RINGING
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=20)
    gone = asyncio.get_running_loop().time()
    await eventually(lambda: status.state is AgentState.READY, timeout=2, interval=0.02)
    assert asyncio.get_running_loop().time() - gone < 2
    abandoned = await eventually(lambda: stored_event(daemon, call_id, "abandoned"), timeout=5)
    assert abandoned.data["line"] == "tour"
    assert abandoned.data["while_ringing"] == "1001"
    assert abandoned.data["waited"] > 0
    await eventually(
        lambda: not any(n.startswith("PJSIP/1001-") for n in callers.pbx.channels().values()),
        timeout=5,
    )


async def test_kill_9_while_two_callers_wait_then_both_are_connected_in_order(
    running_pbx, callers: Callers, phones, tmp_path
):
    settings = make_settings(running_pbx, tmp_path, acd={"wrap_up": 1})
    config = write_toml(
        tmp_path / "acd.toml",
        json.loads(settings.model_dump_json())
        | {
            "ami": {"port": running_pbx.ami_port, "secret": running_pbx.secret},
        },
    )
    # Agent 1001 is logged in but not ready (in training) when the engine starts.
    db = create_engine(settings.database.url)
    await migrate(db)
    await AgentStateLog(db).append(
        [
            AgentStateChanged(
                "1001", AgentState.LOGGED_OUT, AgentState.NOT_READY, NotReadyReason.TRAINING, 1.0
            ),
            AgentStateChanged("1003", AgentState.NOT_READY, AgentState.READY, None, 1.0),
        ]
    )
    await db.dispose()
    engine = await asyncio.create_subprocess_exec(
        ACD,
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "ACD_SYSTEMD__NOTIFY": "false"},
    )
    talking = await phones("1003", answer_after=0.5, talk_for=120)
    try:
        await eventually(lambda: _port_open(settings.http.port), timeout=20)
        # Agent 1003 takes a free-travel call and is bridged when the engine dies.
        bridged, _ = await callers.call(digits="30", delay=2, hold=120, number="13900000010")
        await eventually(lambda: talking.calls and talking.calls[0].answered_at, timeout=30)
        agent_leg = await eventually(lambda: _channel_of(running_pbx, "PJSIP/1003-"), timeout=10)
        await eventually(lambda: running_pbx.bridged_together(bridged, agent_leg), timeout=15)
        # Nobody else is ready: both tour callers wait, the first one first.
        first, _ = await callers.call(digits="2", delay=2, hold=90, number="13900000011")
        await asyncio.sleep(1.5)
        second, _ = await callers.call(digits="2", delay=2, hold=90, number="13900000012")
        await eventually(
            lambda: (
                {first, second}
                <= {u for u, row in running_pbx.concise().items() if row[1] == "acd-wait"}
            ),
            timeout=30,
        )
    finally:
        engine.send_signal(signal.SIGKILL)
        await engine.wait()
    # The engine is gone; the callers still hear music, nobody is dropped,
    # and the bridged call goes on.
    await asyncio.sleep(3)
    assert {first, second} <= set(running_pbx.channels())
    assert running_pbx.bridged_together(bridged, agent_leg)

    phone = await phones("1001", answer_after=0.5, talk_for=3)
    async with Daemon(settings) as daemon:
        # The new engine knows 1001 is logged in (stored state); they go ready.
        assert daemon.centre.core.status("1001").reason is NotReadyReason.TRAINING
        # 1003 is still on the bridged call: talking, and not offered the waiting callers.
        assert daemon.centre.core.status("1003").state is AgentState.TALKING
        daemon.centre.ready("1001")
        for call_id in (first, second):
            await eventually(lambda c=call_id: stored_event(daemon, c, "greeted"), timeout=40)
        assert running_pbx.bridged_together(bridged, agent_leg)
    assert [c.caller_number for c in phone.calls] == ["13900000011", "13900000012"]
    assert phone.calls[0].answered_at < phone.calls[1].rang_at
    assert [c.caller_number for c in talking.calls] == ["13900000010"]


def _customer_legs(pbx, number: str) -> list[str]:
    prefix = f"Local/{number}@customer-probe"
    return [
        u for u, name in pbx.channels().items() if name.startswith(prefix) and name.endswith(";1")
    ]


def _channel_of(pbx, prefix: str) -> str | None:
    return next((u for u, name in pbx.channels().items() if name.startswith(prefix)), None)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_waiting_caller_presses_9_for_a_callback_and_the_agent_is_rung_first(
    daemon: Daemon, callers: Callers, phones, customer_trunk
):
    phone = await phones("1001", answer_after=0.5, talk_for=3)
    daemon.centre.log_in("1001")  # logged in, not ready yet: the caller waits
    call_id, _ = await callers.call(
        digits="2" + "w" * 16 + "9", delay=2, hold=40, number="13900000021"
    )
    request = await eventually(
        lambda: stored_event(daemon, f"cb-{call_id}", "callback_requested"), timeout=40
    )
    assert request.data == {"line": "tour", "number": "13900000021"}
    await eventually(lambda: call_id not in callers.pbx.channels(), timeout=15)
    assert call_id not in daemon.centre.core.waiting
    daemon.centre.ready("1001")
    # The agent's phone rings first, showing the customer's number; on answer the
    # engine dials the customer (the bundled Asterisk has no trunk, so it stops there).
    answered = await eventually(
        lambda: stored_event(daemon, f"cb-{call_id}", "answered"), timeout=20
    )
    assert answered.data["agent"] == "1001"
    assert [c.caller_number for c in phone.calls] == ["13900000021"]
    # Then the customer's phone rings, exactly once for this request.
    customer = await eventually(lambda: _customer_legs(callers.pbx, "13900000021"), timeout=15)
    await asyncio.sleep(2)
    assert len(_customer_legs(callers.pbx, "13900000021")) == len(customer) == 1
