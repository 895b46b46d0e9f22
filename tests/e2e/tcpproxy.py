"""A loopback TCP proxy a test can cut or freeze, like a bad network would."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._frozen: set[int] = set()
        self.blocked = False  # new connections are refused (the network is down)
        self.connections = 0
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        self.connections += 1
        number = self.connections
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._transports += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, number))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, number: int
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                if number in self._frozen:  # a frozen peer: bytes go nowhere
                    continue
                dst.write(data)
                await dst.drain()
        dst.transport.abort()
