"""Writes of boards. Each runs in one transaction and writes its audit event last."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.core import audit
from changeflow.core.access import manages, role_in
from changeflow.core.errors import NotFound, PermissionDenied, PreconditionFailed, ValidationError
from changeflow.core.validation import in_utc

from . import policy, selectors
from .models import BOARD_ROLES, Board, BoardMember, BoardProject, FreezeWindow, Rule
from .selectors import DELEGATION_FIELDS, BoardSpec

BOARD_FIELDS = (
    "members", "quorum", "rule", "threshold", "required_roles", "veto_roles", "delegation",
    "chair", "name", "projects", "ratification_days",
)  # fmt: skip
MAX_WEIGHT = Decimal("9999.99")
# max_digits of each delegation threshold (the project's columns)
_LIMITS = {"max_effort_hours": 10, "max_cost": 14, "max_schedule_days": 8, "max_risk_exposure": 5}


def policy_problem_message(code: str, params: dict[str, Any]) -> str:
    """A policy problem (``policy.problems``) in the user's language."""
    messages = {
        "no_members": _("A board needs at least one member."),
        "unknown_rule": _("Unknown rule %(rule)s."),
        "threshold_needed": _(
            "The weighted rule needs a threshold greater than 0 and at most 1: no share of the "
            "votes could ever reach it otherwise."
        ),
        "threshold_range": _(
            "A threshold greater than 0 and at most 1: no share of the votes could ever "
            "reach it otherwise."
        ),
        "quorum_too_large": _(
            "The quorum (%(q)s) is larger than the board (%(n)s members): it could never be met."
        ),
        "role_not_held": _(
            "No board member holds: %(roles)s. The policy could never be satisfied."
        ),
    }
    return messages[code] % params if params else messages[code]


def _bad(name: str, message: str) -> ValidationError:
    return ValidationError(_("Some fields are invalid."), fields={name: [message]})


def _decimal(name: str, value: Any, *, digits: int, places: int = 2) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _bad(name, _("A number is required."))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(name, _("A number is required.")) from None
    if not number.is_finite():
        raise _bad(name, _("A number is required."))
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise _bad(name, _("At most %(n)d decimal places.") % {"n": places})
    if abs(number) >= Decimal(10) ** (digits - places):
        raise _bad(name, _("The number is too large."))
    return number


def _roles(name: str, value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(r, str) for r in value):
        raise _bad(name, _("A list of roles."))
    unknown = sorted({r for r in value if r not in BOARD_ROLES})
    if unknown:
        raise _bad(
            name,
            _("Unknown roles: %(roles)s. One of: %(valid)s")
            % {"roles": ", ".join(unknown), "valid": ", ".join(BOARD_ROLES)},
        )
    return sorted(set(value), key=BOARD_ROLES.index)


def _members(project: Project, value: Any) -> list[tuple[User, str, Decimal]]:
    if not isinstance(value, list | tuple) or not value:
        raise _bad("members", _("A board needs at least one member."))
    if len(value) > 100:
        raise _bad("members", _("At most 100 members."))
    names = [m.get("username") if isinstance(m, dict) else None for m in value]
    memberships = {
        m.user.username: m
        for m in Membership.objects.filter(
            project=project, user__is_active=True, user__username__in=[n for n in names if n]
        ).select_related("user")
    }
    seen: set[str] = set()
    cleaned = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("username"), str):
            raise _bad("members", _("Member %(i)d: a username is required.") % {"i": i})
        unknown = sorted(set(item) - {"username", "role", "weight"})
        if unknown:
            raise _bad(
                "members",
                _("Member %(i)d: unknown fields: %(f)s") % {"i": i, "f": ", ".join(unknown)},
            )
        username = item["username"]
        membership = memberships.get(username)
        if membership is None:
            raise _bad(
                "members",
                _("Member %(i)d: %(name)s is not a member of the project.")
                % {"i": i, "name": username},
            )
        if username in seen:
            message = _("Member %(i)d: %(name)s is listed twice.")
            raise _bad("members", message % {"i": i, "name": username})
        seen.add(username)
        role = item.get("role") or membership.role
        if role not in BOARD_ROLES:
            raise _bad(
                "members",
                _("Member %(i)d: the role must be one of: %(valid)s")
                % {"i": i, "valid": ", ".join(BOARD_ROLES)},
            )
        weight = item.get("weight", 1)
        weight = _decimal("members", 1 if weight is None else weight, digits=6)
        if not Decimal(0) < weight <= MAX_WEIGHT:
            raise _bad(
                "members",
                _("Member %(i)d: the weight must be greater than 0 and at most %(max)s.")
                % {"i": i, "max": MAX_WEIGHT},
            )
        cleaned.append((membership.user, role, weight))
    return cleaned


