"""The ``ivr`` FastAGI route: welcome prompt, one keypress, stored."""

from __future__ import annotations

import structlog

from acd.agi.server import AgiCommandFailed, AgiRequest
from acd.settings import IvrSettings
from acd.storage.events import CallEventLog
from ivr.menu import DTMF_KEYS, choose

log = structlog.get_logger("acd.ivr")


class IvrRoute:
    """Plays the welcome prompt, collects the caller's key and records it."""

    def __init__(self, settings: IvrSettings, events: CallEventLog) -> None:
        self._settings = settings
        self._events = events

    async def __call__(self, request: AgiRequest) -> None:
        call_id = request.uniqueid
        bound = log.bind(call_id=call_id, channel=request.channel)
        await self._events.append(call_id, "ivr_entered", caller=request.caller_number)
        digit = await self._collect_digit(request)
        if digit is None:
            await self._events.append(call_id, "ivr_no_input")
            bound.info("ivr_no_input")
        else:
            choice = choose(digit)
            await self._events.append(
                call_id, "ivr_digit", digit=digit, line=choice.line.value if choice.line else None
            )
            bound.info("ivr_digit", digit=digit, line=choice.line)
            await self._play(request, self._settings.thanks_prompt, escape="")
        # Tell the dialplan the engine handled this call (no fallback hold).
        await request.send_command("SET VARIABLE ACD_IVR_DONE 1")

    async def _collect_digit(self, request: AgiRequest) -> str | None:
        code = await self._play(request, self._settings.welcome_prompt, escape=DTMF_KEYS)
        if code <= 0:
            timeout_ms = int(self._settings.digit_timeout * 1000)
            result = await request.send_command(f"WAIT FOR DIGIT {timeout_ms}")
            code = int(result["result"][0] or 0)
        return chr(code) if code > 0 else None

    async def _play(self, request: AgiRequest, prompt: str, *, escape: str) -> int:
        """Play a prompt; return the key that interrupted it (0: none).

        A missing or broken prompt is logged and skipped: the caller is not
        dropped over a sound file.
        """
        try:
            result = await request.send_command(f'STREAM FILE {prompt} "{escape}"')
        except AgiCommandFailed as exc:
            log.error("prompt_failed", call_id=request.uniqueid, prompt=prompt, error=str(exc))
            return 0
        return int(result["result"][0] or 0)
