"""Reminders: once per occurrence within the lead time, also under concurrent runs."""

from __future__ import annotations

import datetime as dt

import pytest

from changeflow.core.models import AuditEvent
from changeflow.meetings import services
from changeflow.meetings.models import Occurrence
from tests.concurrency import run_together

from .helpers import make_meeting

START = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)  # a Tuesday


def reminders():
    return list(AuditEvent.objects.filter(action="meeting.reminder").order_by("seq"))


@pytest.mark.django_db
def test_reminded_once_within_the_lead_time(personas):
    p = personas
    m = make_meeting(
        p,
        "customer",
        starts_at=START,
        rrule="FREQ=WEEKLY;BYDAY=TU",
        remind_minutes_before=30,
        invitees=[p.pm.username, p.customer.username],
    )
    assert services.send_due_reminders(START - dt.timedelta(minutes=31)) == 0
    assert services.send_due_reminders(START - dt.timedelta(minutes=29)) == 1
    assert services.send_due_reminders(START - dt.timedelta(minutes=10)) == 0  # already done
    (event,) = reminders()
    assert event.object_type == "meeting" and event.project == "ACME"
    assert event.after["notify"] == sorted([p.pm.username, p.customer.username])
    assert event.after["title"] == m.title
    assert event.after["starts_at"].startswith("2026-03-03T09:00:00")
    # The next week's occurrence gets its own reminder; a cancelled one none.
    week = dt.timedelta(weeks=1)
    assert services.send_due_reminders(START + week - dt.timedelta(minutes=5)) == 1
    occ = Occurrence(meeting=m, starts_at=START + 2 * week)
    services.occurrence_cancel(user=p.pm, occurrence=occ)
    assert services.send_due_reminders(START + 2 * week - dt.timedelta(minutes=5)) == 0
    assert len(reminders()) == 2


@pytest.mark.django_db
def test_no_reminder_for_past_one_off_or_zero_lead(personas):
    p = personas
    make_meeting(p, "ccb", starts_at=START, rrule="", remind_minutes_before=60)
    make_meeting(p, "ccb", starts_at=START, rrule="", remind_minutes_before=0, title="静默")
    assert services.send_due_reminders(START + dt.timedelta(minutes=1)) == 0
    assert services.send_due_reminders(START - dt.timedelta(minutes=59)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_record_one_reminder(personas):
    p = personas
    make_meeting(
        p, "customer", starts_at=START, rrule="FREQ=WEEKLY;BYDAY=TU", remind_minutes_before=60
    )
    at = START - dt.timedelta(minutes=20)
    results = run_together(4, lambda i: services.send_due_reminders(at))
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 1
    assert len(reminders()) == 1
    assert Occurrence.objects.count() == 1


@pytest.mark.django_db
def test_cli_remind(personas, capsys, english_terminal):
    from changeflow.cli import main

    assert main(["meetings", "remind"]) == 0
    assert "0 meeting reminders recorded." in capsys.readouterr().out
    assert main(["meetings"]) == 2
