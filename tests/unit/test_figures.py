"""One definition of the figures: the live "today" equals the day report over the same facts."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from acd.core.calls import CallBook
from acd.core.commands import CallAbandoned, CallAnswered, CallNote
from acd.core.distributor import CallDistributor
from acd.core.figures import (
    CallCounts,
    CallFact,
    CallOutcome,
    FigureRules,
    average_handle_time,
    average_speed_of_answer,
    by_call,
    definitions,
    occupancy,
    reduce_call,
    service_level,
)
from acd.core.reports import ReportRules, build_report, period_bounds
from acd.live import DayFigures, LiveFeed
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.facts import FactStore, rows_for
from acd.storage.reports import ReportSource
from ivr.tree import load_tree
from tests import database

SHANGHAI = ZoneInfo("Asia/Shanghai")
START, END, _ = period_bounds("day", datetime(2026, 11, 23).date(), SHANGHAI)
T = START + 9 * 3600  # 09:00 local
RULES = FigureRules(service_level=20, short_abandon=5)
SAME = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "callbacks_requested",
    "answered_within_service_level",
    "average_speed_of_answer_s",
)


def fact(call_id: str, at: float, kind: str, **data) -> CallFact:
    return CallFact(call_id, at, kind, data)


# -- the figures -----------------------------------------------------------------------------


def test_with_nothing_offered_no_figure_has_a_value():
    counts = CallCounts()
    assert counts.service_level_pct is None and counts.average_speed_of_answer_s is None
    assert service_level(0, 0, 0, 0) is None
    assert average_speed_of_answer(0.0, 0) is None
    assert average_handle_time(0.0, 0.0, 0.0, 0) is None
    assert occupancy({}) is None
    assert occupancy({"not_ready:lunch": 600.0}) is None


def test_when_every_caller_hung_up_early_the_service_level_has_nothing_to_count():
    counts = CallCounts()
    for waited in (1.0, 4.999):
        counts.add(CallOutcome("tour", None, waited, abandoned=True, callback=False), RULES)
    assert (counts.offered, counts.abandoned, counts.short_abandoned) == (2, 2, 2)
    assert counts.service_level_pct is None
    # One abandon at exactly the short-abandon time counts as missed.
    counts.add(CallOutcome("tour", None, 5.0, abandoned=True, callback=False), RULES)
    assert (counts.short_abandoned, counts.service_level_pct) == (2, 0.0)


def test_service_level_leaves_short_abandons_out_and_answers_at_the_threshold_count_in_time():
    counts = CallCounts()
    for waited in (20.0, 20.001):
        counts.add(CallOutcome("tour", "1001", waited, abandoned=False, callback=False), RULES)
    counts.add(CallOutcome("tour", None, 2.0, abandoned=True, callback=False), RULES)
    assert counts.answered_in_time == 1
    assert counts.service_level_pct == 50.0
    assert counts.average_speed_of_answer_s == 20.0  # (20 + 20.001) / 2, rounded


def test_removing_a_call_undoes_adding_it_exactly():
    counts = CallCounts()
    calls = [
        CallOutcome("tour", "1001", 0.1, abandoned=False, callback=False),
        CallOutcome("tour", None, 0.2, abandoned=True, callback=False),
        CallOutcome("tour", None, None, abandoned=False, callback=True),
    ]
    for call in calls:
        counts.add(call, RULES)
    for call in reversed(calls):
        counts.remove(call, RULES)
    assert counts == CallCounts()


def test_occupancy_and_handle_time():
    states = {"talking": 300.0, "ringing": 20.0, "after_call": 80.0, "ready": 600.0}
    assert occupancy({**states, "not_ready:break": 900.0}) == 40.0
    assert average_handle_time(300.0, 60.0, 90.0, 3) == 150.0


def test_a_call_is_counted_once_by_the_day_it_was_queued():
    facts = by_call(
        [
            fact("c1", T + 60, "answered", agent="1002", waited=50.0),  # the transfer's target
            fact("c1", T, "queued", line="tour"),
            fact("c1", T + 10, "answered", agent="1001", waited=10.0),
            fact("c1", T + 90, "abandoned", waited=90.0),  # after the answer: not an abandon
            fact("cb-c2", T + 20, "callback_requested", line="cruise", number="1"),
            fact("c2", T + 5, "queued", line="cruise"),
            fact("c3", START - 1, "queued", line="tour"),
            fact("c3", START + 1, "answered", agent="1001", waited=2.0),
        ]
    )
    assert reduce_call(facts["c1"], START, END) == CallOutcome(
        "tour", "1002", 10.0, abandoned=False, callback=False
    )
    assert reduce_call(facts["c2"], START, END) == CallOutcome(
        "cruise", None, None, abandoned=False, callback=True
    )
    assert reduce_call(facts["c3"], START, END) is None  # yesterday's call
    assert reduce_call([fact("c4", T, "answered", waited=1.0)], START, END) is None  # not queued


def test_the_report_and_the_live_feed_state_the_same_definitions():
    assert definitions(RULES)["service_level"] == (
        "answered within 20 s / (answered + abandoned - short abandons);"
        " abandons after 5 s count as missed"
    )
    assert ReportRules is FigureRules


# -- live "today" against the day report, on SQLite ----------------------------------------------

# What the service sees, in order: (when, what). "queued" is the IVR queueing a caller.
DAY = [
    # y1: queued yesterday at 23:59, answered today: in yesterday's figures, not today's.
    (START - 60, ("queued", "y1", "tour")),
    (START + 30, CallAnswered("y1", "tour", "1001", 90.0, START + 30)),
    # c1: answered in time by 1001, then transferred to 1002 (answered again): one call.
    (T, ("queued", "c1", "tour")),
    (T + 10, CallAnswered("c1", "tour", "1001", 10.0, T + 10)),
    (T + 60, CallAnswered("c1", "tour", "1002", 60.0, T + 60)),
    # c2: answered late.
    (T + 100, ("queued", "c2", "tour")),
    (T + 130, CallAnswered("c2", "tour", "1002", 30.0, T + 130)),
    # c3: a short abandon; c4: a long one, while 1001's phone rang.
    (T + 300, ("queued", "c3", "cruise")),
    (T + 303, CallAbandoned("c3", "cruise", 3.0, None, T + 303)),
    (T + 400, ("queued", "c4", "cruise")),
    (T + 445, CallAbandoned("c4", "cruise", 45.0, "1001", T + 445)),
    # c5: asked for a callback while waiting; the callback is dialled and answered later.
    (T + 1000, ("queued", "c5", "tour")),
    (T + 1020, CallNote("cb-c5", "callback_requested", {"line": "tour", "number": "138"})),
    (T + 1200, CallAnswered("cb-c5", "tour", "1001", 180.0, T + 1200)),
    # c6: answered in time; the wait has more digits than are stored.
    (T + 1500, ("queued", "c6", "cruise")),
    (T + 1512, CallAnswered("c6", "cruise", "1002", 12.34567, T + 1512)),
    (T + 1600, CallNote("c6", "survey", {"score": 4, "agent": "1002", "line": "cruise"})),
]
NOW = T + 2000


@pytest.fixture
async def centre(tmp_path):
    """A migrated SQLite database, the event log and a clock all of them read."""
    engine = create_engine(database.url_for(tmp_path))
    await migrate(engine)
    clock = [START - 3600]
    events = CallEventLog(engine, lambda: datetime.fromtimestamp(clock[0], UTC))
    try:
        yield engine, events, clock
    finally:
        await engine.dispose()


def live_feed(events: CallEventLog, clock: list[float]) -> LiveFeed:
    def spawn(coro, name):
        coro.close()

    return LiveFeed(
        CallDistributor(agents=[]),
        CallBook(),
        load_tree(),
        events,
        lambda: clock[0],
        lambda: datetime.fromtimestamp(clock[0], SHANGHAI),
        spawn,
        RULES,
    )


async def run_the_day(engine, events: CallEventLog, clock: list[float], live: LiveFeed) -> None:
    """Feed DAY to the live feed and to storage, as the call centre does."""
    writer = FactStore(engine)
    for at, what in DAY:
        clock[0] = at
        if isinstance(what, tuple):
            _, call_id, line = what
            await events.append(call_id, "queued", line=line, path=[])
            live.publish(CallNote(call_id, "queued", {"line": line}))  # as the IVR notes it
        else:
            live.publish(what)
            await writer.write(rows_for(what, datetime.fromtimestamp(clock[0], UTC)))
    clock[0] = NOW


async def day_report_total(engine) -> dict:
    events, changes, tickets = await ReportSource(engine).read(START, END)
    report = build_report(
        period="day",
        label="2026-11-23",
        start=START,
        end=END,
        now=NOW,
        events=events,
        changes=changes,
        tickets=tickets,
        rules=RULES,
    )
    return report["total"]


def assert_same_figures(today: dict, total: dict) -> None:
    assert {k: today[k] for k in SAME} == {k: total[k] for k in SAME}
    assert today["service_level"] == total["service_level_pct"]


async def test_after_a_restart_today_is_the_day_reports_total_for_the_stored_events(centre):
    engine, events, clock = centre
    await run_the_day(engine, events, clock, live_feed(events, clock))

    restarted = live_feed(events, clock)
    await restarted.load_today()
    today = restarted.snapshot()["today"]

    assert_same_figures(today, await day_report_total(engine))
    assert today["day"] == "2026-11-23"
    # c1..c6: c1 and c6 in time, c2 late, c3 short, c4 missed: 2 / (3 + 2 - 1).
    assert (today["offered"], today["answered"], today["abandoned"]) == (6, 3, 2)
    assert (today["short_abandoned"], today["callbacks_requested"]) == (1, 1)
    assert today["service_level"] == 50.0
    assert today["average_speed_of_answer_s"] == round((10 + 30 + 12.346) / 3, 1)
    assert today["service_level_definition"] == definitions(RULES)["service_level"]


async def test_live_counting_gives_the_day_reports_figures_for_the_same_facts(centre):
    engine, events, clock = centre
    live = live_feed(events, clock)
    await live.load_today()  # yesterday: nothing stored yet
    await run_the_day(engine, events, clock, live)

    today = live.snapshot()["today"]
    assert_same_figures(today, await day_report_total(engine))
    assert (today["day"], today["answered"], today["service_level"]) == ("2026-11-23", 3, 50.0)


async def test_a_restart_during_the_day_goes_on_counting_without_counting_twice(centre):
    engine, events, clock = centre
    half = len(DAY) // 2
    writer = FactStore(engine)
    for at, what in DAY[:half]:  # before the restart: stored only
        clock[0] = at
        if isinstance(what, tuple):
            await events.append(what[1], "queued", line=what[2])
        else:
            await writer.write(rows_for(what, datetime.fromtimestamp(clock[0], UTC)))
    live = live_feed(events, clock)
    await live.load_today()
    # The last stored fact arrives again live (stored just before the restart).
    for i, (at, what) in enumerate(DAY[half - 1 :], start=half - 1):
        clock[0] = at
        if isinstance(what, tuple):
            if i >= half:
                await events.append(what[1], "queued", line=what[2])
            live.publish(CallNote(what[1], "queued", {"line": what[2]}))
        else:
            live.publish(what)
            if i >= half:
                await writer.write(rows_for(what, datetime.fromtimestamp(clock[0], UTC)))
    clock[0] = NOW
    total = await day_report_total(engine)
    assert_same_figures(live.snapshot()["today"], total)


async def test_today_starts_again_at_the_centres_midnight(centre):
    _, events, clock = centre
    live = live_feed(events, clock)
    clock[0] = START - 100
    live.publish(CallNote("late", "queued", {"line": "tour"}))
    live.publish(CallAnswered("late", "tour", "1001", 10.0, START - 90))
    before = live.snapshot()["today"]
    assert (before["day"], before["answered"], before["service_level"]) == ("2026-11-22", 1, 100.0)
    clock[0] = START + 1
    after = live.snapshot()["today"]
    assert (after["day"], after["offered"], after["answered"]) == ("2026-11-23", 0, 0)
    assert after["service_level"] is None


def test_counting_fact_by_fact_in_any_order_equals_the_report():
    rnd = random.Random(7)
    for _ in range(200):
        facts = []
        for n in range(rnd.randint(0, 30)):
            call, queued = f"c{n}", START + rnd.uniform(-3600, 86400 + 3600)
            line = rnd.choice(["tour", "cruise"])
            facts.append(fact(call, queued, "queued", line=line, caller="13900000000", path="2"))
            for _ in range(rnd.randint(0, 3)):
                waited = round(rnd.uniform(0, 40), 3)
                at, kind = queued + waited, rnd.choice(["answered", "abandoned", "callback"])
                if kind == "answered":
                    facts.append(fact(call, at, kind, agent=rnd.choice("12"), waited=waited))
                elif kind == "abandoned":
                    facts.append(fact(call, at, kind, waited=waited))
                else:
                    facts.append(fact(f"cb-{call}", at, "callback_requested", line="tour"))
        rnd.shuffle(facts)
        day = DayFigures("2026-11-23", START, END, RULES)
        for item in facts:
            day.add(item)
        total = build_report(
            period="day",
            label="2026-11-23",
            start=START,
            end=END,
            now=END,
            events=facts,
            changes=[],
            tickets=[],
            rules=RULES,
        )["total"]
        assert_same_figures(day.as_json(), total)


def test_a_days_figures_hold_only_what_each_calls_outcome_depends_on():
    day = DayFigures("2026-11-23", START, END, RULES)
    day.add(fact("c1", START + 1, "queued", line="tour", caller="13900000000", name="王小明"))
    day.add(fact("c1", START + 9, "answered", agent="1001", waited=8.0, endpoint="PJSIP/1001"))
    day.add(fact("c1", START + 99, "survey", score=5))  # not a kind the figures count
    held = [(f.kind, dict(f.data)) for f in day._facts["c1"]]
    assert held == [("queued", {"line": "tour"}), ("answered", {"agent": "1001", "waited": 8.0})]
    assert (day.as_json()["offered"], day.as_json()["answered"]) == (1, 1)
