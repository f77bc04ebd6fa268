"""Permission-filtered reads of the audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterable
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


# A change request's key (``ACME-12``) as a whole value of an event's before or after.
_CR_KEY = re.compile(r"([A-Z0-9]{2,10})-[0-9]+")


def redact_unseen(events: Iterable[AuditEvent], *, user) -> list[AuditEvent]:
    """``events`` with every change request key of a project ``user`` cannot see replaced by
    words saying so: the other end of a link, the original of a duplicate in another project.
    A link is shown only to who sees both its CRs, and neither a CR's history nor the audit
    trail may show what the Links panel hides. Replaced events are marked ``redacted`` (their
    hash then no longer matches what is shown; ``audit verify`` checks the stored record).
    At most two queries, and only when an event names another project's CR."""
    events = list(events)
    if user.is_superuser:
        return events
    found = {
        m.group(1)
        for e in events
        for d in (e.before, e.after) if isinstance(d, dict)
        for v in d.values()
        if isinstance(v, str) and (m := _CR_KEY.fullmatch(v)) and m.group(1) != e.project
    }  # fmt: skip
    if not found:
        return events
    existing = set(Project.objects.filter(key__in=found).values_list("key", flat=True))
    unseen = existing - set(
        restrict(Project.objects, user).filter(key__in=existing).values_list("key", flat=True)
    )
    if not unseen:
        return events
    words = _("a change request of a project you cannot see")
    for e in events:
        for d in (e.before, e.after):
            if not isinstance(d, dict):
                continue
            for name, v in d.items():
                m = _CR_KEY.fullmatch(v) if isinstance(v, str) else None
                if m and m.group(1) in unseen and m.group(1) != e.project:
                    d[name] = words
                    e.redacted = True  # type: ignore[attr-defined]
    return events
