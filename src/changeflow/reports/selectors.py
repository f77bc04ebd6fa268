"""Reads of improvement actions, permission-filtered through ``core.access.restrict``.

Who sees and who writes an improvement action (decided here and in ``reports.actions``):

- **See**: every member of the project but the customer roles (``customer``,
  ``customer_rep``): an improvement action is the delivery team's own review of its process,
  internal like plans and simulations (``core.access`` lists it among the internal models), so
  to a customer it does not exist (404). Site admins see everything.
- **Create, edit, cancel, reopen, any transition**: the project's project managers and tech
  leads (and site admins): ``may_manage``.
- **The owner** of an action (any member who may see it) updates its progress and moves it
  along (start, complete) but does not change what it is, who owns it or when it is due.
- Everyone else reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project, Role, User
from changeflow.core import stored
from changeflow.core.access import CUSTOMER_ROLES, restrict, role_in, sees_internal
from changeflow.core.errors import NotFound
from changeflow.core.models import AuditEvent

from .models import ACTIVE_STATUSES, ImprovementAction, ReviewReport

MANAGING_ROLES = (Role.PROJECT_MANAGER, Role.TECH_LEAD)
# Who never owns an improvement action: customer roles do not see them, viewers write nothing.
NOT_OWNERS = (*CUSTOMER_ROLES, Role.VIEWER)


def may_see(user: User, project: Project) -> bool:
    """Whether ``user`` sees the improvement actions of ``project`` at all."""
    return user.is_superuser or (
        role_in(user, project) is not None and sees_internal(user, project)
    )


def may_manage(user: User, project: Project) -> bool:
    """Whether ``user`` creates, edits, cancels and reopens improvement actions of ``project``."""
    return user.is_superuser or role_in(user, project) in MANAGING_ROLES


def project_get(*, user: User, key: str) -> Project:
    """The project whose improvement actions ``user`` reads: NotFound for outsiders and for
    customer roles, to whom the actions do not exist."""
    project = account_selectors.project_get(user=user, key=key)
    if not may_see(user, project):
        raise NotFound(_("No such project."))
    return project


def today() -> dt.date:
    return timezone.localdate()


def is_overdue(action: ImprovementAction, on: dt.date | None = None) -> bool:
    return action.status in ACTIVE_STATUSES and action.due_date < (on or today())


def improvement_list(
    *, user: User, project: Project, filters: dict[str, Any] | None = None
) -> QuerySet[ImprovementAction]:
    """The project's improvement actions ``user`` may see, by due date (soonest first).

    Filters: ``status`` (one status), ``owner`` (a username), ``overdue`` (True: active and
    past due; False: the others)."""
    filters = filters or {}
    qs = restrict(ImprovementAction.objects, user).filter(project_id=project.pk)
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("owner"):
        qs = qs.filter(owner__username=filters["owner"])
    overdue = filters.get("overdue")
    if overdue is not None:
        late = Q(status__in=ACTIVE_STATUSES, due_date__lt=today())
        qs = qs.filter(late) if overdue else qs.exclude(late)
    return qs.select_related("owner", "project", "created_by").order_by("due_date", "number")


def open_improvements_of(*, user: User) -> QuerySet[ImprovementAction]:
    """The improvement actions ``user`` owns that are still open or in progress, in projects
    where they see them, soonest due first."""
    return (
        restrict(ImprovementAction.objects, user)
        .filter(owner_id=user.pk, status__in=ACTIVE_STATUSES)
        .select_related("project")
        .order_by("due_date", "number")
    )


def improvement_get(*, user: User, project: Project, key: str) -> ImprovementAction:
    """One action of ``project`` by key; NotFound when it is not there or not visible."""
    action = (
        restrict(ImprovementAction.objects, user)
        .filter(project_id=project.pk, key=key)
        .select_related("owner", "project", "created_by")
        .first()
    )
    if action is None:
        raise NotFound(_("No such improvement action."))
    return action


def linked_change_requests(action: ImprovementAction) -> list:
    return list(action.change_requests.order_by("number").only("id", "key", "title", "state"))


def for_change_request(*, user: User, cr) -> QuerySet[ImprovementAction]:
    """The improvement actions ``user`` may see that name ``cr`` as a motive."""
    return (
        restrict(ImprovementAction.objects, user)
        .filter(change_requests=cr)
        .select_related("owner")
        .order_by("due_date", "number")
    )


def history(*, user: User, action: ImprovementAction) -> QuerySet[AuditEvent]:
    """The action's audit events, oldest first."""
    return (
        restrict(AuditEvent.objects, user)
        .filter(object_type="improvement_action", object_key=action.key)
        .order_by("seq")
    )


def team(*, user: User, project: Project) -> QuerySet:
    """The members who may own an improvement action: the project's team, neither its
    customers nor its viewers (who write nothing)."""
    return (
        account_selectors.member_list(user=user, project=project)
        .exclude(role__in=NOT_OWNERS)
        .filter(user__is_active=True)
    )


# ------------------------------------------------------------------ review reports
# Who sees them: as improvement actions (``may_see``): the team, viewers included, never the
# customer roles — a review report carries the costs, which ``metrics`` shows only to
# ``sees_internal`` readers, and the team's improvement actions.


def review_report_list(*, user: User, project: Project) -> QuerySet[ReviewReport]:
    """The project's review reports, newest first (the figures are not loaded)."""
    return (
        restrict(ReviewReport.objects, user)
        .filter(project_id=project.pk)
        .select_related("generated_by", "project")
        .defer("figures")
        .order_by("-number")
    )


def review_report_get(*, user: User, project: Project, number: int) -> ReviewReport:
    report = (
        restrict(ReviewReport.objects, user)
        .filter(project_id=project.pk, number=number)
        .select_related("generated_by", "project")
        .first()
    )
    if report is None:
        raise NotFound(_("No such review report."))
    return report


FILE_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def review_report_file(report: ReviewReport, fmt: str) -> bytes:
    """The stored HTML or PDF of ``report``, checked against its SHA-256: a file that is gone
    is a NotFound, one that no longer matches the hash recorded at generation a Conflict
    (it is never served as the report)."""
    if fmt not in FILE_TYPES:
        raise NotFound(_("No such file."))
    return stored.read_checked(
        getattr(report, f"{fmt}_file").name, getattr(report, f"{fmt}_sha256"),
        missing=_("The report's file is missing."),
        changed=_("The stored file of %(key)s does not match its SHA-256.") % {"key": report.key},
    )  # fmt: skip


def review_report_filename(report: ReviewReport, fmt: str) -> str:
    return f"{report.key}-{report.kind}-{report.period_start.isoformat()}.{fmt}"


def review_report_response(report: ReviewReport, fmt: str, content: bytes) -> FileResponse:
    """A download of a report's file (checked content), named for the report: an attachment,
    never shown as a page of the site."""
    return stored.download(content, review_report_filename(report, fmt), FILE_TYPES[fmt])
