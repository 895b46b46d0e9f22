"""What the core does when Asterisk did not carry out a command (fake clock, no mocks).

Every command's outcome comes back to the core as a fact; a failed one is
repaired: the caller back at their place, the agent free again when the fault
is not the phone's, nobody offered a call or marked "no answer" while the AMI
link is down.
"""

from __future__ import annotations

from acd.core.agents import Agent, AgentState, NotReadyReason
from acd.core.commands import (
    AnnouncePosition,
    CallAbandoned,
    CallAnswered,
    CallNote,
    CommandDone,
    CommandFailed,
    ConnectCall,
    DialCallback,
    DialOut,
    Failure,
    RingAgent,
    StopRinging,
    TransferCall,
)
from acd.core.distributor import CallDistributor
from acd.core.queueing import AcdRules

TOUR, CRUISE = "tour", "cruise"


def centre(**rules: float) -> CallDistributor:
    acd = CallDistributor(
        AcdRules(**rules),
        agents=[
            Agent("1001", "Li Na", "PJSIP/1001", {TOUR: 5}),
            Agent("1002", "Wang Fang", "PJSIP/1002", {TOUR: 3, CRUISE: 5}),
        ],
    )
    for job in ("1001", "1002"):
        acd.log_in(job, 0)
    return acd


def of(out: list, kind: type) -> list:
    return [o for o in out if isinstance(o, kind)]


def rung(out: list) -> list[tuple[str, str]]:
    return [(r.call_id, r.job_number) for r in of(out, RingAgent)]


def failed(command, failure: Failure = Failure.REFUSED) -> CommandFailed:
    return CommandFailed(command, failure, "test")


def test_a_caller_asterisk_could_not_put_through_waits_again_at_their_place():
    acd = centre(ring_timeout=15)
    acd.set_ready("1001", 0)
    acd.call_arrived("first", TOUR, 10)
    acd.call_arrived("second", TOUR, 20)
    acd.agent_answered("1001", "first", 12)

    out = acd.command_outcome(failed(ConnectCall("first", "1001", TOUR)), 13)

    # Not answered: nothing counts it as answered, and the agent's leg is let go.
    assert of(out, CallAnswered) == []
    assert StopRinging("first", "1001") in out
    assert of(out, CallNote)[0].kind == "command_failed"
    # The caller is first again (ahead of "second"), and the agent is free: rung again.
    assert acd.position("first") == 1 and acd.position("second") == 2
    assert rung(out) == [("first", "1001")]
    # Put through on the second try, the wait counts from when they first called.
    acd.agent_answered("1001", "first", 20)
    done = acd.command_outcome(CommandDone(ConnectCall("first", "1001", TOUR)), 20.1)
    assert [(a.waited, a.at) for a in of(done, CallAnswered)] == [(10, 20)]


def test_a_failed_connect_frees_the_agent_without_no_answer_or_after_call_work():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "c1", 2)
    acd.command_outcome(failed(ConnectCall("c1", "1001", TOUR), Failure.TIMEOUT), 3)
    status = acd.status("1001")
    # Ready again (rung for the same caller, the only one waiting), never "no answer".
    assert (status.state, status.reason, status.call_id) == (AgentState.RINGING, None, "c1")


def test_a_ring_that_never_left_during_an_outage_offers_nothing_until_the_link_is_back():
    acd = centre(ring_timeout=15)
    acd.set_ready("1001", 0)
    out = acd.call_arrived("c1", TOUR, 5)
    (ring,) = of(out, RingAgent)
    acd.pbx_lost(5.1)
    out = acd.command_outcome(failed(ring, Failure.LINK_DOWN), 5.1)

    assert acd.status("1001").state is AgentState.READY  # not the agent's fault
    assert rung(out) == []  # and no new ring while Asterisk cannot be reached
    assert rung(acd.tick(60)) == [] and rung(acd.call_arrived("c2", TOUR, 61)) == []
    assert acd.status("1001").state is AgentState.READY

    back = acd.pbx_restored(70)
    assert rung(back) == [("c1", "1001")]  # the first caller first


def test_while_the_link_is_down_a_ringing_phone_is_never_marked_no_answer():
    acd = centre(ring_timeout=15)
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 0)
    acd.pbx_lost(1)
    # Long past the ring timeout: nobody can tell whether the phone rang or was answered.
    out = acd.tick(100)
    assert of(out, StopRinging) == []
    assert acd.status("1001").state is AgentState.RINGING
    # Back: the agent answered meanwhile (the resync tells), and is connected, not dropped.
    acd.pbx_restored(101)
    out = acd.agent_answered("1001", "c1", 101)
    assert of(out, ConnectCall) == [ConnectCall("c1", "1001", TOUR)]
    # Had they not answered, the ring gets a fresh window from the reconnect.
    acd2 = centre(ring_timeout=15)
    acd2.set_ready("1001", 0)
    acd2.call_arrived("c1", TOUR, 0)
    acd2.pbx_lost(1)
    acd2.pbx_restored(100)
    acd2.tick(114.9)
    assert acd2.status("1001").state is AgentState.RINGING
    acd2.tick(115)
    assert acd2.status("1001").reason is NotReadyReason.NO_ANSWER


