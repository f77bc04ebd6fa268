"""Reads of boards: the board a user may see, and the voting board the services use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Membership, Project, User
from changeflow.core.access import restrict, role_in
from changeflow.core.errors import NotFound

from . import policy
from .models import Board, FreezeWindow, VotingSnapshot

DELEGATION_FIELDS = policy.DELEGATION_LIMITS
# The thresholds live on the project (one place): the board API shows and sets them.
PROJECT_DELEGATION = {f: f"delegate_{f}" for f in DELEGATION_FIELDS}
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
    name: str = ""
    projects: list[str] = field(default_factory=list)
    ratification_days: int | None = None

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
            "name": self.name,
            "projects": self.projects,
            "ratification_days": self.ratification_days,
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
            Board.objects.filter(links__project_id=project.pk)
            .select_related("chair")
            .prefetch_related("members__user", "links__project")
            .first()
        )
        setattr(project, "_ccb_board", cached)  # noqa: B010 (a cache on this object only)
    return cached


def delegation_of(project: Project) -> dict[str, Decimal | None]:
    """The thresholds under which the project's PM decides alone (one place: the project)."""
    return {f: getattr(project, column) for f, column in PROJECT_DELEGATION.items()}


def current_members(project: Project) -> dict[str, str]:
    """Active members of ``project``: username → role (read once per project object, so one
    page or one service call asks once)."""
    cached = project.__dict__.get("_ccb_members")
    if cached is None:
        cached = dict(
            Membership.objects.filter(project_id=project.pk, user__is_active=True).values_list(
                "user__username", "role"
            )
        )
        project.__dict__["_ccb_members"] = cached
    return cached


def board_spec(project: Project, board: Board | None) -> BoardSpec:
    """``board`` (or, when None, the project's default board) as API.md describes it. Each
    member says whether they vote on this project's CRs (``active``: still an active member
    of the project)."""
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
            members=[
                {"username": u, "role": r, "weight": Decimal(1), "active": True} for u, r in rows
            ],
            delegation=delegation_of(project),
            projects=[project.key],
        )
    current = current_members(project)
    return BoardSpec(
        configured=True,
        members=[
            {
                "username": m.user.username,
                "role": m.role,
                "weight": m.weight,
                "active": m.user.username in current,
            }  # fmt: skip
            for m in board.members.all()
        ],
        rule=board.rule,
        threshold=board.threshold,
        quorum=board.quorum,
        required_roles=list(board.required_roles),
        veto_roles=list(board.veto_roles),
        delegation=delegation_of(project),
        chair=board.chair.username if board.chair else None,
        name=board.name,
        projects=sorted(link.project.key for link in board.links.all()),
        ratification_days=board.ratification_days,
    )


def board_get(*, user: User, project: Project) -> BoardSpec:
    """The project's board for a member (or a site admin); 404 for anyone else."""
    if not user.is_superuser and role_in(user, project) is None:
        raise NotFound(_("No such project."))
    project.__dict__.pop("_ccb_members", None)  # membership may have changed since
    return board_spec(project, board_of(project))


