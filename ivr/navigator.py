"""Walks one caller through the IVR tree. Pure: keys and silence in, steps out.

The FastAGI ``ivr`` route plays each step's prompts, waits for a key (or a
number) and feeds the result back, until a final step: wait for an agent,
leave a callback request, or goodbye.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.tree import IvrTree, KeyAction, Menu

# Fixed prompts of the navigator (catalogue keys).
INVALID_KEY = "invalid_key"
INVALID_GOODBYE = "invalid_goodbye"
SILENCE_CONNECTED = "silence_connected"
SILENCE_GOODBYE = "silence_goodbye"
PLEASE_HOLD = "please_hold"
CLOSED_HOURS = "closed_hours"
NO_AGENT_ON_DUTY = "no_agent_on_duty"
CALLBACK_OFFER = "callback_offer"
CALLBACK_OFFER_NO_NUMBER = "callback_offer_no_number"
CALLBACK_ENTER_NUMBER = "callback_enter_number"
CALLBACK_SAVED = "callback_saved"
GOODBYE = "goodbye"
FIXED_PROMPTS = frozenset(
    {
        INVALID_KEY,
        INVALID_GOODBYE,
        SILENCE_CONNECTED,
        SILENCE_GOODBYE,
        PLEASE_HOLD,
        CLOSED_HOURS,
        NO_AGENT_ON_DUTY,
        CALLBACK_OFFER,
        CALLBACK_OFFER_NO_NUMBER,
        CALLBACK_ENTER_NUMBER,
        CALLBACK_SAVED,
        GOODBYE,
    }
)

MIN_NUMBER, MAX_NUMBER = 5, 20


def dialable(number: str) -> bool:
    """A number we can call back: 5-20 digits, optionally E.164's leading "+" (+8613...)."""
    digits = number.removeprefix("+")
    return digits.isdigit() and MIN_NUMBER <= len(digits) <= MAX_NUMBER


@dataclass(frozen=True, slots=True)
class Say:
    """A prompt key, or digits to be read out one by one."""

    prompt: str = ""
    digits: str = ""


@dataclass(frozen=True, slots=True)
class AskKey:
    """Play, then wait ``timeout`` seconds for one key."""

    say: tuple[Say, ...]
    timeout: float


@dataclass(frozen=True, slots=True)
class AskNumber:
    """Play, then collect up to ``max_digits`` keys ended by #."""

    say: tuple[Say, ...]
    timeout: float
    max_digits: int = MAX_NUMBER


@dataclass(frozen=True, slots=True)
class WaitForAgent:
    """Final step: play, then queue the caller for an agent on ``line``."""

    line: str
    say: tuple[Say, ...]


@dataclass(frozen=True, slots=True)
class LeaveCallback:
    """Final step: play, then save a request to call ``number`` back for ``line``."""

    line: str
    number: str
    say: tuple[Say, ...]


@dataclass(frozen=True, slots=True)
class Goodbye:
    """Final step: play, then hang up; ``reason`` says why."""

    say: tuple[Say, ...]
    reason: str


Step = AskKey | AskNumber | WaitForAgent | LeaveCallback | Goodbye


@dataclass(frozen=True, slots=True)
class CallerContext:
    """What the IVR knows about the call when it starts."""

    caller_number: str
    open_now: bool
    human_lines: frozenset[str] = field(default_factory=frozenset)


def _say(*prompts: str) -> tuple[Say, ...]:
    return tuple(Say(prompt=p) for p in prompts)


