"""Permission-filtered reads of requirements, their versions and baselines."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core.access import restrict
from changeflow.core.errors import NotFound

from .models import Baseline, Requirement, RequirementVersion


def requirement_list(*, user: User, project: Project) -> QuerySet[Requirement]:
    return (
        restrict(Requirement.objects, user)
        .filter(project=project)
        .select_related("project", "parent", "created_by")
        .order_by("number")
    )


def requirement_get(*, user: User, key: str) -> Requirement:
    try:
        return (
            restrict(Requirement.objects, user)
            .select_related("project", "parent", "created_by")
            .get(key=key)
        )
    except Requirement.DoesNotExist:
        raise NotFound(_("No such requirement.")) from None


def version_list(*, user: User, requirement: Requirement) -> QuerySet[RequirementVersion]:
    return (
        restrict(RequirementVersion.objects, user)
        .filter(requirement=requirement)
        .select_related("requirement", "parent", "author", "change_request")
        .order_by("-version")
    )


def baseline_list(*, user: User, project: Project) -> QuerySet[Baseline]:
    return (
        restrict(Baseline.objects, user)
        .filter(project=project)
        .select_related("project", "created_by")
        .annotate(requirement_count=Count("items"))
        .order_by("-created_at", "-id")
    )


def baseline_get(*, user: User, project: Project, name: str) -> Baseline:
    baseline = baseline_list(user=user, project=project).filter(name=name).first()
    if baseline is None:
        raise NotFound(_("No such baseline: %s") % name)
    return baseline
