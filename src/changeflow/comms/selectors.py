"""Reads of the communication app, every one narrowed by ``core.access.restrict``."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest
from changeflow.core.access import may_write, restrict
from changeflow.core.errors import NotFound

from .models import CommunicationEntry, Mailbox, QuarantinedMail


def may_log(user: User, project: Project) -> bool:
    """Whether ``user`` logs communication in ``project``: any member but a viewer."""
    return may_write(user, project)


def communication_list(*, user: User, project: Project) -> QuerySet[CommunicationEntry]:
    return (
        restrict(CommunicationEntry.objects, user)
        .filter(project=project)
        .select_related("created_by")
        .prefetch_related("change_requests")
    )


def communications_for_cr(*, user: User, cr: ChangeRequest) -> QuerySet[CommunicationEntry]:
    return (
        restrict(CommunicationEntry.objects, user)
        .filter(change_requests=cr)
        .select_related("created_by")
        .order_by("occurred_at", "id")
    )


def mailbox_get(*, user: User, project: Project) -> Mailbox | None:
    """The project's mailbox settings, for its managers (None when there is none)."""
    return restrict(Mailbox.objects, user, "manage").filter(project=project).first()


def quarantine_list(
    *, user: User, project: Project | None = None, include_resolved: bool = False
) -> QuerySet[QuarantinedMail]:
    """Quarantined mail for the project's managers; mail of no known project, for site admins
    (``project=None``)."""
    qs = QuarantinedMail.objects.defer("raw").select_related("project", "change_request")
    if project is None:
        qs = qs.filter(project__isnull=True) if user.is_superuser else qs.none()
    else:
        qs = restrict(qs, user, "manage").filter(project=project)
    if not include_resolved:
        qs = qs.filter(resolved_at__isnull=True)
    return qs


def quarantine_get(*, user: User, pk: int) -> QuarantinedMail:
    qs = QuarantinedMail.objects.select_related("project")
    visible = restrict(qs, user, "manage")
    if user.is_superuser:
        visible = qs
    item = visible.filter(Q(pk=pk)).first()
    if item is None:
        raise NotFound(_no_such())
    return item


def _no_such() -> str:
    from django.utils.translation import gettext as _

    return _("No such quarantined mail.")
