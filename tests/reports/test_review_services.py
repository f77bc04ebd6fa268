"""Review reports: periods, generation, immutability (409 on a second one), failure leaves
nothing, the schedule, the periodic job and its notifications."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.test import TestCase, override_settings
from django.utils import timezone

from changeflow.core import periodic
from changeflow.core.errors import Conflict, PermissionDenied, ValidationError
from changeflow.core.models import AuditEvent
from changeflow.notifications.models import Notification
from changeflow.reports import actions, reviews
from changeflow.reports.metrics import Period
from changeflow.reports.models import ReviewReport, ReviewSchedule
from tests.factories import make_personas
from tests.reports.helpers import PERIOD, metrics_world

pytestmark = pytest.mark.django_db
D = dt.date


def _files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ------------------------------------------------------------------ periods (pure)


@pytest.mark.parametrize(
    "day,start,end",
    [
        (D(2026, 12, 7), D(2026, 12, 7), D(2026, 12, 14)),  # a Monday is its week's first day
        (D(2026, 12, 13), D(2026, 12, 7), D(2026, 12, 14)),  # a Sunday its last
        (D(2026, 12, 31), D(2026, 12, 28), D(2027, 1, 4)),  # across the year's end
        (D(2024, 2, 29), D(2024, 2, 26), D(2024, 3, 4)),
    ],
)
def test_week_of(day, start, end):
    assert reviews.week_of(day) == Period(start, end)


@pytest.mark.parametrize(
    "day,start,end",
    [
        (D(2026, 12, 31), D(2026, 12, 1), D(2027, 1, 1)),
        (D(2026, 1, 1), D(2026, 1, 1), D(2026, 2, 1)),
        (D(2024, 2, 10), D(2024, 2, 1), D(2024, 3, 1)),
        (D(2026, 11, 30), D(2026, 11, 1), D(2026, 12, 1)),
    ],
)
def test_month_of(day, start, end):
    assert reviews.month_of(day) == Period(start, end)


@pytest.mark.parametrize(
    "kind,today,start,end",
    [
        ("weekly", D(2026, 12, 7), D(2026, 11, 30), D(2026, 12, 7)),  # Monday: last week
        ("weekly", D(2026, 12, 13), D(2026, 11, 30), D(2026, 12, 7)),  # Sunday: not this week
        ("weekly", D(2027, 1, 2), D(2026, 12, 21), D(2026, 12, 28)),  # across the year's end
        ("monthly", D(2027, 1, 1), D(2026, 12, 1), D(2027, 1, 1)),
        ("monthly", D(2026, 3, 31), D(2026, 2, 1), D(2026, 3, 1)),
        ("monthly", D(2026, 12, 15), D(2026, 11, 1), D(2026, 12, 1)),
    ],
)
def test_last_complete_period(kind, today, start, end):
    assert reviews.last_complete(kind, today) == Period(start, end)


@override_settings(TIME_ZONE="Asia/Shanghai")
def test_the_period_is_the_site_zone_s():
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai (UTC+8, no DST): December is
    # complete there, though not in UTC.
    now = dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)
    today = reviews.local_today(now)
    assert today == D(2027, 1, 1)
    assert reviews.last_complete("monthly", today) == Period(D(2026, 12, 1), D(2027, 1, 1))
    # And the period's bounds are midnights in that zone.
    assert Period(D(2026, 12, 1), D(2027, 1, 1)).end_at == dt.datetime(
        2026, 12, 31, 16, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"kind": "yearly", "date": "2026-03-02"}, "kind"),
        ({"kind": "weekly"}, "date"),
        ({"kind": "weekly", "date": "2026-02-30"}, "date"),
        ({"kind": "weekly", "date": "2026-03-02", "start": "2026-03-01"}, "date"),
        ({"kind": "monthly", "date": "2026-12-07"}, "date"),  # not over yet
        ({"kind": "monthly", "date": "9999-12-31"}, "date"),  # no month after it
        ({"kind": "weekly", "date": "9999-12-31"}, "date"),
        ({"kind": "on_demand", "start": "2026-03-01"}, "to"),
        ({"kind": "on_demand", "end": "2026-03-01"}, "from"),
        ({"kind": "on_demand", "start": "2026-03-01", "end": "2026-03-01"}, "to"),
        ({"kind": "on_demand", "start": "2020-01-01", "end": "2026-03-01"}, "to"),
        ({"kind": "on_demand", "start": "x", "end": "2026-03-01"}, "from"),
        ({"kind": "on_demand", "date": "2026-03-01"}, "date"),
    ],
)
def test_a_bad_request_names_its_field(kwargs, field):
    kind = kwargs.pop("kind")
    with pytest.raises(ValidationError) as exc:
        reviews.requested_period(kind, **kwargs, today=D(2026, 12, 7))
    assert field in exc.value.fields


def test_a_good_request():
    assert reviews.requested_period("weekly", date="2026-03-04", today=D(2026, 12, 7)) == (
        "weekly",
        Period(D(2026, 3, 2), D(2026, 3, 9)),
    )
    assert reviews.requested_period(
        "on_demand", start="2026-03-01", end="2026-04-01", today=D(2026, 12, 7)
    ) == ("on_demand", PERIOD)


# ------------------------------------------------------------------ generation


def test_generate_stores_the_figures_the_files_and_their_hashes(personas):
    p = personas
    world = metrics_world(p)
    report = reviews.review_report_generate(
        user=p.pm, project=world.project, kind="monthly", period=PERIOD
    )
    report.refresh_from_db()
    assert (report.key, report.number, report.generated_by) == ("ACME-R1", 1, p.pm)
    assert (report.period_start, report.period_end) == (PERIOD.start, PERIOD.end)
    # The figures are the team's: the cost is there.
    assert report.figures["decisions"]["rejected"] == 1
    assert report.figures["cost"]["budget"] == "100000.00"
    assert report.summary["submitted"] == report.figures["submitted"]["total"]
    html = default_storage.open(report.html_file.name).read()
    pdf = default_storage.open(report.pdf_file.name).read()
    assert report.html_file.name.startswith(f"review-reports/{p.project.pk}/ACME-R1-monthly-")
    assert hashlib.sha256(html).hexdigest() == report.html_sha256
    assert hashlib.sha256(pdf).hexdigest() == report.pdf_sha256
    assert html.startswith(b"<!doctype html>") and b"<svg" in html and b"Summary" in html
    assert b"Monthly review of ACME, 2026-03-01 to 2026-03-31" in html
    assert pdf.startswith(b"%PDF")
    event = AuditEvent.objects.get(action="review_report.generated")
    assert (event.object_key, event.actor, event.internal) == ("ACME-R1", p.pm.username, True)
    assert event.after["notify"] == sorted([p.pm.username, p.tech_lead.username, p.qa.username])


def test_the_report_lists_the_improvement_actions(personas):
    p = personas
    start = timezone.localdate() - dt.timedelta(days=10)
    period = Period(start, timezone.localdate() + dt.timedelta(days=1))
    late = actions.improvement_create(
        user=p.pm, project=p.project, title="Late one", owner=p.qa.username,
        due_date=start, change_requests=[],
    )  # fmt: skip
    on_time = actions.improvement_create(
        user=p.pm, project=p.project, title="On time", owner=p.qa.username,
        due_date=period.end + dt.timedelta(days=30),
    )  # fmt: skip
    done = actions.improvement_create(
        user=p.pm, project=p.project, title="Finished", owner=p.qa.username,
        due_date=period.end,
    )  # fmt: skip
    actions.improvement_transition(user=p.pm, action=done, name="complete", resolution="ok")
    cancelled = actions.improvement_create(
        user=p.pm, project=p.project, title="Dropped", owner=p.qa.username, due_date=start
    )
    actions.improvement_transition(user=p.pm, action=cancelled, name="cancel")
    report = reviews.review_report_generate(
        user=p.pm, project=p.project, kind="on_demand", period=period
    )
    open_keys = [a["key"] for a in report.figures["improvement_actions"]["open_at_end"]]
    assert open_keys == [late.key, on_time.key]
    assert [a["key"] for a in report.figures["improvement_actions"]["done_in_period"]] == [done.key]
    assert report.summary | {} == {
        "submitted": 0, "decided": 0, "sla_breaches": 0, "actions_open": 2,
        "actions_overdue": 1, "actions_done": 1,
    }  # fmt: skip
    html = default_storage.open(report.html_file.name).read().decode()
    assert "Late one" in html and "Finished" in html and "Dropped" not in html


def test_a_second_report_of_the_same_period_is_a_409_and_changes_nothing(personas):
    p = personas
    reviews.review_report_generate(user=p.pm, project=p.project, kind="monthly", period=PERIOD)
    files, events = _files(), AuditEvent.objects.count()
    with pytest.raises(Conflict) as exc:
        reviews.review_report_generate(user=p.pm, project=p.project, kind="monthly", period=PERIOD)
    assert exc.value.status == 409 and "exists already" in str(exc.value)
    assert (ReviewReport.objects.count(), _files(), AuditEvent.objects.count()) == (
        1, files, events,
    )  # fmt: skip
    # Another kind over the same days is another report.
    other = reviews.review_report_generate(
        user=p.pm, project=p.project, kind="on_demand", period=PERIOD
    )
    assert other.number == 2


def test_losing_the_race_at_the_insert_is_a_409_and_leaves_no_file(personas, monkeypatch):
    # Another generator inserted the row between our check and our insert: the unique
    # constraint refuses ours, and the files we had saved are removed.
    p = personas
    checks = iter([False, False])
    monkeypatch.setattr(reviews, "_exists", lambda *a: next(checks, True))

    def refuse(self, *args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(ReviewReport, "save", refuse)
    with pytest.raises(Conflict):
        reviews.review_report_generate(user=p.pm, project=p.project, kind="monthly", period=PERIOD)
    assert _files() == [] and not ReviewReport.objects.exists()


def test_a_failure_leaves_no_row_no_file_no_event(personas, monkeypatch):
    p = personas
    events = AuditEvent.objects.count()

    def broken(**kwargs):
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(reviews.audit, "record", broken)
    with pytest.raises(RuntimeError):
        reviews.review_report_generate(user=p.pm, project=p.project, kind="monthly", period=PERIOD)
    assert not ReviewReport.objects.exists() and _files() == []
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "viewer"])
def test_only_project_managers_generate_and_schedule(personas, who):
    p = personas
    user = getattr(p, who)
    with pytest.raises(PermissionDenied):
        reviews.review_report_generate(user=user, project=p.project, kind="monthly", period=PERIOD)
    with pytest.raises(PermissionDenied):
        reviews.schedule_set(user=user, project=p.project, frequency="weekly")
    assert not ReviewReport.objects.exists() and not ReviewSchedule.objects.exists()


def test_the_schedule_is_off_by_default_and_audited(personas):
    p = personas
    assert reviews.schedule_of(p.project) == "off"
    reviews.schedule_set(user=p.pm, project=p.project, frequency="weekly")
    reviews.schedule_set(user=p.pm, project=p.project, frequency="weekly")  # no change
    assert reviews.schedule_of(p.project) == "weekly"
    events = AuditEvent.objects.filter(action="review_schedule.updated")
    assert [(e.before, e.after) for e in events] == [
        ({"frequency": "off"}, {"frequency": "weekly"})
    ]
    with pytest.raises(ValidationError) as exc:
        reviews.schedule_set(user=p.pm, project=p.project, frequency="daily")
    assert "frequency" in exc.value.fields


# ------------------------------------------------------------------ the periodic job


def test_the_job_generates_the_last_complete_period_once_and_notifies(personas):
    p = personas
    reviews.schedule_set(user=p.pm, project=p.project, frequency="weekly")
    now = timezone.make_aware(dt.datetime(2026, 12, 9, 8, 0))  # a Wednesday
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert reviews.generate_due(now) == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert reviews.generate_due(now) == 0  # harmless twice
    report = ReviewReport.objects.get()
    assert (report.kind, report.period_start, report.period_end, report.generated_by) == (
        "weekly", D(2026, 11, 30), D(2026, 12, 7), None,
    )  # fmt: skip
    assert report.language == settings.LANGUAGE_CODE
    notes = Notification.objects.filter(kind="report.ready")
    assert sorted(n.user.username for n in notes) == sorted(
        [p.pm.username, p.tech_lead.username, p.qa.username]
    )
    note = notes.first()
    assert note is not None and note.data["number"] == 1
    from changeflow.notifications import messages

    assert messages.path(note.data) == "/projects/ACME/reports/1/"
    assert "Review report ACME-R1 is ready" in messages.headline(note.kind, note.data)
    # A week later, the next week's report; the notifications were sent once for each.
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert reviews.generate_due(now + dt.timedelta(days=7)) == 1
    assert Notification.objects.filter(kind="report.ready").count() == 6


def test_the_job_skips_projects_off_and_goes_on_after_a_failure(personas, monkeypatch):
    p = personas
    second = make_personas("BETA", "GAMMA")
    third = make_personas("DELTA", "EPSILON")
    reviews.schedule_set(user=p.pm, project=p.project, frequency="monthly")
    reviews.schedule_set(user=second.pm, project=second.project, frequency="weekly")
    reviews.schedule_set(user=third.pm, project=third.project, frequency="off")
    real = reviews._render

    def failing_for_acme(project, *args):
        if project.key == "ACME":
            raise RuntimeError("chart renderer crashed")
        return real(project, *args)

    monkeypatch.setattr(reviews, "_render", failing_for_acme)
    now = timezone.make_aware(dt.datetime(2026, 12, 9, 8, 0))
    assert reviews.generate_due(now) == 1
    assert list(ReviewReport.objects.values_list("project__key", "kind")) == [("BETA", "weekly")]
    # ACME's turn comes again when it works.
    monkeypatch.setattr(reviews, "_render", real)
    assert reviews.generate_due(now) == 1
    assert ReviewReport.objects.filter(project__key="ACME", kind="monthly").count() == 1


def test_the_job_is_registered():
    job = next(j for j in periodic.jobs() if j.name == "reports.review_reports_due")
    assert job.func is reviews.generate_due


def test_report_ready_follows_each_reader_s_preference(personas):
    from changeflow.notifications import services as notifications
    from changeflow.notifications.models import EmailDelivery

    p = personas
    for user in (p.pm, p.tech_lead, p.qa):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    notifications.preferences_set(user=p.qa, channels={"report.ready": "none"})
    notifications.preferences_set(user=p.tech_lead, channels={"report.ready": "in_app"})
    reviews.schedule_set(user=p.pm, project=p.project, frequency="monthly")
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert reviews.generate_due(timezone.make_aware(dt.datetime(2026, 12, 9, 8))) == 1
    notes = {n.user.username: n for n in Notification.objects.filter(kind="report.ready")}
    assert set(notes) == {p.pm.username, p.tech_lead.username}  # QA turned it off
    mailed = set(EmailDelivery.objects.values_list("notification__user__username", flat=True))
    assert mailed == {p.pm.username}  # in-app and e-mail by default; the tech lead chose in-app
    # Not a webhook event: the report is internal.
    from changeflow.notifications import events

    assert "report.ready" not in events.WEBHOOK_KINDS
