"""The test suite's own AMI client: an observer of Asterisk and the callers' switchboard.

Deliberately small and separate from the engine's AMI adapter: what checks
the engine must not share its code (or its bugs). It logs in as the test
instance's "tests" user (docker/pbx, ACD_PBX_TEST_AMI=1), which sees every
event, including the dialplan and AGI ones the engine never subscribes to.
Every action has a timeout; every event is kept with the time it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class AmiError(Exception):
    """An action failed, timed out, or the link is gone."""


@dataclass
class Event:
    """One AMI event as Asterisk sent it, with the (monotonic) time it arrived."""

    name: str
    headers: dict[str, str]
    at: float
    multi: dict[str, list[str]] = field(default_factory=dict)  # repeated headers

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.headers[key]


def _parse(block: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                continue
        multi.setdefault(key, []).append(value)
        headers.setdefault(key, value)
    return headers, multi


class Ami:
    """A logged-in AMI connection that records every event."""

    def __init__(self, port: int, username: str, secret: str, events: str | None = None) -> None:
        self.port = port
        self._event_classes = events  # e.g. "call,agi": only those classes (None: all)
        self._username = username
        self._secret = secret
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, asyncio.Future[list[Event]]] = {}
        self._lists: dict[str, list[Event]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.events: list[Event] = []

    async def connect(self, timeout: float = 10) -> None:
        """Log in (again): a connection Asterisk dropped is closed first, a failed one too."""
        await self.close()
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), timeout
        )
        try:
            await self._login(timeout)
        except BaseException:
            await self.close()
            raise

    async def _login(self, timeout: float) -> None:
        assert self._reader is not None
        await asyncio.wait_for(self._reader.readline(), timeout)  # "Asterisk Call Manager/..."
        self._task = asyncio.create_task(self._read(), name="test-ami-reader")
        challenge = await self.action({"Action": "Challenge", "AuthType": "MD5"})
        key = hashlib.md5((challenge["Challenge"] + self._secret).encode()).hexdigest()
        login = {"Action": "Login", "AuthType": "MD5", "Username": self._username, "Key": key}
        if self._event_classes is not None:
            login["Events"] = self._event_classes
        await self.action(login)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):  # a frozen Asterisk reads nothing
                await asyncio.wait_for(self._writer.wait_closed(), 2)
            self._writer.transport.abort()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._writer = self._task = None

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- actions ----------------------------------------------------------------

    async def action(self, fields: dict[str, object], timeout: float = 10) -> Event:
        """Send one action; its response (an error response raises AmiError)."""
        (response,) = await self._send(fields, timeout, listing=False)
        if response.get("Response") == "Error":
            raise AmiError(f"{fields.get('Action')}: {response.get('Message')}")
        return response

    async def listing(self, fields: dict[str, object], timeout: float = 10) -> list[Event]:
        """An action answered by a list of events (``...Complete`` ends it)."""
        response, *items = await self._send(fields, timeout, listing=True)
        if response.get("Response") == "Error":
            raise AmiError(f"{fields.get('Action')}: {response.get('Message')}")
        return items

    async def command(self, cli: str, timeout: float = 10) -> list[str]:
        """An Asterisk CLI command; its output lines."""
        response = await self.action({"Action": "Command", "Command": cli}, timeout)
        return response.multi.get("Output", [])

    async def _send(self, fields: dict[str, object], timeout: float, listing: bool) -> list[Event]:
        if self._writer is None or self._task is None or self._task.done():
            raise AmiError("not connected")
        ident = f"t{next(self._ids)}"
        lines = [f"ActionID: {ident}"]
        for key, value in fields.items():
            values = value if isinstance(value, list) else [value]
            lines += [f"{key}: {v}" for v in values]
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        if listing:
            self._lists[ident] = []
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AmiError(f"{fields.get('Action')}: no answer within {timeout} s") from None
        finally:
            self._pending.pop(ident, None)
            self._lists.pop(ident, None)

    # -- events -----------------------------------------------------------------

    def mark(self) -> int:
        """A position in the event log: wait for events after it."""
        return len(self.events)

    async def wait(
        self, predicate: Callable[[Event], bool], timeout: float = 10, since: int = 0
    ) -> Event:
        """The first event (from ``since`` on) that matches, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        index = since
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if predicate(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such AMI event within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def find(self, predicate: Callable[[Event], bool], since: int = 0) -> list[Event]:
        return [e for e in self.events[since:] if predicate(e)]

    async def _read(self) -> None:
        assert self._reader is not None
        buffer = b""
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    break
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._dispatch(raw.decode("utf-8", errors="replace"))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(AmiError("AMI link closed"))

    def _dispatch(self, block: str) -> None:
        headers, multi = _parse(block)
        now = time.monotonic()
        ident = headers.get("ActionID", "")
        if "Response" in headers:
            message = Event(headers.get("Response", ""), headers, now, multi)
            if ident in self._lists and headers.get("EventList") == "start":
                self._lists[ident].append(message)
                return
            future = self._pending.get(ident)
            if future is not None and not future.done():
                if ident in self._lists and headers.get("Response") != "Error":
                    self._lists[ident].append(message)
                else:
                    future.set_result([message])
            return
        if "Event" not in headers:
            return
        event = Event(headers["Event"], headers, now, multi)
        if ident in self._lists:
            items = self._lists[ident]
            if headers.get("EventList") == "Complete" or event.name.endswith("Complete"):
                future = self._pending.get(ident)
                if future is not None and not future.done():
                    future.set_result(items)
            else:
                items.append(event)
            return
        self.events.append(event)
        self._changed.set()
