"""The one place where visibility is decided: ``restrict(queryset, user, action)``.

Every read in the UI, the API, reports and the CLI goes through it. Objects outside the result
do not exist for that user (404, never 403).

Actions:
- ``view``: members of the object's project see it; customer roles do not see internal
  comments, internal audit events, the project's plans and simulations (internal costs,
  rates and schedule figures: ``sees_internal``), the team's improvement actions, or its case
  library (root causes, lessons and cost overruns: the team's own retrospective; customers'
  outcome ratings they do see).
- ``manage``: the project's project managers (members, settings, board).
- ``audit``: the project's audit trail, for project managers, tech leads and QA.
Site admins may do everything.
"""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet
from django.db.models.manager import BaseManager

from changeflow.accounts.models import Membership, Project, Role

CUSTOMER_ROLES = (Role.CUSTOMER, Role.CUSTOMER_REP)
AUDIT_ROLES = (Role.PROJECT_MANAGER, Role.TECH_LEAD, Role.QA)


def _project_path(model: type[Model]) -> str:
    """How to reach the project's id from ``model`` ('' for Project itself)."""
    from changeflow.ccb.models import FreezeWindow
    from changeflow.changes.models import (
        Attachment,
        ChangeRequest,
        Comment,
        ImpactAssessment,
        Vote,
    )
    from changeflow.impact.models import (
        ChangePlan,
        PlanDependency,
        PlanMilestone,
        PlanTask,
        ProjectPlan,
        SimulationRun,
    )
    from changeflow.meetings.models import Meeting, Occurrence
    from changeflow.requirements.models import (
        AffectedRequirement,
        Artifact,
        ArtifactVersion,
        Baseline,
        BaselineItem,
        ChangeSetApplication,
        ChangeSetEdit,
        ImpactSnapshot,
        Requirement,
        RequirementVersion,
        TraceLink,
    )

    paths: dict[type[Model], str] = {
        Project: "id",
        Membership: "project_id",
        ChangeRequest: "project_id",
        Comment: "change_request__project_id",
        Attachment: "change_request__project_id",
        ImpactAssessment: "change_request__project_id",
        Vote: "change_request__project_id",
        Requirement: "project_id",
        RequirementVersion: "requirement__project_id",
        Baseline: "project_id",
        BaselineItem: "baseline__project_id",
        AffectedRequirement: "requirement__project_id",
        Artifact: "project_id",
        ArtifactVersion: "artifact__project_id",
        TraceLink: "project_id",
        ChangeSetEdit: "change_request__project_id",
        ChangeSetApplication: "change_request__project_id",
        ImpactSnapshot: "change_request__project_id",
        FreezeWindow: "project_id",
        Meeting: "project_id",
        Occurrence: "meeting__project_id",
        ProjectPlan: "project_id",
        PlanTask: "plan__project_id",
        PlanDependency: "plan__project_id",
        PlanMilestone: "plan__project_id",
        ChangePlan: "change_request__project_id",
        SimulationRun: "project_id",
        **_comms_paths(),
        **_reports_paths(),
        **_cases_paths(),
        **_crtemplates_paths(),
        **_orders_paths(),
    }
    try:
        return paths[model]
    except KeyError:
        raise TypeError(f"restrict() does not know {model.__name__}") from None


def _comms_paths() -> dict[type[Model], str]:
    from changeflow.comms import models as comms

    return {
        comms.Mailbox: "project_id",
        comms.QuarantinedMail: "project_id",
        comms.CommunicationEntry: "project_id",
        comms.SlaTarget: "project_id",
        comms.SlaBreach: "project_id",
    }


def _reports_paths() -> dict[type[Model], str]:
    from changeflow.reports.models import ImprovementAction, ReviewReport, ReviewSchedule

    return {
        ImprovementAction: "project_id",
        ReviewReport: "project_id",
        ReviewSchedule: "project_id",
    }


def _cases_paths() -> dict[type[Model], str]:
    from changeflow.cases.models import Case, OutcomeRating

    return {Case: "project_id", OutcomeRating: "change_request__project_id"}


def _crtemplates_paths() -> dict[type[Model], str]:
    from changeflow.crtemplates.models import CRTemplate

    return {CRTemplate: "project_id"}


def _orders_paths() -> dict[type[Model], str]:
    from changeflow.orders.models import ChangeOrder

    return {ChangeOrder: "project_id"}


