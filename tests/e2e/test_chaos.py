"""A short bad day in CI: faults injected under a stream of calls, judged from ground truth.

The long run (`bench/chaos.py --minutes 10`) prints its numbers; this short one
fails if a single caller is dropped, a fact lost, an agent stuck, a channel left
behind or a recording bad.
"""

from __future__ import annotations

from bench.chaos import FAULTS, Chaos
from tests.e2e.asterisk import Asterisk


async def test_a_short_chaos_run_drops_no_caller_loses_no_fact_and_leaves_nothing_behind(
    pbx, asterisk: Asterisk, tmp_path
):
    chaos = Chaos(pbx, tmp_path, minutes=1.5, seed=11)
    result = await chaos.run(faults=list(FAULTS), fault_every=(8, 12))
    print(result.line(), result.faults, result.expected, result.report)
    assert result.calls >= 15 and len(result.faults) >= 3, result.line()
    assert result.dropped == [], result.line()
    assert (result.lost_facts, result.expected) == (0, result.report), result.line()
    assert result.stuck_agents == set(), result.line()
    assert result.leftover_channels == 0, result.line()
    assert result.bad_recordings == [], result.line()
