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
