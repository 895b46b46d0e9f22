"""Agents' phone legs as the call centre tracks them from AMI events (no Asterisk here)."""

from __future__ import annotations

import time

from panoramisk.message import Message

from acd.ami.executor import AgentLeg, CallInfo
from acd.core.agents import AgentState
from tests.apiapp import api_app


def answered(leg: str) -> Message:
    """The dialplan's UserEvent when an agent picks up the leg acd rang."""
    return Message({"Event": "UserEvent", "UserEvent": "AcdAgentAnswered", "Uniqueid": leg})


def hangup(uniqueid: str) -> Message:
    return Message({"Event": "Hangup", "Uniqueid": uniqueid})


async def test_the_first_agent_hanging_up_late_after_a_transfer_leaves_the_new_agent_talking(
    tmp_path,
):
    async with api_app(tmp_path) as (_, centre, _):
        for job in ("1001", "1002"):  # 1001 takes tour, 1002 cruise
            centre.log_in(job)
            centre.ready(job)
        centre.enqueue(CallInfo("c1", "tour", "en", "13800138000", enqueued_at=time.time()))
        centre.book.legs["leg-1"] = AgentLeg("leg-1", "c1", "1001")  # as the executor rang it
        centre.on_ami_event(answered("leg-1"))
        centre.transfer("1001", line="cruise")
        centre.book.legs["leg-2"] = AgentLeg("leg-2", "c1", "1002")
        centre.on_ami_event(answered("leg-2"))
        assert centre.core.status("1002").state is AgentState.TALKING

        centre.on_ami_event(hangup("leg-1"))  # 1001's phone goes down only now

        assert centre.core.status("1002").state is AgentState.TALKING
        assert centre.core.connected["c1"].job_number == "1002"
        centre.on_ami_event(hangup("leg-2"))  # 1002 hangs up: their after-call work
        assert centre.core.status("1002").state is AgentState.AFTER_CALL
        await centre.stop()
