"""Agents' phone legs as the call centre tracks them from AMI events (no Asterisk here).

Events go through the engine's one subscription table (``translate``) to the
call tracking, as they do in the daemon.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from panoramisk.message import Message

from acd.ami.translate import translate
from acd.core.agents import AgentState
from acd.core.calls import AgentLeg, CallInfo
from acd.core.commands import CommandDone, ConnectCall
from acd.wiring import Services
from recording.policy import RecordingAction, RecordingRefused
from tests.apiapp import api_app


def answered(leg: str) -> Message:
    """The dialplan's UserEvent when an agent picks up the leg acd rang."""
    return Message({"Event": "UserEvent", "UserEvent": "AcdAgentAnswered", "Uniqueid": leg})


def hangup(uniqueid: str, context: str = "", exten: str = "") -> Message:
    """Asterisk's Hangup event, with where in the dialplan the channel was."""
    fields = {"Event": "Hangup", "Uniqueid": uniqueid, "Cause-txt": "Normal Clearing"}
    return Message({**fields, "Context": context, "Exten": exten})


def feed(services: Services, message: Message) -> None:
    event = translate(message)
    assert event is not None, message
    services.tracking.on_pbx_event(event)


def answered_by_1001(services: Services) -> None:
    """Caller c1 queued for tour (counted as offered); 1001, ready, picked up leg-1."""
    services.centre.log_in("1001")
    services.centre.ready("1001")
    services.pipeline.note("c1", "queued", line="tour")
    services.centre.enqueue(CallInfo("c1", "tour", "en", "13800138000", enqueued_at=time.time()))
    services.pipeline.book.legs["leg-1"] = AgentLeg("leg-1", "c1", "1001")
    feed(services, answered("leg-1"))


def put_through(services: Services, call_id: str, job_number: str, line: str) -> None:
    """As the executor reports it: Asterisk put the caller through to the agent."""
    services.pipeline.outcome(CommandDone(ConnectCall(call_id, job_number, line)))


async def test_the_first_agent_hanging_up_late_after_a_transfer_leaves_the_new_agent_talking(
    tmp_path,
):
    async with api_app(tmp_path) as (_, services, _):
        centre, book, core = services.centre, services.pipeline.book, services.pipeline.core
        for job_number in ("1001", "1002"):  # 1001 takes tour, 1002 cruise
            centre.log_in(job_number)
            centre.ready(job_number)
        centre.enqueue(CallInfo("c1", "tour", "en", "13800138000", enqueued_at=time.time()))
        book.legs["leg-1"] = AgentLeg("leg-1", "c1", "1001")  # as the executor rang it
        feed(services, answered("leg-1"))
        put_through(services, "c1", "1001", "tour")
        await services.control.transfer("1001", line="cruise")
        book.legs["leg-2"] = AgentLeg("leg-2", "c1", "1002")
        feed(services, answered("leg-2"))
        put_through(services, "c1", "1002", "cruise")
        assert core.status("1002").state is AgentState.TALKING

        feed(services, hangup("leg-1"))  # 1001's phone goes down only now

        assert core.status("1002").state is AgentState.TALKING
        assert core.connected["c1"].job_number == "1002"
        feed(services, hangup("leg-2"))  # 1002 hangs up: their after-call work
        assert core.status("1002").state is AgentState.AFTER_CALL
        await services.pipeline.stop()


async def test_a_transfer_during_the_greeting_waits_for_asterisks_answer_to_the_put_through(
    tmp_path,
):
    async with api_app(tmp_path) as (_, services, _):
        centre, book, core = services.centre, services.pipeline.book, services.pipeline.core
        for job_number in ("1001", "1002"):
            centre.log_in(job_number)
            centre.ready(job_number)
        centre.enqueue(CallInfo("c1", "tour", "en", "13800138000", enqueued_at=time.time()))
        book.legs["leg-1"] = AgentLeg("leg-1", "c1", "1001")
        feed(services, answered("leg-1"))  # the greeting plays; Asterisk's answer is on its way
        transfer = asyncio.create_task(services.control.transfer("1001", line="cruise"))
        await asyncio.sleep(0.2)
        assert not transfer.done()  # waiting, not refused
        put_through(services, "c1", "1001", "tour")
        assert await asyncio.wait_for(transfer, 2) == "c1"
        assert core.status("1001").state is AgentState.AFTER_CALL
        assert "c1" in core.waiting  # for cruise, ahead of new callers
        await services.pipeline.stop()


