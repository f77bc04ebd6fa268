"""Improvement actions: services (roles, transitions, versions, audit) and the periodic job."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import TestCase
from django.utils import timezone

from changeflow.core import periodic
from changeflow.core.access import restrict
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.models import AuditEvent
from changeflow.notifications import services as notification_services
from changeflow.notifications.models import Notification
from changeflow.reports import actions, selectors
from changeflow.reports.models import ImprovementAction
from tests.factories import make_cr

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 7)


def _create(p, *, by=None, owner=None, due=None, **kw) -> ImprovementAction:
    return actions.improvement_create(
        user=by or p.pm, project=p.project, title=kw.pop("title", "Checklist for reviews"),
        owner=(owner or p.developer).username, due_date=due or TODAY + dt.timedelta(days=20),
        **kw,
    )  # fmt: skip


def _events(action) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_key=action.key)
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_create_keys_per_project_and_audits(personas):
    p = personas
    cr = make_cr(p.project, by=p.pm)
    first = _create(p, description="**bold**", problem="评审遗漏接口", change_requests=[cr.key])
    second = _create(p, by=p.tech_lead)
    assert (first.key, second.key) == ("ACME-I1", "ACME-I2")
    assert first.status == "open" and first.version == 1
    assert [c.key for c in first.change_requests.all()] == [cr.key]
    event = AuditEvent.objects.get(object_key=first.key)
    assert event.action == "improvement.created" and event.internal
    assert event.after["owner"] == p.developer.username
    assert event.after["change_requests"] == [cr.key]


@pytest.mark.parametrize("role", ["qa", "developer", "viewer", "customer_rep", "customer"])
def test_only_managers_and_tech_leads_create(personas, role):
    p = personas
    with pytest.raises(PermissionDenied):
        _create(p, by=p.by_role[role])
    assert not ImprovementAction.objects.exists()


def test_bad_input_names_the_field(personas):
    p = personas
    other_cr = make_cr(p.other_project, by=p.outsider)
    cases = [
        ({"title": " "}, "title"),
        ({"owner": p.customer}, "owner"),  # customers do not own internal actions
        ({"owner": p.outsider}, "owner"),
        ({"owner": p.viewer}, "owner"),  # viewers write nothing
        ({"due": "tomorrow"}, "due_date"),
        ({"change_requests": [other_cr.key]}, "change_requests"),
        ({"change_requests": "ACME-1"}, "change_requests"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as exc:
            _create(p, **kwargs)
        assert field in exc.value.fields, (kwargs, exc.value.fields)
    assert not ImprovementAction.objects.exists()


def test_customers_and_outsiders_do_not_see_actions(personas):
    p = personas
    action = _create(p)
    for user in (p.pm, p.tech_lead, p.qa, p.developer, p.viewer, p.admin):
        assert selectors.project_get(user=user, key="ACME") == p.project
        assert list(selectors.improvement_list(user=user, project=p.project)) == [action]
    for user in (p.customer, p.customer_rep, p.outsider):
        with pytest.raises(NotFound):
            selectors.project_get(user=user, key="ACME")
        assert not restrict(ImprovementAction.objects, user).exists()
        # Nor its audit events (internal).
        assert not restrict(AuditEvent.objects, user).filter(object_key=action.key).exists()


def test_owner_updates_progress_but_not_the_rest(personas):
    p = personas
    action = _create(p)
    action = actions.improvement_update(user=p.developer, action=action, data={"progress": 30})
    assert action.progress == 30 and action.version == 2
    with pytest.raises(PermissionDenied) as exc:
        actions.improvement_update(
            user=p.developer, action=action, data={"due_date": "2027-03-01", "progress": 40}
        )
    assert "due_date" in exc.value.fields
    with pytest.raises(PermissionDenied):  # not the owner, not a manager
        actions.improvement_update(user=p.qa, action=action, data={"progress": 50})
    action.refresh_from_db()
    assert (action.progress, action.due_date, action.version) == (30, TODAY + dt.timedelta(20), 2)
    event = AuditEvent.objects.filter(action="improvement.updated").get()
    assert (event.before, event.after) == ({"progress": 0}, {"progress": 30, "version": 2})


def test_manager_edits_and_audits_each_changed_field(personas):
    p = personas
    cr = make_cr(p.project, by=p.pm)
    action = _create(p)
    action = actions.improvement_update(
        user=p.tech_lead, action=action,
        data={"owner": p.qa.username, "title": "Checklist for reviews",
              "change_requests": [cr.key]},
    )  # fmt: skip
    assert action.owner == p.qa
    event = AuditEvent.objects.filter(action="improvement.updated").get()
    assert event.before == {"owner": p.developer.username, "change_requests": []}
    assert event.after == {"owner": p.qa.username, "change_requests": [cr.key], "version": 2}
    # Nothing changed: no write, no event, the version stays.
    same = actions.improvement_update(user=p.pm, action=action, data={"title": action.title})
    assert same.version == 2
    assert AuditEvent.objects.filter(action="improvement.updated").count() == 1


def test_stale_version_is_a_conflict_and_changes_nothing(personas):
    p = personas
    action = _create(p)
    read = ImprovementAction.objects.get(pk=action.pk)
    actions.improvement_update(user=p.pm, action=action, data={"progress": 10})
    with pytest.raises(Conflict):
        actions.improvement_update(
            user=p.tech_lead, action=read, data={"title": "Other"}, expected_version=read.version
        )
    with pytest.raises(Conflict):
        actions.improvement_transition(
            user=p.pm, action=read, name="cancel", expected_version=read.version
        )
    action.refresh_from_db()
    assert (action.title, action.status, action.version) == ("Checklist for reviews", "open", 2)


def test_transitions_done_needs_resolution_and_reopen(personas):
    p = personas
    action = _create(p)
    action = actions.improvement_transition(user=p.developer, action=action, name="start")
    assert action.status == "in_progress"
    with pytest.raises(PreconditionFailed) as exc:
        actions.improvement_transition(user=p.developer, action=action, name="complete")
    assert "resolution" in exc.value.fields
    with pytest.raises(Conflict):  # not from in_progress
        actions.improvement_transition(user=p.developer, action=action, name="start")
    action = actions.improvement_transition(
        user=p.developer, action=action, name="complete",
        resolution="Template changed; the last 3 reviews used it.",
    )  # fmt: skip
    assert action.status == "done" and action.closed_at and action.progress == 100
    with pytest.raises(PermissionDenied):  # the owner does not reopen
        actions.improvement_transition(user=p.developer, action=action, name="reopen")
    action = actions.improvement_transition(user=p.pm, action=action, name="reopen")
    assert action.status == "open" and action.closed_at is None
    assert _events(action) == [
        "improvement.created", "improvement.start", "improvement.complete", "improvement.reopen",
    ]  # fmt: skip
    done = AuditEvent.objects.get(action="improvement.complete")
    assert done.after["resolution"].startswith("Template changed")
    assert done.before == {"status": "in_progress"}


@pytest.mark.parametrize("role", ["qa", "viewer", "developer"])
def test_others_take_no_transition(personas, role):
    p = personas
    action = _create(p, owner=p.tech_lead)
    assert actions.available_transitions(user=p.by_role[role], action=action) == []
    with pytest.raises(PermissionDenied):
        actions.improvement_transition(user=p.by_role[role], action=action, name="start")
    assert actions.available_transitions(user=p.pm, action=action) == [
        "start", "complete", "cancel",
    ]  # fmt: skip


def test_owner_may_not_cancel(personas):
    p = personas
    action = _create(p)
    assert actions.available_transitions(user=p.developer, action=action) == ["start", "complete"]
    with pytest.raises(PermissionDenied):
        actions.improvement_transition(user=p.developer, action=action, name="cancel")
    cancelled = actions.improvement_transition(user=p.pm, action=action, name="cancel")
    assert cancelled.status == "cancelled"
    with pytest.raises(PreconditionFailed) as exc:
        actions.improvement_update(user=p.pm, action=cancelled, data={"progress": 50})
    assert "progress" in exc.value.fields
    assert ImprovementAction.objects.filter(pk=action.pk).exists()  # never deleted


# ------------------------------------------------------------------ the periodic job


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def test_overdue_notifies_owner_and_managers_once(personas):
    p = personas
    action = _create(p, owner=p.developer, due=TODAY - dt.timedelta(days=1), by=p.tech_lead)
    done = _create(p, due=TODAY - dt.timedelta(days=3))
    actions.improvement_transition(user=p.pm, action=done, name="cancel")
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert actions.check_due(_at(TODAY)) == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert actions.check_due(_at(TODAY)) == 0  # the next run: nothing new
        assert actions.check_due(_at(TODAY + dt.timedelta(days=2))) == 0
    notes = Notification.objects.filter(kind="improvement.overdue")
    assert sorted(n.user.username for n in notes) == sorted([p.developer.username, p.pm.username])
    assert {n.object_key for n in notes} == {action.key}
    # A new due date that passes too is a new overdue event: told again, once.
    actions.improvement_update(user=p.pm, action=action, data={"due_date": TODAY})
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert actions.check_due(_at(TODAY + dt.timedelta(days=1))) == 1
        assert actions.check_due(_at(TODAY + dt.timedelta(days=1))) == 0
    assert Notification.objects.filter(kind="improvement.overdue").count() == 4


def test_reminder_before_due_respects_preferences(personas):
    p = personas
    _create(p, owner=p.developer, due=TODAY + dt.timedelta(days=2))
    _create(p, owner=p.qa, due=TODAY + dt.timedelta(days=2))
    _create(p, owner=p.qa, due=TODAY + dt.timedelta(days=10))  # too far ahead
    notification_services.preferences_set(user=p.qa, channels={"improvement.due_soon": "none"})
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert actions.check_due(_at(TODAY)) == 2
        assert actions.check_due(_at(TODAY)) == 0
    notes = Notification.objects.filter(kind="improvement.due_soon")
    assert [n.user for n in notes] == [p.developer]  # QA turned these off


def test_periodic_job_is_registered_and_runs_once_per_period(personas):
    p = personas
    _create(p, due=timezone.localdate() - dt.timedelta(days=1))
    names = [j.name for j in periodic.jobs()]
    assert "reports.improvements_due" in names
    now = timezone.now()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert "reports.improvements_due" in periodic.run_due(now=now)
        assert "reports.improvements_due" not in periodic.run_due(now=now)
    assert Notification.objects.filter(kind="improvement.overdue").count() == 2