def _clean(project: Project, data: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(BOARD_FIELDS))
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("Unknown field.")] for k in unknown},
        )
    members = _members(project, data.get("members"))
    {role for _u, role, _w in members}
    rule = data.get("rule") or Rule.MAJORITY
    if rule not in Rule.values:
        raise _bad("rule", _("One of: %s") % ", ".join(Rule.values))
    threshold = data.get("threshold")
    if threshold is not None:
        threshold = _decimal("threshold", threshold, digits=4, places=3)
    quorum = data.get("quorum")
    if quorum is not None and (
        isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1
    ):
        raise _bad("quorum", _("A whole number of at least 1."))
    required = _roles("required_roles", data.get("required_roles"))
    veto = _roles("veto_roles", data.get("veto_roles"))
    days = data.get("ratification_days")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365
    ):
        raise _bad("ratification_days", _("A whole number of days from 1 to 365."))
    board_name = data.get("name") or ""
    if not isinstance(board_name, str) or len(board_name) > 200:
        raise _bad("name", _("At most %(n)d characters.") % {"n": 200})
    delegation = data.get("delegation") or {}
    if not isinstance(delegation, dict):
        raise _bad(
            "delegation",
            _("An object with max_effort_hours, max_cost, max_schedule_days, max_risk_exposure."),
        )
    extra = sorted(set(delegation) - set(DELEGATION_FIELDS))
    if extra:
        raise _bad("delegation", _("Unknown fields: %s") % ", ".join(extra))
    limits: dict[str, Decimal | None] = {}
    for name in DELEGATION_FIELDS:
        value = delegation.get(name)
        if value is not None:
            value = _decimal(f"delegation.{name}", value, digits=_LIMITS[name])
            if value < 0:
                raise _bad(f"delegation.{name}", _("Zero or more."))
        limits[name] = value
    risk = limits.get("max_risk_exposure")
    if risk is not None and risk > 5:
        raise _bad("delegation.max_risk_exposure", _("A risk exposure is at most 5."))
    chair = data.get("chair")
    chair_user = None
    if chair not in (None, ""):
        chair_user = next((u for u, _r, _w in members if u.username == chair), None)
        if chair_user is None:
            raise _bad("chair", _("The chair must be a member of the board."))
    # Well-formed: now whether the board could ever decide (422 naming each problem).
    found = policy.problems(
        members={u.username: r for u, r, _w in members}, rule=rule, threshold=threshold,
        quorum=quorum, required_roles=required, veto_roles=veto,
    )  # fmt: skip
    if found:
        raise PreconditionFailed(
            _("The board's policy could never be satisfied."), code="unsatisfiable_policy",
            fields={k: [policy_problem_message(c, prm)] for k, (c, prm) in found.items()},
        )  # fmt: skip
    return {
        "members": members, "rule": rule, "threshold": threshold, "quorum": quorum,
        "required_roles": required, "veto_roles": veto, "limits": limits, "chair": chair_user,
        "name": board_name.strip(), "ratification_days": days,
        "delegation_given": "delegation" in data,
    }  # fmt: skip


def removal_check(*, project: Project, username: str) -> None:
    """Refuse (422, naming why) to let ``username`` leave ``project`` when their seat on the
    project's board is one its policy cannot do without — e.g. the only holder of a required
    role: the board could then never decide the project's CRs. Change the board first.

    A seat of someone who may leave is kept (the board may serve other projects where they are
    still a member); it just no longer votes on this project's CRs."""
    # Read afresh, not through board_of's per-object cache: the caller keeps using ``project``.
    board = Board.objects.filter(links__project_id=project.pk).first()
    if board is None:
        return
    seats = dict(board.members.values_list("user__username", "role"))
    if username not in seats:
        return
    staying = set(
        Membership.objects.filter(project=project, user__is_active=True)
        .exclude(user__username=username)
        .values_list("user__username", flat=True)
    )
    left = {u: r for u, r in seats.items() if u in staying}
    found = policy.problems(
        members=left, rule=board.rule, threshold=board.threshold,
        # the tally caps the quorum at the members left, so a smaller board still decides
        quorum=min(board.quorum, len(left)) if board.quorum and left else board.quorum,
        required_roles=board.required_roles, veto_roles=board.veto_roles,
    )  # fmt: skip
    if found:
        raise PreconditionFailed(
            _("%(user)s sits on the change control board, which could no longer decide "
              "without them: change the board first.") % {"user": username},
            code="board_needs_member",
            fields={k: [policy_problem_message(c, prm)] for k, (c, prm) in found.items()},
        )  # fmt: skip


