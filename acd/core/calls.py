"""The call data the engine keeps beside the core: callers' channels, agents' legs, spy legs.

The core decides who takes which call; this is what the engine remembers about
each call on Asterisk to carry those decisions out (the caller's channel, the
language they chose, their recording, the legs rung on agents' phones). It is
kept in one ``CallBook``, owned by the call-centre service and read by the AMI
adapter and the live feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class CallInfo:
    """What the engine keeps about a caller's channel from the IVR to the hang-up."""

    call_id: str  # the caller channel's uniqueid
    line: str
    language: str
    caller_number: str = ""
    caller_name: str = ""
    enqueued_at: float = 0.0
    ivr_path: tuple[str, ...] = ()
    held: bool = False
    held_before_transfer: bool = False  # taken off hold by a transfer not yet carried out
    recording: Path | None = None  # where acd finds this call's recording
    recording_paused: bool = False
    put_through_to: str | None = None  # the agent acd last sent this caller to ("connect")


@dataclass(slots=True)
class AgentLeg:
    """One ring of one agent's phone for one call."""

    leg_id: str  # the uniqueid we gave the agent's channel
    call_id: str
    job_number: str
    answered: bool = False
    outbound: bool = False  # click-to-dial: the agent's own call


@dataclass(slots=True)
class SpySession:
    """A supervisor's phone listening to, whispering to or barging in on an agent."""

    leg_id: str
    supervisor: str
    agent: str
    mode: str


@dataclass
class CallBook:
    """Callers' channels, agents' legs and supervisors' spy legs, by id."""

    calls: dict[str, CallInfo] = field(default_factory=dict)
    legs: dict[str, AgentLeg] = field(default_factory=dict)
    spies: dict[str, SpySession] = field(default_factory=dict)  # by supervisor
    # Legs acd stopped ringing before Asterisk reported their channel: hung up on arrival.
    cancelled: set[str] = field(default_factory=set)

    def leg_for(self, call_id: str, job_number: str) -> AgentLeg | None:
        """The leg rung on that agent's phone for that call, if any (the newest)."""
        for leg in reversed(self.legs.values()):
            if leg.call_id == call_id and leg.job_number == job_number:
                return leg
        return None

    def answered_legs(self, call_id: str) -> list[AgentLeg]:
        """Legs of that call whose agent picked up."""
        return [leg for leg in self.legs.values() if leg.call_id == call_id and leg.answered]

    def forget_spies_on(self, leg_id: str) -> None:
        """A spy leg that hung up is no session any more."""
        for supervisor, spy in list(self.spies.items()):
            if spy.leg_id == leg_id:
                del self.spies[supervisor]
