"""Recording policy: when a call is recorded, pause and resume, disk alarm, retention. Pure.

Lines are recorded ``all`` (every connected call, from the greeting on),
``none``, or ``on_demand`` (the agent starts it). A recording can be paused
for sensitive moments (a card number) and resumed; paused stretches are
silence in the file, so its length still matches the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Policy = Literal["all", "none", "on_demand"]
DAY = 86400.0


class RecordingState(StrEnum):
    """Where a call's recording is: off, recording or paused."""

    OFF = "off"
    RECORDING = "recording"
    PAUSED = "paused"


class RecordingAction(StrEnum):
    """What an agent may ask of a call's recording."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"


class RecordingRefused(Exception):
    """The recording cannot do that now; the message says why."""


def record_on_connect(policy: Policy) -> bool:
    return policy == "all"


def next_state(state: RecordingState, action: RecordingAction, policy: Policy) -> RecordingState:
    """The state after an agent's request, or RecordingRefused naming the reason."""
    if action is RecordingAction.START:
        if policy == "none":
            raise RecordingRefused("calls on this line are not recorded")
        if state is not RecordingState.OFF:
            raise RecordingRefused("this call is being recorded already")
        return RecordingState.RECORDING
    if state is RecordingState.OFF:
        raise RecordingRefused("this call is not being recorded")
    if action is RecordingAction.PAUSE:
        if state is RecordingState.PAUSED:
            raise RecordingRefused("the recording is paused already")
        return RecordingState.PAUSED
    if state is RecordingState.RECORDING:
        raise RecordingRefused("the recording is not paused")
    return RecordingState.RECORDING


@dataclass(frozen=True, slots=True)
class DiskRules:
    """When the recordings disk counts as full."""

    min_free_bytes: int = 500 * 1024 * 1024


def disk_full(free_bytes: int, rules: DiskRules) -> bool:
    """Too little room for recordings: stop starting new ones (calls go on) and raise an alarm."""
    return free_bytes < rules.min_free_bytes


@dataclass(frozen=True, slots=True)
class Kept:
    """A recording whose file is still kept: its call and when it started."""

    call_id: str
    started_at: float


def to_purge(recordings: list[Kept], now: float, keep_days: int, held: set[str]) -> list[str]:
    """Recordings past the retention period, except those an open follow-up still needs."""
    if keep_days <= 0:
        return []
    cutoff = now - keep_days * DAY
    return [r.call_id for r in recordings if r.started_at < cutoff and r.call_id not in held]