def _may_manage(user: User, project: Project, refusal: str) -> None:
    """Site admins and the project's managers pass; other members get ``refusal`` (403),
    outsiders a 404."""
    if manages(user, project):
        return
    if role_in(user, project) is None:
        raise NotFound(_("No such project."))
    raise PermissionDenied(refusal)


def require_board_manager(user: User, project: Project) -> None:
    """The one check before ``project``'s board or delegation is changed: its managers and
    site admins (other members 403, outsiders 404)."""
    _may_manage(user, project, _("Only the project's managers may change its board."))


def require_freeze_manager(user: User, project: Project) -> None:
    """The one check before a freeze window of ``project`` is added or removed, whatever the
    window: the project's managers and site admins (other members 403, outsiders 404)."""
    _may_manage(user, project, _("Only the project's managers may change its freeze windows."))


def _served(user: User, project: Project, value: Any) -> list[Project]:
    """The projects a board is to serve: ``project`` and any others listed by key, each of
    which ``user`` must manage (the board decides for them too)."""
    if value in (None, ""):
        return [project]
    if not isinstance(value, list | tuple) or not all(isinstance(k, str) for k in value):
        raise _bad("projects", _("A list of project keys."))
    keys = sorted(set(value) | {project.key})
    found = {p.key: p for p in Project.objects.filter(key__in=keys)}
    served = []
    for key in keys:
        other = found.get(key)
        if other is None or (not user.is_superuser and role_in(user, other) is None):
            raise _bad("projects", _("No such project: %s") % key)
        if not user.is_superuser and role_in(user, other) != Role.PROJECT_MANAGER:
            raise PermissionDenied(
                _("Only a manager of %s may put it under this board.") % key,
                fields={"projects": [_("You do not manage %s.") % key]},
            )
        served.append(other)
    return served


def board_set(*, user: User, project: Project, data: dict[str, Any]) -> BoardSpec:
    """Configure (or replace) the project's board: members, policy, chair, the projects it
    serves, and the project's delegation thresholds.

    Only the project's managers and site admins (and, for a board shared by several projects,
    managers of each). Members must be members of the project; a policy that could never be
    satisfied is refused (422). A CR already in review keeps the board it started with
    (``VotingSnapshot``); the new board decides from the next review on.
    """
    require_board_manager(user, project)
    with transaction.atomic():
        # Locked like membership changes, so that no board member leaves the project meanwhile.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        project.refresh_from_db()
        project.__dict__.pop("_ccb_members", None)
        clean = _clean(project, data)
        current = selectors.board_of(project)
        served = _served(
            user, project,
            data.get("projects") if "projects" in data or current is None
            else [link.project.key for link in current.links.all()],
        )  # fmt: skip
        # The policy checks its own invariants too: a board it would refuse is never stored.
        try:
            policy.Policy(
                rule=clean["rule"], threshold=clean["threshold"], quorum=clean["quorum"],
                weights={u.username: w for u, _r, w in clean["members"]},
            )  # fmt: skip
        except ValueError as exc:  # pragma: no cover - _clean refuses all of these first
            raise _bad("rule", str(exc)) from None
        project.__dict__.pop("_ccb_board", None)
        before = selectors.board_spec(project, current).as_dict()
        board = current or Board()
        board.rule, board.threshold = clean["rule"], clean["threshold"]
        board.quorum = clean["quorum"]
        board.required_roles, board.veto_roles = clean["required_roles"], clean["veto_roles"]
        board.chair = clean["chair"]
        board.name = clean["name"]
        board.ratification_days = clean["ratification_days"]
        board.save()
        if clean["delegation_given"]:
            Project.objects.filter(pk=project.pk).update(
                **{selectors.PROJECT_DELEGATION[f]: v for f, v in clean["limits"].items()}
            )
            project.refresh_from_db()
        BoardMember.objects.filter(board=board).delete()
        BoardMember.objects.bulk_create(
            BoardMember(board=board, user=u, role=r, weight=w) for u, r, w in clean["members"]
        )
        # The projects served: others move here from their board (left empty, it goes).
        ids = [p.pk for p in served]
        BoardProject.objects.filter(board=board).exclude(project_id__in=ids).delete()
        moved_from = set(
            BoardProject.objects.filter(project_id__in=ids)
            .exclude(board=board)
            .values_list("board_id", flat=True)
        )
        BoardProject.objects.filter(project_id__in=ids).exclude(board=board).delete()
        have = set(BoardProject.objects.filter(board=board).values_list("project_id", flat=True))
        BoardProject.objects.bulk_create(
            BoardProject(board=board, project_id=pk) for pk in ids if pk not in have
        )
        Board.objects.filter(pk__in=moved_from, links__isnull=True).delete()
        project.__dict__.pop("_ccb_board", None)
        spec = selectors.board_spec(project, selectors.board_of(project))
        after = spec.as_dict()
        changed = {k: after[k] for k in after if after[k] != before.get(k)}
        audit.record(
            actor=user, action="board.set", object_type="board", object_key=project.key,
            project=project.key, before={k: before[k] for k in changed}, after=changed,
        )  # fmt: skip
    return spec


