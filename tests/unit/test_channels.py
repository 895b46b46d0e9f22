"""The pure channel view: events and reconciliation with a snapshot."""

from acd.core.channels import (
    CallerIdChanged,
    Channel,
    ChannelCreated,
    ChannelHungUp,
    ChannelRegistry,
    ChannelsSnapshot,
    ChannelStateChanged,
)


def ch(uid: str, state: str = "Ring", **kw: str) -> Channel:
    return Channel(uniqueid=uid, name=f"PJSIP/x-{uid}", state=state, **kw)


def test_events_track_a_call_from_ring_to_hangup():
    view = ChannelRegistry()
    view.apply(ChannelCreated(ch("1.0")))
    view.apply(ChannelStateChanged("1.0", "Up"))
    view.apply(CallerIdChanged("1.0", "13800138000", "张伟"))
    assert view.get("1.0") == ch("1.0", "Up", caller_number="13800138000", caller_name="张伟")
    view.apply(ChannelHungUp("1.0", "Normal Clearing"))
    assert "1.0" not in view
    assert len(view) == 0


def test_event_for_unknown_channel_is_ignored_until_the_snapshot_brings_it():
    view = ChannelRegistry()
    assert view.apply(ChannelStateChanged("9.9", "Up")) is None
    assert view.apply(ChannelHungUp("9.9")) is None
    assert len(view) == 0


def test_reconcile_drops_vanished_adds_found_and_reports_both():
    view = ChannelRegistry([ch("1.0"), ch("2.0"), ch("3.0", "Ring")])
    report = view.reconcile(ChannelsSnapshot((ch("2.0"), ch("3.0", "Up"), ch("4.0"))))
    assert [c.uniqueid for c in report.vanished] == ["1.0"]
    assert [c.uniqueid for c in report.found] == ["4.0"]
    assert [c.uniqueid for c in report.updated] == ["3.0"]
    assert sorted(c.uniqueid for c in view.all()) == ["2.0", "3.0", "4.0"]
    assert view.get("3.0").state == "Up"
    assert not report.in_sync
    assert view.reconcile(ChannelsSnapshot(tuple(view.all()))).in_sync
