"""Recordings over SQLite and real files: audited access, retention, the disk alarm."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import pytest

from acd.core.access import User, UserRole
from acd.eventbus import EventBus
from acd.recordings import NoSuchRecording, RecordingDenied, RecordingGone, RecordingService
from acd.settings import RecordingSettings
from acd.storage.db import create_engine, migrate
from acd.storage.followups import FollowUpStore
from acd.storage.models import FollowUpRow, RecordingRow
from acd.storage.recordings import RecordingStore
from acd.storage.users import UserStore
from tests import database

LEAD = User("1901", "Chen Jie", UserRole.SUPERVISOR, "east")
AGENT = User("1001", "Li Na", UserRole.AGENT, "east")
DAY = 86400.0


def wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


@pytest.fixture
async def setup(tmp_path):
    db = create_engine(database.url_for(tmp_path))
    await migrate(db)
    now = time.time()
    store, follow_ups, users = RecordingStore(db), FollowUpStore(db), UserStore(db)
    for call_id, age_days, agent in (
        ("old", 200, "1001"),
        ("held", 200, "1002"),
        ("new", 1, "1002"),
    ):
        path = tmp_path / "recordings" / f"{call_id}.wav"
        wav(path, 2)
        await store.started(
            RecordingRow(
                call_id=call_id,
                line="tour",
                agent=agent,
                caller="13800138000",
                path=str(path),
                started_at=now - age_days * DAY,
                complete=True,
            )
        )
    await follow_ups.open_ticket(
        FollowUpRow(
            call_id="held",
            reason="low_score",
            urgency="urgent",
            line="tour",
            agent="1002",
            caller="",
            details={},
            opened_at=now - 200 * DAY,
            due_at=now,
        )
    )
    disk = []

    def service(bus=None, alarms=None, free_bytes=None, **settings) -> RecordingService:
        config = RecordingSettings(dir=tmp_path / "recordings", **settings)
        return RecordingService(
            store,
            follow_ups,
            users,
            config,
            bus or EventBus(),
            {} if alarms is None else alarms,
            time.time,
            disk.append,
            free_bytes,
            team_of={"1001": "east", "1002": "east"}.get,  # both in the lead's team
        )

    yield service, users, tmp_path, disk
    await db.dispose()


async def test_old_recordings_are_purged_except_one_an_open_follow_up_needs(setup):
    service, _, tmp_path, _ = setup
    recordings = service(keep_days=180)
    assert await recordings.purge() == ["old"]
    assert not (tmp_path / "recordings" / "old.wav").exists()
    assert (tmp_path / "recordings" / "held.wav").exists()
    with pytest.raises(RecordingGone, match="purged"):
        await recordings.open(LEAD, "old", download=False)
    assert (await recordings.details(LEAD, "old"))["audio"] is None
    assert await recordings.purge() == []  # nothing twice
    assert await service(keep_days=0).purge() == []  # 0 keeps everything


async def test_playback_is_for_supervisors_or_an_agent_for_their_own_and_always_audited(setup):
    service, users, _, _ = setup
    strict = service()
    path = await strict.open(LEAD, "new", download=True)
    assert path.name == "new.wav"
    with pytest.raises(RecordingDenied):
        await strict.open(AGENT, "old", download=False)
    with pytest.raises(NoSuchRecording):
        await strict.open(LEAD, "nope", download=False)
    lenient = service(agents_hear_own=True)
    await lenient.open(AGENT, "old", download=False)
    with pytest.raises(RecordingDenied):
        await lenient.open(AGENT, "new", download=False)  # 1002's call
    log = [(a.actor, a.action, a.target) for a in await users.audit_log()]
    assert log == [
        ("1901", "recording_downloaded", "new"),
        ("1001", "recording_played", "old"),
    ]


async def test_a_full_disk_raises_an_alarm_and_stops_new_recordings_until_there_is_room(setup):
    service, _, _, disk = setup
    alarms: dict = {}
    bus = EventBus()
    free = [100 * 1024 * 1024]  # a fake disk with 100 MB free; 500 MB are wanted
    recordings = service(bus, alarms, lambda _: free[0], min_free_mb=500)
    await recordings.check_disk()
    await recordings.check_disk()
    assert disk == [True] and alarms["recording_disk_full"]["free_mb"] == 100
    free[0] = 2 * 1024**3
    await recordings.check_disk()
    assert disk == [True, False] and alarms == {}
    assert [(e.kind, e.data["raised"]) for e in bus.since(0)] == [("alarm", True), ("alarm", False)]
    await service(min_free_mb=0).check_disk()  # the real disk, never full at 0
    assert disk == [True, False]


def cut_off(path: Path) -> None:
    """The file as Asterisk leaves it when killed while recording: header sizes never written."""
    data = bytearray(path.read_bytes())
    data[4:8] = b"\0\0\0\0"  # RIFF size
    data[40:44] = b"\0\0\0\0"  # data size (the canonical 44-byte header)
    path.write_bytes(bytes(data))


async def test_a_call_that_ended_while_acd_was_down_has_a_complete_recording_if_the_file_is_whole(
    tmp_path,
):
    from acd.centre.recording import RecordingLifecycle
    from acd.centre.tasks import ShortTasks
    from acd.core.distributor import CallDistributor

    db = create_engine(database.url_for(tmp_path))
    await migrate(db)
    store = RecordingStore(db)
    for call_id in ("whole", "cut"):  # both still open: acd was killed during the calls
        path = tmp_path / "recordings" / f"{call_id}.wav"
        wav(path, 2)
        row = RecordingRow(
            call_id=call_id,
            line="tour",
            agent="1001",
            caller="13800138000",
            path=str(path),
            started_at=time.time() - 60,
            complete=False,
        )
        await store.started(row)
    cut_off(tmp_path / "recordings" / "cut.wav")
    lifecycle = RecordingLifecycle(store, CallDistributor(), ShortTasks(), time.time)
    await lifecycle.close_orphans(live_channels=set())  # acd is back: both calls are over
    whole, cut = await store.get("whole"), await store.get("cut")
    assert whole is not None and cut is not None
    assert (whole.complete, round(whole.duration or 0, 1)) == (True, 2.0)
    assert cut.complete is False and cut.size is not None  # measured, but not whole
    await db.dispose()
