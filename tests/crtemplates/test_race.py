"""Concurrent writers of one project's templates: renames and creations of the same name end
with one template of that name and a 400 for the others, never a database error."""

from __future__ import annotations

import pytest

from changeflow.core.errors import ValidationError
from changeflow.crtemplates import services
from changeflow.crtemplates.models import CRTemplate
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_renames_and_creations_of_one_name_at_once(personas):
    p = personas
    templates = [
        services.template_create(user=p.pm, project=p.project, data={"name": f"T{i}"})
        for i in range(4)
    ]

    def work(i):
        if i < len(templates):
            return services.template_update(user=p.pm, template=templates[i], data={"name": "Same"})
        return services.template_create(user=p.pm, project=p.project, data={"name": "Same"})

    results = run_together(8, work)
    won = [r for r in results if isinstance(r, CRTemplate)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(won) == 1 and len(refused) == 7, results
    assert all("name" in r.fields for r in refused)
    assert CRTemplate.objects.filter(project=p.project, name="Same").count() == 1
