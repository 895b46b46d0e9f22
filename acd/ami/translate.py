"""Raw AMI messages → the core's events. One table, one small function per event."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from panoramisk.message import Message

from acd.core.channels import (
    CallerIdChanged,
    Channel,
    ChannelCreated,
    ChannelEvent,
    ChannelHungUp,
    ChannelsSnapshot,
    ChannelStateChanged,
)


def _channel(m: Message) -> Channel:
    return Channel(
        uniqueid=m["Uniqueid"],
        name=m["Channel"],
        state=m["ChannelStateDesc"],
        caller_number=_unknown_to_empty(m["CallerIDNum"]),
        caller_name=_unknown_to_empty(m["CallerIDName"]),
        linkedid=m["Linkedid"],
        context=m["Context"],
        exten=m["Exten"],
    )


def _unknown_to_empty(value: str) -> str:
    # Asterisk writes "<unknown>" where a caller id is not set.
    return "" if value == "<unknown>" else value


def _newchannel(m: Message) -> ChannelEvent:
    return ChannelCreated(_channel(m))


def _newstate(m: Message) -> ChannelEvent:
    return ChannelStateChanged(m["Uniqueid"], m["ChannelStateDesc"])


def _newcallerid(m: Message) -> ChannelEvent:
    return CallerIdChanged(
        m["Uniqueid"], _unknown_to_empty(m["CallerIDNum"]), _unknown_to_empty(m["CallerIDName"])
    )


def _hangup(m: Message) -> ChannelEvent:
    return ChannelHungUp(m["Uniqueid"], m["Cause-txt"])


# The events the engine subscribes to (manager.conf filters the rest out).
SUBSCRIPTIONS: dict[str, Callable[[Message], ChannelEvent]] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "NewCallerid": _newcallerid,
    "Hangup": _hangup,
}


def translate(message: Message) -> ChannelEvent | None:
    """The core event for an AMI event, or None when the engine ignores it."""
    handler = SUBSCRIPTIONS.get(message.get("Event", ""))
    if handler is None or not message.get("Uniqueid"):
        return None
    return handler(message)


def snapshot_from(messages: Iterable[Message]) -> ChannelsSnapshot:
    """A ``CoreShowChannels`` answer (response, events, Complete) → a snapshot."""
    return ChannelsSnapshot(
        tuple(_channel(m) for m in messages if m.get("Event") == "CoreShowChannel")
    )
