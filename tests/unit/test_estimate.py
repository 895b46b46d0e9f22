"""The expected wait a caller is told, with a fake clock: position x AHT / staffed agents."""

from __future__ import annotations

import pytest

from acd.core.agents import AgentState, NotReadyReason, Role
from acd.core.commands import AnnouncePosition, CommandFailed, Failure, TransferCall
from acd.core.distributor import CallDistributor
from acd.core.estimate import WaitEstimator
from acd.core.queueing import AcdRules
from ivr.speech import expected_wait_announcement, number_key, position_announcement
from tests.unit.test_distributor import TOUR, agent, of, put_through, ready, rung


def handled(acd: CallDistributor, job: str, call_id: str, start: float, talk: float) -> float:
    """One tour call for ``job`` from ``start``: answered at once, talked, wrapped up."""
    acd.call_arrived(call_id, TOUR, start)
    put_through(acd, job, call_id, TOUR, start)
    acd.call_ended(call_id, start + talk)
    end = start + talk + acd.rules.wrap_up
    acd.tick(end)  # wrap-up ends: the agent is free again
    return end


def test_the_wait_is_position_times_handle_time_over_the_agents_staffed():
    waits = WaitEstimator()
    for n, handle in enumerate((100.0, 200.0)):  # AHT 150 s
        waits.answered(f"c{n}", TOUR, "1001", n * 1000)
        waits.agent_free("1001", n * 1000 + handle)
    assert waits.average_handle_time(TOUR) == 150
    assert waits.expected_wait(TOUR, 1, 1) == 150
    assert waits.expected_wait(TOUR, 4, 2) == 4 * 150 / 2
    assert waits.expected_wait(TOUR, 4, 0) is None  # nobody staffed: nothing said
    assert waits.expected_wait("cruise", 1, 3) is None  # no handle time known yet


def test_callers_ahead_who_give_up_shorten_the_wait():
    waits = WaitEstimator()
    waits.answered("c0", TOUR, "1001", 0)
    waits.agent_free("1001", 120)
    for n in range(3):  # of 4 recent outcomes, 3 abandons
        waits.abandoned(f"gone{n}", TOUR)
    # 1 + 4 ahead x (1 - 0.75) = 2 turns of 120 s.
    assert waits.expected_wait(TOUR, 5, 1) == pytest.approx(240)


def test_a_waiting_caller_is_told_the_wait_learned_from_the_lines_recent_calls():
    acd = CallDistributor(
        AcdRules(announce_every=30, wrap_up=20),
        agents=[agent("1001", tour=5), agent("1002", tour=5), agent("1003", cruise=5)],
    )
    ready(acd, "1001", "1002", "1003")
    t = handled(acd, "1001", "first", 0, talk=160)  # handle time 180 s
    assert acd.waits.average_handle_time(TOUR) == 180
    # Both tour agents busy; three callers wait.
    for n in range(2):
        ((_, job),) = rung(acd.call_arrived(f"busy{n}", TOUR, t))
        put_through(acd, job, f"busy{n}", TOUR, t)
    for n in range(3):
        acd.call_arrived(f"w{n}", TOUR, t + 1 + n)
    heard = of(acd.tick(t + 33), AnnouncePosition)
    # Two staffed for tour (1003 has no tour skill): position x 180 / 2.
    assert heard == [
        AnnouncePosition("w0", 1, 90.0),
        AnnouncePosition("w1", 2, 180.0),
        AnnouncePosition("w2", 3, 270.0),
    ]


