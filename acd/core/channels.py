"""The engine's view of Asterisk's live channels, kept from events and snapshots."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Channel:
    """One live Asterisk channel as the engine sees it."""

    uniqueid: str
    name: str
    state: str
    caller_number: str = ""
    caller_name: str = ""
    linkedid: str = ""
    context: str = ""
    exten: str = ""
    bridge_id: str = ""  # known from snapshots (CoreShowChannel), not from events


@dataclass(frozen=True, slots=True)
class ChannelCreated:
    """A new channel appeared on Asterisk."""

    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelStateChanged:
    """A channel's state changed (e.g. Ringing, Up)."""

    uniqueid: str
    state: str


@dataclass(frozen=True, slots=True)
class CallerIdChanged:
    """A channel's caller id changed."""

    uniqueid: str
    caller_number: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class ChannelHungUp:
    """A channel is gone, with Asterisk's hang-up cause and where in the dialplan it was."""

    uniqueid: str
    cause: str = ""
    context: str = ""
    exten: str = ""


@dataclass(frozen=True, slots=True)
class ChannelsSnapshot:
    """Every live channel at one instant, taken after each (re)connect."""

    channels: tuple[Channel, ...]


ChannelEvent = ChannelCreated | ChannelStateChanged | CallerIdChanged | ChannelHungUp


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What a snapshot changed in the engine's view."""

    vanished: tuple[Channel, ...]
    found: tuple[Channel, ...]
    updated: tuple[Channel, ...]

    @property
    def in_sync(self) -> bool:
        return not (self.vanished or self.found or self.updated)


class ChannelRegistry:
    """Live channels by uniqueid; events update it, snapshots reconcile it."""

    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {c.uniqueid: c for c in channels}

    def __len__(self) -> int:
        return len(self._channels)

    def __contains__(self, uniqueid: object) -> bool:
        return uniqueid in self._channels

    def get(self, uniqueid: str) -> Channel | None:
        return self._channels.get(uniqueid)

    def all(self) -> list[Channel]:
        return list(self._channels.values())

    def apply(self, event: ChannelEvent) -> Channel | None:
        """Apply one event; return the channel it touched, if known."""
        match event:
            case ChannelCreated(channel=channel):
                self._channels[channel.uniqueid] = channel
                return channel
            case ChannelStateChanged(uniqueid=uid, state=state):
                return self._update(uid, state=state)
            case CallerIdChanged(uniqueid=uid, caller_number=num, caller_name=name):
                return self._update(uid, caller_number=num, caller_name=name)
            case ChannelHungUp(uniqueid=uid):
                return self._channels.pop(uid, None)
        return None  # pragma: no cover - the match above is exhaustive

    def reconcile(self, snapshot: ChannelsSnapshot) -> Reconciliation:
        """Make the view equal to the snapshot and report the differences."""
        fresh = {c.uniqueid: c for c in snapshot.channels}
        vanished = tuple(c for uid, c in self._channels.items() if uid not in fresh)
        found = tuple(c for uid, c in fresh.items() if uid not in self._channels)
        updated = tuple(
            c for uid, c in fresh.items() if uid in self._channels and self._channels[uid] != c
        )
        self._channels = fresh
        return Reconciliation(vanished=vanished, found=found, updated=updated)

    def _update(self, uniqueid: str, **changes: str) -> Channel | None:
        current = self._channels.get(uniqueid)
        if current is None:
            # An event for a channel we never saw (e.g. created while we were
            # disconnected): the next snapshot brings it in whole.
            return None
        changed = replace(current, **changes)
        self._channels[uniqueid] = changed
        return changed
