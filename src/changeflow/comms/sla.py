"""Service levels: how long a CR may wait in each stage, and escalation when it waits longer.

A stage is a CR state in which someone on the team owes the next step. Each has a target per
priority (hours), the project's own (``SlaTarget``) or the defaults below. The periodic job
``sla_check`` records a breach the first time a CR is over its target in a stage — level 1,
telling the CR's assignee, or the PM when it has none or the assignee is no longer an active
member of the project's team — and, a further target period later,
level 2, telling the PM. Each level happens once per entry into the stage: leaving the stage
and coming back starts the clock again. Each breach is an audit event ``sla.breached`` whose
``after`` names who must be told (``notify``), which the notifications app turns into messages.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.changes.models import ChangeRequest, Priority
from changeflow.changes.services import ASSIGNABLE_ROLES
from changeflow.changes.workflow import State
from changeflow.core import audit
from changeflow.core.access import restrict
from changeflow.core.errors import ValidationError

if TYPE_CHECKING:  # (WithAnnotations takes its second argument for the type checker only)
    from django_stubs_ext import WithAnnotations

from .models import SlaBreach, SlaTarget

# Hours a CR may spend in a stage, by priority (P1 critical … P4 low).
DEFAULT_HOURS: dict[str, dict[str, int]] = {
    State.SUBMITTED: {"P1": 4, "P2": 8, "P3": 24, "P4": 48},
    State.TRIAGED: {"P1": 8, "P2": 24, "P3": 72, "P4": 120},
    State.ASSESSING: {"P1": 24, "P2": 72, "P3": 120, "P4": 240},
    State.IN_REVIEW: {"P1": 24, "P2": 48, "P3": 120, "P4": 240},
    State.APPROVED: {"P1": 24, "P2": 72, "P3": 168, "P4": 336},
    State.VERIFYING: {"P1": 24, "P2": 48, "P3": 96, "P4": 168},
}
STAGES = tuple(DEFAULT_HOURS)
PRIORITIES = tuple(Priority.values)
# A CR without a priority yet is held to the medium one.
UNSET_PRIORITY = Priority.P3
SYSTEM_ACTOR = "system"


def targets(project: Project) -> dict[str, dict[str, int]]:
    """The project's effective targets: its own rows over the defaults."""
    table = {stage: dict(hours) for stage, hours in DEFAULT_HOURS.items()}
    for row in SlaTarget.objects.filter(project=project):
        if row.stage in table:
            table[row.stage][row.priority] = row.hours
    return table


def stage_deadlines(crs) -> dict[int, dt.datetime]:
    """When each CR's time in its current stage runs out (its stage's target for its priority,
    the project's own or the default, after it entered the stage), by CR id; CRs in a stage
    without a service level are left out. One query for all the CRs' projects."""
    crs = [cr for cr in crs if cr.state in DEFAULT_HOURS]
    if not crs:
        return {}
    own = {
        (project_id, stage, priority): hours
        for project_id, stage, priority, hours in SlaTarget.objects.filter(
            project_id__in={cr.project_id for cr in crs}
        ).values_list("project_id", "stage", "priority", "hours")
    }
    out = {}
    for cr in crs:
        priority = cr.priority or UNSET_PRIORITY
        hours = own.get((cr.project_id, cr.state, priority), DEFAULT_HOURS[cr.state][priority])
        out[cr.pk] = cr.state_changed_at + dt.timedelta(hours=hours)
    return out


def sla_targets_set(*, user: User, project: Project, rows: list[dict]) -> dict[str, dict[str, int]]:
    """Replace the project's targets with ``rows`` (``stage``, ``priority``, ``hours``); rows
    equal to the defaults are not stored, so a later change of the defaults still applies."""
    clean: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows, start=1):
        stage, priority, hours = row.get("stage"), row.get("priority"), row.get("hours")
        if stage not in STAGES:
            raise ValidationError(
                _("Row %(n)d: '%(stage)s' is not a stage with a service level.")
                % {"n": i, "stage": stage},
                fields={"targets": [_("Unknown stage.")]},
            )
        if priority not in PRIORITIES:
            raise ValidationError(
                _("Row %(n)d: '%(p)s' is not a priority.") % {"n": i, "p": priority},
                fields={"targets": [_("Unknown priority.")]},
            )
        if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 8760:
            raise ValidationError(
                _("Row %d: the target is a whole number of hours from 1 to 8760.") % i,
                fields={"targets": [_("Between 1 and 8760 hours.")]},
            )
        clean[(stage, priority)] = hours
    before = targets(project)
    with transaction.atomic():
        SlaTarget.objects.filter(project=project).delete()
        SlaTarget.objects.bulk_create(
            SlaTarget(project=project, stage=s, priority=p, hours=h)
            for (s, p), h in sorted(clean.items())
            if DEFAULT_HOURS[s][p] != h
        )
        after = targets(project)
        audit.record(
            actor=user, action="sla.targets_set", object_type="project", object_key=project.key,
            project=project.key, before=before, after=after,
        )  # fmt: skip
    return after


