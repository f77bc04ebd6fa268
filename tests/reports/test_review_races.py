"""Review reports under concurrent generators: the periodic job run by several workers at once
makes each report once, and of several on-demand generations of one period exactly one wins;
the losers leave no file behind."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from changeflow.core.errors import Conflict
from changeflow.core.models import AuditEvent
from changeflow.reports import reviews
from changeflow.reports.metrics import Period
from changeflow.reports.models import ReviewReport
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def _files() -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_concurrent_jobs_generate_once(personas):
    p = personas
    reviews.schedule_set(user=p.pm, project=p.project, frequency="weekly")
    now = timezone.make_aware(dt.datetime(2026, 12, 9, 8, 0))
    results = run_together(3, lambda i: reviews.generate_due(now))
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 1
    assert ReviewReport.objects.count() == 1
    assert AuditEvent.objects.filter(action="review_report.generated").count() == 1
    assert len(_files()) == 2  # its HTML and its PDF, nothing else


def test_concurrent_generations_of_one_period_one_wins(personas):
    p = personas
    period = Period(dt.date(2026, 3, 1), dt.date(2026, 4, 1))
    results = run_together(
        3,
        lambda i: (
            reviews.review_report_generate(
                user=p.pm, project=p.project, kind="on_demand", period=period
            ).key
        ),
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Conflict", "str"], results
    assert all(r.status == 409 for r in results if isinstance(r, Conflict))
    assert ReviewReport.objects.count() == 1 and len(_files()) == 2
