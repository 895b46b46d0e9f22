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


def test_a_ring_asterisk_refuses_knocks_nobody_out_and_offers_pause_a_moment():
    # A synchronous refusal of an asynchronous Originate is the PBX's fault (rights, a
    # reload, a shutdown), not the phone's: it would be refused for every agent alike.
    acd = centre()
    acd.set_ready("1001", 0)
    acd.set_ready("1002", 1)
    out = acd.call_arrived("c1", TOUR, 2)
    (ring,) = of(out, RingAgent)
    assert ring.job_number == "1001"
    out = acd.command_outcome(failed(ring), 2.1)
    assert [acd.status(j).state for j in ("1001", "1002")] == [AgentState.READY] * 2
    assert acd.status("1001").reason is None
    assert rung(out) == [] and rung(acd.tick(6)) == []  # no loop of refusals
    assert rung(acd.tick(7.2)) == [("c1", "1001")]  # then offered again, in order


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


def test_an_agent_whose_phone_goes_before_the_caller_is_put_through_leaves_them_waiting():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.callback_requested("cb-9", TOUR, "13800138000", 0.5)  # later in line
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "cb-9", 2)  # the callback was offered first (it is older)
    acd.call_ended("cb-9", 2.5, by_agent=True)  # the agent's leg dropped at once
    # The request is not lost or done: it waits again, first in line.
    assert acd.position("cb-9") == 1 and "cb-9" in acd.waiting
    assert acd.status("1001").reason is NotReadyReason.NO_ANSWER
    acd.set_ready("1002", 3)
    acd.agent_answered("1002", "c1", 4)  # c1 went to 1002 (tour 3); cb-9 waits for 1001
    # The same for a caller: the agent's phone goes, the caller waits again (not abandoned).
    out = acd.call_ended("c1", 5, by_agent=True)
    assert of(out, CallAbandoned) == [] and "c1" in acd.waiting


def test_a_transfer_being_carried_out_holds_the_agents_wrap_up_until_asterisk_answers():
    acd = centre(wrap_up=2)
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "c1", 2)
    acd.command_outcome(CommandDone(ConnectCall("c1", "1001", TOUR)), 2)
    (transfer,) = of(acd.transfer("c1", 10, line=CRUISE), TransferCall)
    acd.tick(20)  # long past the 2 s wrap-up: Asterisk has not answered the transfer yet
    assert acd.status("1001").state is AgentState.AFTER_CALL
    acd.command_outcome(failed(transfer, Failure.TIMEOUT), 21)  # it did not happen
    assert acd.status("1001").state is AgentState.TALKING  # the caller is still there
    # Once a transfer is done, wrap-up ends as usual.
    (again,) = of(acd.transfer("c1", 30, line=CRUISE), TransferCall)
    acd.command_outcome(CommandDone(again), 30.1)
    acd.tick(33)
    assert acd.status("1001").state is AgentState.READY


def test_a_transfer_is_refused_while_the_caller_is_still_being_put_through():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "c1", 2)
    try:
        acd.transfer("c1", 2.1, line=CRUISE)
    except Exception as exc:
        assert "still being put through" in str(exc)
    else:
        raise AssertionError("a transfer of a call not yet put through was accepted")


def test_calls_that_never_happen_put_the_agent_back_where_they_were():
    acd = centre(wrap_up=30)
    # From wrap-up: a failed click-to-dial gives back the rest of the wrap-up.
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "c1", 2)
    acd.command_outcome(CommandDone(ConnectCall("c1", "1001", TOUR)), 2)
    acd.call_ended("c1", 10)
    (dial,) = of(acd.dial_out("1001", "out-1", "13900000051", 12), DialOut)
    acd.command_outcome(failed(dial), 12.2)
    status = acd.status("1001")
    assert (status.state, status.wrap_up_until) == (AgentState.AFTER_CALL, 40)
    # From callback work: a callback that could not be dialled keeps them on callback work.
    acd.set_not_ready("1002", NotReadyReason.CALLBACK_WORK, 50)
    acd.callback_requested("cb-1", CRUISE, "13800138000", 51)
    acd.take_callback("1002", 52)
    (dial_back,) = of(acd.agent_answered("1002", "cb-1", 53), DialCallback)
    acd.command_outcome(failed(dial_back, Failure.LINK_DOWN), 54)
    status = acd.status("1002")
    assert (status.state, status.reason) == (AgentState.NOT_READY, NotReadyReason.CALLBACK_WORK)
    assert "cb-1" in acd.waiting  # and the request waits again


def test_a_command_about_a_caller_who_already_hung_up_changes_nothing_until_the_hang_up():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "c1", 2)
    # The Redirect found no channel: the caller is gone; no ghost is queued and rung again.
    assert acd.command_outcome(failed(ConnectCall("c1", "1001", TOUR), Failure.GONE), 2.1) == []
    assert "c1" not in acd.waiting
    out = acd.call_ended("c1", 2.2)  # their hang-up, as Asterisk reports it
    assert [a.call_id for a in of(out, CallAbandoned)] == ["c1"]
    assert acd.status("1001").state is AgentState.READY


def test_an_answer_reported_twice_keeps_the_call():
    acd = centre()
    acd.set_ready("1001", 0)
    acd.call_arrived("c1", TOUR, 1)
    acd.agent_answered("1001", "c1", 2)  # seen in the resync after an outage...
    assert acd.agent_answered("1001", "c1", 2.1) == []  # ...and then as the event itself
    assert acd.status("1001").state is AgentState.TALKING
