"""The satisfaction survey after the agent hangs up: 1-5 by keypress. Pure."""

from __future__ import annotations

from dataclasses import dataclass

QUESTION, INVALID, THANKS = "survey_question", "survey_invalid", "survey_thanks"


@dataclass(frozen=True, slots=True)
class Ask:
    """Play the prompts, then wait for a key."""

    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """The survey is over: the score, and the prompts to play last."""

    score: int | None  # None: no answer (silence, or invalid twice)
    prompts: tuple[str, ...]


class Survey:
    """Ask once; an invalid key gets one repeat; silence is recorded as no answer."""

    def __init__(self) -> None:
        self._invalid = 0

    def start(self) -> Ask:
        return Ask((QUESTION,))

    def on_key(self, key: str | None) -> Ask | Done:
        if key is None:
            return Done(None, ())
        if key in "12345" and len(key) == 1:
            return Done(int(key), (THANKS,))
        self._invalid += 1
        if self._invalid > 1:
            return Done(None, (THANKS,))
        return Ask((INVALID, QUESTION))
