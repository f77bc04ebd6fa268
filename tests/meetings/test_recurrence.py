"""RRULE checks and expansion: DST keeps the wall-clock time; bad rules name the problem."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from changeflow.meetings import recurrence
from changeflow.meetings.recurrence import RuleError, Schedule

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _english():
    """The messages are checked in English (another test may have left Chinese active)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def test_weekly_tuesday_10_berlin_keeps_local_time_across_both_dst_changes():
    first = dt.datetime(2026, 3, 17, 10, 0, tzinfo=BERLIN)
    sched = Schedule(first, "Europe/Berlin", "FREQ=WEEKLY;BYDAY=TU")
    starts = recurrence.between(
        sched, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    )
    assert all(s.tzinfo is dt.UTC for s in starts)
    assert all(s.astimezone(BERLIN).hour == 10 and s.weekday() == 1 for s in starts)
    utc_hours = {s.date(): s.hour for s in starts}
    assert utc_hours[dt.date(2026, 3, 24)] == 9  # CET, before 29 March
    assert utc_hours[dt.date(2026, 3, 31)] == 8  # CEST
    assert utc_hours[dt.date(2026, 10, 20)] == 8
    assert utc_hours[dt.date(2026, 10, 27)] == 9  # CET again after 25 October


def test_shanghai_monthly_and_one_off():
    first = dt.datetime(2026, 1, 5, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    sched = Schedule(first, "Asia/Shanghai", "FREQ=MONTHLY;BYDAY=1MO;COUNT=3")
    got = recurrence.between(sched, first, first + dt.timedelta(days=400))
    assert [g.astimezone(ZoneInfo("Asia/Shanghai")).day for g in got] == [5, 2, 2]
    one = Schedule(first, "Asia/Shanghai", "")
    assert recurrence.between(one, first, first + dt.timedelta(days=1)) == [first]
    assert recurrence.is_occurrence(one, first) and not recurrence.is_occurrence(
        one, first + dt.timedelta(days=7)
    )


def test_keys_round_trip():
    at = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    key = recurrence.occurrence_key(at)
    assert key == "20261201T020000Z"
    assert recurrence.parse_key(key) == at
    for bad in ("", "2026-12-01", "20261301T000000Z", "20261201T020000", "x" * 40):
        assert recurrence.parse_key(bad) is None


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=FOO", "FREQ=FOO"),
        ("FREQ=HOURLY", "FREQ=HOURLY"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;UNTIL=20271231T000000", "UNTIL"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20271231T000000Z", "COUNT and UNTIL"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
        ("FREQ=WEEKLY;COUNT=x", "COUNT"),
        ("BYDAY=TU", "FREQ is required"),
        ("FREQ=WEEKLY;FOO=1", "FOO"),
        ("FREQ=WEEKLY;FREQ=DAILY", "twice"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no meeting"),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "RRULE value"),
        ("FREQ=WEEKLY;BYHOUR=25", "hour"),
        ("FREQ", "NAME=VALUE"),
    ],
)
def test_bad_rules_are_refused_naming_the_problem(rule, says):
    with pytest.raises(RuleError) as exc:
        recurrence.check(
            rule, starts_at=dt.datetime(2026, 3, 17, 9, tzinfo=dt.UTC), timezone="Europe/Berlin"
        )
    assert says in str(exc.value)


def test_good_rules_are_normalised():
    start = dt.datetime(2026, 3, 17, 9, tzinfo=dt.UTC)
    assert recurrence.check("rrule:freq=weekly; byday=tu", starts_at=start, timezone="UTC") == (
        "FREQ=WEEKLY;BYDAY=TU"
    )
    assert recurrence.check("", starts_at=start, timezone="UTC") == ""


def test_unknown_zone():
    with pytest.raises(RuleError, match="Mars/Olympus"):
        recurrence.zone("Mars/Olympus")
