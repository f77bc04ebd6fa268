"""Permission-filtered reads of projects and members."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from changeflow.core.access import restrict
from changeflow.core.errors import NotFound

from .models import ApiToken, Membership, Project, User


def project_list(*, user: User) -> QuerySet[Project]:
    return restrict(Project.objects.select_related("customer"), user).annotate(
        cr_count=Count("change_requests", distinct=True)
    )


def project_get(*, user: User, key: str, action: str = "view") -> Project:
    project = (
        restrict(Project.objects.select_related("customer"), user, action).filter(key=key).first()
    )
    if project is None:
        # Not a manager but a member: it exists for them, they just may not manage it.
        if action != "view" and restrict(Project.objects, user).filter(key=key).exists():
            from changeflow.core.errors import PermissionDenied

            raise PermissionDenied(_("Only the project's managers may do this."))
        raise NotFound(_("No such project."))
    return project


def member_list(*, user: User, project: Project) -> QuerySet[Membership]:
    return (
        restrict(Membership.objects, user)
        .filter(project=project)
        .select_related("user")
        .order_by("user__username")
    )


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens (never anyone else's), newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def my_memberships(*, user: User) -> QuerySet[Membership]:
    """The user's own memberships with their projects, by project key."""
    return (
        Membership.objects.filter(user=user, user__is_active=True)
        .select_related("project")
        .order_by("project__key")
    )
