"""FastAGI server on panoramisk's ``fast_agi``, hardened.

panoramisk 1.4 reads the AGI headers in a loop that spins forever on EOF,
waits for command results without a timeout, wraps sync handlers with
``asyncio.coroutine`` (gone in Python 3.11), and does not notice a caller
hanging up mid-command. Here: async handlers only, timeouts on headers and
every command, ``AgiHangup`` when the caller is gone, ``AgiClosed`` on EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from panoramisk import fast_agi
from panoramisk.utils import parse_agi_result

from acd.settings import FastAgiSettings

log = structlog.get_logger("acd.fastagi")

MAX_HEADER_BYTES = 16 * 1024


class AgiError(Exception):
    """A FastAGI session could not go on."""


class AgiHangup(AgiError):
    """The caller hung up; the channel is dead."""


class AgiClosed(AgiError):
    """Asterisk closed the FastAGI connection."""


class AgiTimeout(AgiError):
    """Asterisk did not answer a command in time."""


class AgiCommandFailed(AgiError):
    """Asterisk answered a command with an error code."""


class AgiRequest(fast_agi.Request):  # type: ignore[misc]
    """One FastAGI session: the AGI headers plus commands with timeouts."""

    # Set by panoramisk's untyped Request.__init__.
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    encoding: str

    def __init__(self, *args: Any, command_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_timeout = command_timeout
        self.hung_up = False

    @property
    def uniqueid(self) -> str:
        return str(self.headers.get("agi_uniqueid", ""))

    @property
    def channel(self) -> str:
        return str(self.headers.get("agi_channel", ""))

    @property
    def caller_number(self) -> str:
        value = str(self.headers.get("agi_callerid", ""))
        return "" if value == "unknown" else value

    async def send_command(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        """Send one AGI command; raise AgiHangup/AgiClosed/AgiTimeout instead of hanging."""
        if self.hung_up:
            raise AgiHangup(f"caller hung up; '{command}' not sent")
        self.writer.write((command + "\n").encode(self.encoding))
        limit = self.command_timeout if timeout is None else timeout
        try:
            # asyncio.timeout, not wait_for: no task made per command (15 or so a call).
            async with asyncio.timeout(limit):
                await self.writer.drain()
            async with asyncio.timeout(limit):
                return await self._read_answer(command)
        except TimeoutError:
            raise AgiTimeout(f"no answer to '{command}' within {limit:g} s") from None
        except ConnectionError as exc:
            raise AgiClosed(f"connection lost during '{command}': {exc}") from None

    async def _read_answer(self, command: str) -> dict[str, Any]:
        while True:
            line = await self.reader.readline()
            if not line:
                raise AgiClosed(f"Asterisk closed the connection during '{command}'")
            text = line.decode(self.encoding, errors="replace").rstrip("\r\n")
            if text == "HANGUP":
                # Sent once when the caller hangs up; the command's own result follows.
                self.hung_up = True
                continue
            result: dict[str, Any] = parse_agi_result(text)
            if result.get("status_code") == 100:
                continue
            if result.get("error") == "AGIUsageError":
                more = await self.reader.readline()
                result["msg"] += more.decode(self.encoding, errors="replace")
            if result.get("error") == "AGIResultHangup" or result.get("status_code") == 511:
                self.hung_up = True
                raise AgiHangup(f"caller hung up during '{command}'")
            if result.get("error") == "AGIAppError" and self.hung_up:
                raise AgiHangup(f"caller hung up during '{command}'")
            if "error" in result:
                raise AgiCommandFailed(
                    f"'{command}' failed: {result.get('msg') or result['error']}"
                )
            return result


Handler = Callable[[AgiRequest], Awaitable[None]]


class FastAgiServer(fast_agi.Application):  # type: ignore[misc]
    """Route table (``ivr``, ``survey``...) served on loopback by default."""

    # Set by panoramisk's untyped Application.__init__ and add_route.
    default_encoding: str
    _route: dict[str, Handler]

    def __init__(self, settings: FastAgiSettings) -> None:
        super().__init__(default_encoding="utf-8", loop=asyncio.get_running_loop())
        self._settings = settings
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.sessions_served = 0

    def add_route(self, path: str, endpoint: Handler) -> None:
        """Register an async handler; sync handlers are refused (panoramisk would break them)."""
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"FastAGI route '{path}' needs an async handler, got {endpoint!r}")
        super().add_route(path, endpoint)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        """The port actually bound (useful when port 0 was configured)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        s = self._settings
        try:
            self._server = await asyncio.start_server(self.handler, s.host, s.port)
        except OSError as exc:
            raise AgiError(
                f"cannot listen for FastAGI on {s.host}:{s.port}: {exc.strerror}"
            ) from None
        log.info("fastagi_listening", host=s.host, port=s.port, routes=sorted(self._route))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; give running sessions ``grace`` seconds, then cancel them."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._server is not None:
            await self._server.wait_closed()

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cut short by stop() after the grace period: the call goes on in the
            # dialplan; ending quietly keeps asyncio from logging it as an error.
            log.info("fastagi_session_ended_at_stop")
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await asyncio.wait_for(_read_headers(reader), self._settings.header_timeout)
        except (TimeoutError, AgiError) as exc:
            log.warning(
                "fastagi_bad_session",
                peer=writer.get_extra_info("peername"),
                error=str(exc) or "timeout",
            )
            return
        script = headers.get("agi_network_script", "")
        route = self._route.get(script.split("?", 1)[0].strip("/"))
        bound = log.bind(
            call_id=headers.get("agi_uniqueid"), channel=headers.get("agi_channel"), route=script
        )
        if route is None:
            bound.error("fastagi_no_route")
            return
        request = AgiRequest(
            app=self,
            headers=headers,
            reader=reader,
            writer=writer,
            encoding=self.default_encoding,
            command_timeout=self._settings.command_timeout,
        )
        self.sessions_served += 1
        try:
            await route(request)
        except AgiHangup:
            bound.info("fastagi_caller_hung_up")
        except AgiError as exc:
            bound.warning("fastagi_session_ended", error=str(exc))
        except Exception:  # a bug in one call must not take the server down
            bound.exception("fastagi_handler_failed")


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    size = 0
    while True:
        line = await reader.readline()
        if not line:
            raise AgiClosed("connection closed before the AGI headers ended")
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise AgiError("AGI headers too large")
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value
