"""Callback requests: left in the IVR or while waiting, taken by an agent, the customer dialled."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Caller, assert_heard, assert_heard_before_the_end
from tests.e2e.centre import LUNCH_NOW, Api, tree_with, zone_at_midday
from tests.e2e.phones import Phone
from tests.e2e.waiting import until


def customer_legs(asterisk: Asterisk, number: str) -> set[str]:
    """Every call to the customer's number through the trunk (one Local pair per dial)."""
    prefix = f"Local/{number}@customer-probe-"
    return {
        e.get("Channel").rsplit(";", 1)[0]
        for e in asterisk.ami.events
        if e.name == "Newchannel" and e.get("Channel").startswith(prefix)
    }


async def agent_takes_the_callback(
    asterisk: Asterisk, agent: Api, phone: Phone, number: str, caller: Caller
) -> None:
    """The agent on callback work takes the next request: their phone rings first, showing
    the customer's number; once they answer the customer is dialled, exactly once, and the
    two are talking."""
    stream = await agent.events()
    taken = await agent.post(f"/agents/{agent.job}/callbacks/next")
    assert taken["request_id"] == f"cb-{caller.call_id}"
    call = await phone.ringing()
    assert call.caller_number == number
    pop = await stream.next("call_ringing", 10, agent=agent.job)
    assert pop["data"]["callback"] is True
    assert pop["data"]["caller_number"] == number
    assert customer_legs(asterisk, number) == set(), "the customer was dialled before the agent"
    mark = asterisk.ami.mark()
    await phone.answer(call)
    dialled = await asterisk.ami.wait(
        lambda e: (
            e.name == "Newchannel"
            and e.get("Channel").startswith(f"Local/{number}@customer-probe-")
        ),
        15,
    )
    # Asterisk's own order of events: the agent's phone picked up, then the customer was
    # dialled (the phone's clock notes its answer a few ms after sending it).
    answered = asterisk.ami.find(
        lambda e: e.name == "UserEvent" and e.get("UserEvent") == "AcdAgentAnswered", mark
    )
    assert answered, "the agent's answer was never seen"
    events = asterisk.ami.events
    assert events.index(answered[0]) < events.index(dialled)
    await _talking_to_the_customer(asterisk, agent.job, number)
    # Exactly once: give a second dial time to happen before counting.
    await asyncio.sleep(3)
    assert len(customer_legs(asterisk, number)) == 1, customer_legs(asterisk, number)
    assert (await agent.agent())["state"] == "talking"


async def _talking_to_the_customer(
    asterisk: Asterisk, job: str, number: str, timeout: float = 10
) -> None:
    """The agent's phone and the customer's line are in one bridge (seen on Asterisk)."""

    async def talking() -> bool:
        phones = await asterisk.channels_of(f"PJSIP/{job}-")
        customers = await asterisk.channels_of(f"Local/{number}@customer-probe-")
        for phone in phones:
            for customer in customers:
                if await asterisk.bridged_together(phone, customer):
                    return True
        return False

    await until(talking, timeout, f"agent {job} talking to {number}")


async def at_lunch(centre, phones, tmp_path: Path) -> tuple[Api, Api, Phone]:
    """A centre at lunch (no agent offered); 1001 on callback work, the team lead, 1001's phone."""
    tree = tree_with(tmp_path / "lunch.toml", LUNCH_NOW)
    c = await centre(ivr={"tree": str(tree), "timezone": zone_at_midday()})
    agent = await c.agent_logged_in("1001", ready=False)
    await agent.post("/agents/1001/not-ready", {"reason": "callback_work"})
    supervisor = await c.login("1901")
    phone = await phones("1001", answer_after=None)
    return agent, supervisor, phone


