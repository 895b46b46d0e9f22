"""The ``ivr`` FastAGI route: drives the pure navigator for one caller."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from acd.agi.server import AgiClosed, AgiCommandFailed, AgiHangup, AgiRequest
from acd.centre.callflow import CallCentre
from acd.core.calls import CallInfo
from acd.prompts import PromptLibrary
from ivr.navigator import (
    AskKey,
    AskNumber,
    CallerContext,
    Goodbye,
    LeaveCallback,
    Navigator,
    Say,
    Step,
    WaitForAgent,
    dialable,
)
from ivr.speech import LANGUAGES, digit_key
from ivr.tree import DTMF_KEYS, IvrTree

log = structlog.get_logger("acd.ivr")


async def play_files(request: AgiRequest, paths: list[str], escape: str) -> str | None:
    """Play sound files in turn; return the key that interrupted them, if any.

    A missing or broken file is logged and skipped: the caller is not dropped
    over a sound file.
    """
    for path in paths:
        try:
            result = await request.send_command(f'STREAM FILE {path} "{escape}"')
        except AgiCommandFailed as exc:
            log.error("prompt_failed", call_id=request.uniqueid, prompt=path, error=str(exc))
            continue
        code = int(result["result"][0] or 0)
        if code > 0:
            return chr(code)
    return None


async def ask_key(request: AgiRequest, paths: list[str], timeout: float) -> str | None:
    """Play prompts (a key interrupts them), then wait ``timeout`` s for a key; None: silence."""
    key = await play_files(request, paths, escape=DTMF_KEYS)
    if key is None:
        result = await request.send_command(f"WAIT FOR DIGIT {int(timeout * 1000)}")
        code = int(result["result"][0] or 0)
        key = chr(code) if code > 0 else None
    return key


def caller_language(request: AgiRequest, default: str) -> str:
    """The channel's language if we speak it, else the configured one."""
    language = request.headers.get("agi_language", "")
    return language if language in LANGUAGES else default


class IvrRoute:
    """Welcome, menus, and the way out: an agent's queue, a callback, or goodbye."""

    def __init__(
        self,
        tree: IvrTree,
        prompts: PromptLibrary,
        centre: CallCentre,
        default_language: str,
        clock: Callable[[], float],
    ) -> None:
        self._tree = tree
        self._prompts = prompts
        self._centre = centre
        self._language = default_language
        self._clock = clock

    async def __call__(self, request: AgiRequest) -> None:
        call_id = request.uniqueid
        language = caller_language(request, self._language)
        caller = request.caller_number
        name = request.headers.get("agi_calleridname", "")
        name = "" if name == "unknown" else name
        context = CallerContext(
            caller_number=caller,
            open_now=self._tree.hours.is_open(self._centre.local_now()),
            human_lines=self._centre.human_lines(),
        )
        nav = Navigator(self._tree, context)
        self._centre.note(
            call_id, "ivr_entered", caller=caller, language=language, open=context.open_now
        )
        step: Step = nav.start()
        while True:
            match step:
                case AskKey():
                    key = await self._ask_key(request, step, language)
                    if key is not None:
                        self._centre.note(call_id, "ivr_key", key=key)
                    step = nav.on_key(key) if key is not None else nav.on_silence()
                case AskNumber():
                    step = nav.on_number(await self._ask_number(request, step, language))
                case WaitForAgent():
                    await self._play(request, step.say, language, escape="")
                    enqueued_at = self._clock()
                    self._centre.note(call_id, "queued", line=step.line, path=list(nav.path))
                    try:
                        for name_, value in (
                            ("ACD_LINE", step.line),
                            ("ACD_ENQUEUED_AT", f"{enqueued_at:.3f}"),
                            ("ACD_LANG", language),
                            ("ACD_NEXT", "wait"),
                            ("ACD_IVR_DONE", "1"),
                        ):
                            await request.send_command(f'SET VARIABLE {name_} "{value}"')
                    except (AgiHangup, AgiClosed):
                        # Gone the moment they were queued (or Asterisk went down): offered,
                        # so counted, as abandoned.
                        self._centre.left_while_queued(call_id, step.line, enqueued_at)
                        raise
                    self._centre.enqueue(
                        CallInfo(
                            call_id, step.line, language, caller, name, enqueued_at, tuple(nav.path)
                        )
                    )
                    return
                case LeaveCallback():
                    self._centre.callback_request(call_id, step.line, step.number)
                    await self._play(request, step.say, language, escape="")
                    break
                case Goodbye():
                    self._centre.note(call_id, "ivr_goodbye", reason=step.reason)
                    await self._play(request, step.say, language, escape="")
                    break
        await request.send_command("SET VARIABLE ACD_IVR_DONE 1")

    def _files(self, say: tuple[Say, ...], language: str) -> list[str]:
        files = []
        for item in say:
            if item.prompt:
                files.append(self._prompts.path(language, item.prompt))
            files.extend(self._prompts.path(language, digit_key(d)) for d in item.digits)
        return files

    async def _play(
        self, request: AgiRequest, say: tuple[Say, ...], language: str, escape: str
    ) -> str | None:
        """Play prompts; return the key that interrupted them, if any."""
        return await play_files(request, self._files(say, language), escape)

    async def _ask_key(self, request: AgiRequest, step: AskKey, language: str) -> str | None:
        return await ask_key(request, self._files(step.say, language), step.timeout)

    async def _ask_number(self, request: AgiRequest, step: AskNumber, language: str) -> str | None:
        *first, last = self._files(step.say, language)
        await play_files(request, first, escape="")
        result = await request.send_command(
            f"GET DATA {last} {int(step.timeout * 1000)} {step.max_digits}"
        )
        digits = result["result"][0]
        return digits or None


class CallbackRoute:
    """The ``callback`` route: a waiting caller pressed 9 to be called back instead."""

    def __init__(self, prompts: PromptLibrary, centre: CallCentre, default_language: str) -> None:
        self._prompts = prompts
        self._centre = centre
        self._language = default_language

    async def __call__(self, request: AgiRequest) -> None:
        call_id = request.uniqueid
        number = request.caller_number
        info = self._centre.callback_instead(call_id, number) if dialable(number) else None
        if info is None:
            # Unknown to the engine (or no number to call): back to waiting.
            log.info("callback_refused", call_id=call_id)
            return
        await request.send_command("SET VARIABLE ACD_IVR_DONE 1")
        await play_files(request, [self._prompts.path(info.language, "callback_saved")], escape="")
