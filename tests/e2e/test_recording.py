"""Call recordings as supervisors, agents and ops meet them: the API, the files and Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from multidict import CIMultiDictProxy

from tests.e2e.audio import (
    duration,
    find_prompts,
    loud_seconds_between,
    read_wav,
    tone,
    tone_ratio,
    tone_seconds_wav,
)
from tests.e2e.callers import Caller, assert_heard
from tests.e2e.centre import ADMIN, SUPERVISOR, Api, days_ahead, zone_at_midday
from tests.e2e.waiting import until

# -- helpers -------------------------------------------------------------------


async def after_agent_hangs_up(caller: Caller, score: str | None = None) -> float:
    """Once the survey question starts the caller rates (or hangs up); when the call ended."""
    await caller.hears("survey_question", timeout=40)
    if score is None:
        return await caller.hang_up()
    await caller.press(score)
    return (await caller.gone(timeout=20)).at


async def recording(api: Api, call_id: str) -> tuple[int, dict[str, Any]]:
    """GET /recordings/{call_id}: (status, body)."""
    async with api.session.get(
        f"{api.centre.api_base}/recordings/{call_id}", headers=api.headers
    ) as resp:
        return resp.status, await resp.json()


async def fetch(
    api: Api, path: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    """A raw GET as a player or a browser does it: (status, headers, body bytes)."""
    url = path if path.startswith("http") else f"{api.centre.base}{path}"
    async with api.session.get(url, headers={**api.headers, **(headers or {})}) as resp:
        return resp.status, resp.headers, await resp.read()


async def save(data: bytes, path: Path) -> Path:
    await asyncio.to_thread(path.write_bytes, data)
    return path


def files_of(root: Path, call_id: str) -> list[Path]:
    """Recording files of that call anywhere under the recordings folder."""
    return sorted(root.glob(f"**/{call_id}*"))


def tone_windows(path: Path, frequency: float) -> list[float]:
    """Offsets (s) of the 100 ms windows of a WAV where a pure tone of ``frequency`` sounds."""
    rate, samples = read_wav(path)
    window = rate // 10
    return [
        i / rate
        for i in range(0, len(samples) - window, window)
        if tone_ratio(samples[i : i + window], frequency, rate) > 0.5
    ]


async def mount_tmpfs(path: Path, size: str) -> None:
    await _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))


async def unmount(path: Path) -> None:
    if await _run("umount", str(path), check=False) != 0:
        await _run("umount", "-l", str(path), check=False)  # a file still open: detach it


async def _run(*args: str, check: bool = True) -> int:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert not check or proc.returncode == 0, f"{args}: {out.decode()}{err.decode()}"
    assert proc.returncode is not None
    return proc.returncode


# -- tests ---------------------------------------------------------------------


async def test_a_connected_call_is_recorded_as_valid_audio_of_its_length(
    centre, callers, phones, asterisk, tmp_path
):
    zone = zone_at_midday()  # "today" cannot end during the test
    c = await centre(ivr={"timezone": zone})
    agent = await c.agent_logged_in("1001")
    supervisor = await c.login(SUPERVISOR)
    phone = await phones("1001", answer_after=0.5, speak=tone(30))
    caller, call = await callers.tour_call(phone, number="13900000061")
    greeting = await caller.hears("agent_greeting_before")
    # The tour line records every call: asking to start it again is refused, clearly.
    refused = await agent.post("/agents/1001/recording", {"action": "start"}, expect=409)
    assert refused["error_id"] == "recording_refused" and "already" in refused["message"]
    await asterisk.bridged_with(caller.call_id, "1001")
    talking = asterisk.bridge_entered_at(caller.call_id)
    await asyncio.sleep(5)  # they talk
    agent_hung_up = await phone.hang_up(call)
    ended = await after_agent_hangs_up(caller)
    talk = ended - call.answered_at

    rec = await supervisor.finished_recording(caller.call_id)
    assert (rec["line"], rec["agent"], rec["caller"]) == ("tour", "1001", "13900000061")
    assert rec["complete"] is True
    assert talk - 2.5 <= rec["duration_s"] <= talk + 0.5, (rec["duration_s"], talk)
    status, headers, data = await fetch(supervisor, f"{rec['audio']}?download=true")
    assert status == 200 and headers["Content-Type"] == "audio/wav"
    assert headers["Content-Disposition"].startswith("attachment")
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert len(data) == rec["size"] and hashlib.sha256(data).hexdigest() == rec["sha256"]
    wav = await save(data, tmp_path / "call.wav")
    assert abs(duration(wav) - rec["duration_s"]) < 0.2

    # From the greeting on: "agent 1001 at your service" is at the very start...
    prompts = Path(c.config["prompts"]["dir"])
    found = await asyncio.to_thread(find_prompts, wav, prompts, "en", greeting.keys)
    assert_heard(found)
    assert found[0][1] < 1.5, found
    # ...then the agent's voice (a tone) for as long as the two talked, and no longer.
    spoke = agent_hung_up - talking
    heard = await asyncio.to_thread(tone_seconds_wav, wav, 0, rec["duration_s"])
    assert spoke - 1.5 <= heard <= spoke + 0.5, (heard, spoke)

    # Listed for today (the centre's day), and under the agent's and the line's filters only.
    assert [r["call_id"] for r in await supervisor.get("/recordings")] == [caller.call_id]
    today = datetime.now(ZoneInfo(zone)).date()
    assert [r["call_id"] for r in await supervisor.get(f"/recordings?date={today}")] == [
        caller.call_id
    ]
    assert await supervisor.get(f"/recordings?date={today - timedelta(days=1)}") == []
    mine = await supervisor.get("/recordings?agent=1001&line=tour")
    assert [r["call_id"] for r in mine] == [caller.call_id]
    assert mine[0]["sha256"] == rec["sha256"]
    assert await supervisor.get("/recordings?line=cruise") == []
    assert await supervisor.get("/recordings?agent=1002") == []
    # Agents do not hear recordings unless the site allows it (agents_hear_own).
    denied = await agent.request("GET", f"/recordings/{caller.call_id}/audio", expect=403)
    assert denied["error_id"]

    # Every playback and download is in the audit log, with who and which call.
    status, headers, played = await fetch(supervisor, rec["audio"])
    assert status == 200 and played == data and headers["Content-Disposition"].startswith("inline")
    admin = await c.login(ADMIN)
    audit = await admin.get("/admin/audit")
    actions = [
        a["action"] for a in audit if a["actor"] == SUPERVISOR and a["target"] == caller.call_id
    ]
    assert actions == ["recording_downloaded", "recording_played"], audit


async def test_asterisk_killed_mid_call_leaves_the_recording_marked_incomplete(
    centre, callers, phones, asterisk, pbx
):
    c = await centre()
    await c.agent_logged_in("1001")
    supervisor = await c.login(SUPERVISOR)
    phone = await phones("1001", answer_after=0.5, speak=tone(60))
    caller, _ = await callers.tour_call(phone)
    await asterisk.bridged_with(caller.call_id, "1001")
    rec = await finished_or_open(supervisor, caller.call_id)
    assert rec["size"] is None  # recording, not finished
    await asyncio.sleep(2)  # the two talk for a while
    written = files_of(pbx.host_path("spool/recordings"), caller.call_id)
    assert len(written) == 1 and written[0].stat().st_size > 44

    await asyncio.wait_for(asterisk.kill(), 30)
    await asyncio.wait_for(asterisk.start(), 60)

    rec = await supervisor.finished_recording(caller.call_id, timeout=40)
    assert rec["complete"] is False
    assert rec["size"] > 0  # what was written is kept, not lost
    status, _, data = await fetch(supervisor, rec["audio"])
    assert status == 200 and len(data) == rec["size"] and data[:4] == b"RIFF"
    assert hashlib.sha256(data).hexdigest() == rec["sha256"]


async def finished_or_open(api: Api, call_id: str, timeout: float = 10) -> dict[str, Any]:
    """The recording as soon as it is listed (recording or finished)."""

    async def listed() -> dict[str, Any] | None:
        status, body = await recording(api, call_id)
        return body if status == 200 else None

    return await until(listed, timeout, f"a recording of {call_id}")


async def test_on_demand_the_agent_starts_the_recording_and_a_pause_is_silence_in_it(
    centre, callers, phones, asterisk, tmp_path
):
    c = await centre(recording={"lines": {"tour": "on_demand"}})
    agent = await c.agent_logged_in("1001")
    supervisor = await c.login(SUPERVISOR)
    stream = await agent.events()
    # No call, nothing to pause: refused, saying why.
    refused = await agent.post("/agents/1001/recording", {"action": "pause"}, expect=409)
    assert refused["error_id"] == "refused" and "no caller" in refused["message"]

    phone = await phones("1001", answer_after=0.5, speak=tone(40))
    caller, call = await callers.tour_call(phone)
    await asterisk.bridged_with(caller.call_id, "1001")
    assert (await agent.agent())["state"] == "talking"
    await asyncio.sleep(2)  # negative check: talking, and still nothing is recorded
    status, body = await recording(supervisor, caller.call_id)
    assert status == 404, body
    assert not files_of(Path(c.config["recording"]["dir"]), caller.call_id)

    started = await agent.post("/agents/1001/recording", {"action": "start"})
    assert started == {"call_id": caller.call_id, "recording": "recording"}
    rec = await finished_or_open(supervisor, caller.call_id, timeout=5)
    await asyncio.sleep(3)  # talk, recorded
    before_pause = time.time()
    assert (await agent.post("/agents/1001/recording", {"action": "pause"}))["recording"] == (
        "paused"
    )
    paused = time.time()
    again = await agent.post("/agents/1001/recording", {"action": "pause"}, expect=409)
    assert again["error_id"] == "recording_refused"
    await asyncio.sleep(4)  # the caller reads out a card number: not recorded
    before_resume = time.time()
    await agent.post("/agents/1001/recording", {"action": "resume"})
    resumed = time.time()
    await asyncio.sleep(3)  # talk, recorded again
    await phone.hang_up(call)
    await after_agent_hangs_up(caller)

    rec = await supervisor.finished_recording(caller.call_id)
    assert rec["complete"] is True
    status, _, data = await fetch(supervisor, f"{rec['audio']}?download=true")
    assert status == 200
    wav = await save(data, tmp_path / "on-demand.wav")
    pause_from, pause_to = paused - rec["started_at"], before_resume - rec["started_at"]
    talk_before, talk_after = before_pause - rec["started_at"], resumed - rec["started_at"]
    assert duration(wav) > talk_after + 2.5  # the pause is in the file: its length is the call's
    tone_before = await asyncio.to_thread(tone_seconds_wav, wav, 0.3, talk_before - 0.3)
    assert tone_before >= talk_before - 1.6, (tone_before, talk_before)
    silent = await asyncio.to_thread(loud_seconds_between, wav, pause_from + 0.5, pause_to - 0.5)
    assert silent == 0, silent
    tone_after = await asyncio.to_thread(tone_seconds_wav, wav, talk_after + 0.5, talk_after + 2.5)
    assert tone_after >= 1.2, tone_after

    states = [e["data"]["state"] for e in stream.of("recording", call_id=caller.call_id)]
    assert states == ["recording", "paused", "recording"]


async def test_one_wav_follows_the_caller_across_a_transfer_with_both_agents_in_it(
    centre, callers, phones, asterisk, tmp_path, pbx
):
    c = await centre()
    first = await c.agent_logged_in("1001")
    await c.agent_logged_in("1002")
    supervisor = await c.login(SUPERVISOR)
    phone1 = await phones("1001", answer_after=0.5, speak=tone(30, frequency=700))
    phone2 = await phones("1002", answer_after=0.5, speak=tone(30, frequency=1300))
    caller, call1 = await callers.tour_call(phone1)
    await asterisk.bridged_with(caller.call_id, "1001")
    await asyncio.sleep(4)  # 1001 talks, then hands the caller to the cruise line
    transferred = time.monotonic()
    await first.post("/agents/1001/transfer", {"to_line": "cruise"})
    call2 = await phone2.ringing()
    await phone1.ended(call1, timeout=10)
    await asterisk.bridged_with(caller.call_id, "1002")
    with_second = asterisk.bridge_entered_at(caller.call_id)
    await asyncio.sleep(4)  # 1002 talks, then hangs up
    await phone2.hang_up(call2)
    ended = await after_agent_hangs_up(caller)

    rec = await supervisor.finished_recording(caller.call_id)
    listed = await supervisor.get("/recordings")
    assert listed == [rec]  # exactly one recording, the call's
    assert len(files_of(pbx.host_path("spool/recordings"), caller.call_id)) == 1
    assert rec["complete"] is True
    assert rec["duration_s"] >= ended - call1.answered_at - 2.5, rec  # both agents' talk
    status, _, data = await fetch(supervisor, f"{rec['audio']}?download=true")
    assert status == 200
    wav = await save(data, tmp_path / "transfer.wav")
    with_1001 = await asyncio.to_thread(tone_windows, wav, 700)
    with_1002 = await asyncio.to_thread(tone_windows, wav, 1300)
    assert len(with_1001) >= 30 and len(with_1002) >= 30, (len(with_1001), len(with_1002))
    # 1001 until the transfer, then 1002 from when the two were bridged: in that order.
    offset = call1.answered_at  # the recording began when 1001 answered
    assert abs(max(with_1001) - (transferred - offset)) < 1.5, (max(with_1001), transferred)
    assert abs(min(with_1002) - (with_second - offset)) < 1.5, (min(with_1002), with_second)
    assert max(with_1001) < min(with_1002)


async def test_an_old_recording_is_purged_and_answers_410_unless_a_ticket_needs_it(
    centre, callers, phones, pbx
):
    c = await centre(recording={"keep_days": 1})
    await c.agent_logged_in("1001")
    supervisor = await c.login(SUPERVISOR)
    phone = await phones("1001", answer_after=0.5, talk_for=2)
    happy, _ = await callers.tour_call(phone, number="13900000071")
    await after_agent_hangs_up(happy, score="5")
    unhappy, _ = await callers.tour_call(phone, number="13900000072", rings=2)
    await after_agent_hangs_up(unhappy, score="2")  # a low score opens a follow-up ticket
    for call_id in (happy.call_id, unhappy.call_id):
        await supervisor.finished_recording(call_id)

    async def ticket_opened() -> bool:
        return unhappy.call_id in [t["call_id"] for t in await supervisor.get("/follow-ups")]

    await until(ticket_opened, 10, "a follow-up ticket for the low score")
    root = pbx.host_path("spool/recordings")
    assert len(files_of(root, happy.call_id)) == 1 and len(files_of(root, unhappy.call_id)) == 1

    # Two days later (keep_days 1) the centre starts again; the purge runs at start.
    assert await c.stop() == 0
    c.extra_env = days_ahead(2)
    await c.start()
    supervisor = await c.login(SUPERVISOR)

    async def purged() -> dict[str, Any] | None:
        body = (await recording(supervisor, happy.call_id))[1]
        return body if body["purged_at"] is not None else None

    gone = await until(purged, 15, f"the recording of {happy.call_id} purged")
    assert gone["audio"] is None
    assert gone["purged_at"] > time.time() + 86400  # the centre's clock: two days on
    status, _, body = await fetch(supervisor, f"/api/v1/recordings/{happy.call_id}/audio")
    assert status == 410, body
    error = json.loads(body)
    assert error["error_id"] == "recording_gone" and "purged" in error["message"]
    assert files_of(root, happy.call_id) == []

    kept = (await recording(supervisor, unhappy.call_id))[1]
    assert kept["purged_at"] is None and kept["audio"]
    status, _, data = await fetch(supervisor, kept["audio"])
    assert status == 200 and len(data) == kept["size"]
    assert len(files_of(root, unhappy.call_id)) == 1


async def test_a_player_can_seek_in_a_recording_with_range_requests(
    centre, callers, phones, tmp_path
):
    c = await centre()
    await c.agent_logged_in("1001")
    supervisor = await c.login(SUPERVISOR)
    phone = await phones("1001", answer_after=0.5, talk_for=3, speak=tone(10))
    caller, _ = await callers.tour_call(phone)
    await after_agent_hangs_up(caller)
    rec = await supervisor.finished_recording(caller.call_id)
    size = rec["size"]
    status, _, whole = await fetch(supervisor, rec["audio"])
    assert status == 200 and len(whole) == size

    status, headers, head = await fetch(supervisor, rec["audio"], {"Range": "bytes=0-99"})
    assert status == 206
    assert head == whole[:100]
    assert headers["Content-Range"] == f"bytes 0-99/{size}"
    assert headers["Accept-Ranges"] == "bytes"
    middle = size // 2
    status, headers, rest = await fetch(supervisor, rec["audio"], {"Range": f"bytes={middle}-"})
    assert status == 206
    assert rest == whole[middle:]
    assert headers["Content-Range"] == f"bytes {middle}-{size - 1}/{size}"


async def test_a_full_recordings_disk_raises_an_alarm_calls_go_on_unrecorded_until_it_clears(
    centre, callers, phones, asterisk, pbx
):
    name = f"spool/recordings-small-{uuid.uuid4().hex[:8]}"
    folder = pbx.host_path(name)
    folder.mkdir(parents=True)
    await mount_tmpfs(folder, "16m")
    filler = folder / "filler.bin"
    try:
        c = await centre(
            recording={
                "dir": str(folder),
                "asterisk_dir": pbx.chroot_path(name),
                "min_free_mb": 8,
                "check_every": 1,
            }
        )
        await c.agent_logged_in("1001")
        supervisor = await c.login(SUPERVISOR)
        stream = await supervisor.events()
        status, health = await c.healthz()
        assert status == 200 and health["alarms"] == []

        await asyncio.to_thread(filler.write_bytes, b"\0" * (12 * 1024 * 1024))  # 4 MB left
        raised = await stream.next("alarm", timeout=10, alarm="recording_disk_full", raised=True)
        assert raised["data"]["free_mb"] < 8
        status, health = await c.healthz()
        assert status == 200 and health["status"] == "ok"  # calls go on: still ok
        assert [a["alarm"] for a in health["alarms"]] == ["recording_disk_full"]

        phone = await phones("1001", answer_after=0.5, speak=tone(30))
        caller, call = await callers.tour_call(phone)
        await caller.hears("agent_greeting_before")  # connected all the same: greeted,
        await asterisk.bridged_with(caller.call_id, "1001")  # then talking with the agent
        await asyncio.sleep(1)  # they talk
        await phone.hang_up(call)
        await after_agent_hangs_up(caller)
        unrecorded = caller.call_id
        status, body = await recording(supervisor, unrecorded)
        assert status == 404, body
        assert not files_of(folder, unrecorded)

        mark = stream.mark()
        await asyncio.to_thread(filler.unlink)
        cleared = await stream.next(
            "alarm", timeout=10, after=mark, alarm="recording_disk_full", raised=False
        )
        assert cleared["data"]["free_mb"] >= 8
        status, health = await c.healthz()
        assert status == 200 and health["alarms"] == []

        caller, call = await callers.tour_call(phone, rings=2)
        await asterisk.bridged_with(caller.call_id, "1001")
        await asyncio.sleep(1)  # they talk
        await phone.hang_up(call)
        await after_agent_hangs_up(caller)
        rec = await supervisor.finished_recording(caller.call_id)
        assert rec["complete"] is True and rec["size"] > 44
        assert len(files_of(folder, caller.call_id)) == 1
        # Ops see it in the log too: raised as an error, the call not recorded, then cleared.
        logged = [
            (e["event"], e["level"], e.get("call_id"))
            for e in c.log_events()
            if e["event"].startswith(("recording_disk", "recording_skipped"))
        ]
        assert logged == [
            ("recording_disk_full", "error", None),
            ("recording_skipped_disk_full", "error", unrecorded),
            ("recording_disk_ok", "warning", None),
        ]
    finally:
        await unmount(folder)
        with contextlib.suppress(OSError):
            folder.rmdir()
