"""The satisfaction survey after the agent hangs up: 1-5 by keypress. Pure."""

from __future__ import annotations

from dataclasses import dataclass

QUESTION, INVALID, THANKS = "survey_question", "survey_invalid", "survey_thanks"
LOW_SCORE_MAX = 3  # 1-3 opens a follow-up for the team lead
FOLLOW_UP_WITHIN = 2 * 3600.0  # seconds, from the hotline manual


@dataclass(frozen=True, slots=True)
class Ask:
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Done:
    score: int | None  # None: no answer (silence, or invalid twice)
    prompts: tuple[str, ...]

    @property
    def needs_follow_up(self) -> bool:
        return self.score is not None and self.score <= LOW_SCORE_MAX


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
