"""Reads of boards: the board a user may see, and the voting board the services use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, User
from changeflow.core.access import restrict, role_in
from changeflow.core.errors import NotFound

from . import policy
from .models import Board, FreezeWindow

DELEGATION_FIELDS = ("max_effort_hours", "max_cost", "max_schedule_days")
_UNSET: Any = object()


@dataclass(frozen=True)
class BoardSpec:
    """A board as API.md describes it, stored or the default one (``configured`` False)."""

    configured: bool
    members: list[dict[str, Any]]  # {"username", "role", "weight"}
    rule: str = "majority"
    threshold: Decimal | None = None
    quorum: int | None = None
    required_roles: list[str] = field(default_factory=list)
    veto_roles: list[str] = field(default_factory=list)
    delegation: dict[str, Decimal | None] = field(default_factory=dict)
    chair: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "members": self.members,
            "quorum": self.quorum,
            "rule": self.rule,
            "threshold": self.threshold,
            "required_roles": self.required_roles,
            "veto_roles": self.veto_roles,
            "delegation": self.delegation,
            "chair": self.chair,
        }


@dataclass(frozen=True)
class Voting:
    """Who votes on a CR (the requester excluded) and the policy that decides."""

    eligible: list[str]
    policy: policy.Policy


def board_of(project: Project) -> Board | None:
    """The project's stored board with its members, or None (read once per project object)."""
    cached = getattr(project, "_ccb_board", _UNSET)
    if cached is _UNSET:
        cached = (
            Board.objects.filter(project_id=project.pk)
            .select_related("chair")
            .prefetch_related("members__user")
            .first()
        )
        project._ccb_board = cached
    return cached


def board_spec(project: Project, board: Board | None) -> BoardSpec:
    """``board`` (or, when None, the project's default board) as API.md describes it."""
    if board is None:
        rows = (
            Membership.objects.filter(
                project_id=project.pk, user__is_active=True, role__in=policy.DEFAULT_BOARD_ROLES
            )
            .order_by("user__username")
            .values_list("user__username", "role")
        )
        return BoardSpec(
            configured=False,
            members=[{"username": u, "role": r, "weight": Decimal(1)} for u, r in rows],
            delegation={
                "max_effort_hours": project.delegate_max_effort_hours,
                "max_cost": project.delegate_max_cost,
                "max_schedule_days": project.delegate_max_schedule_days,
            },
        )
    return BoardSpec(
        configured=True,
        members=[
            {"username": m.user.username, "role": m.role, "weight": m.weight}
            for m in board.members.all()
        ],
        rule=board.rule,
        threshold=board.threshold,
        quorum=board.quorum,
        required_roles=list(board.required_roles),
        veto_roles=list(board.veto_roles),
        delegation={f: getattr(board, f) for f in DELEGATION_FIELDS},
        chair=board.chair.username if board.chair else None,
    )


def board_get(*, user: User, project: Project) -> BoardSpec:
    """The project's board for a member (or a site admin); 404 for anyone else."""
    if not user.is_superuser and role_in(user, project) is None:
        raise NotFound(_("No such project."))
    return board_spec(project, board_of(project))


def voting(project: Project, *, requester: str) -> Voting:
    """The eligible voters and the policy for a CR of ``project`` requested by ``requester``.

    With a stored board: its members who are still active members of the project, in the role
    and with the weight the board gives them. Without: the default board.
    """
    board = board_of(project)
    members = Membership.objects.filter(project_id=project.pk, user__is_active=True)
    if board is None:
        rows = list(members.values_list("user__username", "role"))
        eligible = policy.eligible_voters(rows, requester=requester)
        roles = {u: r for u, r in rows if u in eligible}
        return Voting(eligible, policy.Policy(roles=roles))
    current = set(members.values_list("user__username", flat=True))
    seats = [m for m in board.members.all() if m.user.username in current]
    eligible = policy.eligible_voters(
        [(m.user.username, m.role) for m in seats], requester=requester, roles=None
    )
    return Voting(
        eligible,
        policy.Policy(
            rule=board.rule,
            threshold=board.threshold,
            quorum=board.quorum,
            weights={m.user.username: m.weight for m in seats},
            roles={m.user.username: m.role for m in seats},
            required_roles=tuple(board.required_roles),
            veto_roles=tuple(board.veto_roles),
        ),
    )


def delegation_limits(project: Project) -> dict[str, Decimal | None]:
    """The thresholds under which a PM decides alone: the board's, else the project's."""
    board = board_of(project)
    if board is None:
        return {
            "max_effort_hours": project.delegate_max_effort_hours,
            "max_cost": project.delegate_max_cost,
            "max_schedule_days": project.delegate_max_schedule_days,
        }
    return {f: getattr(board, f) for f in DELEGATION_FIELDS}


def freeze_window_list(*, user: User, project: Project) -> QuerySet[FreezeWindow]:
    """The project's freeze windows, earliest first, for a member (or a site admin); 404 for
    anyone else."""
    if not user.is_superuser and role_in(user, project) is None:
        raise NotFound(_("No such project."))
    return (
        restrict(FreezeWindow.objects, user)
        .filter(project_id=project.pk)
        .select_related("created_by")
        .order_by("starts_at", "id")
    )


def in_freeze(project: Project, at: dt.datetime) -> bool:
    """Whether ``at`` falls inside one of the project's freeze windows (start inclusive, end
    exclusive). One indexed query."""
    return FreezeWindow.objects.filter(
        project_id=project.pk, starts_at__lte=at, ends_at__gt=at
    ).exists()
