"""What the dialplan reports about a call's progress, as the engine's own types.

Channel events (acd.core.channels) keep the engine's view of Asterisk; these
say what happened to a call the engine put there: an agent picked up the leg
we rang, the caller heard the job-number greeting or their position, or a
ring never started. The AMI adapter's subscription table (acd.ami.translate)
makes them from AMI events.
"""

from __future__ import annotations

from dataclasses import dataclass

from acd.core.channels import ChannelEvent


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    """An agent picked up the leg acd rang (``leg``, as acd named it)."""

    uniqueid: str
    leg: str = ""


@dataclass(frozen=True, slots=True)
class CallerGreeted:
    """The caller heard "agent 1001 at your service" (or the files failed: ``status``)."""

    call_id: str
    agent: str
    status: str


@dataclass(frozen=True, slots=True)
class PositionAnnounced:
    """The caller heard their place in the queue."""

    call_id: str
    position: str
    status: str


@dataclass(frozen=True, slots=True)
class RingFailed:
    """Asterisk could not ring the phone of a leg acd originated (busy, unreachable...)."""

    uniqueid: str


CallProgress = AgentAnswered | CallerGreeted | PositionAnnounced | RingFailed
# Everything the engine takes from Asterisk's event stream.
PbxEvent = ChannelEvent | CallProgress
