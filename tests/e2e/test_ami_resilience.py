"""The AMI link against the real Asterisk: cuts, freezes and restarts."""

from __future__ import annotations

import asyncio
import time

import pytest

from acd.ami.errors import AmiDisconnected
from acd.app import Daemon
from acd.settings import AmiSettings
from tests.e2e.conftest import eventually, make_settings
from tests.e2e.pbx import Pbx
from tests.e2e.tcpproxy import TcpProxy


def long_call(channel_id: str, answer_delay: float = 0, hold: float = 60) -> dict[str, object]:
    """An Originate that creates one Local pair and keeps it up for ``hold`` seconds."""
    return {
        "Channel": "Local/answer-later@hotline-probe",
        "Application": "Wait",
        "Data": str(int(hold)),
        "ChannelId": channel_id,
        "Variable": [f"PROBE_ANSWER_DELAY={answer_delay}", f"PROBE_HOLD={int(hold)}"],
    }


def engine_view(daemon: Daemon) -> set[str]:
    return {c.uniqueid for c in daemon.engine.channels.all()}


async def test_cut_connection_reconnects_resyncs_and_never_duplicates_an_action(
    running_pbx: Pbx, tmp_path
):
    async with TcpProxy(running_pbx.ami_port) as proxy:
        settings = make_settings(running_pbx, tmp_path, ami_port=proxy.port)
        async with Daemon(settings) as daemon:
            tag = f"cut-{int(time.time() * 1000)}"
            # A synchronous Originate: Asterisk answers only once the call is up (3 s).
            pending = asyncio.create_task(
                daemon.ami.originate(
                    {**long_call(tag, answer_delay=3), "Async": "false"}, timeout=20
                )
            )
            await asyncio.sleep(1)
            proxy.cut()
            with pytest.raises(AmiDisconnected, match="not resent"):
                await pending
            assert not daemon.ami.up

            await eventually(lambda: daemon.ami.up, timeout=10)
            assert daemon.engine.resyncs == 2
            # Long after the original answer time, Asterisk ran the Originate once.
            await asyncio.sleep(4)
            ours = [u for u in running_pbx.channels() if u.startswith(tag)]
            assert sorted(ours) == [tag, f"{tag};2"], ours
            # The engine's view, rebuilt by the resync and events, matches Asterisk's.
            await eventually(lambda: engine_view(daemon) == set(running_pbx.channels()), timeout=5)
            running_pbx.cli(f"channel request hangup {running_pbx.channels()[tag]}")


async def test_frozen_asterisk_is_noticed_within_5_seconds(running_pbx: Pbx, tmp_path):
    async with TcpProxy(running_pbx.ami_port) as proxy:
        settings = make_settings(running_pbx, tmp_path, ami_port=proxy.port)
        async with Daemon(settings) as daemon:
            proxy.freeze()  # the socket stays open; nothing comes through
            frozen_at = time.monotonic()
            await eventually(lambda: not daemon.ami.up, timeout=6, interval=0.05)
            assert time.monotonic() - frozen_at <= 5
            assert "Ping" in daemon.ami.last_error
            await eventually(lambda: daemon.ami.up, timeout=10)
            assert proxy.connections == 2
            assert daemon.engine.resyncs == 2


async def test_asterisk_restart_is_noticed_and_the_view_matches_asterisk(
    running_pbx: Pbx, tmp_path
):
    async with Daemon(make_settings(running_pbx, tmp_path)) as daemon:
        before = f"before-{int(time.time() * 1000)}"
        call = {**long_call(before), "Async": "true", "CallerID": '"张伟旅游" <13800138000>'}
        await daemon.ami.originate(call)
        await eventually(lambda: before in engine_view(daemon), timeout=5)
        # A Chinese caller name arrives intact through AMI events.
        await eventually(lambda: daemon.engine.channels.get(before).caller_name == "张伟旅游")

        await asyncio.to_thread(running_pbx.stop)
        await eventually(lambda: not daemon.ami.up, timeout=5)
        await asyncio.to_thread(running_pbx.start)
        # A call that starts while the engine is still reconnecting.
        from acd.ami.connection import AmiConnection

        probe = AmiConnection(
            AmiSettings(port=running_pbx.ami_port, secret=running_pbx.secret), lambda m: None
        )
        await probe.start()
        after = f"after-{int(time.time() * 1000)}"
        await probe.originate({**long_call(after), "Async": "true"})
        await probe.close()

        await eventually(lambda: daemon.ami.up, timeout=15)
        assert daemon.engine.resyncs >= 2
        await eventually(lambda: after in engine_view(daemon), timeout=5)
        live = running_pbx.channels()
        assert engine_view(daemon) == set(live)
        assert before not in engine_view(daemon)
        running_pbx.cli(f"channel request hangup {live[after]}")
