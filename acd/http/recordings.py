"""Recordings: the agent's record/pause/resume, and audited playback and download."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from acd.http.errors import json_body
from acd.http.plumbing import (
    API,
    USER,
    Body,
    Route,
    agent_target,
    audit_if_intervention,
    parse_query,
)
from acd.recordings import RecordingService
from recording.policy import RecordingAction


class RecordingBody(Body):
    """Start, pause or resume the current call's recording."""

    action: Literal["start", "pause", "resume"] = Field(
        description="start (lines recorded on demand), pause (e.g. for a card number), resume"
    )


class RecordingsQuery(Body):
    """Which recordings to list (day, agent, line)."""

    date: dt.date | None = Field(default=None, description="the day (local); default: today")
    agent: str | None = Field(default=None, max_length=16)
    line: str | None = Field(default=None, max_length=32)
    caller: str | None = Field(default=None, max_length=40, description="the caller's number")


class AudioQuery(Body):
    """Play the recording in the page, or download it as a file."""

    download: bool = Field(default=False, description="as an attachment (else to play)")


def _service(request: web.Request) -> RecordingService:
    service = request.app[API].recordings
    return service


async def control(request: web.Request) -> web.Response:
    job_number = agent_target(request)
    body = RecordingBody.model_validate(await json_body(request))
    control = request.app[API].control
    change = await control.control_recording(job_number, RecordingAction(body.action))
    await audit_if_intervention(request, f"force_recording_{body.action}", job_number)
    return web.json_response({"call_id": change.call_id, "recording": change.recording})


async def listing(request: web.Request) -> web.Response:
    service = _service(request)
    query = parse_query(request, RecordingsQuery)
    rows = await service.listing(request[USER], query.date, query.agent, query.line, query.caller)
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
        "/agents/{job_number}/recording",
        control,
        "Start (on-demand lines), pause or resume the recording of the agent's current call",
        RecordingBody,
    ),
    Route(
        "GET",
        "/recordings",
        listing,
        "Recordings of a day, newest first, by agent, line or caller (supervisors; agents "
        "their own if allowed)",
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
