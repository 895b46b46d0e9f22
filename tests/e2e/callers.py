"""Simulated callers: Local channels into the hotline that react to what they hear.

A caller is a Local channel pair originated by the test's own AMI user: the
";2" side enters the ``hotline`` context exactly as a trunk call would (its
uniqueid is the engine's call id), the ";1" side is the caller's phone in
``hotline-probe``: it records what the caller hears (MixMonitor) and sends
silence like a real phone. The test presses keys when the prompt it expects
starts playing (seen on AMI), as a person does, never on a fixed timeline.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.asterisk import Asterisk, Played
from tests.e2e.audio import duration, find_prompts, wav_complete
from tests.e2e.phones import Phone, PhoneCall
from tests.e2e.waiting import until


def greeting_of(job: str) -> tuple[str, ...]:
    """The prompts of an agent's greeting: "agent <job, digit by digit> at your service"."""
    return ("agent_greeting_before", *(f"digit_{d}" for d in job), "agent_greeting_after")


def prompt_seconds(asterisk: Asterisk, key: str, language: str = "en") -> float:
    """How long a rendered prompt lasts (s)."""
    return duration(asterisk.pbx.host_path("sounds/acd") / language / f"{key}.wav")


def assert_heard(found: list[tuple[str, float, float]]) -> None:
    """Each prompt found in a recording (``heard_in_recording``) is its very audio."""
    assert all(score > 0.9 for _, _, score in found), found


class Caller:
    """One caller on the line."""

    def __init__(
        self, asterisk: Asterisk, tag: str, number: str, name: str, recording: Path | None
    ) -> None:
        self._asterisk = asterisk
        self.call_id = f"probe-{tag}"  # the hotline leg: the engine's call id
        self.phone_id = f"caller-{tag}"  # the caller's own side
        self.number = number
        self.name = name
        self.recording = recording  # host path of what the caller heard (WAV), if recorded
        self.recording_started_at: float | None = None  # monotonic time MixMonitor began
        self._since = asterisk.ami.mark()

    async def hears(self, key: str, timeout: float = 30) -> Played:
        """Wait until the prompt ``key`` starts playing to this caller."""
        return await self._asterisk.wait_played(self.call_id, key, timeout, self._since)

    async def hears_next(self, key: str, after: Played, timeout: float = 30) -> Played:
        """Wait until the prompt ``key`` starts playing to this caller after ``after`` started."""
        since = self._asterisk.index_of(after) + 1
        return await self._asterisk.wait_played(self.call_id, key, timeout, since)

    async def waits_for_key(self, after: Played, timeout: float = 30) -> float:
        """When (monotonic) the IVR, done with ``after`` and what followed, waited for a key."""
        event = await self._asterisk.ami.wait(
            lambda e: (
                e.name == "AGIExecStart"
                and e.get("Uniqueid") == self.call_id
                and e.get("Command").startswith("WAIT FOR DIGIT")
            ),
            timeout,
            self._asterisk.index_of(after) + 1,
        )
        return event.at

    def heard(self) -> list[Played]:
        """Every prompt played to this caller so far, in order."""
        return self._asterisk.played_to(self.call_id, self._since)

    def heard_keys(self) -> list[str]:
        return [key for p in self.heard() for key in p.keys]

    async def press(self, keys: str, after: float = 0.3, gap: float = 0.25) -> None:
        """Press keys on the caller's phone (``after`` s from now, as a person reacts)."""
        await asyncio.sleep(after)
        for key in keys:
            await self._asterisk.ami.action(
                {"Action": "PlayDTMF", "Channel": self.phone_id, "Digit": key, "Duration": 120}
            )
            await asyncio.sleep(gap)

    async def on_hold(self, timeout: float = 30) -> float:
        """Wait until the caller hears music on hold; the (monotonic) time it started."""
        event = await self._asterisk.ami.wait(
            lambda e: e.name == "MusicOnHoldStart" and e.get("Uniqueid") == self.call_id,
            timeout,
            self._since,
        )
        return event.at

    async def hang_up(self) -> float:
        """The caller puts the phone down; the (monotonic) time they did."""
        await self._asterisk.hangup(self.phone_id)
        return (await self.gone()).at

    async def gone(self, timeout: float = 30):
        """Wait until the call has ended (whoever ended it); its Hangup event."""
        return await self._asterisk.hung_up(self.call_id, timeout, self._since)

    async def hung_up_by_the_hotline(self, context: str) -> None:
        """Wait until the hotline's dialplan (Hangup() in ``context``), not the caller, ended it."""
        ended = await self.gone()
        events = self._asterisk.ami.events
        ended_index = events.index(ended)
        hangup_app = [
            i
            for i, e in enumerate(events)
            if e.name == "Newexten"
            and e.get("Uniqueid") == self.call_id
            and e.get("Application") == "Hangup"
        ]
        assert hangup_app and hangup_app[0] < ended_index, "the hotline leg never ran Hangup()"
        assert events[hangup_app[0]].get("Context") == context
        # The caller's phone was still sending silence when the hotline hung up.
        assert not any(
            e.name == "Newexten"
            and e.get("Uniqueid") == self.phone_id
            and e.get("Application") == "Hangup"
            for e in events
        ), "the caller's own phone hung up"
        phone_gone = await self._asterisk.hung_up(self.phone_id, 15)
        assert events.index(phone_gone) > hangup_app[0], "the caller had gone before"

    async def on_line(self) -> bool:
        return await self._asterisk.is_up(self.call_id)

    async def recording_done(self, timeout: float = 15) -> Path:
        """The finished recording, once the caller's side has hung up and MixMonitor
        has written the WAV header's final length."""
        recording = self.recording
        assert recording is not None, "this caller was not recorded"
        await self._asterisk.hung_up(self.phone_id, timeout, self._since)
        await until(
            lambda: asyncio.to_thread(wav_complete, recording), timeout, f"{recording} finished"
        )
        return recording

    async def recorded_until(self, at: float, timeout: float = 10) -> None:
        """Wait until the recording holds what the caller heard up to ``at`` and 0.5 s more."""
        recording = self.recording
        assert recording is not None, "this caller was not recorded"
        heard = self.offset(at) + 0.5  # and the end of a prompt has reached the file
        wanted = 44 + int(heard * 8000) * 2  # 8 kHz, 16-bit mono, after the header

        async def written() -> bool:
            return recording.exists() and recording.stat().st_size >= wanted

        await until(written, timeout, f"{recording} written up to {heard:.1f} s")

    def heard_in_recording(
        self,
        played: Played,
        *,
        language: str | None = None,
        prefix: float | None = None,
        slack: float = 1.5,
    ) -> list[tuple[str, float, float]]:
        """Find the prompts Asterisk played (``played``) in what the caller heard.

        Each prompt is searched in the caller's finished recording from
        ``slack`` s before Asterisk started playing it; returns (key, offset,
        score) per prompt, score 1.0 when the very audio of the prompt file is
        there. ``language``: look for that language's audio instead (e.g. to
        show a Mandarin caller did not hear English).
        """
        assert self.recording is not None, "this caller was not recorded"
        lang = language or next(iter(played.languages))
        prompts = self._asterisk.pbx.host_path("sounds/acd")
        start = self.offset(played.at) - slack
        return find_prompts(
            self.recording, prompts, lang, played.keys, start, prefix=prefix, slack=2 * slack
        )

    def offset(self, at: float) -> float:
        """Seconds into the caller's recording at monotonic time ``at``."""
        assert self.recording_started_at is not None, "the recording has not started"
        return at - self.recording_started_at


