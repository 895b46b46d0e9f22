"""A loopback AMI server that replays a transcript recorded from a real Asterisk.

Adapter tests talk to it over a real TCP socket, so the code under test is the
real protocol and connection code, not a mock of it. Transcript format: blocks
separated by blank lines; ``>>> Name`` waits for the client's action ``Name``;
``!!! close`` closes the connection; ``!!! freeze`` stops answering (a frozen
Asterisk); any other block is sent with ``{id}`` replaced by the ActionID of
the last action received. ``Ping`` is answered whenever not frozen.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

HERE = Path(__file__).parent / "transcripts"


def load(name: str) -> list[str]:
    text = (HERE / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    blocks = "\n".join(lines).strip("\n").split("\n\n")
    return [b.strip("\n") for b in blocks if b.strip()]


class AmiReplayServer:
    """Serves one transcript per connection; records every action it received."""

    def __init__(self, *transcripts: list[str], chunk_size: int = 0) -> None:
        self._transcripts = list(transcripts)
        self.chunk_size = chunk_size
        self.received: list[dict[str, str]] = []
        self.connections = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def __aenter__(self) -> AmiReplayServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()

    def cut(self) -> None:
        """Close every open connection, as a network cut would."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action", "").lower() == name.lower()]

    async def _send(self, writer: asyncio.StreamWriter, block: str, action_id: str) -> None:
        data = (block.replace("{id}", action_id).replace("\n", "\r\n") + "\r\n\r\n").encode()
        if block.startswith("Asterisk Call Manager/"):
            data = data[:-2]  # the banner ends with a single CRLF
        step = self.chunk_size or len(data)
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
            await writer.drain()

    async def _read_action(self, reader: asyncio.StreamReader) -> dict[str, str]:
        raw = await reader.readuntil(b"\r\n\r\n")
        fields: dict[str, str] = {}
        for line in raw.decode().split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                fields[key] = value
        self.received.append(fields)
        return fields

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        script = self._transcripts[min(self.connections, len(self._transcripts) - 1)]
        self.connections += 1
        action_id = ""
        try:
            for block in script:
                if block.startswith(">>> "):
                    wanted = block[4:].strip()
                    while True:
                        action = await self._read_action(reader)
                        action_id = action.get("ActionID", "")
                        if action.get("Action") == wanted:
                            break
                        if action.get("Action") == "Ping" and not self.frozen:
                            await self._send(
                                writer, "Response: Success\nActionID: {id}\nPing: Pong", action_id
                            )
                elif block == "!!! close":
                    writer.close()
                    return
                elif block == "!!! freeze":
                    self.frozen = True
                else:
                    await self._send(writer, block, action_id)
            while True:  # transcript done: keep answering pings (unless frozen)
                action = await self._read_action(reader)
                if action.get("Action") == "Ping" and not self.frozen:
                    await self._send(
                        writer,
                        "Response: Success\nActionID: {id}\nPing: Pong",
                        action.get("ActionID", ""),
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
