"""Concurrent writers: requirement numbers never collide, a version is made once per edit, and
a baseline is never half a snapshot (real commits, threads with their own connections)."""

from __future__ import annotations

import pytest

from changeflow.core import audit
from changeflow.core.errors import StalePrecondition
from changeflow.requirements import services
from changeflow.requirements.models import Requirement, RequirementVersion
from tests.concurrency import run_together
from tests.requirements.helpers import make_baseline, make_req

THREADS = 6

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_creations_take_distinct_numbers(personas):
    p = personas
    results = run_together(THREADS, lambda i: make_req(p.project, by=p.pm, title=f"r{i}"))
    assert not [r for r in results if isinstance(r, BaseException)], results
    keys = sorted(Requirement.objects.values_list("number", flat=True))
    assert keys == list(range(1, THREADS + 1))
    assert audit.verify().ok


def test_concurrent_edits_of_one_version_one_wins(personas):
    p = personas
    req = make_req(p.project, by=p.pm)

    def work(i):
        return services.requirement_update(
            user=p.pm, requirement=req, data={"text": f"edit {i}"}, expected_version=1
        )

    results = run_together(THREADS, work)
    won = [r for r in results if isinstance(r, Requirement)]
    lost = [r for r in results if isinstance(r, StalePrecondition)]
    assert len(won) == 1 and len(lost) == THREADS - 1, results
    assert RequirementVersion.objects.filter(requirement=req).count() == 2
    assert Requirement.objects.get(pk=req.pk).text == won[0].text


def test_baselines_created_alongside_new_requirements_are_whole(personas):
    p = personas
    for _ in range(3):
        make_req(p.project, by=p.pm)

    def work(i):
        if i % 2:
            return make_baseline(p.project, by=p.pm, name=f"B{i}")
        return make_req(p.project, by=p.tech_lead)

    results = run_together(THREADS, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    numbers = set(Requirement.objects.values_list("number", flat=True))
    assert numbers == set(range(1, 3 + THREADS // 2 + 1))
    for baseline in p.project.baselines.all():
        frozen = set(baseline.items.values_list("requirement__number", flat=True))
        # Each baseline holds a prefix of the numbering: no requirement is missed in between.
        assert frozen == set(range(1, len(frozen) + 1))
    assert audit.verify().ok