class Navigator:
    """One caller's walk through the tree."""

    def __init__(self, tree: IvrTree, context: CallerContext) -> None:
        self.tree = tree
        self.context = context
        self.path: list[str] = []  # menus visited and keys pressed, for the screen pop
        self._menu = tree.start
        self._invalid = 0
        self._silences = 0
        self._callback_line: str | None = None  # set while offering a callback
        self._last: Step | None = None

    def start(self) -> Step:
        self.path.append(self._menu)
        prompt = self._menu_prompt(self.tree.menus[self._menu])
        return self._ask(_say(self.tree.welcome, prompt))

    def on_key(self, key: str) -> Step:
        self._silences = 0
        self.path.append(key)
        if self._callback_line is not None:
            return self._callback_choice(key)
        menu = self.tree.menus[self._menu]
        if key == self.tree.repeat_key:
            return self._ask(_say(self._menu_prompt(menu)))
        action = menu.keys.get(key)
        if action is None:
            return self._invalid_key(_say(self._menu_prompt(menu)))
        self._invalid = 0
        return self._act(action)

    def on_silence(self) -> Step:
        self._silences += 1
        if self._silences > self.tree.silence_repeats:
            return Goodbye(_say(SILENCE_GOODBYE), reason="silence")
        return self._ask(_say(SILENCE_CONNECTED))

    def on_number(self, digits: str | None) -> Step:
        assert self._callback_line is not None
        if digits is None:
            return self.on_silence_number()
        self.path.append(digits)
        if not (digits.isdigit() and MIN_NUMBER <= len(digits) <= MAX_NUMBER):
            return self._invalid_key(_say(CALLBACK_ENTER_NUMBER), number=True)
        return LeaveCallback(self._callback_line, digits, _say(CALLBACK_SAVED))

    def on_silence_number(self) -> Step:
        self._silences += 1
        if self._silences > self.tree.silence_repeats:
            return Goodbye(_say(SILENCE_GOODBYE), reason="silence")
        return AskNumber(_say(SILENCE_CONNECTED, CALLBACK_ENTER_NUMBER), self.tree.silence_timeout)

    # -- internals -----------------------------------------------------------

    def _ask(self, say: tuple[Say, ...]) -> Step:
        self._last = AskKey(say, self.tree.silence_timeout)
        return self._last

    def _human(self, line: str) -> bool:
        return self.context.open_now and line in self.context.human_lines

    def _menu_prompt(self, menu: Menu) -> str:
        lines = [a.agent for a in menu.keys.values() if a.agent]
        if menu.prompt_no_human and any(not self._human(line) for line in lines):
            return menu.prompt_no_human
        return menu.prompt

    def _act(self, action: KeyAction) -> Step:
        if action.goto is not None:
            self._menu = action.goto
            self.path.append(action.goto)
            return self._ask(_say(self._menu_prompt(self.tree.menus[action.goto])))
        if action.info is not None:
            menu = self.tree.menus[self._menu]
            return self._ask(_say(action.info, self._menu_prompt(menu)))
        if action.agent is not None:
            if self._human(action.agent):
                return WaitForAgent(action.agent, _say(PLEASE_HOLD))
            # Nobody can take it: say why (the hours, or nobody on duty), offer a callback.
            why = CLOSED_HOURS if not self.context.open_now else NO_AGENT_ON_DUTY
            return self._offer_callback(action.agent, why=_say(why))
        assert action.callback is not None
        return self._offer_callback(action.callback, why=())

    def _invalid_key(self, again: tuple[Say, ...], number: bool = False) -> Step:
        self._invalid += 1
        if self._invalid >= self.tree.max_invalid:
            return Goodbye(_say(INVALID_GOODBYE), reason="invalid_keys")
        if number:
            return AskNumber((Say(INVALID_KEY), *again), self.tree.silence_timeout)
        return self._ask((Say(INVALID_KEY), *again))

    def _offer_callback(self, line: str, why: tuple[Say, ...]) -> Step:
        self._callback_line = line
        number = self.context.caller_number
        if dialable(number):
            # "Press 1 to be called back on <number>, press 2 to key in another."
            spoken = number.removeprefix("+")
            offer: tuple[Say, ...] = (*why, Say(CALLBACK_OFFER), Say(digits=spoken))
        else:
            offer = (*why, Say(CALLBACK_OFFER_NO_NUMBER))
        return self._ask(offer)

    def _callback_choice(self, key: str) -> Step:
        assert self._callback_line is not None
        number = self.context.caller_number
        if key == "1" and dialable(number):
            return LeaveCallback(self._callback_line, number, _say(CALLBACK_SAVED))
        if key == "2" or (key == "1" and not dialable(number)):
            return AskNumber(_say(CALLBACK_ENTER_NUMBER), self.tree.silence_timeout)
        if key == "#":
            return Goodbye(_say(GOODBYE), reason="declined_callback")
        return self._invalid_key(self._last.say if isinstance(self._last, AskKey) else ())
