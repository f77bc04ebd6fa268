"""Improvement actions under concurrent writers: keys never collide, the due-date job announces
once however many workers run it, and of two writers on one version exactly one wins."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from changeflow.core.errors import Conflict
from changeflow.core.models import AuditEvent
from changeflow.reports import actions
from changeflow.reports.models import ImprovementAction
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def _create(p, title="x", due=None):
    return actions.improvement_create(
        user=p.pm, project=p.project, title=title, owner=p.developer.username,
        due_date=due or timezone.localdate() + dt.timedelta(days=9),
    )  # fmt: skip


def test_concurrent_creations_take_distinct_keys(personas):
    p = personas
    results = run_together(4, lambda i: _create(p, title=f"a{i}").key)
    assert sorted(results) == ["ACME-I1", "ACME-I2", "ACME-I3", "ACME-I4"], results


def test_concurrent_due_checks_announce_once(personas):
    p = personas
    _create(p, due=timezone.localdate() - dt.timedelta(days=1))
    results = run_together(4, lambda i: actions.check_due())
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 1
    assert AuditEvent.objects.filter(action="improvement.overdue").count() == 1


def test_two_writers_on_one_version_one_wins(personas):
    p = personas
    action = _create(p)
    read = [ImprovementAction.objects.get(pk=action.pk) for _ in range(2)]
    results = run_together(
        2,
        lambda i: (
            actions.improvement_update(
                user=p.pm, action=read[i], data={"progress": 10 + i}, expected_version=1
            ).progress
        ),
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"], results
    won = next(r for r in results if isinstance(r, int))
    action.refresh_from_db()
    assert (action.progress, action.version) == (won, 2)
    assert AuditEvent.objects.filter(action="improvement.updated").count() == 1
    assert any(isinstance(r, Conflict) for r in results)