def test_no_position_is_announced_while_the_link_is_down():
    acd = centre(announce_every=30)
    acd.call_arrived("c1", TOUR, 0)
    acd.pbx_lost(1)
    assert of(acd.tick(45), AnnouncePosition) == []
    acd.pbx_restored(46)
    assert of(acd.tick(46), AnnouncePosition) == [AnnouncePosition("c1", 1)]


def test_a_ring_asterisk_refuses_at_once_is_the_phones_no_answer_and_the_next_agent_is_rung():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.set_ready("1002", 1)
    out = acd.call_arrived("c1", TOUR, 2)
    (ring,) = of(out, RingAgent)
    assert ring.job_number == "1001"
    out = acd.command_outcome(failed(ring), 2.1)
    assert acd.status("1001").reason is NotReadyReason.NO_ANSWER
    assert rung(out) == [("c1", "1002")]


def test_a_ring_lost_to_a_timeout_frees_the_agent_and_offers_the_call_again():
    acd = centre()
    acd.set_ready("1001", 0)
    (ring,) = of(acd.call_arrived("c1", TOUR, 2), RingAgent)
    out = acd.command_outcome(failed(ring, Failure.TIMEOUT), 12)
    assert acd.status("1001").reason is None
    assert rung(out) == [("c1", "1001")]  # the link is up: ring again


def test_a_caller_who_leaves_before_being_put_through_is_abandoned_and_the_agent_is_free():
    acd = centre(wrap_up=30)
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 10)
    acd.agent_answered("1001", "c1", 20)
    # The caller hangs up at the very instant the agent answers: never connected.
    out = acd.call_ended("c1", 20.5)
    assert [(a.call_id, a.waited) for a in of(out, CallAbandoned)] == [("c1", 10.5)]
    assert acd.status("1001").state is AgentState.READY  # no after-call work for no call
    # The redirect that came too late changes nothing.
    late = acd.command_outcome(failed(ConnectCall("c1", "1001", TOUR)), 20.6)
    assert late == [] and "c1" not in acd.waiting


def test_a_transfer_asterisk_did_not_make_leaves_the_caller_talking_with_the_agent():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.set_ready("1002", 0)
    acd.call_arrived("c1", TOUR, 1)  # to 1001 (the higher tour skill)
    acd.agent_answered("1001", "c1", 2)
    acd.command_outcome(CommandDone(ConnectCall("c1", "1001", TOUR)), 2)
    out = acd.transfer("c1", 10, line=CRUISE)
    (transfer,) = of(out, TransferCall)
    assert rung(out) == [("c1", "1002")]

    out = acd.command_outcome(failed(transfer, Failure.LINK_DOWN), 10.1)

    assert acd.status("1001").state is AgentState.TALKING
    assert acd.connected["c1"].job_number == "1001" and "c1" not in acd.waiting
    assert StopRinging("c1", "1002") in out  # the cruise agent's phone stops
    assert acd.status("1002").state is AgentState.READY
    # The agent can still end the call normally: after-call work, as for any call.
    assert acd.call_ended("c1", 50)[0].new is AgentState.AFTER_CALL


def test_a_click_to_dial_that_never_left_puts_the_agent_back_where_they_were():
    acd = centre()
    acd.set_not_ready("1001", NotReadyReason.CALLBACK_WORK, 0)
    (dial,) = of(acd.dial_out("1001", "out-1", "13900000051", 5), DialOut)
    acd.command_outcome(failed(dial, Failure.LINK_DOWN), 5.1)
    status = acd.status("1001")
    assert (status.state, status.reason) == (AgentState.NOT_READY, NotReadyReason.CALLBACK_WORK)
    assert "out-1" not in acd.connected


def test_a_callback_that_was_not_dialled_waits_again_and_is_dialled_exactly_once_later():
    acd = centre()
    acd.callback_requested("cb-1", TOUR, "13800138000", 1)
    out = acd.set_ready("1001", 2)
    assert rung(out) == [("cb-1", "1001")]
    (dial,) = of(acd.agent_answered("1001", "cb-1", 3), DialCallback)
    out = acd.command_outcome(failed(dial), 4)
    # The request is back (the same place) and offered again; once dialled it is done.
    assert rung(out) == [("cb-1", "1001")]
    (again,) = of(acd.agent_answered("1001", "cb-1", 5), DialCallback)
    assert again == dial
    acd.command_outcome(CommandDone(again), 5)
    assert acd.callback_requested("cb-1", TOUR, "13800138000", 6) == []
