"""The AMI adapter against transcripts recorded from a real Asterisk, over real TCP."""

from __future__ import annotations

import asyncio
import threading

import pytest

from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiAuthError, AmiDisconnected, AmiTimeout, AmiUnreachable
from acd.engine import Engine
from acd.settings import AmiSettings
from tests.amireplay import AmiReplayServer, load


def settings(port: int, **overrides: object) -> AmiSettings:
    values: dict[str, object] = {
        "port": port,
        "secret": "s3cret",
        "ping_interval": 30,
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
        "startup_timeout": 2,
        "connect_timeout": 2,
    }
    values.update(overrides)
    return AmiSettings.model_validate(values)


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def connected_engine(port: int, **overrides: object) -> tuple[Engine, AmiConnection]:
    engine = Engine()
    await engine.start()
    ami = AmiConnection(settings(port, **overrides), engine.on_ami_event)
    engine.bind(ami)
    await ami.start()
    return engine, ami


async def test_snapshot_keeps_chinese_names_split_across_reads_and_stream_order():
    # One byte per TCP write: every multibyte character is split across reads.
    async with AmiReplayServer(load("login_and_snapshot.ami"), chunk_size=1) as pbx:
        engine, ami = await connected_engine(pbx.port)
        try:
            await until(lambda: engine.events_applied == 2)
            # The snapshot was applied before the Newstate/Hangup that followed
            # it in the stream: the hung-up channel is gone, the other is Up.
            (channel,) = engine.channels.all()
            assert channel.uniqueid == "1795433747.1"
            assert channel.caller_name == "张伟旅游"
            assert channel.caller_number == "13800138000"
            assert channel.state == "Up"
            assert ami.asterisk_version.startswith("22.")
        finally:
            await ami.close()
            await engine.stop()


async def test_login_uses_md5_challenge_and_never_sends_the_secret():
    async with AmiReplayServer(load("login_and_snapshot.ami")) as pbx:
        engine, ami = await connected_engine(pbx.port)
        await ami.close()
        await engine.stop()
    (login,) = pbx.actions("Login")
    assert login["AuthType"] == "MD5"
    assert "Secret" not in login
    assert all("s3cret" not in value for action in pbx.received for value in action.values())


async def test_wrong_secret_is_a_clear_error_and_not_retried():
    async with AmiReplayServer(load("login_refused.ami")) as pbx:
        ami = AmiConnection(settings(pbx.port), lambda m: None)
        with pytest.raises(AmiAuthError, match="refused AMI login for user 'acd'"):
            await ami.start()
        assert pbx.connections == 1
        assert not ami.up


async def test_unreachable_asterisk_gives_up_at_the_startup_deadline():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    ami = AmiConnection(settings(port, startup_timeout=0.5), lambda m: None)
    started = asyncio.get_running_loop().time()
    with pytest.raises(AmiUnreachable, match=f"127.0.0.1:{port}"):
        await ami.start()
    assert asyncio.get_running_loop().time() - started < 2


async def test_frozen_asterisk_is_detected_by_ping_and_redialled():
    frozen = [*load("login_and_snapshot.ami"), "!!! freeze"]
    async with AmiReplayServer(frozen, load("login_and_snapshot.ami")) as pbx:
        engine, ami = await connected_engine(pbx.port, ping_interval=1, ping_timeout=1)
        try:
            lost_at = asyncio.get_running_loop().time()
            await until(lambda: pbx.connections == 2 and ami.up, timeout=5)
            assert asyncio.get_running_loop().time() - lost_at < 5
            assert engine.resyncs == 2
        finally:
            await ami.close()
            await engine.stop()


async def test_unanswered_originate_fails_on_cut_and_is_never_replayed():
    first = [*load("login_and_snapshot.ami"), ">>> Originate"]
    async with AmiReplayServer(first, load("login_and_snapshot.ami")) as pbx:
        engine, ami = await connected_engine(pbx.port)
        try:
            pending = asyncio.create_task(
                ami.originate({"Channel": "Local/s@hotline", "Application": "Wait", "Data": "1"})
            )
            await until(lambda: len(pbx.actions("Originate")) == 1)
            pbx.cut()
            with pytest.raises(AmiDisconnected, match="not resent"):
                await pending
            await until(lambda: ami.up and pbx.connections == 2)
            await asyncio.sleep(0.3)
            assert len(pbx.actions("Originate")) == 1
            assert engine.resyncs == 2
        finally:
            await ami.close()
            await engine.stop()


async def test_every_action_has_a_timeout():
    silent = [*load("login_and_snapshot.ami"), ">>> Originate"]
    async with AmiReplayServer(silent) as pbx:
        engine, ami = await connected_engine(pbx.port)
        try:
            with pytest.raises(AmiTimeout, match=r"Originate within 0\.3 s"):
                await ami.originate({"Channel": "Local/s@hotline"}, timeout=0.3)
        finally:
            await ami.close()
            await engine.stop()


def test_a_link_cut_while_the_snapshot_is_applied_reconnects_and_never_freezes_the_loop():
    # The link dies right after the snapshot's last event, while the engine applies it.
    # The event loop runs in its own thread: if the connection spun on a set event
    # (marked up with no link), that loop would never yield and the thread never end.
    outcome: dict[str, object] = {}

    async def scenario() -> None:
        cut = load("cut_during_resync.ami")
        async with AmiReplayServer(cut, load("login_and_snapshot.ami")) as pbx:
            engine = Engine()
            await engine.start()
            lost: list[str] = []
            ami = AmiConnection(settings(pbx.port), engine.on_ami_event)
            engine.bind(ami)
            ami.on_lost(lost.append)
            try:
                # The first connection's resync is cut: start() retries or comes up on
                # the second; either way it must end up on a live link, in sync.
                await ami.start()
                await until(lambda: ami.up and pbx.connections == 2, timeout=5)
                outcome["up"] = ami.up
                outcome["connections"] = pbx.connections
                outcome["lost"] = len(lost)
                outcome["ping"] = (await ami.send_action({"Action": "Ping"})).success
            finally:
                await ami.close()
                await engine.stop()

    thread = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    thread.start()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the event loop froze after the link was cut mid-resync"
    assert outcome == {"up": True, "connections": 2, "lost": 1, "ping": True}


async def test_a_dropped_link_is_told_to_the_engine_but_a_clean_stop_is_not():
    async with AmiReplayServer(load("login_and_snapshot.ami")) as pbx:
        engine, ami = await connected_engine(pbx.port)
        lost: list[str] = []
        ami.on_lost(lost.append)
        try:
            pbx.cut()
            await until(lambda: len(lost) == 1)
            assert "connection lost" in lost[0]
            await until(lambda: ami.up)
        finally:
            await ami.close()
            await engine.stop()
        assert len(lost) == 1  # stopping acd is no outage (no alarm on the way out)


async def test_asterisk_saying_it_is_fully_booted_at_login_is_told_on():
    """A standby pair's leader points the dialplan at itself on it: set any earlier, while
    a restarted Asterisk still loads its dialplan, the configured globals overwrite it."""
    async with AmiReplayServer(load("login_and_snapshot.ami")) as pbx:
        engine = Engine()
        booted: list[bool] = []
        engine.on_booted(lambda: booted.append(True))
        await engine.start()
        ami = AmiConnection(settings(pbx.port), engine.on_ami_event)
        engine.bind(ami)
        try:
            await ami.start()
            await until(lambda: booted == [True])
        finally:
            await ami.close()
            await engine.stop()
