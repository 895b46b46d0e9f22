"""Live events for the API's stream: numbered, kept for a while for reconnects.

Every change gets the next sequence number within the bus's epoch (one per
engine start). A client that reconnects with the epoch and the last number it
saw gets exactly what it missed, or a full snapshot when too much has
happened since or the engine has restarted meanwhile (a new epoch). A
subscriber that cannot keep up is cut off (it then reconnects and resyncs)
instead of slowing the engine down.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One numbered change on the live stream, as API clients receive it."""

    seq: int
    kind: str
    at: float
    data: dict[str, Any]
    epoch: str = ""

    def as_json(self) -> dict[str, Any]:
        """The event as the stream sends it."""
        return {
            "epoch": self.epoch,
            "seq": self.seq,
            "kind": self.kind,
            "at": self.at,
            "data": self.data,
        }


@dataclass(eq=False)
class Subscription:
    """One stream client's queue; a ``None`` in it ends the stream (the client lagged)."""

    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=lambda: asyncio.Queue(1000))
    lagged: bool = False


class EventBus:
    """Numbers live events, keeps the recent ones and hands them to every subscriber."""

    def __init__(self, keep: int = 5000, epoch: str | None = None) -> None:
        # Sequence numbers start again at each engine start: the epoch tells them apart.
        self.epoch = epoch or f"{int(time.time())}-{secrets.token_hex(4)}"
        self.seq = 0
        self._recent: deque[LiveEvent] = deque(maxlen=keep)
        self._subscribers: set[Subscription] = set()

    def publish(self, kind: str, at: float, **data: Any) -> LiveEvent:
        """Number an event and hand it to every subscriber (never blocks)."""
        self.seq += 1
        event = LiveEvent(self.seq, kind, at, data, self.epoch)
        self._recent.append(event)
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.lagged = True
                self._subscribers.discard(sub)
                sub.queue.get_nowait()  # make room for the end marker
                sub.queue.put_nowait(None)
        return event

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def resume(self, seq: int, epoch: str | None) -> list[LiveEvent] | None:
        """Events after ``seq`` of ``epoch``, or None if the client must start from a snapshot.

        None when the epoch is another engine's (or not given), or see ``since``.
        """
        if epoch != self.epoch:
            return None
        return self.since(seq)

    def since(self, seq: int) -> list[LiveEvent] | None:
        """Events after ``seq``, or None if ``seq`` is ahead or some are no longer kept."""
        if seq > self.seq:
            return None
        if seq == self.seq:
            return []
        if not self._recent or self._recent[0].seq > seq + 1:
            return None
        return [e for e in self._recent if e.seq > seq]
