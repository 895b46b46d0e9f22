"""Every AMI action the engine sends about calls, each built in one place.

The connection's own handshake (Challenge, Login, CoreSettings, Ping, Logoff)
lives with the connection in acd.ami.connection. Everything else the engine
asks of Asterisk is built here, so an action's fields are written once.
"""

from __future__ import annotations

from collections.abc import Sequence

Fields = dict[str, str | list[str]]

HANGUP_NORMAL = "16"  # Q.850 normal clearing


def originate(
    endpoint: str,
    context: str,
    exten: str,
    *,
    channel_id: str,
    caller_id: str,
    timeout_ms: int,
    variables: Sequence[str] = (),
) -> Fields:
    """Ring ``endpoint``; when it answers it runs ``context,exten,1``. Asynchronous."""
    return {
        "Channel": endpoint,
        "Context": context,
        "Exten": exten,
        "Priority": "1",
        "Timeout": str(timeout_ms),
        "ChannelId": channel_id,
        "CallerID": caller_id,
        "Variable": list(variables),
        "Async": "true",
    }


def redirect(channel: str, context: str, exten: str) -> Fields:
    """Send a channel to another place in the dialplan (priority 1)."""
    return {
        "Action": "Redirect",
        "Channel": channel,
        "Context": context,
        "Exten": exten,
        "Priority": "1",
    }


def hangup(channel: str) -> Fields:
    """Hang a channel up (by name or uniqueid) with normal clearing."""
    return {"Action": "Hangup", "Channel": channel, "Cause": HANGUP_NORMAL}


def setvar(channel: str, name: str, value: str) -> Fields:
    """Set a channel variable that the dialplan reads."""
    return {"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value}


def getvar(channel: str, name: str) -> Fields:
    """Read a channel variable (taking back a caller after a restart)."""
    return {"Action": "Getvar", "Channel": channel, "Variable": name}


def mixmonitor_mute(channel: str, muted: bool) -> Fields:
    """Pause (silence, the file's length still matches the call) or resume a recording."""
    return {
        "Action": "MixMonitorMute",
        "Channel": channel,
        "Direction": "both",
        "State": "1" if muted else "0",
    }


def core_show_channels() -> Fields:
    """Every live channel (answered as a list of CoreShowChannel events)."""
    return {"Action": "CoreShowChannels"}
