"""What an engine restart keeps: the composition root built twice on one database."""

from __future__ import annotations

import time

from acd.core.agents import NotReadyReason
from acd.core.calls import CallInfo
from tests.apiapp import api_app


async def test_callback_requests_come_back_after_a_restart_at_their_place(tmp_path):
    t0 = time.time() - 60
    async with api_app(tmp_path) as (_, services, _):
        centre = services.centre
        # Two tour callers wait; the second presses 9 to be called back instead.
        centre.enqueue(CallInfo("c1", "tour", "en", "13800000001", enqueued_at=t0))
        centre.enqueue(CallInfo("c2", "tour", "en", "13800000002", enqueued_at=t0 + 1))
        assert centre.callback_instead("c2", "13800000002") is not None
        # Outside hours a cruise caller leaves a number; another request was served already.
        centre.callback_request("c3", "cruise", "+8613800000003")
        centre.callback_request("c4", "tour", "13800000004")
        await services.events.append("cb-c4", "answered", line="tour", agent="1001", waited=3.0)
        await services.pipeline.stop()  # a clean stop stores what is queued

    async with api_app(tmp_path) as (_, services, _):  # the engine starts again
        lines = services.live.snapshot()["lines"]
        assert (lines["tour"]["callbacks"], lines["cruise"]["callbacks"]) == (1, 1)
        waiting = services.pipeline.core.waiting
        assert waiting["cb-c2"].enqueued_at == round(t0 + 1, 3)  # its place, not the restart's
        assert waiting["cb-c2"].callback_number == "13800000002"
        assert "cb-c4" not in waiting
        # 1001 (tour) on callback work takes the request: their phone rings for it.
        services.centre.log_in("1001")
        services.centre.not_ready("1001", NotReadyReason.CALLBACK_WORK)
        assert services.control.take_callback("1001") == "cb-c2"
        await services.adoption.restore_callbacks()  # restoring twice adds nothing
        assert sorted(waiting) == ["cb-c2", "cb-c3"]
        await services.pipeline.stop()


async def test_an_agent_at_their_browser_phone_is_rung_there_after_a_restart(tmp_path):
    phones = {"directory": str(tmp_path / "p.db"), "websocket": "ws://127.0.0.1:8088/ws"}
    async with api_app(tmp_path, phones=phones) as (_, services, _):
        services.centre.log_in("1001", "PJSIP/web1001")
        services.centre.ready("1001")
        await services.pipeline.stop()  # what is queued is stored

    async with api_app(tmp_path, phones=phones) as (_, services, _):  # the engine again
        status = services.pipeline.core.status("1001")
        # Still ready, at the phone in the page: not the desk phone, where nobody sits.
        assert status.state.value == "ready"
        assert status.agent.endpoint == "PJSIP/web1001"
        assert services.pipeline.core.status("1002").agent.endpoint == "PJSIP/1002"
        await services.pipeline.stop()
