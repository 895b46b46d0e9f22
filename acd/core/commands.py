"""What the core asks the adapters to do, and the facts it reports for storage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from acd.core.agents import AgentStateChanged
from acd.core.peak import PeakLevelChanged

# A value stored with a call event (written to the event log as JSON).
NoteValue = str | int | float | bool | None | list[str]


@dataclass(frozen=True, slots=True)
class RingAgent:
    """Ring the agent's phone for a call; the caller keeps hearing music."""

    call_id: str
    job_number: str
    endpoint: str
    line: str
    timeout: float
    callback_number: str | None = None  # set when this is a callback request


@dataclass(frozen=True, slots=True)
class StopRinging:
    """Stop ringing (or hang up) the agent's leg for that call."""

    call_id: str
    job_number: str


@dataclass(frozen=True, slots=True)
class ConnectCall:
    """The agent answered: announce the job number to the caller and bridge them."""

    call_id: str
    job_number: str
    line: str


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Take the caller out of the agent's call and back to waiting (music) for a new agent."""

    call_id: str
    from_agent: str
    line: str
    to_agent: str | None


@dataclass(frozen=True, slots=True)
class DialOut:
    """Click-to-dial: ring the agent's phone, then dial the number from it."""

    call_id: str
    job_number: str
    endpoint: str
    number: str


@dataclass(frozen=True, slots=True)
class DialCallback:
    """The agent took a callback request: dial the customer (exactly once)."""

    request_id: str
    job_number: str
    number: str
    line: str


@dataclass(frozen=True, slots=True)
class AnnouncePosition:
    """Tell a waiting caller their position in the queue, and their expected wait if known."""

    call_id: str
    position: int
    expected_wait: float | None = None  # seconds (acd.core.estimate); None: not announced


@dataclass(frozen=True, slots=True)
class TellAgent:
    """A message for the agent's screen (e.g. the peak plan ends their break)."""

    job_number: str
    message: str  # in English, for logs and API clients
    code: str = ""  # what it is about, for a screen that says it in the agent's language


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    """A caller hung up before being connected."""

    call_id: str
    line: str
    waited: float
    while_ringing: str | None  # the agent whose phone was ringing, if any
    at: float


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """A call reached an agent (for speed-of-answer and service level)."""

    call_id: str
    line: str
    job_number: str
    waited: float
    at: float


@dataclass(frozen=True, slots=True)
class CallNote:
    """Something that happened to a call, for the event log (e.g. "greeted", "held", "survey")."""

    call_id: str
    kind: str
    data: Mapping[str, NoteValue]


# What the core asks of Asterisk (carried out in order by the AMI adapter).
Command = (
    RingAgent
    | StopRinging
    | ConnectCall
    | DialCallback
    | AnnouncePosition
    | TellAgent
    | TransferCall
    | DialOut
)
# What happened, for storage (written in order) and for the live feed.
Fact = AgentStateChanged | CallAbandoned | CallAnswered | PeakLevelChanged | CallNote
# Everything the core returns.
Output = Command | Fact


class Failure(StrEnum):
    """Why Asterisk did not carry out a command."""

    LINK_DOWN = "link_down"  # not sent, or the AMI link died before Asterisk answered
    TIMEOUT = "timeout"  # Asterisk did not answer in time (the link stayed up)
    REFUSED = "refused"  # Asterisk answered with an error
    GONE = "gone"  # the channel it was about had hung up already


@dataclass(frozen=True, slots=True)
class CommandDone:
    """Asterisk carried out a command (it accepted every action the command needed)."""

    command: Command


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """Asterisk did not carry out a command; the core decides the repair."""

    command: Command
    failure: Failure
    detail: str = ""


# What the AMI adapter reports back to the core about each command.
CommandOutcome = CommandDone | CommandFailed