def voting(project: Project, *, requester: str) -> Voting:
    """The eligible voters and the policy of ``project``'s board now, for a CR requested by
    ``requester``: a review takes this as its snapshot when it starts (``voting_for``).

    With a stored board: its members who are still active members of the project, in the role
    and with the weight the board gives them. Without: the default board.
    """
    board = board_of(project)
    current = current_members(project)
    if board is None:
        rows = list(current.items())
        eligible = policy.eligible_voters(rows, requester=requester)
        roles = {u: r for u, r in rows if u in eligible}
        return Voting(eligible, policy.Policy(roles=roles))
    seats = [m for m in board.members.all() if m.user.username in current]
    eligible = policy.eligible_voters(
        [(m.user.username, m.role) for m in seats],
        requester=requester,
        roles=None,
        required_roles=board.required_roles,
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


def policy_to_json(p: policy.Policy) -> dict[str, Any]:
    return {
        "rule": p.rule,
        "threshold": None if p.threshold is None else str(p.threshold),
        "quorum": p.quorum,
        "weights": {u: str(w) for u, w in p.weights.items()},
        "roles": dict(p.roles),
        "required_roles": list(p.required_roles),
        "veto_roles": list(p.veto_roles),
    }


def policy_from_json(data: dict[str, Any]) -> policy.Policy:
    threshold = data.get("threshold")
    return policy.Policy(
        rule=data.get("rule", "majority"),
        threshold=None if threshold is None else Decimal(threshold),
        quorum=data.get("quorum"),
        weights={u: Decimal(w) for u, w in (data.get("weights") or {}).items()},
        roles=dict(data.get("roles") or {}),
        required_roles=tuple(data.get("required_roles") or ()),
        veto_roles=tuple(data.get("veto_roles") or ()),
    )


def snapshot_take(cr: Any, purpose: str, rnd: int) -> VotingSnapshot:
    """Record who votes on ``cr``'s round ``rnd`` of ``purpose`` and under which policy, as
    the board is now; an existing snapshot is kept (taken once, when the review starts)."""
    cache = cr.__dict__.setdefault("_ccb_snapshots", {})
    if (purpose, rnd) in cache:
        return cache[(purpose, rnd)]
    found = VotingSnapshot.objects.filter(change_request_id=cr.pk, purpose=purpose, round=rnd)
    snap = found.select_related("board__chair").first()
    if snap is not None:
        cache[(purpose, rnd)] = snap
        return snap
    now = voting(cr.project, requester=cr.requested_by.username)
    snap, _created = VotingSnapshot.objects.get_or_create(
        change_request_id=cr.pk, purpose=purpose, round=rnd,
        defaults={
            "board": board_of(cr.project), "eligible": now.eligible,
            "policy": policy_to_json(now.policy),
        },
    )  # fmt: skip
    cache[(purpose, rnd)] = snap
    return snap


def voting_for(cr: Any, purpose: str, rnd: int) -> Voting:
    """Who votes on this round of ``cr`` and how the board decides: the snapshot taken when
    the review started (taken now if there is none yet), less the members who have since
    left the project or been deactivated — they neither vote nor count towards quorum."""
    snap = snapshot_take(cr, purpose, rnd)
    current = current_members(cr.project)
    eligible = [u for u in snap.eligible if u in current]
    return Voting(eligible, policy_from_json(snap.policy))


def delegation_limits(project: Project) -> dict[str, Decimal | None]:
    """The thresholds under which a PM decides alone (the project's, whatever the board)."""
    return delegation_of(project)


def ratification_days(project: Project) -> int:
    """Days the board has to ratify an emergency approval: the board's, else the site's."""
    board = board_of(project)
    if board is not None and board.ratification_days:
        return board.ratification_days
    return int(getattr(settings, "CHANGEFLOW_RATIFICATION_DAYS", 5))


def is_chair(user: User, project: Project) -> bool:
    # Only the chair's id is needed: one query, where board_of() reads the board, its members,
    # their users and its projects in five (every CR page asks this, for the workflow).
    board = getattr(project, "_ccb_board", _UNSET)
    if board is _UNSET:
        chair_id = (
            Board.objects.filter(links__project_id=project.pk)
            .order_by("pk")  # the board board_of() reads (one per project)
            .values_list("chair_id", flat=True)
            .first()
        )
    else:
        chair_id = board.chair_id if board is not None else None
    return chair_id is not None and chair_id == user.pk


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


# ---------------------------------------------------------------- signature meaning

_ROLE_PHRASES = {
    "project_manager": gettext_lazy("as the project manager"),
    "tech_lead": gettext_lazy("as the tech lead"),
    "qa": gettext_lazy("as quality assurance"),
    "developer": gettext_lazy("as a developer"),
    "customer_rep": gettext_lazy("as the customer representative"),
    "customer": gettext_lazy("as the customer"),
}
_MEANINGS = {
    ("decision", "approve"): gettext_lazy("I approve change request %(key)s %(as)s."),
    ("decision", "reject"): gettext_lazy("I reject change request %(key)s %(as)s."),
    ("decision", "defer"): gettext_lazy("I vote to defer change request %(key)s %(as)s."),
    ("decision", "abstain"): gettext_lazy("I abstain on change request %(key)s %(as)s."),
    ("ratification", "approve"): gettext_lazy(
        "I ratify the emergency approval of change request %(key)s %(as)s."
    ),
    ("ratification", "reject"): gettext_lazy(
        "I refuse to ratify the emergency approval of change request %(key)s %(as)s."
    ),
    ("ratification", "abstain"): gettext_lazy(
        "I abstain on the ratification of change request %(key)s %(as)s."
    ),
}


def signature_meaning(*, key: str, purpose: str, decision: str, role: str) -> str:
    """The statement a voter signs with their password: what they agree to and in which
    capacity (21 CFR Part 11 style "meaning of the signature"), in the signer's language."""
    template = _MEANINGS.get((purpose, decision))
    if template is None:
        return ""
    phrase = _ROLE_PHRASES.get(role) or gettext_lazy("as a board member")
    return str(template) % {"key": key, "as": str(phrase)}