def _managers(project_ids) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    rows = (
        Membership.objects.filter(
            project_id__in=project_ids, role=Role.PROJECT_MANAGER, user__is_active=True
        )
        .order_by("user__username")
        .values_list("project_id", "user__username")
    )
    for project_id, username in rows:
        found[project_id].append(username)
    return found


def _team(crs: list[ChangeRequest]) -> set[tuple[int, int]]:
    """(project id, user id) of each assignee still on the team of the CR's project: an active
    user whose membership is a team role (not removed, not now a viewer or customer)."""
    assignees = {cr.assignee_id for cr in crs if cr.assignee_id}
    if not assignees:
        return set()
    return set(
        Membership.objects.filter(
            project_id__in={cr.project_id for cr in crs}, user_id__in=assignees,
            role__in=ASSIGNABLE_ROLES, user__is_active=True,
        ).values_list("project_id", "user_id")
    )  # fmt: skip


def _assignee(cr: ChangeRequest, team: set[tuple[int, int]]) -> str | None:
    """The username of the CR's assignee while they are on the project's team, else None
    (the PM is told instead: a left or deactivated assignee would hear nothing)."""
    if cr.assignee is None or (cr.project_id, cr.assignee_id) not in team:
        return None
    return cr.assignee.username


def sla_check(*, now: dt.datetime | None = None) -> list[SlaBreach]:
    """Record the breaches that are due (the periodic job); the new ones are returned."""
    now = now or timezone.now()
    crs = list(
        ChangeRequest.objects.filter(state__in=STAGES)
        .select_related("project", "assignee")
        .order_by("pk")
    )
    if not crs:
        return []
    table_of: dict[int, dict[str, dict[str, int]]] = {}
    existing = set(
        SlaBreach.objects.filter(change_request__in=[cr.pk for cr in crs]).values_list(
            "change_request_id", "stage", "stage_entered_at", "level"
        )
    )
    managers = _managers({cr.project_id for cr in crs})
    team = _team(crs)
    created = []
    for cr in crs:
        if cr.project_id not in table_of:
            table_of[cr.project_id] = targets(cr.project)
        priority = cr.priority or UNSET_PRIORITY
        hours = table_of[cr.project_id][cr.state][priority]
        waited = now - cr.state_changed_at
        pms = managers.get(cr.project_id, [])
        for level in (1, 2):
            if waited <= dt.timedelta(hours=hours * level):
                break
            if (cr.pk, cr.state, cr.state_changed_at, level) in existing:
                continue
            notify = [_assignee(cr, team) or (pms[0] if pms else None)] if level == 1 else pms
            breach = _record_breach(cr, priority, hours, level, [n for n in notify if n], now)
            if breach is not None:
                created.append(breach)
    return created


def _record_breach(cr, priority, hours, level, notify, now) -> SlaBreach | None:
    try:
        with transaction.atomic():
            breach = SlaBreach.objects.create(
                project=cr.project, change_request=cr, stage=cr.state, priority=cr.priority,
                stage_entered_at=cr.state_changed_at, target_hours=hours, level=level,
                notified=notify, breached_at=now,
            )  # fmt: skip
            audit.record(
                actor=SYSTEM_ACTOR, action="sla.breached", object_type="change_request",
                object_key=cr.key, project=cr.project.key,
                after={
                    "stage": cr.state, "priority": priority, "target_hours": hours,
                    "level": level, "notify": notify,
                },
            )  # fmt: skip
    except IntegrityError:  # another worker recorded it first
        return None
    return breach


class _BreachCurrent(TypedDict):
    current: bool


def breach_list(
    *, user: User, project: Project
) -> QuerySet[WithAnnotations[SlaBreach, _BreachCurrent]]:
    """The project's breaches, newest first, with ``current`` (the CR is still in that stage
    entry) annotated."""
    from django.db.models import BooleanField, Case, Value, When

    return (
        restrict(SlaBreach.objects, user)
        .filter(project=project)
        .select_related("change_request")
        .annotate(
            current=Case(
                When(
                    change_request__state=F("stage"),
                    change_request__state_changed_at=F("stage_entered_at"),
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
    )


def breaches_for_cr(*, user: User, cr: ChangeRequest) -> QuerySet[SlaBreach]:
    return restrict(SlaBreach.objects, user).filter(change_request=cr).order_by("breached_at")
