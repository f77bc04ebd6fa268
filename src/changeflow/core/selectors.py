"""Permission-filtered reads of the audit trail."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role

from .access import AUDIT_ROLES, restrict
from .errors import NotFound, PermissionDenied
from .models import AuditEvent

_LOOKUPS = {
    "project": "project",
    "actor": "actor",
    "object": "object_key",
    "action": "action",
    "since": "at__gte",
    "until": "at__lt",
}


def may_audit(user, project: Project | None = None) -> bool:
    """Whether ``user`` may read the audit trail of ``project`` (of any project when None)."""
    if user.is_superuser:
        return True
    qs = Membership.objects.filter(user=user, role__in=AUDIT_ROLES)
    if project is not None:
        qs = qs.filter(project=project)
    return qs.exists()


def may_verify(user) -> bool:
    """Walking the whole chain: site admins and the project managers of any project."""
    return (
        user.is_superuser
        or Membership.objects.filter(user=user, role=Role.PROJECT_MANAGER).exists()
    )


def audit_list(*, user, filters: dict[str, Any] | None = None) -> QuerySet[AuditEvent]:
    """Audit events ``user`` may read. Filters: project (key), actor, object (key), action,
    since, until (datetimes), ordering (``seq`` or ``-seq``, the default).

    Raises NotFound for a project the user is no member of, PermissionDenied for a member
    whose role may not read the trail."""
    filters = filters or {}
    project = None
    if filters.get("project"):
        project = restrict(Project.objects, user).filter(key=filters["project"]).first()
        if project is None:
            raise NotFound(_("No such project."))
    if not may_audit(user, project):
        raise PermissionDenied(_("Your role does not allow reading the audit trail."))
    qs = restrict(AuditEvent.objects, user, "audit")
    qs = qs.filter(**{_LOOKUPS[k]: v for k, v in filters.items() if k in _LOOKUPS and v})
    ordering = filters.get("ordering")
    return qs.order_by(ordering if ordering in ("seq", "-seq") else "-seq")
