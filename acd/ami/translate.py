"""Raw AMI messages → the core's events: the one table of what the engine consumes.

One small function per event. manager.conf's filter lets these (and the
replies to our actions) through and nothing else.
"""

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
from acd.core.progress import (
    AgentAnswered,
    CallerGreeted,
    PbxEvent,
    PositionAnnounced,
    RingFailed,
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
        bridge_id=m.get("BridgeId") or "",
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
    return ChannelHungUp(
        m["Uniqueid"], m["Cause-txt"], m.get("Context") or "", m.get("Exten") or ""
    )


def _agent_answered(m: Message) -> PbxEvent:
    return AgentAnswered(m["Uniqueid"], m.get("Leg", ""))


def _greeted(m: Message) -> PbxEvent:
    return CallerGreeted(m["Uniqueid"], m.get("Agent", ""), m.get("Status", ""))


def _announced(m: Message) -> PbxEvent:
    return PositionAnnounced(m["Uniqueid"], m.get("Position", ""), m.get("Status", ""))


def _originate_response(m: Message) -> PbxEvent | None:
    # Success is followed by the channel's own events; only a failure matters.
    return None if m.get("Response") == "Success" else RingFailed(m["Uniqueid"])


# Everything the engine consumes from AMI, by event (UserEvents by their name).
SUBSCRIPTIONS: dict[str, Callable[[Message], PbxEvent | None]] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "NewCallerid": _newcallerid,
    "Hangup": _hangup,
    "OriginateResponse": _originate_response,
    # Raised by our dialplan (asterisk-conf/extensions.conf) with UserEvent().
    "UserEvent:AcdAgentAnswered": _agent_answered,
    "UserEvent:AcdGreeted": _greeted,
    "UserEvent:AcdAnnounced": _announced,
}


def translate(message: Message) -> PbxEvent | None:
    """The core event for an AMI event, or None when the engine ignores it."""
    name = message.get("Event", "")
    if name == "UserEvent":
        name = f"UserEvent:{message.get('UserEvent', '')}"
    handler = SUBSCRIPTIONS.get(name)
    if handler is None or not message.get("Uniqueid"):
        return None
    return handler(message)


def snapshot_from(messages: Iterable[Message]) -> ChannelsSnapshot:
    """A ``CoreShowChannels`` answer (response, events, Complete) → a snapshot."""
    return ChannelsSnapshot(
        tuple(_channel(m) for m in messages if m.get("Event") == "CoreShowChannel")
    )