def _projects(user, roles=None) -> QuerySet:
    qs = Membership.objects.filter(user=user)
    if roles is not None:
        qs = qs.filter(role__in=roles)
    return qs.values("project_id")


def restrict[M: Model](
    source: QuerySet[M] | BaseManager[M], user, action: str = "view"
) -> QuerySet[M]:
    """``source`` (a queryset, or a model's manager) narrowed to what ``user`` may ``action``."""
    from changeflow.changes.models import Comment
    from changeflow.core.models import AuditEvent

    qs = source.all()
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if action not in ("view", "manage", "audit"):
        raise ValueError(f"unknown action {action!r}")
    model = qs.model
    if user.is_superuser:
        return qs

    if model is AuditEvent:
        if action == "audit":
            keys = Project.objects.filter(id__in=_projects(user, AUDIT_ROLES)).values("key")
            return qs.filter(project__in=keys)
        member_keys = Project.objects.filter(id__in=_projects(user)).values("key")
        customer_keys = Project.objects.filter(id__in=_projects(user, CUSTOMER_ROLES)).values("key")
        return qs.filter(project__in=member_keys).exclude(
            Q(project__in=customer_keys) & Q(internal=True)
        )

    path = _project_path(model)
    if action == "manage":
        return qs.filter(**{f"{path}__in": _projects(user, [Role.PROJECT_MANAGER])})
    if action == "audit":
        return qs.filter(**{f"{path}__in": _projects(user, AUDIT_ROLES)})
    qs = qs.filter(**{f"{path}__in": _projects(user)})
    if model is Comment:
        qs = qs.exclude(
            Q(internal=True) & Q(change_request__project_id__in=_projects(user, CUSTOMER_ROLES))
        )
    elif model in _internal_models():
        qs = qs.exclude(**{f"{path}__in": _projects(user, CUSTOMER_ROLES)})
    return qs


def _internal_models() -> tuple[type[Model], ...]:
    """Models wholly internal to the delivery team: plans (task rates, costs), simulations, the
    team's improvement actions on its own process and its review reports (which carry the costs),
    and cases (root causes, lessons and cost
    overruns: the team's own retrospective)."""
    from changeflow.cases.models import Case
    from changeflow.impact.models import (
        ChangePlan,
        PlanDependency,
        PlanMilestone,
        PlanTask,
        ProjectPlan,
        SimulationRun,
    )
    from changeflow.reports.models import ImprovementAction, ReviewReport, ReviewSchedule

    return (
        ProjectPlan, PlanTask, PlanDependency, PlanMilestone, ChangePlan, SimulationRun,
        ImprovementAction, ReviewReport, ReviewSchedule, Case,
    )  # fmt: skip


def _roles_known(user) -> dict[int, str | None]:
    """The roles of ``user`` read so far in this request, project id → role (None: none)."""
    cache = getattr(user, "_role_cache", None)
    if cache is None:
        cache = user._role_cache = {}
    return cache


def role_in(user, project) -> str | None:
    """The user's role in ``project``, or None when not a member."""
    if user is None or not user.is_authenticated:
        return None
    cache = _roles_known(user)
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(user=user, project_id=project.pk)
            .values_list("role", flat=True)
            .first()
        )
    return cache[project.pk]


def remember_roles(user) -> None:
    """Read all of ``user``'s roles at once, for ``role_in`` over a list of their projects."""
    if user is None or not user.is_authenticated:
        return
    _roles_known(user).update(
        Membership.objects.filter(user=user).values_list("project_id", "role")
    )


def manages(user, project) -> bool:
    """Whether ``user`` manages ``project`` (settings, members, board, service levels): its
    project managers and site admins; ``restrict(..., "manage")`` is the same rule on a query."""
    return user.is_superuser or role_in(user, project) == Role.PROJECT_MANAGER


def may_write(user, project) -> bool:
    """Whether ``user`` may write anything in ``project``: a member other than a viewer, or a
    site admin (what each write further asks is the service's)."""
    return user.is_superuser or role_in(user, project) not in (None, Role.VIEWER)


def sees_internal(user, project) -> bool:
    """Whether ``user`` sees internal notes of ``project`` (customer roles do not)."""
    return user.is_superuser or role_in(user, project) not in CUSTOMER_ROLES
