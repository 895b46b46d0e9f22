"""Taking callers back after a restart, against a replayed Asterisk over real TCP."""

from __future__ import annotations

import time
from pathlib import Path

from acd.core.agents import AgentState
from acd.core.calls import CallInfo
from tests.amireplay import AmiReplayServer, load
from tests.apiapp import api_app
from tests.unit.test_ami_connection import until


async def test_a_caller_who_hangs_up_while_being_taken_back_is_not_left_as_a_ghost(
    tmp_path: Path,
):
    async with AmiReplayServer(load("caller_leaves_during_adoption.ami")) as pbx:
        ami_section = {"port": pbx.port, "secret": "s3cret", "ping_interval": 30}
        async with api_app(tmp_path, ami=ami_section) as (_, services, _):
            await services.engine.start()
            await services.ami.start()  # the resync finds caller-1 waiting from before
            try:
                await until(lambda: len(pbx.actions("Getvar")) == 3)
                await services.pipeline.tasks.wait(5)  # the adoption has finished
            finally:
                await services.ami.close()
                await services.engine.stop()
            assert "caller-1" not in services.pipeline.core.waiting
            assert services.live.snapshot()["lines"]["tour"]["waiting"] == 0


async def test_a_kill_before_talking_was_stored_still_takes_the_greeted_caller_back(
    tmp_path: Path,
):
    enqueued = time.time() - 40
    async with api_app(tmp_path) as (_, services, _):
        services.centre.log_in("1001")
        services.centre.ready("1001")
        services.centre.enqueue(CallInfo("c1", "tour", "en", "13800138000", enqueued_at=enqueued))
        assert services.pipeline.core.status("1001").state is AgentState.RINGING
        # The agent answers and the caller is put through, but the engine is killed
        # before "talking" reaches the database: it was last stored ringing.
        await services.pipeline.stop()

    script = [
        b.replace("{enqueued}", f"{enqueued:.3f}") for b in load("killed_while_putting_through.ami")
    ]
    async with AmiReplayServer(script) as pbx:
        ami_section = {"port": pbx.port, "secret": "s3cret", "ping_interval": 30}
        async with api_app(tmp_path, ami=ami_section) as (_, services, _):
            await services.engine.start()
            await services.ami.start()  # Asterisk: the caller hears the greeting, the leg waits
            try:
                await until(lambda: len(pbx.actions("Getvar")) == 5)
                await services.pipeline.tasks.wait(5)
            finally:
                await services.ami.close()
                await services.engine.stop()
            status = services.pipeline.core.status("1001")
            # On the call with that caller (not offered the next one, nor its leg hung up)...
            assert (status.state, status.call_id) == (AgentState.TALKING, "c1")
            assert not pbx.actions("Hangup") and not pbx.actions("Originate")
            # Screens that saw the call under the agent's leg learn the caller's call id.
            moved = [e.data for e in services.live.bus.since(0) or [] if e.kind == "agent_state"]
            assert moved[-1] | {"old": None} == {
                "agent": "1001",
                "state": "talking",
                "old": None,
                "reason": None,
                "call_id": "c1",
            }, moved
            # ...which counts as answered, once.
            await services.pipeline.stop()
            kinds = [e.kind for e in await services.events.for_call("c1")]
            assert kinds.count("answered") == 1, kinds
