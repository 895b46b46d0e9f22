"""Recordings: the agent's record/pause/resume, and audited playback and download."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.http.api import API, USER, Route, _agent_target, _audit_if_intervention, _Body, parse_query
from acd.http.errors import NotFound, json_body
from acd.recordings import RecordingService
from recording.policy import RecordingAction


class RecordingBody(_Body):
    action: Literal["start", "pause", "resume"] = Field(
        description="start (lines recorded on demand), pause (e.g. for a card number), resume"
    )


class RecordingsQuery(_Body):
    date: dt.date | None = Field(default=None, description="the day (local); default: today")
    agent: str | None = Field(default=None, max_length=16)
    line: str | None = Field(default=None, max_length=32)


class AudioQuery(_Body):
    download: bool = Field(default=False, description="as an attachment (else to play)")


def _service(request: web.Request) -> RecordingService:
    service = request.app[API].recordings
    if service is None:
        raise NotFound("recordings are not enabled on this server")
    return service


async def control(request: web.Request) -> web.Response:
    job = _agent_target(request)
    body = RecordingBody.model_validate(await json_body(request))
    result = await request.app[API].centre.control_recording(job, RecordingAction(body.action))
    await _audit_if_intervention(request, f"force_recording_{body.action}", job)
    return web.json_response(result)


async def listing(request: web.Request) -> web.Response:
    service = _service(request)
    query = parse_query(request, RecordingsQuery)
    rows = await service.listing(request[USER], query.date, query.agent, query.line)
    return web.json_response(rows)


async def details(request: web.Request) -> web.Response:
    service = _service(request)
    return web.json_response(await service.details(request[USER], request.match_info["call_id"]))


async def audio(request: web.Request) -> web.FileResponse:
    service = _service(request)
    query = parse_query(request, AudioQuery)
    call_id = request.match_info["call_id"]
    path = await service.open(request[USER], call_id, download=query.download)
    disposition = "attachment" if query.download else "inline"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "audio/wav",
            "Content-Disposition": f'{disposition}; filename="{call_id}.wav"',
            "Cache-Control": "no-store",
        },
    )


RECORDING_ROUTES: list[Route] = [
    Route(
        "POST",
        "/agents/{job}/recording",
        control,
        "Start (on-demand lines), pause or resume the recording of the agent's current call",
        RecordingBody,
    ),
    Route(
        "GET",
        "/recordings",
        listing,
        "Recordings of a day, newest first (supervisors; agents their own if allowed)",
        query=RecordingsQuery,
    ),
    Route("GET", "/recordings/{call_id}", details, "One call's recording: length, size, checksum"),
    Route(
        "GET",
        "/recordings/{call_id}/audio",
        audio,
        "The recording as WAV, to play or download (every access is audited)",
        query=AudioQuery,
    ),
]
