"""The ACD rules with a fake clock: seconds are plain numbers, 30 minutes take microseconds."""

from __future__ import annotations

import pytest

from acd.core.agents import (
    Agent,
    AgentState,
    AgentStateChanged,
    NotReadyReason,
    Role,
    TransitionRefused,
)
from acd.core.commands import (
    AnnouncePosition,
    CallAbandoned,
    CallAnswered,
    CommandDone,
    ConnectCall,
    DialCallback,
    DialOut,
    RingAgent,
    StopRinging,
    TellAgent,
    TransferCall,
)
from acd.core.distributor import CallDistributor
from acd.core.peak import PeakLevel, PeakLevelChanged, PeakRules
from acd.core.queueing import AcdRules, NoSuchCall, Refused, WaitingCall

CRUISE, TOUR, FREE = "cruise", "tour", "free_travel"


def agent(job: str, role: Role = Role.AGENT, **skills: int) -> Agent:
    return Agent(job, f"Agent {job}", f"PJSIP/{job}", skills, role)


def of(out: list, kind: type) -> list:
    return [o for o in out if isinstance(o, kind)]


def rung(out: list) -> list[tuple[str, str]]:
    return [(r.call_id, r.job_number) for r in of(out, RingAgent)]


def put_through(acd: CallDistributor, job: str, call_id: str, line: str, at: float) -> list:
    """The agent answers and Asterisk reports the caller put through (the executor's word)."""
    out = acd.agent_answered(job, call_id, at)
    return out + acd.command_outcome(CommandDone(ConnectCall(call_id, job, line)), at)


def ready(acd: CallDistributor, *jobs: str, at: float = 0.0) -> list:
    out: list = []
    for job in jobs:
        out += acd.log_in(job, at)
        out += acd.set_ready(job, at)
    return out


def test_a_call_goes_to_an_agent_with_the_lines_skill():
    acd = CallDistributor(agents=[agent("1001", tour=5), agent("1002", cruise=5)])
    ready(acd, "1001", "1002")
    out = acd.call_arrived("c1", CRUISE, 10)
    assert rung(out) == [("c1", "1002")]
    assert of(out, RingAgent)[0].endpoint == "PJSIP/1002"
    assert acd.status("1002").state is AgentState.RINGING


def test_highest_skill_first_then_longest_idle():
    acd = CallDistributor(
        agents=[agent("1001", tour=3), agent("1002", tour=7), agent("1003", tour=7)]
    )
    ready(acd, "1003", at=5)
    ready(acd, "1002", at=8)
    ready(acd, "1001", at=1)
    assert rung(acd.call_arrived("c1", TOUR, 10)) == [("c1", "1003")]  # level 7, idle longest
    assert rung(acd.call_arrived("c2", TOUR, 11)) == [("c2", "1002")]
    assert rung(acd.call_arrived("c3", TOUR, 12)) == [("c3", "1001")]


def test_a_freed_agent_takes_the_longest_waiting_caller_across_lines():
    acd = CallDistributor(agents=[agent("1001", cruise=5, tour=5)])
    acd.log_in("1001", 0)
    acd.call_arrived("cruise-late", CRUISE, 20)
    acd.call_arrived("tour-early", TOUR, 10)
    assert rung(acd.set_ready("1001", 30)) == [("tour-early", "1001")]


def test_caller_priority_goes_first():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    acd.log_in("1001", 0)
    acd.call_arrived("normal", TOUR, 10)
    acd.call_arrived("vip", TOUR, 20, priority=5)
    assert rung(acd.set_ready("1001", 30)) == [("vip", "1001")]


def test_two_calls_one_agent_exactly_one_offer():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    out = acd.call_arrived("c1", TOUR, 1) + acd.call_arrived("c2", TOUR, 1)
    out += acd.tick(2)
    assert rung(out) == [("c1", "1001")]
    with pytest.raises(TransitionRefused, match="cannot ready while ringing"):
        acd.set_ready("1001", 3)


