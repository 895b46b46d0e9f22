"""Asterisk as the tests see it: live channels, bridges, and what was played to whom.

Everything here is read from Asterisk itself (AMI as an observer, CLI output
through AMI), never from the engine: it is the ground truth a test judges by.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from dataclasses import dataclass

from tests.e2e.ami import Ami, AmiError, Event
from tests.e2e.pbx import Pbx
from tests.e2e.waiting import until

# A prompt file as the engine names it: .../sounds/acd/<language>/<key>
PROMPT = re.compile(r"/sounds/acd/(en|zh)/([A-Za-z0-9_]+)")


@dataclass(frozen=True)
class Played:
    """Asterisk started playing prompts to a channel (AGI or dialplan Playback)."""

    uniqueid: str
    at: float  # monotonic time the event arrived
    prompts: tuple[tuple[str, str], ...]  # (language, key) in the order played
    how: str  # the AGI command or dialplan application

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for _, key in self.prompts)

    @property
    def languages(self) -> set[str]:
        return {language for language, _ in self.prompts}


def played(event: Event) -> Played | None:
    """The prompts an AGIExecStart or a Playback Newexten event starts playing, if any."""
    if event.name == "AGIExecStart":
        text, how = event.get("Command"), event.get("Command").split(" /")[0]
    elif event.name == "Newexten" and event.get("Application") == "Playback":
        text, how = event.get("AppData"), "Playback"
    else:
        return None
    prompts = tuple(PROMPT.findall(text))
    if not prompts:
        return None
    return Played(event.get("Uniqueid"), event.at, prompts, how)


class Asterisk:
    """The test instance seen through its own AMI user and CLI."""

    def __init__(self, pbx: Pbx, ami: Ami) -> None:
        self.pbx = pbx
        self.ami = ami
        self._frozen: int | None = None

    # -- the process --------------------------------------------------------------

    async def kill(self) -> None:
        """kill -9 Asterisk (a crash): every call on it is gone."""
        await asyncio.to_thread(self.pbx.kill)
        await self.ami.close()

    async def stop(self) -> None:
        """A clean stop (`core stop now`)."""
        await asyncio.to_thread(self.pbx.stop)
        await self.ami.close()

    async def start(self) -> None:
        """Start it again; the observer logs in again (its event log goes on)."""
        await asyncio.to_thread(self.pbx.start)
        await self.ami.connect()

    async def ensure_running(self) -> None:
        """Running and observed again, whatever a test did to it."""
        await self.thaw()
        if not await asyncio.to_thread(self.pbx.running):
            await self.start()
        elif not self.ami.connected:
            await self.ami.connect()

    async def freeze(self) -> None:
        """SIGSTOP Asterisk: its sockets stay open and nothing answers."""
        pid = (await asyncio.to_thread(self.pbx.run, "status")).split("pid=")[1].strip()
        os.kill(int(pid), signal.SIGSTOP)
        self._frozen = int(pid)

    async def thaw(self) -> None:
        if self._frozen is not None:
            os.kill(self._frozen, signal.SIGCONT)
            self._frozen = None

    # -- channels -----------------------------------------------------------------

    async def channels(self) -> dict[str, list[str]]:
        """uniqueid -> the fields of `core show channels concise` (name first, then ...,
        bridge id and uniqueid last: counted from the end, as the application data before
        them may hold a "!")."""
        rows = {}
        for line in await self.ami.command("core show channels concise"):
            parts = line.split("!")
            if len(parts) >= 14:
                rows[parts[-1]] = parts
        return rows

    async def channel_names(self) -> dict[str, str]:
        """uniqueid -> channel name of every live channel."""
        return {u: row[0] for u, row in (await self.channels()).items()}

    async def is_up(self, uniqueid: str) -> bool:
        return uniqueid in await self.channels()

    async def bridged_together(self, *uniqueids: str) -> bool:
        """Are these channels up and in one and the same bridge?"""
        rows = await self.channels()
        if not all(u in rows for u in uniqueids):
            return False
        bridges = {rows[u][-2] for u in uniqueids}
        return len(bridges) == 1 and "" not in bridges

    async def wait_bridged(self, *uniqueids: str, timeout: float = 15) -> None:
        """Wait until these channels are up in one and the same bridge."""
        await until(
            lambda: self.bridged_together(*uniqueids), timeout, f"{uniqueids} bridged together"
        )

    def bridge_entered_at(self, uniqueid: str) -> float:
        """When that channel last entered a bridge (the arrival of Asterisk's BridgeEnter)."""
        entered = self.ami.find(lambda e: e.name == "BridgeEnter" and e.get("Uniqueid") == uniqueid)
        assert entered, f"{uniqueid} never entered a bridge"
        return entered[-1].at

    async def channels_of(self, prefix: str) -> list[str]:
        """Uniqueids of live channels whose name starts with ``prefix`` (e.g. PJSIP/1001-)."""
        return [u for u, name in (await self.channel_names()).items() if name.startswith(prefix)]

    async def no_channel_of(self, prefix: str, timeout: float = 5) -> None:
        """Wait until no live channel's name starts with ``prefix``."""

        async def gone() -> bool:
            return not await self.channels_of(prefix)

        await until(gone, timeout, f"no {prefix} channel left")

    async def agent_leg(self, job: str, timeout: float = 10) -> str:
        """The uniqueid of the agent's phone channel (PJSIP/<job>-...) once Asterisk has it."""

        async def found() -> str | None:
            legs = await self.channels_of(f"PJSIP/{job}-")
            return legs[0] if legs else None

        return str(await until(found, timeout, f"a PJSIP/{job} channel"))

    async def bridged_with(self, call_id: str, job: str, timeout: float = 20) -> str:
        """Wait until the call is in one bridge with the agent's phone; that phone's uniqueid."""

        async def leg() -> str | None:
            for uniqueid in await self.channels_of(f"PJSIP/{job}-"):
                if await self.bridged_together(call_id, uniqueid):
                    return uniqueid
            return None

        return str(await until(leg, timeout, f"{call_id} bridged with {job}'s phone"))

    async def hangup(self, channel: str) -> None:
        """Hang up a channel (name or uniqueid); gone already is fine."""
        try:
            await self.ami.action({"Action": "Hangup", "Channel": channel})
        except AmiError as exc:
            if "No such channel" not in str(exc):
                raise

    async def set_global(self, name: str, value: str) -> None:
        await self.ami.action({"Action": "Setvar", "Variable": name, "Value": value})

    async def hang_up_everything(self, timeout: float = 20) -> None:
        """Hang up every channel and wait until Asterisk has none left."""
        deadline = time.monotonic() + timeout
        while True:
            live = await self.channels()
            if not live:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"channels still up after {timeout} s: {sorted(live)}")
            await self.ami.command("channel request hangup all")
            await asyncio.sleep(0.2)

    def index_of(self, heard: Played) -> int:
        """Where the event that started playing ``heard`` is in the observer's event log."""
        return next(
            i
            for i, e in enumerate(self.ami.events)
            if e.at == heard.at and e.get("Uniqueid") == heard.uniqueid and played(e) == heard
        )

    def played_to(self, uniqueid: str, since: int = 0) -> list[Played]:
        """Everything Asterisk started playing to that channel so far, in order."""
        found = []
        for event in self.ami.events[since:]:
            if event.get("Uniqueid") == uniqueid:
                p = played(event)
                if p is not None:
                    found.append(p)
        return found

    async def wait_played(
        self, uniqueid: str, key: str, timeout: float = 30, since: int = 0
    ) -> Played:
        """Wait until Asterisk starts playing the prompt ``key`` to that channel."""

        def match(event: Event) -> bool:
            if event.get("Uniqueid") != uniqueid:
                return False
            p = played(event)
            return p is not None and key in p.keys

        try:
            event = await self.ami.wait(match, timeout, since)
        except AssertionError:
            heard = [p.keys for p in self.played_to(uniqueid, since)]
            raise AssertionError(
                f"{uniqueid} was not played '{key}' within {timeout} s; it was played {heard}"
            ) from None
        result = played(event)
        assert result is not None
        return result

    async def hung_up(self, uniqueid: str, timeout: float = 30, since: int = 0) -> Event:
        """Wait for that channel's Hangup event."""
        try:
            return await self.ami.wait(
                lambda e: e.name == "Hangup" and e.get("Uniqueid") == uniqueid, timeout, since
            )
        except AssertionError:
            raise AssertionError(f"{uniqueid} is still up after {timeout} s") from None