async def test_outside_working_hours_a_caller_leaves_a_callback_an_agent_calls_them_back(
    centre, callers, phones, asterisk, customer_trunk, tmp_path: Path
):
    agent, supervisor, phone = await at_lunch(centre, phones, tmp_path)
    caller = await callers.tour_caller(record=True, number="13800138000")
    await caller.hears("closed_hours")
    offer = await caller.hears("callback_offer")  # "... on the number you call from, press 1"
    assert offer.keys == ("callback_offer",)
    await caller.press("1")
    saved = await caller.hears("callback_saved")
    await caller.hung_up_by_the_hotline("hotline")
    assert "please_hold" not in caller.heard_keys()
    snap = await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["callbacks"] == 1)
    assert snap["lines"]["tour"]["waiting"] == 0
    assert phone.calls == []  # nobody is rung for it until an agent takes it
    await agent_takes_the_callback(asterisk, agent, phone, caller.number, caller)
    snap = await supervisor.get("/supervisor/snapshot")
    assert snap["lines"]["tour"]["callbacks"] == 0
    await caller.recording_done()
    assert_heard_before_the_end(caller, saved)


async def test_a_caller_asks_to_be_called_back_on_another_number_and_that_number_is_dialled(
    centre, callers, phones, asterisk, customer_trunk, tmp_path: Path
):
    other = "02088776655"
    agent, supervisor, phone = await at_lunch(centre, phones, tmp_path)
    caller = await callers.tour_caller(record=True, number="13800138000")
    await caller.hears("callback_offer")
    await caller.press("2")  # "to enter another number, press 2"
    enter = await caller.hears("callback_enter_number")  # AGI GET DATA: collecting keys
    await caller.press(other + "#")
    saved = await caller.hears("callback_saved")
    await caller.hung_up_by_the_hotline("hotline")
    await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["callbacks"] == 1)
    await agent_takes_the_callback(asterisk, agent, phone, other, caller)
    assert customer_legs(asterisk, caller.number) == set(), "the calling number was dialled"
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(enter, prefix=0.3))
    assert_heard_before_the_end(caller, saved)


async def test_a_waiting_caller_who_presses_nine_is_called_back_first_keeping_their_place(
    centre, callers, phones, asterisk, customer_trunk
):
    c = await centre()  # open all day
    # Tour has an agent (1001 logged in), not ready yet: callers wait.
    agent = await c.agent_logged_in("1001", ready=False)
    supervisor = await c.login("1901")
    phone = await phones("1001", answer_after=None)
    first = await callers.dial(record=True, number="13911112222")
    await first.hears("main_menu")
    await first.press("2")
    await first.hears("please_hold")
    await first.on_hold()
    await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["waiting"] == 1)
    second = await callers.dial(number="13933334444")
    await second.hears("main_menu")
    await second.press("2")
    await second.on_hold()
    await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["waiting"] == 2)
    await first.press("9")  # while on music: "call me back instead"
    saved = await first.hears("callback_saved")
    await first.hung_up_by_the_hotline("acd-wait")
    snap = await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["callbacks"] == 1)
    assert snap["lines"]["tour"]["waiting"] == 1  # the second caller still waits
    assert await second.on_line()
    await agent.post("/agents/1001/ready")
    call = await phone.ringing()
    assert call.caller_number == first.number  # the callback kept the first caller's place
    await phone.answer(call)
    await asterisk.ami.wait(
        lambda e: (
            e.name == "Newchannel"
            and e.get("Channel").startswith(f"Local/{first.number}@customer-probe-")
        ),
        15,
    )
    await _talking_to_the_customer(asterisk, "1001", first.number)
    # Exactly once, and the second caller was not offered meanwhile: let time pass to see.
    await asyncio.sleep(3)
    assert len(customer_legs(asterisk, first.number)) == 1
    assert len(phone.calls) == 1
    snap = await supervisor.get("/supervisor/snapshot")
    assert (snap["lines"]["tour"]["waiting"], snap["lines"]["tour"]["callbacks"]) == (1, 0)
    assert await second.on_line()
    await first.recording_done()
    assert_heard_before_the_end(first, saved)


async def test_a_caller_with_an_e164_number_is_called_back_on_it_plus_sign_included(
    centre, callers, phones, asterisk, customer_trunk, tmp_path: Path
):
    agent, supervisor, phone = await at_lunch(centre, phones, tmp_path)
    caller = await callers.tour_caller(number="+8613800138000")
    await caller.hears("callback_offer")  # "... on the number you call from, press 1"
    await caller.press("1")
    await caller.hears("callback_saved")
    await caller.hung_up_by_the_hotline("hotline")
    await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["callbacks"] == 1)
    await agent_takes_the_callback(asterisk, agent, phone, "+8613800138000", caller)