def test_ring_no_answer_moves_on_and_the_call_keeps_its_place():
    acd = CallDistributor(
        AcdRules(ring_timeout=15), agents=[agent("1001", tour=9), agent("1002", tour=1)]
    )
    ready(acd, "1001")
    acd.call_arrived("first", TOUR, 0)
    acd.call_arrived("second", TOUR, 5)
    assert rung(acd.tick(14.9)) == []
    assert acd.status("1001").state is AgentState.RINGING
    out = acd.tick(15)
    assert of(out, StopRinging) == [StopRinging("first", "1001")]
    status = acd.status("1001")
    assert (status.state, status.reason) == (AgentState.NOT_READY, NotReadyReason.NO_ANSWER)
    # The next agent who becomes ready gets "first", not the later caller.
    assert rung(ready(acd, "1002", at=20)) == [("first", "1002")]


def test_ring_failure_reported_by_the_phone_is_like_no_answer():
    acd = CallDistributor(agents=[agent("1001", tour=9), agent("1002", tour=1)])
    ready(acd, "1001", "1002")
    acd.call_arrived("c1", TOUR, 0)
    out = acd.ring_failed("1001", "c1", 3)
    assert rung(out) == [("c1", "1002")]
    assert acd.ring_failed("1001", "c1", 4) == []  # a repeated report changes nothing


def test_abandon_while_waiting_is_counted_with_its_wait():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    acd.call_arrived("c1", TOUR, 100)
    out = acd.call_abandoned("c1", 142)
    assert out == [CallAbandoned("c1", TOUR, 42, None, 142)]
    assert acd.waiting == {}
    assert acd.call_abandoned("c1", 143) == []


def test_abandon_while_ringing_frees_the_agent_at_once_keeping_their_idle_place():
    acd = CallDistributor(agents=[agent("1001", tour=5), agent("1002", tour=5)])
    ready(acd, "1001", at=1)
    ready(acd, "1002", at=2)
    acd.call_arrived("c1", TOUR, 10)
    out = acd.call_abandoned("c1", 12)
    assert of(out, StopRinging) == [StopRinging("c1", "1001")]
    assert of(out, CallAbandoned)[0].while_ringing == "1001"
    assert acd.status("1001").state is AgentState.READY
    # 1001 was idle longest before the offer and still is.
    assert rung(acd.call_arrived("c2", TOUR, 13)) == [("c2", "1001")]


def test_answer_after_hangup_race_drops_the_agent_leg():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    acd.call_arrived("c1", TOUR, 0)
    acd.call_abandoned("c1", 5)
    out = acd.agent_answered("1001", "c1", 5)
    assert out == [StopRinging("c1", "1001")]
    assert acd.status("1001").state is AgentState.READY


