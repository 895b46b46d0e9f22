"""The engine service: consumes AMI events in order and keeps the core's state.

Events are put on a queue from the AMI read path (nothing slow there) and a
single consumer task applies them. After every (re)connect a
``CoreShowChannels`` snapshot is queued at its exact place in the event stream
and reconciles the view, so what happened while we were away is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import structlog
from panoramisk.message import Message

from acd.ami import actions
from acd.ami.connection import AmiConnection
from acd.ami.translate import snapshot_from, translate
from acd.core.channels import (
    Channel,
    ChannelEvent,
    ChannelRegistry,
    ChannelsSnapshot,
    Reconciliation,
)
from acd.core.progress import PbxEvent

log = structlog.get_logger("acd.engine")


@dataclass(frozen=True, slots=True)
class LinkLost:
    """The AMI link dropped (in stream order: after every event read before it)."""

    reason: str


QueueItem: TypeAlias = Message | ChannelsSnapshot | LinkLost


PbxEventSink = Callable[[PbxEvent], None]
ResyncSink = Callable[[Reconciliation, list[Channel]], None]
LinkLostSink = Callable[[str], None]


class Engine:
    """Keeps the live view of Asterisk and passes its events on, in stream order."""

    def __init__(self) -> None:
        self.channels = ChannelRegistry()
        self.resyncs = 0
        self.events_applied = 0
        self._queue: asyncio.Queue[QueueItem] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._ami: AmiConnection | None = None
        self._synced = asyncio.Event()
        self._event_sinks: list[PbxEventSink] = []
        self._resync_sinks: list[ResyncSink] = []
        self._lost_sinks: list[LinkLostSink] = []
        self._booted_sinks: list[Callable[[], None]] = []

    def subscribe(
        self, on_event: PbxEventSink, on_resync: ResyncSink, on_lost: LinkLostSink | None = None
    ) -> None:
        """Pass every event (after the channel view took it in), resync and link loss on."""
        self._event_sinks.append(on_event)
        self._resync_sinks.append(on_resync)
        if on_lost is not None:
            self._lost_sinks.append(on_lost)

    def on_resync(self, on_resync: ResyncSink) -> None:
        """Also tell ``on_resync`` of every resync (each AMI login) from now on."""
        self._resync_sinks.append(on_resync)

    def on_booted(self, on_booted: Callable[[], None]) -> None:
        """Tell ``on_booted`` each time Asterisk says it is fully booted: at every AMI
        login to a running Asterisk, and when one that was starting has loaded all (its
        dialplan's globals are set then, over anything set before)."""
        self._booted_sinks.append(on_booted)

    def bind(self, ami: AmiConnection) -> None:
        """Attach the AMI link whose events and snapshots feed this engine."""
        self._ami = ami
        ami.on_connected(self.resync)
        ami.on_lost(lambda reason: self._queue.put_nowait(LinkLost(reason)))

    def on_ami_event(self, message: Message) -> None:
        """Read-path callback: queue only."""
        self._queue.put_nowait(message)

    async def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="engine-consumer")

    async def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer

    async def resync(self) -> None:
        """Ask Asterisk for every live channel; the answer is applied in stream order."""
        assert self._ami is not None
        self._synced.clear()
        await self._ami.send_action(
            actions.core_show_channels(),
            as_list=True,
            in_stream=lambda messages: self._queue.put_nowait(snapshot_from(messages)),
        )
        # Wait until the consumer has applied it: "up" means "in sync".
        await asyncio.wait_for(self._synced.wait(), timeout=10)

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                self._apply(item)
            except Exception:  # one odd event must not stop the engine
                log.exception("event_failed", event=_describe(item))

    def _apply(self, item: QueueItem) -> None:
        if isinstance(item, LinkLost):
            for on_lost in self._lost_sinks:
                on_lost(item.reason)
            return
        if isinstance(item, ChannelsSnapshot):
            report = self.channels.reconcile(item)
            self.resyncs += 1
            log.info(
                "resynced",
                channels=len(self.channels),
                vanished=[c.uniqueid for c in report.vanished],
                found=[c.uniqueid for c in report.found],
                updated=len(report.updated),
            )
            self._synced.set()
            for on_resync in self._resync_sinks:
                on_resync(report, self.channels.all())
            return
        if item.get("Event") == "FullyBooted":
            for on_booted in self._booted_sinks:
                on_booted()
            return
        event = translate(item)
        if event is None:
            return
        if isinstance(event, ChannelEvent):
            self.channels.apply(event)
            self.events_applied += 1
        for on_event in self._event_sinks:
            on_event(event)


def _describe(item: Any) -> str:
    if isinstance(item, Message):
        return str(item.get("Event", "?"))
    return type(item).__name__
