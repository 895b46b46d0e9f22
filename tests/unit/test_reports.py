"""Reports against a scripted day of calls with known answers (pure, fake clock)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from acd.core.agents import AgentState, AgentStateChanged, NotReadyReason
from acd.core.followups import Ticket, TicketReason, Urgency
from acd.core.reports import CallFact, ReportRules, build_report, period_bounds
from acd.reports import TODAY_MAX_AGE, ReportService
from acd.storage.db import create_engine, migrate
from acd.storage.events import CallEventLog
from acd.storage.reports import ReportSource
from tests import database

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 23)
START, END, _ = period_bounds("day", DAY, SHANGHAI)
T = START + 9 * 3600  # 09:00 local
S = AgentState


def ev(call_id: str, at: float, kind: str, **data) -> CallFact:
    return CallFact(call_id, at, kind, data)


def st(job: str, at: float, old: S, new: S, call_id=None, reason=None) -> AgentStateChanged:
    return AgentStateChanged(job, old, new, reason, at, call_id)


EVENTS = [
    # c1 tour: answered by 1001 after 10 s, 30 s on hold, rated 2 (a low score).
    ev("c1", T, "queued", line="tour"),
    ev("c1", T + 10, "answered", line="tour", agent="1001", waited=10.0),
    ev("c1", T + 40, "held", agent="1001"),
    ev("c1", T + 70, "resumed", agent="1001"),
    ev("c1", T + 140, "survey", score=2, agent="1001", line="tour"),
    # c2 tour: answered by 1002 after 30 s (outside the 20 s service level), rated 5.
    ev("c2", T + 100, "queued", line="tour"),
    ev("c2", T + 130, "answered", line="tour", agent="1002", waited=30.0),
    ev("c2", T + 200, "survey", score=5, agent="1002", line="tour"),
    # c3 cruise: hung up after 3 s (short abandon); c4 after 45 s.
    ev("c3", T + 300, "queued", line="cruise"),
    ev("c3", T + 303, "abandoned", line="cruise", waited=3.0, while_ringing=False),
    ev("c4", T + 400, "queued", line="cruise"),
    ev("c4", T + 445, "abandoned", line="cruise", waited=45.0, while_ringing=True),
    # c5 cruise: answered by 1002 after 5 s; the caller did not rate.
    ev("c5", T + 500, "queued", line="cruise"),
    ev("c5", T + 505, "answered", line="cruise", agent="1002", waited=5.0),
    ev("c5", T + 570, "survey", score=None, agent="1002", line="cruise"),
    # c6 tour: pressed 9 for a callback while waiting (stored under its request id).
    ev("c6", T + 1000, "queued", line="tour"),
    ev("cb-c6", T + 1020, "callback_requested", line="tour", number="13800138000"),
    # c7: queued yesterday at 23:59, answered after midnight: not in today's report.
    ev("c7", START - 60, "queued", line="tour"),
    ev("c7", START + 30, "answered", line="tour", agent="1001", waited=90.0),
    # c8: tomorrow.
    ev("c8", END + 10, "queued", line="tour"),
]

CHANGES = [
    st("1001", START - 3600, S.LOGGED_OUT, S.READY),  # ready since before midnight
    st("1001", T + 8, S.READY, S.RINGING, "c1"),
    st("1001", T + 10, S.RINGING, S.TALKING, "c1"),
    st("1001", T + 130, S.TALKING, S.AFTER_CALL, "c1"),
    st("1001", T + 160, S.AFTER_CALL, S.READY),
    st("1001", T + 3600, S.READY, S.NOT_READY, reason=NotReadyReason.LUNCH),
    st("1001", T + 3600 + 1800, S.NOT_READY, S.LOGGED_OUT),
    st("1002", T, S.LOGGED_OUT, S.READY),
    st("1002", T + 130, S.READY, S.TALKING, "c2"),
    st("1002", T + 190, S.TALKING, S.AFTER_CALL, "c2"),
    st("1002", T + 220, S.AFTER_CALL, S.READY),
    st("1002", T + 505, S.READY, S.TALKING, "c5"),
    st("1002", T + 565, S.TALKING, S.AFTER_CALL, "c5"),
    st("1002", T + 600, S.AFTER_CALL, S.NOT_READY, reason=NotReadyReason.BREAK),
    st("1002", T + 900, S.NOT_READY, S.LOGGED_OUT),
]

TICKETS = [
    Ticket(
        1,
        "c1",
        TicketReason.LOW_SCORE,
        Urgency.URGENT,
        T + 140,
        T + 7340,
        "tour",
        "1001",
        closed_at=T + 3000,
    ),
    Ticket(2, "c9", TicketReason.LOW_SCORE, Urgency.URGENT, T, T + 7200, "tour", "1001"),
]


def report(now=END + 3600, tickets=TICKETS):
    return build_report(
        period="day",
        label="2026-11-23",
        start=START,
        end=END,
        now=now,
        events=EVENTS,
        changes=CHANGES,
        tickets=tickets,
        rules=ReportRules(service_level=20, short_abandon=5),
    )


def test_a_day_is_the_centres_local_day_and_weeks_and_months_are_calendar_ones():
    assert END - START == 86400
    assert START == datetime(2026, 11, 22, 16, tzinfo=UTC).timestamp()  # 00:00 in Shanghai
    start, end, label = period_bounds("week", DAY, SHANGHAI)
    assert (label, (end - start) / 86400, start) == ("2026-W48", 7, START)  # Monday
    start, end, label = period_bounds("month", DAY, SHANGHAI)
    assert (label, (end - start) / 86400) == ("2026-11", 30)


def test_per_line_traffic_service_level_and_waits():
    lines = {row["line"]: row for row in report()["lines"]}
    tour, cruise = lines["tour"], lines["cruise"]
    assert (tour["offered"], tour["answered"], tour["abandoned"]) == (3, 2, 0)
    assert tour["callbacks_requested"] == 1
    assert tour["service_level_pct"] == 50.0  # c1 in time, c2 not
    assert tour["average_speed_of_answer_s"] == 20.0
    assert tour["longest_wait_s"] == 30.0
    assert (cruise["offered"], cruise["answered"], cruise["abandoned"]) == (3, 1, 2)
    assert cruise["short_abandoned"] == 1
    # c5 in time; c4 missed; c3 (short) left out: 1 / 2.
    assert cruise["service_level_pct"] == 50.0
    assert cruise["longest_wait_s"] == 45.0


def test_handle_time_is_talk_plus_hold_plus_after_call_work():
    lines = {row["line"]: row for row in report()["lines"]}
    # c1: 120 s talking of which 30 s hold, 30 s after-call; c2: 60 s talk, 30 s after-call.
    assert (lines["tour"]["talk_s"], lines["tour"]["hold_s"]) == (150.0, 30.0)
    assert lines["tour"]["after_call_s"] == 60.0
    assert lines["tour"]["average_handle_time_s"] == 120.0  # (150 + 30 + 60) / 2


def test_surveys_and_low_score_follow_ups():
    report_ = report()
    tour = {row["line"]: row for row in report_["lines"]}["tour"]
    assert tour["surveys"] == 2 and tour["survey_average"] == 3.5
    assert tour["survey_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert (tour["low_score_follow_ups"], tour["follow_ups_met_in_time"]) == (1, 1)
    total = report_["total"]
    assert (total["surveys"], total["survey_no_answer"], total["survey_average"]) == (3, 1, 3.5)
    assert (total["offered"], total["answered"], total["abandoned"]) == (6, 3, 2)


def test_per_agent_staff_assessment():
    agents = {row["agent"]: row for row in report()["agents"]}
    li, wang = agents["1001"], agents["1002"]
    assert li["answered"] == 1 and li["hold_s"] == 30.0
    # Ready from midnight to 13:30 except 152 s ringing/talking/after-call; lunch 30 min.
    assert li["break_s"]["lunch"] == 1800.0
    assert li["logged_in_s"] == 10 * 3600 + 1800
    assert li["occupancy_pct"] == round(100 * 152 / (10 * 3600), 1)
    assert wang["answered"] == 2 and wang["break_s"]["break"] == 300.0
    assert wang["average_handle_time_s"] == round((60 + 30 + 60 + 35) / 2, 1)
    assert wang["survey_average"] == 5.0 and wang["survey_no_answer"] == 1


def test_an_open_follow_up_is_undecided_until_its_deadline_then_missed():
    still_open = [replace(TICKETS[0], closed_at=None)]

    def tour(now):
        return {r["line"]: r for r in report(now, still_open)["lines"]}["tour"]

    before, after = tour(T + 7000), tour(T + 7341)
    assert (before["follow_ups_open"], before["follow_ups_missed"]) == (1, 0)
    assert (after["follow_ups_open"], after["follow_ups_missed"]) == (0, 1)
    assert report()["definitions"]["service_level"].startswith("answered within 20 s")


def test_the_garbage_collector_comes_back_on_after_overlapping_reports():
    import gc

    from acd.reports import _collector_paused

    assert gc.isenabled()
    first, second = _collector_paused(), _collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first report ends while the second runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


async def test_desktops_asking_for_todays_figures_at_once_share_one_report(tmp_path):
    class CountedSource(ReportSource):
        reads = 0

        async def read(self, start, end):
            CountedSource.reads += 1
            return await super().read(start, end)

    now = [datetime(2026, 12, 7, 4, 0, tzinfo=UTC).timestamp()]  # noon in Shanghai
    engine = create_engine(database.url_for(tmp_path))
    await migrate(engine)
    stored_at = [now[0] - 60]
    events = CallEventLog(engine, lambda: datetime.fromtimestamp(stored_at[0], UTC))
    service = ReportService(CountedSource(engine), ReportRules(), SHANGHAI, lambda: now[0])
    await events.append("c1", "queued", line="tour")
    stored_at[0] += 10
    await events.append("c1", "answered", line="tour", agent="1001", waited=4.0)

    # Fifty agents' desktops ask at the same moment: the day is read once.
    reports = await asyncio.gather(*(service.today_report() for _ in range(50)))
    assert CountedSource.reads == 1
    assert all(r["agents"][0]["answered"] == 1 for r in reports)
    # A rating given meanwhile shows once the shared report is that old.
    stored_at[0] = now[0] + 0.5
    await events.append("c1", "survey", score=5, agent="1001", line="tour")
    now[0] += TODAY_MAX_AGE / 2
    assert (await service.today_report())["agents"][0]["surveys"] == 0
    now[0] += TODAY_MAX_AGE
    agent = (await service.today_report())["agents"][0]
    assert (agent["surveys"], CountedSource.reads) == (1, 2)
    await engine.dispose()