def board_remove(*, user: User, project: Project) -> None:
    """Stop using a configured board for ``project``: the default board applies again (the
    board itself goes when it serves no other project)."""
    require_board_manager(user, project)
    with transaction.atomic():
        link = BoardProject.objects.select_for_update().filter(project=project).first()
        if link is None:
            return
        board_id = link.board_id
        link.delete()
        Board.objects.filter(pk=board_id, links__isnull=True).delete()
        project.__dict__.pop("_ccb_board", None)
        audit.record(
            actor=user, action="board.removed", object_type="board", object_key=project.key,
            project=project.key, before={"board": board_id},
        )  # fmt: skip


def delegation_set(*, user: User, project: Project, limits: dict[str, Any]) -> dict[str, Any]:
    """Set the project's delegation thresholds alone (the board settings page's form).
    Missing or empty ones are cleared: no threshold set means no delegation."""
    require_board_manager(user, project)
    clean: dict[str, Decimal | None] = {}
    for name in DELEGATION_FIELDS:
        value = limits.get(name)
        if value in (None, ""):
            clean[name] = None
            continue
        value = _decimal(f"delegation.{name}", value, digits=_LIMITS[name])
        if value < 0 or (name == "max_risk_exposure" and value > 5):
            raise _bad(f"delegation.{name}", _("Out of range."))
        clean[name] = value
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        project.refresh_from_db()
        before = selectors.delegation_of(project)
        Project.objects.filter(pk=project.pk).update(
            **{selectors.PROJECT_DELEGATION[f]: v for f, v in clean.items()}
        )
        project.refresh_from_db()
        changed = {k: v for k, v in clean.items() if before[k] != v}
        if changed:
            audit.record(
                actor=user, action="delegation.set", object_type="project",
                object_key=project.key, project=project.key,
                before={k: before[k] for k in changed}, after=changed,
            )  # fmt: skip
    return selectors.delegation_of(project)


# ---------------------------------------------------------------- freeze windows

NAME_MAX = 200
REASON_MAX = 2000


