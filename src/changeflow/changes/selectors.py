"""Permission-filtered reads of change requests and what hangs off them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, Prefetch, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, User
from changeflow.core import search
from changeflow.core.access import CUSTOMER_ROLES, restrict
from changeflow.core.errors import NotFound
from changeflow.core.models import AuditEvent

from .models import Attachment, ChangeRequest, Comment, ImpactAssessment, Risk, Vote
from .workflow import FINAL_STATES, TABLE, Action, State

ORDERINGS = {
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
    "priority": ("priority", "-created_at"),
    "-priority": ("-priority", "-created_at"),
    "key": ("project_id", "number"),
    "-key": ("-project_id", "-number"),
    "state": ("state", "-created_at"),
    "title": ("title", "id"),
}


LIST_FIELDS = (
    *(
        f.name
        for f in ChangeRequest._meta.concrete_fields
        if f.name not in ("description", "reason", "expected_benefit", "requester_contact")
    ),
    "project__key",
    "project__name",
    "requested_by__username",
    "requested_by__display_name",
    "assignee__username",
    "assignee__display_name",
)


def change_request_base(*, user: User) -> QuerySet[ChangeRequest]:
    return restrict(ChangeRequest.objects, user).select_related(
        "project", "requested_by", "created_by", "assignee", "template"
    )


def change_request_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet:
    """Visible CRs, filtered. Filters: project (key), state, type, priority, channel (each a
    value or a list), open (True: not closed, rejected or withdrawn; False: one of those),
    assignee (a username, "me", or "none": unassigned), q (full text), created_after,
    created_before (dates), ordering."""
    filters = filters or {}
    # Lists show neither the long texts nor most of the project and the requester: loading
    # them for every row is most of a page's cost (descriptions reach 100,000 characters).
    qs = (
        restrict(ChangeRequest.objects, user)
        .select_related("project", "requested_by", "assignee")
        .only(*LIST_FIELDS)
    )
    if filters.get("project"):
        # Compare project_id with a scalar subquery rather than joining on the key: the database
        # then walks the (project, -created_at, -id) index and stops after one page, where the
        # join made SQLite read and sort every CR of the project (100,000 CRs: 75 ms → 1 ms).
        key = Project.objects.filter(key=filters["project"]).values("id")[:1]
        qs = qs.filter(project_id=Subquery(key))
    elif not user.is_superuser:
        # The same for a member of one project (the common case): restrict() already limits the
        # rows to that project, and naming it lets the index give the order. Without it SQLite
        # sorts every visible CR for one page (100,000 CRs: 350 ms → ~15 ms). Members of
        # several projects still sort; see benchmarks/README.md.
        mine = list(Membership.objects.filter(user=user).values_list("project_id", flat=True)[:2])
        if len(mine) == 1:
            qs = qs.filter(project_id=mine[0])
    for name in ("state", "type", "priority", "channel"):
        value = filters.get(name)
        if value:
            qs = qs.filter(**{f"{name}__in": value if isinstance(value, list) else [value]})
    if filters.get("open") is True:
        qs = qs.exclude(state__in=FINAL_STATES)
    elif filters.get("open") is False:
        qs = qs.filter(state__in=FINAL_STATES)
    assignee = filters.get("assignee")
    if assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        # "me": the caller; any other value a username (an unknown one matches nothing).
        name = user.username if assignee == "me" else assignee
        qs = qs.filter(assignee__username=name)
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=_day_start(filters["created_after"]))
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=_day_start(filters["created_before"], plus_days=1))
    q = (filters.get("q") or "").strip()
    if q:
        sql = search.matching_ids_sql(q)
        # The SQL is fixed text; the query reaches it only as a bound parameter.
        qs = qs.filter(id__in=RawSQL(*sql)) if sql else qs.none()  # noqa: S611
    return qs.order_by(*ORDERINGS.get(filters.get("ordering") or "-created", ORDERINGS["-created"]))


def _day_start(value: dt.date | dt.datetime, plus_days: int = 0) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(days=plus_days)
    from django.utils import timezone

    day = value + dt.timedelta(days=plus_days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def assignable_members(*, project) -> list[tuple[str, str]]:
    """(username, display name) of the project's active team members who may be assigned a
    CR (not viewers or customers), by username."""
    from .services import ASSIGNABLE_ROLES

    rows = (
        Membership.objects.filter(project=project, role__in=ASSIGNABLE_ROLES, user__is_active=True)
        .order_by("user__username")
        .values_list("user__username", "user__display_name")
    )
    return [(username, name or username) for username, name in rows]


def change_request_get(*, user: User, key: str) -> ChangeRequest:
    # get(), not first(): a unique key needs no ORDER BY (a quarter of this call's time).
    try:
        return change_request_base(user=user).get(key=key)
    except ChangeRequest.DoesNotExist:
        raise NotFound(_("No such change request.")) from None


def comment_list(*, user: User, cr: ChangeRequest) -> QuerySet[Comment]:
    return restrict(Comment.objects, user).filter(change_request=cr).select_related("author")


def attachment_list(*, user: User, cr: ChangeRequest) -> QuerySet[Attachment]:
    return (
        restrict(Attachment.objects, user).filter(change_request=cr).select_related("uploaded_by")
    )


def attachment_get(*, user: User, cr: ChangeRequest, pk: int) -> Attachment:
    attachment = attachment_list(user=user, cr=cr).filter(pk=pk).first()
    if attachment is None:
        raise NotFound(_("No such attachment."))
    return attachment


def assessment_list(*, user: User, cr: ChangeRequest) -> QuerySet[ImpactAssessment]:
    return (
        restrict(ImpactAssessment.objects, user)
        .filter(change_request=cr)
        .select_related("author")
        .prefetch_related(Prefetch("risks", queryset=Risk.objects.order_by("id")))
        .order_by("-version")
    )


def history(*, user: User, cr: ChangeRequest) -> QuerySet[AuditEvent]:
    """The CR's audit events, oldest first (customer roles do not see internal ones)."""
    return (
        restrict(AuditEvent.objects, user)
        .filter(object_type="change_request", object_key=cr.key)
        .order_by("seq")
    )