async def test_a_recording_start_asked_during_the_greeting_waits_and_finds_it_recording(
    tmp_path,
):
    """Every call is recorded (the default): its recording starts with the put-through.
    The agent asks to start it while the greeting plays, before Asterisk's answer to the
    put-through reached the engine: the request waits for it, then is refused as already
    recording (it had started a second recording of the call)."""
    async with api_app(tmp_path) as (_, services, _):
        answered_by_1001(services)
        asked = asyncio.create_task(
            services.control.control_recording("1001", RecordingAction.START)
        )
        await asyncio.sleep(0.2)
        assert not asked.done()  # waiting for the put-through, nothing asked of Asterisk
        # As the executor does once Asterisk answered: the recording runs, then the outcome.
        services.pipeline.book.calls["c1"].recording = tmp_path / "c1.wav"
        put_through(services, "c1", "1001", "tour")
        with pytest.raises(RecordingRefused, match="already"):
            await asyncio.wait_for(asked, 2)
        assert services.control.recording_of("c1")["state"] == "recording"
        await services.pipeline.stop()


async def test_an_agents_phone_that_goes_before_the_caller_is_put_through_leaves_them_waiting(
    tmp_path,
):
    async with api_app(tmp_path) as (_, services, _):
        centre, book, core = services.centre, services.pipeline.book, services.pipeline.core
        answered_by_1001(services)
        feed(services, hangup("leg-1"))  # before Asterisk put the caller through
        # Not abandoned, not stranded: the caller waits again, first in line.
        assert "c1" in core.waiting and core.position("c1") == 1
        today = services.live.today().counts
        assert (today.offered, today.answered, today.abandoned) == (1, 0, 0)
        assert core.status("1001").reason is not None  # not ready: the phone dropped it
        # And a caller who hangs up at the very moment their agent answers is abandoned,
        # the agent free at once.
        centre.ready("1001")
        book.legs["leg-2"] = AgentLeg("leg-2", "c1", "1001")
        feed(services, answered("leg-2"))
        feed(services, hangup("c1"))
        today = services.live.today().counts
        assert (today.answered, today.abandoned) == (0, 1)
        assert core.status("1001").state is AgentState.READY
        await services.pipeline.stop()


async def test_a_caller_who_hangs_up_in_the_greeting_before_asterisks_answer_counts_as_answered(
    tmp_path,
):
    """Asterisk's Hangup event can overtake its answer to the put-through (the caller
    hung up while "agent 1001 at your service" played): the caller was put through."""
    async with api_app(tmp_path) as (_, services, _):
        book, core = services.pipeline.book, services.pipeline.core
        answered_by_1001(services)
        book.calls["c1"].put_through_to = "1001"  # as the executor sent the caller to 1001

        feed(services, hangup("c1", context="acd-wait", exten="connect"))

        today = services.live.today().counts
        assert (today.offered, today.answered, today.abandoned) == (1, 1, 0)
        assert core.status("1001").state is AgentState.AFTER_CALL  # wrap-up, as after a call
        put_through(services, "c1", "1001", "tour")  # the answer arrives late: nothing more
        assert services.live.today().counts.answered == 1
        assert core.status("1001").state is AgentState.AFTER_CALL
        await services.pipeline.stop()


async def test_a_hang_up_elsewhere_or_in_a_put_through_to_another_agent_is_abandoned(tmp_path):
    """Only a hang-up in the put-through acd sent for this very agent counts as answered:
    one in the music (or in an earlier agent's put-through) is an abandoned call."""
    for where, sent_to in ((("acd-wait", "s"), "1001"), (("acd-wait", "connect"), "1002")):
        async with api_app(tmp_path / where[1] / sent_to) as (_, services, _):
            book, core = services.pipeline.book, services.pipeline.core
            answered_by_1001(services)
            book.calls["c1"].put_through_to = sent_to

            feed(services, hangup("c1", context=where[0], exten=where[1]))

            today = services.live.today().counts
            assert (today.answered, today.abandoned) == (0, 1), (where, sent_to)
            assert core.status("1001").state is AgentState.READY
            await services.pipeline.stop()
