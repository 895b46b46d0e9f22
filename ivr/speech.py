"""The prompt catalogue and how numbers are spoken. Pure: no audio is made here."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ivr.tree import IvrTree

CATALOGUE = Path(__file__).with_name("prompts.toml")
LANGUAGES = ("en", "zh")
MAX_SPOKEN_NUMBER = 99


class CatalogueError(Exception):
    """The prompt catalogue is missing a phrase or a language."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """One phrase to render: its catalogue key, language and text."""

    key: str
    language: str
    text: str


def digit_key(digit: str) -> str:
    return f"digit_{digit}"


def number_key(n: int) -> str:
    return f"number_{n}"


def job_number_greeting(job_number: str) -> list[str]:
    """'Hello, agent 1-0-0-1 at your service': the job number is read digit by digit."""
    return ["agent_greeting_before", *(digit_key(d) for d in job_number), "agent_greeting_after"]


def position_announcement(position: int, expected_wait: float | None = None) -> list[str]:
    """'You are number 3 in the queue. [Your expected wait is about 4 minutes.] Please
    hold, or press 9 to be called back.' Large numbers are read digit by digit."""
    if 1 <= position <= MAX_SPOKEN_NUMBER:
        spoken = [number_key(position)]
    else:
        spoken = [digit_key(d) for d in str(position)]
    wait = [] if expected_wait is None else expected_wait_announcement(expected_wait)
    return ["position_before", *spoken, "position_after", *wait, "position_hold"]


# Above this the wait is not counted out: "more than half an hour".
LONGEST_WAIT_SAID = 30


def expected_wait_announcement(seconds: float) -> list[str]:
    """'Your expected wait is about 4 minutes' (whole minutes), 'less than a minute'
    under 60 s, 'more than half an hour' above 30 minutes."""
    if seconds < 60:
        return ["wait_under_a_minute"]
    minutes = max(1, round(seconds / 60))
    if minutes > LONGEST_WAIT_SAID:
        return ["wait_over_half_an_hour"]
    if minutes <= 2:  # "1 minute", and Mandarin's 两 (not 二) for two minutes
        return ["wait_about", ("wait_one_minute", "wait_two_minutes")[minutes - 1]]
    return ["wait_about", number_key(minutes), "wait_minutes"]


def load_catalogue(tree: IvrTree, path: Path = CATALOGUE) -> list[Phrase]:
    """Every phrase to render: the catalogue (filled from the tree) plus digits and numbers."""
    from ivr.navigator import FIXED_PROMPTS

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    hours = tree.hours
    values = {
        "summer_open": hours.summer.open.strftime("%H:%M"),
        "summer_close": hours.summer.close.strftime("%H:%M"),
        "winter_open": hours.winter.open.strftime("%H:%M"),
        "winter_close": hours.winter.close.strftime("%H:%M"),
    }
    needed = (
        tree.prompts()
        | FIXED_PROMPTS
        | {"agent_greeting_before", "agent_greeting_after", "position_before", "position_after"}
        | {"position_hold", "wait_about", "wait_minutes", "wait_one_minute", "wait_two_minutes"}
        | {"wait_under_a_minute", "wait_over_half_an_hour"}
        | {"survey_question", "survey_invalid", "survey_thanks"}
    )
    missing = sorted(needed - data.keys())
    if missing:
        raise CatalogueError(f"{path}: no phrase for {', '.join(missing)}")
    phrases = []
    for key, texts in data.items():
        for language in LANGUAGES:
            if language not in texts:
                raise CatalogueError(f"{path}: [{key}] has no '{language}' text")
            try:
                text = texts[language].format(**values)
            except KeyError as exc:
                raise CatalogueError(
                    f"{path}: [{key}] {language}: unknown placeholder {exc}"
                ) from None
            phrases.append(Phrase(key, language, text))
    zh_digits = "零一二三四五六七八九"
    for d in range(10):
        phrases.append(Phrase(digit_key(str(d)), "en", str(d)))
        phrases.append(Phrase(digit_key(str(d)), "zh", zh_digits[d]))
    for n in range(1, MAX_SPOKEN_NUMBER + 1):
        phrases += [Phrase(number_key(n), "en", str(n)), Phrase(number_key(n), "zh", str(n))]
    return phrases
