"""The hotline's IVR as callers hear it: menus, keys, silence, hours, duty, engine down."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.asterisk import Played
from tests.e2e.audio import loud_seconds_between
from tests.e2e.callers import (
    assert_heard,
    assert_heard_before_the_end,
    greeting_of,
    prompt_seconds,
)
from tests.e2e.centre import LUNCH_NOW, hours, tree_with, zone_at_midday

# -- helpers ----------------------------------------------------------------------------


def duty(line: str, start: str, end: str, agents: list[str]) -> str:
    return (
        f'\n[[duty]]\nline = "{line}"\ndays = [1, 2, 3, 4, 5, 6, 7]\n'
        f'start = "{start}"\nend = "{end}"\nagents = {agents}\n'
    )


# -- menus and keys ---------------------------------------------------------------------


async def test_a_caller_hears_the_welcome_the_menu_and_both_lines_information(
    centre, callers, asterisk
):
    c = await centre()
    # Both lines offer a human (1002 and 1003 logged in): the full sub-menus.
    await c.agent_logged_in("1003", ready=False)
    await c.agent_logged_in("1002", ready=False)
    caller = await callers.dial(record=True)
    welcome = await caller.hears("welcome")
    menu = await caller.hears("main_menu")
    await caller.waits_for_key(menu)
    await caller.press("3")
    sub_menu = await caller.hears("free_travel_menu")
    await caller.press("1")  # while the free-travel menu plays
    info = await caller.hears("free_travel_info")
    again = await caller.hears_next("free_travel_menu", sub_menu)
    await caller.press("#")  # back to the main menu
    main_again = await caller.hears_next("main_menu", menu)
    await caller.press("1")
    cruise = await caller.hears("cruise_menu")
    await caller.press("1")
    cruise_info = await caller.hears("cruise_info")
    cruise_again = await caller.hears_next("cruise_menu", cruise)
    await caller.recorded_until(await caller.waits_for_key(cruise_again))
    assert caller.heard_keys() == [
        "welcome",
        "main_menu",
        "free_travel_menu",
        "free_travel_info",
        "free_travel_menu",
        "main_menu",
        "cruise_menu",
        "cruise_info",
        "cruise_menu",
    ]
    await caller.hang_up()
    await caller.recording_done()
    assert set().union(*(p.languages for p in caller.heard())) == {"en"}
    assert_heard(caller.heard_in_recording(welcome))
    assert_heard(caller.heard_in_recording(menu))
    assert_heard(caller.heard_in_recording(sub_menu, prefix=0.3))
    assert_heard(caller.heard_in_recording(info))
    assert_heard(caller.heard_in_recording(again, prefix=0.3))
    assert_heard(caller.heard_in_recording(main_again, prefix=0.3))
    assert_heard(caller.heard_in_recording(cruise_info))
    assert_heard(caller.heard_in_recording(cruise_again))
    # Each information was played to its end before its menu came again.
    assert again.at - info.at >= prompt_seconds(asterisk, "free_travel_info") - 0.5
    assert cruise_again.at - cruise_info.at >= prompt_seconds(asterisk, "cruise_info") - 0.5


async def test_a_caller_who_presses_star_hears_the_menu_again_and_can_still_choose(
    centre, callers, asterisk
):
    await centre()
    caller = await callers.dial(record=True)
    first = await caller.hears("main_menu")
    await caller.press("*")  # while the main menu plays
    second = await caller.hears_next("main_menu", first)
    # It started again at once: the first one was cut short by the star.
    assert second.at - first.at < prompt_seconds(asterisk, "main_menu") - 2
    await caller.waits_for_key(second)
    await caller.press("3")
    sub_menu = await caller.hears("free_travel_menu_no_human")  # nobody has free travel now
    await caller.recorded_until(await caller.waits_for_key(sub_menu))
    assert caller.heard_keys() == [
        "welcome",
        "main_menu",
        "main_menu",
        "free_travel_menu_no_human",
    ]
    await caller.hang_up()
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(first, prefix=0.3))
    assert_heard(caller.heard_in_recording(second))
    assert_heard(caller.heard_in_recording(sub_menu))


async def test_a_caller_who_presses_three_invalid_keys_is_told_so_and_the_hotline_hangs_up(
    centre, callers, asterisk
):
    await centre()
    caller = await callers.dial(record=True)
    menus = [await caller.hears("main_menu")]
    invalid: list[Played] = []
    for attempt in range(3):
        await caller.press("7")  # while the menu plays: 7 is no choice in the main menu
        if attempt < 2:
            invalid.append(await caller.hears_next("invalid_key", menus[-1]))
            menus.append(await caller.hears_next("main_menu", invalid[-1]))
    goodbye = await caller.hears("invalid_goodbye")
    await caller.hung_up_by_the_hotline("hotline")
    assert caller.heard_keys() == [
        "welcome",
        "main_menu",
        "invalid_key",
        "main_menu",
        "invalid_key",
        "main_menu",
        "invalid_goodbye",
    ]
    await caller.recording_done()
    for played in invalid:
        assert_heard(caller.heard_in_recording(played))
    for played in menus:
        assert_heard(caller.heard_in_recording(played, prefix=0.3))
    assert_heard_before_the_end(caller, goodbye)


async def test_a_silent_caller_hears_the_call_is_connected_then_goodbye_and_is_hung_up(
    centre, callers, asterisk
):
    await centre()
    caller = await callers.dial(record=True)
    menu = await caller.hears("main_menu")
    menu_over = await caller.waits_for_key(menu)
    connected = await caller.hears("silence_connected", timeout=20)
    connected_over = await caller.waits_for_key(connected)
    goodbye = await caller.hears("silence_goodbye", timeout=20)
    await caller.hung_up_by_the_hotline("hotline")
    assert caller.heard_keys() == ["welcome", "main_menu", "silence_connected", "silence_goodbye"]
    # The manual's script: 5 s of silence after each prompt (a loaded machine may add a little).
    assert 4.5 <= connected.at - menu_over <= 8
    assert 4.5 <= goodbye.at - connected_over <= 8
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(menu))
    assert_heard(caller.heard_in_recording(connected))
    assert_heard_before_the_end(caller, goodbye)


async def test_a_mandarin_caller_hears_every_prompt_and_the_job_number_in_mandarin(
    centre, callers, phones, asterisk
):
    c = await centre()
    await c.agent_logged_in("1001")
    phone = await phones("1001", answer_after=0.5)
    caller = await callers.dial(record=True, language="zh")
    welcome = await caller.hears("welcome")
    menu = await caller.hears("main_menu")
    await caller.waits_for_key(menu)
    await caller.press("2")
    hold = await caller.hears("please_hold")
    call = await phone.ringing()
    await phone.answered(call)
    greeting = await caller.hears("agent_greeting_before")
    assert greeting.keys == greeting_of("1001")
    greeted = await asterisk.ami.wait(
        lambda e: e.get("UserEvent") == "AcdGreeted" and e.get("Uniqueid") == caller.call_id, 15
    )
    await caller.recorded_until(greeted.at)
    await caller.hang_up()
    await caller.recording_done()
    for played in (welcome, menu, hold, greeting):
        assert played.languages == {"zh"}
        assert_heard(caller.heard_in_recording(played))
        english = caller.heard_in_recording(played, language="en")
        assert all(score < 0.5 for _, _, score in english), english


# -- working hours and the duty schedule --------------------------------------------------


def today_in(zone: str) -> int:
    return datetime.now(ZoneInfo(zone)).isoweekday()


async def test_within_working_hours_the_tour_line_offers_an_agent(
    centre, callers, phones, tmp_path: Path
):
    zone = zone_at_midday()  # about noon there: lunch 15:00-16:00 is far off
    tree = tree_with(
        tmp_path / "open.toml",
        hours("09:00:00", "18:00:00", lunch=("15:00:00", "16:00:00")),
    )
    c = await centre(ivr={"tree": str(tree), "timezone": zone})
    agent = await c.agent_logged_in("1001", ready=False)  # not ready yet: the caller waits
    supervisor = await c.login("1901")
    phone = await phones("1001", answer_after=None)
    caller = await callers.dial(record=True)
    await caller.hears("main_menu")
    await caller.press("2")
    hold = await caller.hears("please_hold")
    await caller.on_hold()
    snap = await supervisor.snapshot_until(lambda s: s["lines"]["tour"]["waiting"] == 1)
    assert snap["lines"]["tour"]["callbacks"] == 0
    await agent.post("/agents/1001/ready")
    call = await phone.ringing()
    assert call.caller_number == caller.number
    assert "closed_hours" not in caller.heard_keys()
    await caller.hang_up()
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(hold))


def _lunch_now(zone: str) -> str:
    return LUNCH_NOW


def _day_off_today(zone: str) -> str:
    other_days = [d for d in range(1, 8) if d != today_in(zone)]
    return hours("00:00:00", "24:00", days=other_days)


@pytest.mark.parametrize("closed", [_lunch_now, _day_off_today], ids=["lunch", "day_off"])
async def test_outside_working_hours_the_caller_hears_the_hours_and_no_phone_rings(
    closed, centre, callers, phones, asterisk, tmp_path: Path
):
    zone = zone_at_midday()
    tree = tree_with(tmp_path / "closed.toml", closed(zone))
    c = await centre(ivr={"tree": str(tree), "timezone": zone})
    agent = await c.agent_logged_in("1001")
    supervisor = await c.login("1901")
    phone = await phones("1001", answer_after=0.5)
    caller = await callers.dial(record=True)
    await caller.hears("main_menu")
    await caller.press("2")
    why = await caller.hears("closed_hours")
    offer = await caller.hears("callback_offer")
    await caller.waits_for_key(offer)
    assert "please_hold" not in caller.heard_keys()
    # Nobody is offered the call although 1001 is ready: give a ring time to happen.
    await asyncio.sleep(2)
    assert phone.calls == []
    assert (await agent.agent("1001"))["state"] == "ready"
    await caller.recorded_until(time.monotonic())
    snap = await supervisor.get("/supervisor/snapshot")
    assert snap["lines"]["tour"]["waiting"] == 0
    await caller.hang_up()
    await caller.recording_done()
    # The hours, "... press 1 ... the number is" and the caller's own number, digit by digit.
    told = caller.heard()[caller.heard().index(why) :]
    digits = [f"digit_{d}" for d in caller.number]
    assert [key for p in told for key in p.keys] == ["closed_hours", "callback_offer", *digits]
    for played in told:
        assert_heard(caller.heard_in_recording(played))


@pytest.mark.parametrize("on_duty", [False, True], ids=["nobody_on_duty", "on_duty"])
async def test_the_cruise_line_offers_a_human_only_while_someone_is_on_duty(
    on_duty, centre, callers, phones, asterisk, tmp_path: Path
):
    zone = zone_at_midday()  # about noon there: a 01:00-02:00 slot does not cover now
    slot = (
        duty("cruise", "00:00:00", "24:00", ["1002"])
        if on_duty
        else duty("cruise", "01:00:00", "02:00:00", ["1002"])
    )
    tree = tree_with(tmp_path / "duty.toml", extra=slot)  # open all day
    c = await centre(ivr={"tree": str(tree), "timezone": zone})
    await c.agent_logged_in("1002")
    phone = await phones("1002", answer_after=None)
    caller = await callers.dial(record=True)
    await caller.hears("main_menu")
    await caller.press("1")
    expected, other = "cruise_menu", "cruise_menu_no_human"
    if not on_duty:
        expected, other = other, expected
    menu = await caller.hears(expected)
    await caller.waits_for_key(menu)
    await caller.press("0")
    if on_duty:
        await caller.hears("please_hold")
        call = await phone.ringing()
        assert call.caller_number == caller.number
    else:
        await caller.hears("no_agent_on_duty")
        offer = await caller.hears("callback_offer")
        await caller.waits_for_key(offer)
        # 1002 is ready but nobody is on duty for cruise: give a ring time to happen.
        await asyncio.sleep(2)
        assert phone.calls == []
        assert "please_hold" not in caller.heard_keys()
    assert other not in caller.heard_keys()
    await caller.hang_up()
    await caller.recording_done()
    assert_heard(caller.heard_in_recording(menu))
    # What was heard there is not the other menu (they share their first words).
    instead = Played(menu.uniqueid, menu.at, (("en", other),), menu.how)
    assert all(score < 0.5 for _, _, score in caller.heard_in_recording(instead))


# -- the engine down ---------------------------------------------------------------------


async def test_while_the_engine_is_down_the_caller_hears_music_and_is_served_once_it_is_up(
    centre, callers, asterisk, tmp_path: Path
):
    # Free travel offers a human all day (duty), whoever is logged in when the engine comes up.
    tree = tree_with(
        tmp_path / "duty.toml", extra=duty("free_travel", "00:00:00", "24:00", ["1003"])
    )
    caller = await callers.dial(record=True)  # no engine running
    music = await caller.on_hold(timeout=20)
    # The hotline tried the engine four times, keeping the caller on hold in between.
    await asterisk.ami.wait(
        lambda e: (
            e.get("UserEvent") == "AcdEngineUnreachable"
            and e.get("Uniqueid") == caller.call_id
            and e.get("Tries") == "4"
        ),
        30,
    )
    engine_starts = time.monotonic()
    c = await centre(ivr={"tree": str(tree)})
    supervisor = await c.login("1901")
    stream = await supervisor.events()
    welcome = await caller.hears("welcome", timeout=30)
    assert welcome.at > engine_starts
    assert not asterisk.ami.find(
        lambda e: e.name == "Hangup" and e.get("Uniqueid") == caller.call_id
    ), "the caller was dropped"
    await caller.hears("main_menu")
    await caller.press("3")
    await caller.hears("free_travel_menu")
    await caller.press("0")
    await caller.hears("please_hold")
    # Nothing was lost: the engine took the call under its own id, the IVR ran once.
    waiting = await stream.next("call_waiting", 10, call_id=caller.call_id)
    assert waiting["data"]["line"] == "free_travel"
    assert waiting["data"]["caller"] == caller.number
    snap = await supervisor.snapshot_until(lambda s: s["lines"]["free_travel"]["waiting"] == 1)
    assert snap["lines"]["free_travel"]["callbacks"] == 0
    assert caller.heard_keys() == ["welcome", "main_menu", "free_travel_menu", "please_hold"]
    problems = [e for e in c.log_events() if e.get("level") in ("error", "critical")]
    assert problems == []
    await caller.hang_up()
    await caller.recording_done()
    # Music on hold, measured only while nothing else could be heard: before the engine.
    window = engine_starts - music
    loud = loud_seconds_between(
        caller.recording, caller.offset(music), caller.offset(engine_starts)
    )
    assert window >= 5.5  # three rounds of music between the four tries
    assert loud >= 0.6 * window, (loud, window)
