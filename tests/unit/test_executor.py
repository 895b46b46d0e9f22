"""The AMI executor against a transcript of a real Asterisk, over real TCP."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from acd.ami.connection import AmiConnection
from acd.ami.executor import Uncertain
from acd.ami.recorder import Recorder, RecordingDisk
from acd.core.calls import AgentLeg, CallBook, CallInfo
from acd.core.commands import ConnectCall, StopRinging
from acd.core.progress import AgentAnswered
from acd.engine import Engine
from acd.settings import RecordingSettings
from tests.amireplay import AmiReplayServer, load
from tests.apiapp import api_app
from tests.unit.test_ami_connection import connected_engine, until

# A day the host's clock cannot be on while the test runs.
CENTRE_DAY = date(2031, 12, 31)


def recorder_for(
    ami: AmiConnection, engine: Engine, recording: RecordingSettings, **kw: Any
) -> Recorder:
    options: dict[str, Any] = {
        "disk": RecordingDisk(),
        "recording_started": lambda info, agent: None,
        "recording_ended": lambda call_id, finished: None,
    }
    options.update(kw)
    return Recorder(
        ami,
        engine.channels,
        CallBook(),
        recording=recording,
        local_date=lambda: CENTRE_DAY,
        **options,
    )


async def test_a_recording_is_filed_under_the_centres_local_day_not_the_hosts(tmp_path: Path):
    started: list[tuple[CallInfo, str]] = []
    async with AmiReplayServer(load("login_and_record.ami")) as pbx:
        engine, ami = await connected_engine(pbx.port)
        try:
            settings = RecordingSettings(dir=tmp_path / "rec", asterisk_dir="/srv/rec")
            recorder = recorder_for(
                ami, engine, settings, recording_started=lambda *row: started.append(row)
            )
            info = CallInfo("1795433747.1", "tour", "en")
            path = await recorder.prepare_on_connect(info)
            assert path is not None
            recorder.started(info, path, "1001")  # the caller was put through to 1001
        finally:
            await ami.close()
            await engine.stop()
    (action,) = pbx.actions("Setvar")  # the dialplan starts MixMonitor with it
    assert (action["Variable"], action["Value"]) == (
        "ACD_RECORD_FILE",
        "/srv/rec/2031-12-31/1795433747.1.wav",
    )
    assert info.recording == tmp_path / "rec" / "2031-12-31" / "1795433747.1.wav"
    assert started == [(info, "1001")]


async def test_no_recording_starts_while_the_disk_is_full(tmp_path: Path):
    async with AmiReplayServer(load("login_and_record.ami")) as pbx:
        engine, ami = await connected_engine(pbx.port)
        try:
            disk = RecordingDisk()
            disk.set_full(True)
            settings = RecordingSettings(dir=tmp_path / "rec")
            recorder = recorder_for(ami, engine, settings, disk=disk)
            info = CallInfo("1795433747.1", "tour", "en")
            assert await recorder.prepare_on_connect(info) is None
            assert not await recorder.start_now(info, "1001")
        finally:
            await ami.close()
            await engine.stop()
    assert pbx.actions("Setvar") == [] and info.recording is None


async def test_a_leg_stopped_before_its_channel_was_reported_is_hung_up_when_it_appears(
    tmp_path: Path,
):
    async with AmiReplayServer(load("late_leg.ami")) as pbx:
        ami_section = {"port": pbx.port, "secret": "s3cret", "ping_interval": 30}
        async with api_app(tmp_path, ami=ami_section) as (_, services, _):
            await services.engine.start()
            await services.ami.start()
            try:
                # acd rang 1001 for c1 (Originate is asynchronous); the caller left at once.
                services.pipeline.book.legs["acd-late-leg"] = AgentLeg("acd-late-leg", "c1", "1001")
                await services.pipeline.executor.execute(StopRinging("c1", "1001"))
                # The leg's Newchannel arrives only now: it is hung up, not left ringing.
                await until(lambda: len(pbx.actions("Hangup")) == 2)
            finally:
                await services.ami.close()
                await services.engine.stop()
    assert [a["Channel"] for a in pbx.actions("Hangup")] == ["acd-late-leg", "acd-late-leg"]


async def test_a_connect_left_unanswered_is_asked_about_before_anything_is_repaired(tmp_path):
    # The Redirect that puts caller c1 through to 1001 goes out and the link dies before
    # Asterisk answers. Whether it happened is asked once the link is back (the caller's
    # ACD_NEXT): a caller put through is not queued again (nor counted twice), one who was
    # not waits again at their place.
    # The line records every call: the recording the dialplan started is the call's
    # (its row stored from the caller's ACD_RECORDING), or no file name is left behind.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    for after, put_through in (("connect_verified_done.ami", True), ("not_done", False)):
        second = after if put_through else "connect_verified_not_done.ami"
        file = tmp_path / str(put_through) / "recordings" / today / "c1.wav"
        verified = [b.replace("@RECORDING@", str(file)) for b in load(second)]
        async with AmiReplayServer(load("connect_unanswered.ami"), verified) as pbx:
            ami = {
                "port": pbx.port,
                "secret": "s3cret",
                "ping_interval": 30,
                "reconnect_min": 0.05,
                "reconnect_max": 0.1,
            }
            async with api_app(tmp_path / str(put_through), ami=ami) as (_, services, _):
                await services.engine.start()
                await services.ami.start()
                try:
                    p, centre = services.pipeline, services.centre
                    centre.log_in("1001")
                    p.note("c1", "queued", line="tour")  # as the IVR notes it
                    centre.enqueue(
                        CallInfo("c1", "tour", "en", "13800138000", enqueued_at=time.time())
                    )
                    centre.ready("1001")  # offered to 1001, whose phone (leg-1) picks up
                    p.book.legs["leg-1"] = AgentLeg("leg-1", "c1", "1001")
                    services.tracking.on_pbx_event(AgentAnswered("leg-1", "leg-1"))
                    outcome = await p.executor.execute(ConnectCall("c1", "1001", "tour"))
                    assert isinstance(outcome, Uncertain), outcome
                    await p.settle(outcome)
                    store = services.recordings.store
                    if put_through:
                        assert p.core.connected["c1"].confirmed and "c1" not in p.core.waiting
                        assert p.live.today().counts.answered == 1
                        for _ in range(100):  # the row is stored off the call's path
                            if (row := await store.get("c1")) is not None:
                                break
                            await asyncio.sleep(0.02)
                        assert row is not None and row.path == str(file)
                    else:
                        assert "c1" in p.core.waiting and p.live.today().counts.answered == 0
                        assert p.core.position("c1") == 1
                        assert await store.get("c1") is None
                finally:
                    await services.ami.close()
                    await services.engine.stop()
        asked = [(a["Channel"], a["Variable"]) for a in pbx.actions("Getvar")]
        assert ("c1", "ACD_NEXT") in asked  # Asterisk was asked, not assumed
        if not put_through:
            cleared = pbx.actions("Setvar")[-1]
            assert (cleared["Variable"], cleared.get("Value", "")) == ("ACD_RECORD_FILE", "")
