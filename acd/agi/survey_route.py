"""The ``survey`` FastAGI route: the caller rates the service 1-5 after the agent hung up."""

from __future__ import annotations

import structlog

from acd.agi.ivr_route import ask_key, caller_language, play_files
from acd.agi.server import AgiRequest
from acd.centre.callflow import CallCentre
from acd.prompts import PromptLibrary
from ivr.survey import Ask, Done, Survey

log = structlog.get_logger("acd.survey")


class SurveyRoute:
    """Plays the survey, reads the caller's 1-5 key and hands the score to the call centre."""

    def __init__(
        self, prompts: PromptLibrary, centre: CallCentre, default_language: str, wait: float
    ) -> None:
        self._prompts = prompts
        self._centre = centre
        self._language = default_language
        self._wait = wait

    async def __call__(self, request: AgiRequest) -> None:
        call_id = request.uniqueid
        language = caller_language(request, self._language)
        agent = await _variable(request, "ACD_AGENT")
        line = await _variable(request, "ACD_LINE")
        survey = Survey()
        step: Ask | Done = survey.start()
        while isinstance(step, Ask):
            paths = [self._prompts.path(language, p) for p in step.prompts]
            step = survey.on_key(await ask_key(request, paths, self._wait))
        self._centre.survey_result(call_id, agent, line, step.score)
        log.info("survey", call_id=call_id, agent=agent, line=line, score=step.score)
        # Rated: an engine that restarts now does not ask the caller again.
        await request.send_command("SET VARIABLE ACD_SURVEY_DONE 1")
        await play_files(request, [self._prompts.path(language, p) for p in step.prompts], "")


async def _variable(request: AgiRequest, name: str) -> str:
    result = await request.send_command(f"GET VARIABLE {name}")
    value = result.get("result", ("0", ""))
    return str(value[1]) if value and value[0] == "1" else ""