def assert_heard_before_the_end(caller: Caller, goodbye: Played) -> None:
    """The last prompt of a call the hotline ended is in the recording to its last word."""
    # As the hotline hangs up with the prompt's last frame, the file's final tenths of a
    # second (rendered silence) may not reach the caller's recording.
    (key,) = goodbye.keys
    words = prompt_seconds(caller._asterisk, key, next(iter(goodbye.languages))) - 0.3
    assert_heard(caller.heard_in_recording(goodbye, prefix=words))


class Callers:
    """Dials the hotline for a test."""

    def __init__(self, asterisk: Asterisk) -> None:
        self.asterisk = asterisk
        self.placed: list[Caller] = []

    async def dial(
        self,
        *,
        number: str = "13800138000",
        name: str = "Test Caller",
        language: str = "",
        record: bool = False,
        max_seconds: int = 300,
        voice: str = "",
    ) -> Caller:
        """A caller dials the hotline (and stays on the line until hung up, at most
        ``max_seconds``: a forgotten caller ends by itself). ``voice``: a sound file
        (as Asterisk sees it, without its extension) the caller says over and over."""
        pbx = self.asterisk.pbx
        tag = uuid.uuid4().hex[:12]
        # Asterisk matches uniqueids by prefix: neither id may be a prefix of the other.
        recording = pbx.host_path(f"spool/monitor/caller-{tag}.wav") if record else None
        caller = Caller(self.asterisk, tag, number, name, recording)
        variables = [
            "PROBE_DELAY=0",
            f"PROBE_HOLD={max_seconds}",
            f"PROBE_RECORD={pbx.chroot_path(f'spool/monitor/caller-{tag}.wav') if record else ''}",
            f"PROBE_VOICE={voice}",
        ]
        if language:
            variables.append(f"__HOTLINE_LANGUAGE={language}")  # inherited by the hotline leg
        ami = self.asterisk.ami
        await ami.action(
            {
                "Action": "Originate",
                "Channel": "Local/s@hotline",
                "Context": "hotline-probe",
                "Exten": "s",
                "Priority": "1",
                "ChannelId": caller.phone_id,
                "OtherChannelId": caller.call_id,
                "CallerID": f'"{name}" <{number}>',
                "Variable": variables,
                "Async": "true",
            }
        )
        if record:
            started = await ami.wait(
                lambda e: e.name == "MixMonitorStart" and e.get("Uniqueid") == caller.phone_id,
                15,
                caller._since,
            )
            caller.recording_started_at = started.at
        self.placed.append(caller)
        return caller

    async def tour_caller(self, **dial: Any) -> Caller:
        """A caller who dials and presses 2 (tour) when the main menu starts."""
        caller = await self.dial(**dial)
        await caller.hears("main_menu")
        await caller.press("2")
        return caller

    async def tour_call(
        self, phone: Phone, *, rings: int = 1, **dial: Any
    ) -> tuple[Caller, PhoneCall]:
        """A tour caller rings the agent's phone (its ``rings``-th call), which answers."""
        caller = await self.tour_caller(**dial)
        call = await phone.ringing(count=rings)
        await phone.answered(call)
        return caller, call

    async def put_through(self, phone: Phone, **dial: Any) -> tuple[Caller, PhoneCall, str]:
        """A tour caller is answered, greeted and bridged with the agent; (caller, call, leg)."""
        caller, call = await self.tour_call(phone, rings=len(phone.calls) + 1, **dial)
        await caller.hears("agent_greeting_before")
        leg = await self.asterisk.bridged_with(caller.call_id, phone.job_number)
        return caller, call, leg
