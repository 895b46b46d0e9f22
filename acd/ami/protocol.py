"""panoramisk's AMI protocol with two fixes: safe UTF-8 and in-stream hooks.

panoramisk 1.4 decodes each TCP chunk on its own with errors ignored, so a
multibyte caller name (Chinese) split across two reads is corrupted. Here the
bytes go through an incremental decoder, which keeps a partial character for
the next chunk.

An action may carry ``in_stream``: a plain callback run at the exact point of
the stream where the action completes, before any later event is dispatched.
The engine uses it to put a snapshot into its event queue in stream order.
"""

from __future__ import annotations

import asyncio
import codecs
from typing import TYPE_CHECKING, Any

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message
from panoramisk.utils import EOL

if TYPE_CHECKING:
    from acd.ami.connection import AmiConnection


class Utf8AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """AMIProtocol that decodes UTF-8 across chunk boundaries."""

    # What we use of panoramisk's untyped protocol; set in connection_made
    # (``factory`` and ``encoding`` by AmiConnection).
    transport: asyncio.Transport
    closed: bool
    responses: dict[str, Action]
    factory: AmiConnection | None
    version: str | None
    encoding: str

    if TYPE_CHECKING:

        def send(
            self, data: Action | dict[str, Any], as_list: bool | None = False
        ) -> asyncio.Future[Any]: ...

        def close(self) -> None: ...

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def data_received(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            banner, _, _ = text.partition(EOL)
            self.version = banner.partition("/")[2].strip()
        self._buffer += text
        *messages, self._buffer = self._buffer.split(EOL + EOL)
        for raw in messages:
            message = Message.from_line(raw.strip())
            if message is not None:
                self.handle_message(message)

    def handle_message(self, message: Message) -> None:
        action = self.responses.get(message.id)
        if action is None and message.action_id:
            action = self.responses.get(message.action_id)
        super().handle_message(message)
        hook = getattr(action, "in_stream", None)
        if action is not None and hook is not None and action.future.done():
            action.in_stream = None
            if not action.future.cancelled() and action.future.exception() is None:
                hook(action.future.result())
