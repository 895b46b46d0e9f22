"""A short load in CI: concurrent recorded calls to SIPp agents, judged from ground truth.

The long run (`bench/load.py`, 100 concurrent calls for 5 or 30 minutes)
prints its numbers; this short one fails if a single caller chosen a line is
not put through, not asked for their rating, or not recorded whole, if SIPp
(the agents' phones) saw a call go wrong, or if anything is left behind:
Asterisk channels or acd's tasks once the last call has ended.
"""

from __future__ import annotations

from bench.load import options, run_load
from tests.e2e.pbx import Pbx


async def test_concurrent_calls_are_all_answered_surveyed_and_recorded_and_nothing_is_left(
    pbx: Pbx, tmp_path
):
    args = options(["--minutes", "0.5", "--concurrent", "15", "--cps", "2", "--agents", "12"])
    verdict = await run_load(args, pbx, tmp_path)
    print("\n".join(verdict.lines()))
    drained = verdict.result["drained"]
    assert len(verdict.calls) >= 20, verdict.lines()[0]
    assert verdict.result["peak_concurrent"] >= 10, verdict.lines()[1]
    assert verdict.failed == 0, verdict.lines()[1]
    assert verdict.recordings_complete == verdict.recordings == len(verdict.calls)
    assert drained.channels == 0, verdict.lines()[3]
    # Once the agents' connections are closed, the engine has no more tasks than idle.
    assert drained.tasks <= verdict.baseline.tasks, verdict.lines()[3]
