"""The IVR tree and navigator: keys, invalid keys, silence, hours, duty, callbacks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ivr.hours import DutySlot, WorkingHours, lines_with_duty
from ivr.navigator import (
    AskKey,
    AskNumber,
    CallerContext,
    Goodbye,
    LeaveCallback,
    Navigator,
    Say,
    WaitForAgent,
)
from ivr.tree import TreeError, load_tree

TREE = load_tree()
OPEN = CallerContext("13800138000", open_now=True, human_lines=frozenset(TREE.lines))
CLOSED = CallerContext("13800138000", open_now=False, human_lines=frozenset(TREE.lines))


def prompts(step) -> list[str]:
    return [s.prompt or f"digits:{s.digits}" for s in step.say]


def test_welcome_then_main_menu_and_2_waits_for_a_tour_agent():
    nav = Navigator(TREE, OPEN)
    assert prompts(nav.start()) == ["welcome", "main_menu"]
    step = nav.on_key("2")
    assert isinstance(step, WaitForAgent) and step.line == "tour"
    assert nav.path == ["main", "2"]


def test_sub_menu_information_then_a_human():
    nav = Navigator(TREE, OPEN)
    nav.start()
    assert prompts(nav.on_key("1")) == ["cruise_menu"]
    assert prompts(nav.on_key("1")) == ["cruise_info", "cruise_menu"]
    step = nav.on_key("0")
    assert isinstance(step, WaitForAgent) and step.line == "cruise"


def test_star_repeats_the_menu_and_hash_goes_back():
    nav = Navigator(TREE, OPEN)
    nav.start()
    assert prompts(nav.on_key("*")) == ["main_menu"]
    nav.on_key("3")
    assert prompts(nav.on_key("#")) == ["main_menu"]


def test_invalid_key_says_so_and_repeats_then_goodbye_after_max_tries():
    nav = Navigator(TREE, OPEN)
    nav.start()
    assert prompts(nav.on_key("7")) == ["invalid_key", "main_menu"]
    assert prompts(nav.on_key("8")) == ["invalid_key", "main_menu"]
    step = nav.on_key("9")
    assert isinstance(step, Goodbye) and step.reason == "invalid_keys"
    assert prompts(step) == ["invalid_goodbye"]


def test_silence_script_from_the_manual():
    nav = Navigator(TREE, OPEN)
    first = nav.start()
    assert first.timeout == 5
    again = nav.on_silence()
    assert isinstance(again, AskKey) and prompts(again) == ["silence_connected"]
    assert again.timeout == 5
    bye = nav.on_silence()
    assert isinstance(bye, Goodbye) and prompts(bye) == ["silence_goodbye"]


def test_outside_hours_no_human_offered_hours_said_and_callback_on_calling_number():
    nav = Navigator(TREE, CLOSED)
    nav.start()
    assert prompts(nav.on_key("1")) == ["cruise_menu_no_human"]
    offer = nav.on_key("0")
    assert prompts(offer) == ["closed_hours", "callback_offer", "digits:13800138000"]
    step = nav.on_key("1")
    assert step == LeaveCallback("cruise", "13800138000", (Say("callback_saved"),))


def test_a_caller_with_an_e164_number_is_offered_a_callback_on_it():
    context = CallerContext("+8613800138000", open_now=False, human_lines=frozenset())
    nav = Navigator(TREE, context)
    nav.start()
    nav.on_key("1")
    offer = nav.on_key("0")
    assert prompts(offer) == ["closed_hours", "callback_offer", "digits:8613800138000"]
    step = nav.on_key("1")
    assert step == LeaveCallback("cruise", "+8613800138000", (Say("callback_saved"),))


def test_no_agent_on_duty_offers_a_callback_to_another_number():
    context = CallerContext("", open_now=True, human_lines=frozenset({"cruise"}))
    nav = Navigator(TREE, context)
    nav.start()
    offer = nav.on_key("2")
    assert prompts(offer) == ["no_agent_on_duty", "callback_offer_no_number"]
    ask = nav.on_key("2")
    assert isinstance(ask, AskNumber)
    assert prompts(nav.on_number("12")) == ["invalid_key", "callback_enter_number"]
    assert nav.on_number("02155556666") == LeaveCallback(
        "tour", "02155556666", (Say("callback_saved"),)
    )


def test_working_hours_follow_the_season_and_lunch():
    hours = WorkingHours()
    assert hours.is_open(datetime(2026, 6, 1, 17, 45))  # summer: until 18:00
    assert not hours.is_open(datetime(2026, 12, 1, 17, 45))  # winter: until 17:30
    assert not hours.is_open(datetime(2026, 6, 1, 13, 15))  # summer lunch to 13:30
    assert hours.is_open(datetime(2026, 12, 1, 13, 15))  # winter lunch to 13:00
    assert not hours.is_open(datetime(2026, 6, 1, 8, 59))


def test_a_24_hour_day_is_open_in_its_last_second():
    day = {"open": "00:00", "close": "24:00"}
    hours = WorkingHours.model_validate({"summer": day, "winter": day})
    assert hours.is_open(datetime(2026, 11, 23, 0, 0))
    assert hours.is_open(datetime(2026, 11, 23, 23, 59, 59, 900_000))
    night = DutySlot(line="tour", start="18:00", end="24:00:00", agents=("1001",))
    assert lines_with_duty((night,), datetime(2026, 11, 23, 23, 59, 59, 999_999)) == {"tour"}
    with pytest.raises(ValueError, match="close"):
        WorkingHours.model_validate({"summer": {"open": "00:00", "close": "25:00"}})


def test_duty_schedule():
    slots = (
        DutySlot(line="cruise", days=frozenset({1}), start="09:00", end="12:00", agents=("1001",)),
        DutySlot(line="tour", start="09:00", end="18:00", agents=()),
    )
    monday_10 = datetime(2026, 11, 23, 10, 0)
    assert lines_with_duty(slots, monday_10) == {"cruise"}
    assert lines_with_duty(slots, monday_10.replace(hour=12)) == set()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tree.toml"
    path.write_text(text)
    return path


BASE = '[lines.tour]\nname_prompt = "line_tour"\n[menus.main]\nprompt = "main_menu"\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[menus.main.keys]\n"1" = { goto = "nowhere" }\n',
            "menus.main.keys.1.goto: 'nowhere' is not a menu",
        ),
        (
            '[menus.main.keys]\n"1" = { agent = "ski" }\n',
            "menus.main.keys.1.agent: 'ski' is not a line",
        ),
        (
            '[menus.main.keys]\n"x" = { agent = "tour" }\n',
            "menus.main.keys.x: 'x' is not a DTMF key",
        ),
        ('[menus.main.keys]\n"1" = { agent = "tour", info = "i" }\n', "give exactly one of"),
        ('[menus.main.keys]\n"1" = { agnt = "tour" }\n', "menus.main.keys.1.agnt: unknown key"),
        (  # stored with every call, recording and ticket: 32 wide, on PostgreSQL too
            '[menus.main.keys]\n"2" = { agent = "tour" }\n'
            f'[lines.{"x" * 33}]\nname_prompt = "line_tour"\n',
            f"lines.{'x' * 33}: a line's name is 1 to 32 letters, digits, _ or -",
        ),
    ],
)
def test_tree_errors_name_the_node_and_key(tmp_path, extra, message):
    with pytest.raises(TreeError, match=message.replace(".", r"\.")):
        load_tree(write(tmp_path, BASE + extra))
