"""Recording policy (pure): on demand, pause/resume, disk alarm, retention."""

import pytest

from recording.policy import (
    DAY,
    DiskRules,
    Kept,
    RecordingAction,
    RecordingRefused,
    RecordingState,
    disk_full,
    next_state,
    record_on_connect,
    to_purge,
)

A, S = RecordingAction, RecordingState


def test_only_all_records_from_the_connect_on_demand_waits_for_the_agent():
    assert record_on_connect("all")
    assert not record_on_connect("on_demand") and not record_on_connect("none")
    assert next_state(S.OFF, A.START, "on_demand") is S.RECORDING
    with pytest.raises(RecordingRefused, match="not recorded"):
        next_state(S.OFF, A.START, "none")
    with pytest.raises(RecordingRefused, match="already"):
        next_state(S.RECORDING, A.START, "all")


def test_pause_and_resume_alternate_and_say_what_is_wrong():
    assert next_state(S.RECORDING, A.PAUSE, "all") is S.PAUSED
    assert next_state(S.PAUSED, A.RESUME, "all") is S.RECORDING
    with pytest.raises(RecordingRefused, match="paused already"):
        next_state(S.PAUSED, A.PAUSE, "all")
    with pytest.raises(RecordingRefused, match="not paused"):
        next_state(S.RECORDING, A.RESUME, "all")
    with pytest.raises(RecordingRefused, match="not being recorded"):
        next_state(S.OFF, A.PAUSE, "on_demand")


def test_the_disk_alarm_goes_off_below_the_minimum():
    rules = DiskRules(min_free_bytes=1000)
    assert disk_full(999, rules) and not disk_full(1000, rules)


def test_retention_spares_what_an_open_follow_up_needs():
    now = 1000 * DAY
    kept = [Kept("old", now - 91 * DAY), Kept("held", now - 200 * DAY), Kept("new", now - DAY)]
    assert to_purge(kept, now, 90, held={"held"}) == ["old"]
    assert to_purge(kept, now, 0, held=set()) == []  # 0: keep for ever