def vote_list(*, user: User, cr: ChangeRequest) -> QuerySet[Vote]:
    """The CR's signed votes, every purpose and round, in the order they were signed."""
    return (
        restrict(Vote.objects, user)
        .filter(change_request=cr)
        .select_related("voter")
        .order_by("signed_at", "id")
    )


# ---------------------------------------------------------------- what waits on a user


WORK_FIELDS = (
    "id", "key", "title", "state", "priority", "state_changed_at", "desired_date", "project_id",
    "project__key", "project__name",
)  # fmt: skip
# Not finished, and someone still owes a step (a deferred CR waits for nobody until reopened).
_IDLE_STATES = (*FINAL_STATES, State.DEFERRED)


def _work(user: User) -> QuerySet[ChangeRequest]:
    return restrict(ChangeRequest.objects, user).select_related("project").only(*WORK_FIELDS)


def _projects_where(user: User, roles) -> QuerySet:
    return Membership.objects.filter(user_id=user.pk, role__in=roles).values("project_id")


def assigned_open(*, user: User) -> QuerySet[ChangeRequest]:
    """CRs assigned to ``user`` that are not finished (nor deferred), in projects they still
    see, oldest in their stage first."""
    return (
        _work(user)
        .filter(assignee_id=user.pk)
        .exclude(state__in=_IDLE_STATES)
        .order_by("state_changed_at", "id")
    )


def awaiting_triage(*, user: User) -> QuerySet[ChangeRequest]:
    """Submitted CRs of the projects where ``user`` is one who triages (the workflow's roles
    for the triage action; a site admin only where a member), oldest first."""
    return (
        _work(user)
        .filter(state=State.SUBMITTED)
        .filter(project_id__in=_projects_where(user, TABLE[Action.TRIAGE].roles))
        .order_by("state_changed_at", "id")
    )


def returned_to_requester(*, user: User) -> QuerySet[ChangeRequest]:
    """``user``'s own requests the team returned for more information (the questions put to
    the requester: they answer by editing and submitting again), oldest first."""
    return (
        _work(user)
        .filter(requested_by_id=user.pk, state=State.RETURNED)
        .order_by("state_changed_at", "id")
    )


def requested_open(*, user: User) -> QuerySet[ChangeRequest]:
    """The open requests a customer (or customer representative) made, in the projects where
    they hold that role: not finished, and not returned to them (``returned_to_requester``
    lists those), newest first."""
    customer_of = _projects_where(user, CUSTOMER_ROLES)
    return (
        _work(user)
        # The EXISTS first: for a team member (no customer role) the database answers at once,
        # where it walked all their requests (a PM who entered 20,000: 50 ms → under 1 ms).
        .filter(Exists(customer_of))
        .filter(requested_by_id=user.pk, project_id__in=customer_of)
        .exclude(state__in=(*FINAL_STATES, State.RETURNED))
        .order_by("-created_at", "-id")
    )
