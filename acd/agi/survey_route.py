"""The ``survey`` FastAGI route: the caller rates the service 1-5 after the agent hung up."""

from __future__ import annotations

import structlog

from acd.agi.ivr_route import play_files
from acd.agi.server import AgiRequest
from acd.callcentre import CallCentre
from acd.prompts import PromptLibrary
from ivr.speech import LANGUAGES
from ivr.survey import Ask, Survey
from ivr.tree import DTMF_KEYS

log = structlog.get_logger("acd.survey")


class SurveyRoute:
    def __init__(
        self, prompts: PromptLibrary, centre: CallCentre, default_language: str, wait: float
    ) -> None:
        self._prompts = prompts
        self._centre = centre
        self._language = default_language
        self._wait = wait

    async def __call__(self, request: AgiRequest) -> None:
        call_id = request.uniqueid
        language = request.headers.get("agi_language", "")
        if language not in LANGUAGES:
            language = self._language
        agent = await _variable(request, "ACD_AGENT")
        line = await _variable(request, "ACD_LINE")
        survey = Survey()
        step = survey.start()
        while isinstance(step, Ask):
            paths = [self._prompts.path(language, p) for p in step.prompts]
            key = await play_files(request, paths, escape=DTMF_KEYS)
            if key is None:
                result = await request.send_command(f"WAIT FOR DIGIT {int(self._wait * 1000)}")
                code = int(result["result"][0] or 0)
                key = chr(code) if code > 0 else None
            step = survey.on_key(key)
        self._centre.survey_result(call_id, agent, line, step.score)
        log.info("survey", call_id=call_id, agent=agent, line=line, score=step.score)
        await play_files(request, [self._prompts.path(language, p) for p in step.prompts], "")


async def _variable(request: AgiRequest, name: str) -> str:
    result = await request.send_command(f"GET VARIABLE {name}")
    value = result.get("result", ("0", ""))
    return str(value[1]) if value and value[0] == "1" else ""
