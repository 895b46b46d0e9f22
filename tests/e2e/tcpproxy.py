"""A loopback TCP proxy a test can cut or freeze, like a bad network would."""

from __future__ import annotations

import asyncio
import contextlib
import time


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._frozen: set[int] = set()
        self.blocked = False  # new connections are refused (the network is down)
        self.connections = 0
        # One-shot faults at an exact point of the conversation (see cut_when_sent).
        self._cut_on_send: bytes | None = None
        self._close_on_receive: bytes | None = None
        self.cuts = 0
        self.sent: list[tuple[float, bytes]] = []  # (monotonic time, bytes) the client sent
        self._server: asyncio.Server | None = None
        self._transports: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()

    def sent_since(self, moment: float) -> bytes:
        """What the client sent after ``moment`` (monotonic)."""
        return b"".join(data for at, data in self.sent if at > moment)

    def cut(self) -> None:
        """Reset every proxied connection (both sides see the link die)."""
        for writer in self._transports:
            writer.transport.abort()
        self._transports.clear()

    def freeze(self) -> None:
        """Stop forwarding on the current connections (a frozen or half-open peer).

        New connections made afterwards work normally.
        """
        self._frozen.update(range(1, self.connections + 1))

    def cut_when_sent(self, pattern: bytes) -> None:
        """Once: when the client sends ``pattern``, the link dies before it is forwarded."""
        self._cut_on_send = pattern

    def close_after_received(self, pattern: bytes) -> None:
        """Once: when the server sends ``pattern``, it is forwarded and the link then closes."""
        self._close_on_receive = pattern

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        self.connections += 1
        number = self.connections
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:  # the server is down (e.g. Asterisk restarting): so is this link
            writer.transport.abort()
            return
        self._transports += [writer, up_writer]
        for src, dst, upstream in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pipe(src, dst, number, upstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, number: int, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                if number in self._frozen:  # a frozen peer: bytes go nowhere
                    continue
                if upstream:
                    self.sent.append((time.monotonic(), data))
                if upstream and self._cut_on_send and self._cut_on_send in data:
                    self._cut_on_send = None
                    self.cuts += 1
                    self.cut()
                    return
                dst.write(data)
                await dst.drain()
                if not upstream and self._close_on_receive and self._close_on_receive in data:
                    self._close_on_receive = None
                    self.cuts += 1
                    for writer in self._transports:  # an orderly close: data first, then EOF
                        writer.close()
                    self._transports.clear()
                    return
        dst.transport.abort()