def _moment(name: str, value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise _bad(name, _("A date and time in ISO 8601 is required."))
        value = parsed
    if not isinstance(value, dt.datetime):
        raise _bad(name, _("A date and time in ISO 8601 is required."))
    if timezone.is_naive(value):
        raise _bad(name, _("The time zone is missing (e.g. +08:00 or Z)."))
    value = in_utc(value)
    if value is None:
        raise _bad(name, _("Out of range."))
    return value


def _window_audit(window: FreezeWindow) -> dict[str, Any]:
    return {
        "id": window.pk, "name": window.name, "starts_at": window.starts_at,
        "ends_at": window.ends_at, "reason": window.reason,
    }  # fmt: skip


def freeze_window_create(
    *, user: User, project: Project, name: str, starts_at: Any, ends_at: Any, reason: str = ""
) -> FreezeWindow:
    """Add a change freeze to ``project``: from ``starts_at`` (inclusive) to ``ends_at``
    (exclusive), both timezone-aware. Inside it only emergency CRs start implementation.

    Only the project's managers and site admins.
    """
    require_freeze_manager(user, project)
    if not isinstance(name, str) or not name.strip():
        raise _bad("name", _("A name is required."))
    name = name.strip()
    if len(name) > NAME_MAX:
        raise _bad("name", _("At most %(n)d characters.") % {"n": NAME_MAX})
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise _bad("reason", _("Text is required."))
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise _bad("reason", _("At most %(n)d characters.") % {"n": REASON_MAX})
    starts = _moment("starts_at", starts_at)
    ends = _moment("ends_at", ends_at)
    if ends <= starts:
        raise _bad("ends_at", _("The window must end after it starts."))
    with transaction.atomic():
        window = FreezeWindow.objects.create(
            project=project, name=name, starts_at=starts, ends_at=ends, reason=reason,
            created_by=user,
        )  # fmt: skip
        audit.record(
            actor=user, action="freeze_window.created", object_type="freeze_window",
            object_key=str(window.pk), project=project.key, after=_window_audit(window),
        )  # fmt: skip
    return window


def freeze_window_delete(*, user: User, window: FreezeWindow) -> None:
    """Remove a freeze window. Only the project's managers and site admins."""
    project = window.project
    require_freeze_manager(user, project)
    with transaction.atomic():
        locked = FreezeWindow.objects.select_for_update().filter(pk=window.pk).first()
        if locked is None:
            raise NotFound(_("No such freeze window."))
        before = _window_audit(locked)
        locked.delete()
        audit.record(
            actor=user, action="freeze_window.deleted", object_type="freeze_window",
            object_key=str(before["id"]), project=project.key, before=before,
        )  # fmt: skip


# ---------------------------------------------------------------- votes reset on material change

# What makes a change "material" for the board (documented in docs and tested): any change of
# a figure the board decided on — effort hours, cost or its currency, schedule days — or of
# the risks' exposure (a risk added, removed, or its probability or impact changed). Notes,
# the method, the resource breakdown or a risk's wording or mitigation are not material: the
# votes stand.
MATERIAL_FIGURES = ("effort_hours", "cost", "currency", "schedule_days")


def assessment_figures(assessment: Any) -> dict[str, Any]:
    """The facts of an assessment (an ``ImpactAssessment`` or None) the board votes on."""
    if assessment is None:
        return dict.fromkeys(MATERIAL_FIGURES) | {"risks": []}
    risks = sorted(
        (str(Decimal(r.probability).quantize(Decimal("0.001"))), int(r.impact))
        for r in assessment.risks.all()
    )
    return {f: getattr(assessment, f) for f in MATERIAL_FIGURES} | {"risks": risks}


def material_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The names of the material facts that differ between two ``assessment_figures``."""
    changed = [f for f in MATERIAL_FIGURES if before.get(f) != after.get(f)]
    if before.get("risks", []) != after.get("risks", []):
        changed.append("risks")
    return changed


MATERIAL_LABELS = {
    "effort_hours": gettext_lazy("effort"),
    "cost": gettext_lazy("cost"),
    "currency": gettext_lazy("currency"),
    "schedule_days": gettext_lazy("schedule"),
    "risks": gettext_lazy("risks"),
}


def material_reason(version: int, changed: list[str]) -> str:
    """Why the votes were reset, in the actor's language: the assessment's version and the
    material facts that changed."""
    return _("The impact assessment changed materially (version %(v)d: %(f)s).") % {
        "v": version, "f": ", ".join(str(MATERIAL_LABELS.get(c, c)) for c in changed),
    }  # fmt: skip


def _purpose_now(cr: Any) -> str | None:
    from changeflow.changes.models import Ratification, VotePurpose
    from changeflow.changes.workflow import State

    if cr.ratification == Ratification.PENDING:
        return VotePurpose.RATIFICATION
    if cr.state == State.IN_REVIEW:
        return VotePurpose.DECISION
    return None


def reset_votes(*, cr: Any, reason: str, by: User | str) -> int:
    """Void the votes cast so far on what ``cr`` is being voted on now, because it changed
    materially since (an assessment's figures, a change set). The votes are kept, marked
    void with the reason, and no longer count; the members vote again on what it is now.

    Runs in the caller's transaction (or its own). Records ``votes.reset`` whose ``after``
    names the reason and who must be told (``notify``: the voters and the eligible members).
    Returns how many votes were voided; nothing is recorded when none had been cast.
    """
    from changeflow.changes.models import ChangeRequest, Vote

    reason = (reason or "").strip()
    if not reason:
        raise _bad("reason", _("Say why the votes are reset."))
    with transaction.atomic():
        fresh = (
            ChangeRequest.objects.select_for_update()
            .select_related("project", "requested_by")
            .get(pk=cr.pk)
        )
        purpose = _purpose_now(fresh)
        if purpose is None:
            return 0
        rnd = fresh.review_round if purpose == "decision" else 1
        live = Vote.objects.filter(
            change_request=fresh, purpose=purpose, round=rnd, voided_at__isnull=True
        )
        voters = sorted(live.values_list("voter__username", flat=True))
        if not voters:
            return 0
        now = timezone.now()
        count = live.update(voided_at=now, void_reason=reason[:100_000])
        eligible = selectors.voting_for(fresh, purpose, rnd).eligible
        audit.record(
            actor=by, action="votes.reset", object_type="change_request",
            object_key=fresh.key, project=fresh.project.key,
            before={"voters": voters},
            after={"reason": reason, "purpose": purpose, "round": rnd, "voided": count,
                   "notify": sorted(set(voters) | set(eligible))},
        )  # fmt: skip
    return count