def test_nobody_staffed_for_the_line_means_no_wait_is_announced():
    acd = CallDistributor(AcdRules(announce_every=30, wrap_up=20), agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    t = handled(acd, "1001", "first", 0, talk=100)
    acd.set_not_ready("1001", NotReadyReason.BREAK, t)
    acd.call_arrived("w0", TOUR, t)
    assert of(acd.tick(t + 30), AnnouncePosition) == [AnnouncePosition("w0", 1, None)]
    acd.position_announced("w0", t + 30)
    acd.log_out("1001", t + 40)
    assert of(acd.tick(t + 60), AnnouncePosition) == [AnnouncePosition("w0", 1, None)]


def test_before_any_call_was_handled_only_the_position_is_announced():
    acd = CallDistributor(AcdRules(announce_every=30), agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    acd.call_arrived("busy", TOUR, 0)
    put_through(acd, "1001", "busy", TOUR, 0)
    acd.call_arrived("w0", TOUR, 1)
    assert of(acd.tick(31), AnnouncePosition) == [AnnouncePosition("w0", 1, None)]


def test_the_wait_is_said_in_whole_minutes_between_the_position_and_the_hold_prompt():
    assert expected_wait_announcement(59) == ["wait_under_a_minute"]
    assert expected_wait_announcement(60) == ["wait_about", "wait_one_minute"]
    assert expected_wait_announcement(89) == ["wait_about", "wait_one_minute"]
    assert expected_wait_announcement(150) == ["wait_about", "wait_two_minutes"]  # 两分钟
    assert expected_wait_announcement(4 * 60 + 10) == ["wait_about", number_key(4), "wait_minutes"]
    assert expected_wait_announcement(30 * 60) == ["wait_about", number_key(30), "wait_minutes"]
    assert expected_wait_announcement(31 * 60) == ["wait_over_half_an_hour"]
    assert position_announcement(3, 250) == [
        "position_before",
        number_key(3),
        "position_after",
        "wait_about",
        number_key(4),
        "wait_minutes",
        "position_hold",
    ]
    assert position_announcement(3) == [
        "position_before",
        number_key(3),
        "position_after",
        "position_hold",
    ]


def test_a_transfer_that_failed_keeps_measuring_the_whole_call():
    acd = CallDistributor(
        AcdRules(announce_every=30, wrap_up=10),
        agents=[agent("1001", tour=5), agent("1002", cruise=5)],
    )
    ready(acd, "1001", "1002")
    acd.call_arrived("c1", TOUR, 0)
    put_through(acd, "1001", "c1", TOUR, 0)
    (transfer,) = of(acd.transfer("c1", 30, line="cruise"), TransferCall)
    acd.command_outcome(CommandFailed(transfer, Failure.LINK_DOWN, "down"), 31)
    assert acd.status("1001").state is AgentState.TALKING  # back with the caller
    acd.call_ended("c1", 100)
    acd.tick(110)
    assert acd.waits.average_handle_time(TOUR) == 110  # not the 30 s up to the transfer


def test_a_transferred_call_whose_caller_gives_up_is_one_answered_call_not_an_abandon():
    waits = WaitEstimator()
    waits.answered("c1", TOUR, "1001", 0)
    waits.agent_free("1001", 60)
    waits.abandoned("c1", TOUR)  # gone while waiting for the second agent
    assert waits.expected_wait(TOUR, 3, 1) == 3 * 60  # no abandons counted


def test_only_agents_who_may_take_the_line_share_its_wait():
    acd = CallDistributor(
        AcdRules(announce_every=30, wrap_up=10),
        agents=[agent("1001", tour=5), agent("1901", Role.SUPERVISOR, tour=5)],
    )
    ready(acd, "1001", "1901")
    handled(acd, "1001", "first", 0, talk=50)
    assert acd.staffed_for(TOUR) == 1  # a team lead takes calls only when all staff are on
    acd.set_not_ready("1001", NotReadyReason.BREAK, 70)
    assert acd.staffed_for(TOUR) == 0
    acd.call_arrived("w0", TOUR, 70)
    assert of(acd.tick(100), AnnouncePosition) == [AnnouncePosition("w0", 1, None)]


def test_callers_of_other_lines_ahead_for_the_same_agents_lengthen_the_wait():
    # 1001 and 1002 take tour and cruise; 1003 takes free travel only.
    acd = CallDistributor(
        AcdRules(announce_every=30, wrap_up=20),
        agents=[
            agent("1001", tour=5, cruise=5),
            agent("1002", tour=5, cruise=5),
            agent("1003", free_travel=5),
        ],
    )
    ready(acd, "1001", "1002", "1003")
    t = handled(acd, "1001", "first", 0, talk=160)  # tour: handle time 180 s
    for n in range(2):  # both shared agents busy
        ((_, job),) = rung(acd.call_arrived(f"busy{n}", TOUR, t))
        put_through(acd, job, f"busy{n}", TOUR, t)
    ((_, job),) = rung(acd.call_arrived("ft-busy", "free_travel", t))
    put_through(acd, job, "ft-busy", "free_travel", t)
    acd.call_arrived("cruise-1", "cruise", t + 1)  # ahead, and wants the same two agents
    acd.call_arrived("ft-1", "free_travel", t + 2)  # ahead, but 1003 takes that one
    acd.call_arrived("tour-1", TOUR, t + 3)
    heard = {a.call_id: a for a in of(acd.tick(t + 34), AnnouncePosition)}
    # First in the tour queue, but second for the two agents who may take tour calls.
    assert heard["tour-1"] == AnnouncePosition("tour-1", 1, 2 * 180 / 2)


def test_a_caller_of_another_line_counts_by_the_share_of_its_agents_who_are_shared():
    # One agent takes tour and cruise; three more take cruise only.
    acd = CallDistributor(
        AcdRules(announce_every=30, wrap_up=20),
        agents=[
            agent("1001", tour=5, cruise=5),
            agent("1002", cruise=5),
            agent("1003", cruise=5),
            agent("1004", cruise=5),
        ],
    )
    ready(acd, "1001", "1002", "1003", "1004")
    t = handled(acd, "1001", "first", 0, talk=100)  # tour: handle time 120 s
    for n in range(4):  # everyone busy
        line = TOUR if n == 0 else "cruise"
        ((_, job),) = rung(acd.call_arrived(f"busy{n}", line, t))
        put_through(acd, job, f"busy{n}", line, t)
    for n in range(8):  # eight cruise callers ahead: 1001 is one of the four who take them
        acd.call_arrived(f"cruise-{n}", "cruise", t + 1 + n / 10)
    acd.call_arrived("tour-1", TOUR, t + 2)
    heard = {a.call_id: a for a in of(acd.tick(t + 33), AnnouncePosition)}
    assert heard["tour-1"] == AnnouncePosition("tour-1", 1, (1 + 8 / 4) * 120 / 1)