def test_hangup_after_answer_is_a_normal_end_not_an_abandon():
    acd = CallDistributor(AcdRules(wrap_up=30), agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    acd.call_arrived("c1", TOUR, 0)
    out = acd.agent_answered("1001", "c1", 4)
    assert of(out, ConnectCall) == [ConnectCall("c1", "1001", TOUR)]
    assert of(out, CallAnswered) == []  # answered once Asterisk has put the caller through
    put = acd.command_outcome(CommandDone(ConnectCall("c1", "1001", TOUR)), 4.2)
    assert [(a.waited, a.at) for a in of(put, CallAnswered)] == [(4, 4)]
    assert acd.call_abandoned("c1", 4) == []
    ended = acd.call_ended("c1", 60)
    assert of(ended, AgentStateChanged)[0].new is AgentState.AFTER_CALL


def test_wrap_up_ends_by_itself_early_or_extended():
    acd = CallDistributor(AcdRules(wrap_up=30, max_wrap_up=120), agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    acd.call_arrived("c1", TOUR, 0)
    put_through(acd, "1001", "c1", TOUR, 1)
    acd.call_ended("c1", 100)
    assert acd.tick(129) == []
    assert acd.status("1001").state is AgentState.AFTER_CALL
    assert acd.extend_wrap_up("1001", 60, 129) == 190
    assert acd.extend_wrap_up("1001", 600, 129) == 249  # capped: at most 120 s from now
    acd.tick(200)
    assert acd.status("1001").state is AgentState.AFTER_CALL
    acd.end_wrap_up("1001", 201)
    assert acd.status("1001").state is AgentState.READY
    with pytest.raises(Refused, match="not in after-call work"):
        acd.end_wrap_up("1001", 202)


def test_break_after_this_call():
    acd = CallDistributor(AcdRules(wrap_up=10), agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    acd.call_arrived("c1", TOUR, 0)
    put_through(acd, "1001", "c1", TOUR, 1)
    acd.request_break_after_call("1001")
    acd.call_ended("c1", 50)
    acd.tick(60)
    status = acd.status("1001")
    assert (status.state, status.reason) == (AgentState.NOT_READY, NotReadyReason.BREAK)


def test_every_state_change_is_timestamped():
    acd = CallDistributor(AcdRules(wrap_up=10), agents=[agent("1001", tour=5)])
    out = ready(acd, "1001", at=1)
    out += acd.call_arrived("c1", TOUR, 2)
    out += put_through(acd, "1001", "c1", TOUR, 3)
    out += acd.call_ended("c1", 70)
    out += acd.tick(80)
    out += acd.set_not_ready("1001", NotReadyReason.LUNCH, 90)
    changes = [(c.new.value, c.at) for c in of(out, AgentStateChanged)]
    assert changes == [
        ("not_ready", 1),
        ("ready", 1),
        ("ringing", 2),
        ("talking", 3),
        ("after_call", 70),
        ("ready", 80),
        ("not_ready", 90),
    ]
    assert of(out, AgentStateChanged)[-1].reason is NotReadyReason.LUNCH


def test_at_most_two_agents_on_callback_work_in_normal_times():
    acd = CallDistributor(agents=[agent(j, tour=1) for j in ("1001", "1002", "1003")])
    ready(acd, "1001", "1002", "1003")
    acd.set_not_ready("1001", NotReadyReason.CALLBACK_WORK, 1)
    acd.set_not_ready("1002", NotReadyReason.CALLBACK_WORK, 1)
    with pytest.raises(Refused, match="already 2 agents on callback work"):
        acd.set_not_ready("1003", NotReadyReason.CALLBACK_WORK, 1)


def fill(acd: CallDistributor, count: int, line: str, at: float, prefix: str = "w") -> list:
    out: list = []
    for i in range(count):
        out += acd.call_arrived(f"{prefix}{i}", line, at)
    return out


def test_peak_level_1_after_8_waiting_for_30_minutes():
    staff = [agent("1001", tour=5), agent("1002", tour=5), agent("1003", tour=5)]
    acd = CallDistributor(AcdRules(announce_every=None), agents=staff)
    ready(acd, "1001", "1002", "1003")
    acd.set_not_ready("1001", NotReadyReason.CALLBACK_WORK, 0)
    acd.set_not_ready("1002", NotReadyReason.BREAK, 0)
    acd.set_not_ready("1003", NotReadyReason.TRAINING, 0)
    fill(acd, 8, CRUISE, 0)  # nobody has the cruise skill: they wait
    assert acd.tick(30 * 60 - 1) == []
    out = acd.tick(30 * 60)
    assert of(out, PeakLevelChanged) == [PeakLevelChanged(PeakLevel.NORMAL, PeakLevel(1), 8, 1800)]
    # Callback work stops; the agent on break is asked back; new breaks are refused.
    assert acd.status("1001").state is AgentState.READY
    told = {t.job_number: t.message for t in of(out, TellAgent)}
    assert "callback work paused" in told["1001"]
    assert "breaks suspended" in told["1002"]
    assert "1003" not in told
    with pytest.raises(Refused, match="breaks are suspended"):
        acd.set_not_ready("1003", NotReadyReason.LUNCH, 1801)
    with pytest.raises(Refused, match="callback work is paused"):
        acd.set_not_ready("1001", NotReadyReason.CALLBACK_WORK, 1801)


def test_the_30_minutes_must_be_continuous():
    acd = CallDistributor(AcdRules(announce_every=None))
    fill(acd, 8, CRUISE, 0)
    acd.tick(1000)
    acd.call_abandoned("w0", 1000)  # 7 waiting: the clock restarts
    acd.call_arrived("again", CRUISE, 1001)
    assert of(acd.tick(1800), PeakLevelChanged) == []
    assert of(acd.tick(1001 + 1800), PeakLevelChanged)[0].new is PeakLevel(1)


def test_peak_level_2_puts_supervisors_and_everyone_on_every_line_then_falls_back():
    staff = [agent("1001", tour=5), agent("1901", Role.SUPERVISOR)]
    acd = CallDistributor(AcdRules(announce_every=None, ring_timeout=1e9), agents=staff)
    acd.log_in("1001", 0)
    acd.log_in("1901", 0)
    fill(acd, 16, CRUISE, 0)
    out = acd.tick(1800)
    assert [c.new for c in of(out, PeakLevelChanged)] == [PeakLevel.ALL_STAFF]
    assert {t.job_number for t in of(out, TellAgent)} == {"1001", "1901"}
    # The supervisor and the tour agent now take cruise calls.
    assert rung(acd.set_ready("1901", 1801)) == [("w0", "1901")]
    assert rung(acd.set_ready("1001", 1802)) == [("w1", "1001")]
    # The queue drains below 8: after 5 minutes back to level 1, then below 4: normal.
    for i in range(2, 16):
        acd.call_abandoned(f"w{i}", 1900)
    assert acd.live_waiting() == 2
    assert of(acd.tick(1900 + 299), PeakLevelChanged) == []
    assert of(acd.tick(1900 + 300), PeakLevelChanged)[0].new is PeakLevel(1)
    assert of(acd.tick(2200 + 300), PeakLevelChanged)[0].new is PeakLevel.NORMAL
    assert rung(acd.call_arrived("after", CRUISE, 2600)) == []  # skills count again


def test_callback_request_keeps_the_callers_place_rings_the_agent_first_and_dials_once():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    acd.log_in("1001", 0)
    acd.call_arrived("early", TOUR, 10)
    acd.call_arrived("later", TOUR, 20)
    acd.callback_requested("cb-early", TOUR, "13800138000", 30, replaces="early")
    assert "early" not in acd.waiting
    assert acd.callback_requested("cb-early", TOUR, "13800138000", 31) == []
    out = acd.set_ready("1001", 40)
    ring = of(out, RingAgent)[0]
    assert (ring.call_id, ring.callback_number) == ("cb-early", "13800138000")
    out = acd.agent_answered("1001", "cb-early", 42)
    assert of(out, DialCallback) == [DialCallback("cb-early", "1001", "13800138000", TOUR)]
    assert of(out, ConnectCall) == []
    # The same request is never dialled again.
    assert acd.callback_requested("cb-early", TOUR, "13800138000", 50) == []
    assert of(acd.agent_answered("1001", "cb-early", 51), DialCallback) == []


def test_waiting_callers_hear_their_position_at_the_interval():
    acd = CallDistributor(AcdRules(announce_every=30))
    acd.call_arrived("a", TOUR, 0)
    acd.call_arrived("b", TOUR, 10)
    acd.call_arrived("c", CRUISE, 10)
    assert of(acd.tick(29), AnnouncePosition) == []
    assert of(acd.tick(30), AnnouncePosition) == [AnnouncePosition("a", 1)]
    acd.position_announced("a", 30)  # (as the dialplan reports each end)
    assert of(acd.tick(40), AnnouncePosition) == [
        AnnouncePosition("b", 2),
        AnnouncePosition("c", 1),
    ]
    acd.position_announced("b", 40)
    acd.position_announced("c", 40)
    acd.call_abandoned("a", 45)
    assert of(acd.tick(60), AnnouncePosition) == []  # b heard "2" at 40
    expected = [AnnouncePosition("b", 1), AnnouncePosition("c", 1)]
    assert of(acd.tick(70), AnnouncePosition) == expected


def test_the_next_announcement_is_due_from_the_end_of_the_last_one_never_over_it():
    acd = CallDistributor(AcdRules(announce_every=10))
    acd.call_arrived("a", TOUR, 0)
    assert of(acd.tick(10), AnnouncePosition) == [AnnouncePosition("a", 1)]
    # A long announcement (Mandarin, with the expected wait) still plays at 20 and 25.
    assert of(acd.tick(20), AnnouncePosition) == []
    acd.position_announced("a", 23)
    assert of(acd.tick(32), AnnouncePosition) == []
    assert of(acd.tick(33), AnnouncePosition) == [AnnouncePosition("a", 1)]
    # An end never reported (the event lost) does not silence the caller for ever.
    assert of(acd.tick(33 + 60 + 9), AnnouncePosition) == []
    assert of(acd.tick(33 + 60 + 10), AnnouncePosition) == [AnnouncePosition("a", 1)]


def test_callers_found_after_a_restart_are_served_in_their_original_order():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    acd.log_in("1001", 0)
    found = [WaitingCall("second", TOUR, 20.0), WaitingCall("first", TOUR, 10.0)]
    acd.restore_waiting(found, 100)
    assert rung(acd.set_ready("1001", 101)) == [("first", "1001")]


def test_peak_rules_are_checked():
    with pytest.raises(ValueError, match="level1_waiting <= level2_waiting"):
        PeakRules(level1_waiting=20, level2_waiting=16)
    with pytest.raises(ValueError, match="release count"):
        PeakRules(level1_release=9)


def test_supervisors_with_skills_take_calls_only_at_peak_level_2():
    acd = CallDistributor(agents=[agent("1901", Role.SUPERVISOR, tour=9), agent("1001", tour=1)])
    ready(acd, "1901")
    assert rung(acd.call_arrived("c1", TOUR, 1)) == []
    assert rung(ready(acd, "1001", at=2)) == [("c1", "1001")]


def test_an_agent_back_from_a_call_is_routed_by_their_new_idle_time():
    acd = CallDistributor(
        AcdRules(wrap_up=1), agents=[agent("1001", tour=5), agent("1002", tour=5)]
    )
    ready(acd, "1001", at=1)
    ready(acd, "1002", at=2)
    acd.call_arrived("c1", TOUR, 3)  # to 1001, idle longest
    acd.agent_answered("1001", "c1", 4)
    acd.call_ended("c1", 10)
    acd.tick(11)  # 1001 ready again at 11; 1002 has been idle since 2
    assert rung(acd.call_arrived("c2", TOUR, 12)) == [("c2", "1002")]
    assert rung(acd.call_arrived("c3", TOUR, 13)) == [("c3", "1001")]


def test_blind_transfer_to_a_supervisor_waits_for_them_and_goes_first():
    acd = CallDistributor(
        agents=[agent("1001", tour=5), agent("1002", tour=5), agent("1901", Role.SUPERVISOR)]
    )
    ready(acd, "1001")
    acd.log_in("1901", 0)
    acd.call_arrived("c1", TOUR, 1)
    put_through(acd, "1001", "c1", TOUR, 2)
    out = acd.transfer("c1", 10, to_agent="1901")
    assert of(out, TransferCall) == [TransferCall("c1", "1001", TOUR, "1901")]
    assert acd.status("1001").state is AgentState.AFTER_CALL
    assert rung(out) == []  # the supervisor is not ready yet; nobody else gets it
    assert rung(ready(acd, "1002", at=11)) == []
    acd.call_arrived("c2", TOUR, 12)  # goes to 1002, not ahead of the transfer
    assert rung(acd.set_ready("1901", 13)) == [("c1", "1901")]


def test_a_transfer_to_a_person_who_never_gets_ready_goes_to_the_line_after_the_ring_timeout():
    acd = CallDistributor(
        AcdRules(ring_timeout=8),
        agents=[agent("1001", tour=5), agent("1002", tour=5), agent("1901", Role.SUPERVISOR)],
    )
    ready(acd, "1001")
    acd.call_arrived("c1", TOUR, 1)
    put_through(acd, "1001", "c1", TOUR, 2)
    acd.transfer("c1", 10, to_agent="1901")  # the team lead is logged out
    assert rung(ready(acd, "1002", at=11)) == []  # waits for the lead...
    assert rung(acd.tick(17.9)) == []
    assert rung(acd.tick(18)) == [("c1", "1002")]  # ...8 s, then anyone on tour


def test_a_transfer_to_a_person_who_does_not_answer_goes_to_the_line():
    acd = CallDistributor(
        AcdRules(ring_timeout=8),
        agents=[agent("1001", tour=5), agent("1002", tour=5), agent("1003", tour=5)],
    )
    ready(acd, "1001", "1002")
    acd.call_arrived("c1", TOUR, 1)
    put_through(acd, "1001", "c1", TOUR, 2)
    assert rung(acd.transfer("c1", 10, to_agent="1002")) == [("c1", "1002")]
    assert rung(ready(acd, "1003", at=11)) == []  # 1002 is being rung
    out = acd.tick(18)  # 1002 does not answer
    assert acd.status("1002").reason is NotReadyReason.NO_ANSWER
    assert rung(out) == [("c1", "1003")]


def test_blind_transfer_to_another_line():
    acd = CallDistributor(agents=[agent("1001", tour=5), agent("1002", cruise=5)])
    ready(acd, "1001", "1002")
    acd.call_arrived("c1", TOUR, 1)
    put_through(acd, "1001", "c1", TOUR, 2)
    assert rung(acd.transfer("c1", 5, line=CRUISE)) == [("c1", "1002")]
    with pytest.raises(NoSuchCall):
        acd.transfer("c1", 6, line=CRUISE)


def test_click_to_dial_keeps_the_agent_off_the_queue_until_wrap_up():
    acd = CallDistributor(AcdRules(wrap_up=5), agents=[agent("1001", tour=5)])
    ready(acd, "1001")
    out = acd.dial_out("1001", "out-1", "13900000051", 10)
    assert of(out, DialOut) == [DialOut("out-1", "1001", "PJSIP/1001", "13900000051")]
    assert acd.status("1001").state is AgentState.TALKING
    assert rung(acd.call_arrived("c1", TOUR, 11)) == []  # busy on their own call
    acd.call_ended("out-1", 60)
    assert acd.status("1001").state is AgentState.AFTER_CALL
    assert rung(acd.tick(65)) == [("c1", "1001")]


def test_an_agent_on_callback_work_takes_the_next_request_of_their_lines():
    acd = CallDistributor(agents=[agent("1001", tour=5)])
    acd.log_in("1001", 0)
    acd.callback_requested("cb-cruise", CRUISE, "13900000001", 1)
    acd.callback_requested("cb-tour-1", TOUR, "13900000002", 2)
    acd.callback_requested("cb-tour-2", TOUR, "13900000003", 3)
    with pytest.raises(Refused, match="not on callback work"):
        acd.take_callback("1001", 4)
    acd.set_not_ready("1001", NotReadyReason.CALLBACK_WORK, 4)
    out = acd.take_callback("1001", 5)
    ring = of(out, RingAgent)[0]
    assert (ring.call_id, ring.callback_number) == ("cb-tour-1", "13900000002")
    dialled = acd.agent_answered("1001", "cb-tour-1", 6)
    assert of(dialled, DialCallback) == [DialCallback("cb-tour-1", "1001", "13900000002", TOUR)]


def test_a_long_day_leaves_the_ready_index_no_bigger_than_its_agents_need():
    # 1001 takes every cruise call; its tour entries go stale under 1002, who
    # stays ready on tour with a higher level: they never reach the top.
    acd = CallDistributor(
        AcdRules(wrap_up=0),
        agents=[agent("1001", cruise=5, tour=1), agent("1002", tour=5)],
    )
    ready(acd, "1001", "1002")
    for n in range(2000):
        at = 10.0 * n
        call = f"c{n}"
        assert rung(acd.call_arrived(call, CRUISE, at)) == [(call, "1001")]
        put_through(acd, "1001", call, CRUISE, at + 1)
        acd.call_ended(call, at + 5)
        acd.tick(at + 6)
        assert acd.status("1001").state is AgentState.READY
    assert acd._ready.entries <= 3 * 2 + 32 + 2  # was one stale tour entry per call
    # and routing still picks the best: a tour call goes to 1002 (level 5)
    assert rung(acd.call_arrived("t1", TOUR, 30000)) == [("t1", "1002")]
