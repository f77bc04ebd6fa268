"""Writes of boards. Each runs in one transaction and writes its audit event last."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.core import audit
from changeflow.core.access import role_in
from changeflow.core.errors import NotFound, PermissionDenied, ValidationError

from . import policy, selectors
from .models import BOARD_ROLES, Board, BoardMember, FreezeWindow, Rule
from .selectors import DELEGATION_FIELDS, BoardSpec

BOARD_FIELDS = (
    "members", "quorum", "rule", "threshold", "required_roles", "veto_roles", "delegation",
    "chair",
)  # fmt: skip
MAX_WEIGHT = Decimal("9999.99")
_LIMITS = {"max_effort_hours": 10, "max_cost": 14, "max_schedule_days": 8}  # max_digits


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
    held = {role for _u, role, _w in members}
    rule = data.get("rule") or Rule.MAJORITY
    if rule not in Rule.values:
        raise _bad("rule", _("One of: %s") % ", ".join(Rule.values))
    threshold = data.get("threshold")
    if threshold is not None:
        threshold = _decimal("threshold", threshold, digits=4, places=3)
        if not Decimal(0) < threshold <= 1:
            raise _bad("threshold", _("A share greater than 0 and at most 1."))
    if rule == Rule.WEIGHTED and threshold is None:
        raise _bad("threshold", _("The weighted rule needs a threshold."))
    quorum = data.get("quorum")
    if quorum is not None:
        if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
            raise _bad("quorum", _("A whole number of at least 1."))
        if quorum > len(members):
            raise _bad(
                "quorum",
                _("The quorum (%(q)d) is larger than the board (%(n)d members): it could never "
                  "be met.") % {"q": quorum, "n": len(members)},
            )  # fmt: skip
    required = _roles("required_roles", data.get("required_roles"))
    veto = _roles("veto_roles", data.get("veto_roles"))
    missing = [r for r in required if r not in held]
    if missing:
        raise _bad(
            "required_roles",
            _("No board member holds: %s. The policy could never be satisfied.")
            % ", ".join(missing),
        )
    missing = [r for r in veto if r not in held]
    if missing:
        raise _bad("veto_roles", _("No board member holds: %s.") % ", ".join(missing))
    delegation = data.get("delegation") or {}
    if not isinstance(delegation, dict):
        raise _bad("delegation", _("An object with max_effort_hours, max_cost, max_schedule_days."))
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
    chair = data.get("chair")
    chair_user = None
    if chair not in (None, ""):
        chair_user = next((u for u, _r, _w in members if u.username == chair), None)
        if chair_user is None:
            raise _bad("chair", _("The chair must be a member of the board."))
    return {
        "members": members, "rule": rule, "threshold": threshold, "quorum": quorum,
        "required_roles": required, "veto_roles": veto, "limits": limits, "chair": chair_user,
    }  # fmt: skip


def _may_manage(user: User, project: Project, refusal: str) -> None:
    """Site admins and the project's managers pass; other members get ``refusal`` (403),
    outsiders a 404."""
    if user.is_superuser:
        return
    role = role_in(user, project)
    if role is None:
        raise NotFound(_("No such project."))
    if role != Role.PROJECT_MANAGER:
        raise PermissionDenied(refusal)


def board_set(*, user: User, project: Project, data: dict[str, Any]) -> BoardSpec:
    """Configure (or replace) the project's board: members, policy, delegation, chair.

    Only the project's managers and site admins. Members must be members of the project; a
    policy that could never be satisfied is refused. Whether the requester of a CR votes on it
    is decided when votes are cast (never), not here.
    """
    _may_manage(user, project, _("Only the project's managers may change its board."))
    with transaction.atomic():
        # Locked like membership changes, so that no board member leaves the project meanwhile.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        clean = _clean(project, data)
        # The policy checks its own invariants too: a board it would refuse is never stored.
        try:
            policy.Policy(
                rule=clean["rule"], threshold=clean["threshold"], quorum=clean["quorum"],
                weights={u.username: w for u, _r, w in clean["members"]},
            )  # fmt: skip
        except ValueError as exc:  # pragma: no cover - _clean refuses all of these first
            raise _bad("rule", str(exc)) from None
        project.__dict__.pop("_ccb_board", None)
        old = Board.objects.filter(project=project).first()
        before = selectors.board_spec(project, selectors.board_of(project)).as_dict()
        board = old or Board(project=project)
        board.rule, board.threshold = clean["rule"], clean["threshold"]
        board.quorum = clean["quorum"]
        board.required_roles, board.veto_roles = clean["required_roles"], clean["veto_roles"]
        for name, value in clean["limits"].items():
            setattr(board, name, value)
        board.chair = clean["chair"]
        board.save()
        BoardMember.objects.filter(board=board).delete()
        BoardMember.objects.bulk_create(
            BoardMember(board=board, user=u, role=r, weight=w) for u, r, w in clean["members"]
        )
        project.__dict__.pop("_ccb_board", None)
        spec = selectors.board_spec(project, selectors.board_of(project))
        after = spec.as_dict()
        changed = {k: after[k] for k in after if after[k] != before.get(k)}
        audit.record(
            actor=user, action="board.set", object_type="board", object_key=project.key,
            project=project.key, before={k: before[k] for k in changed}, after=changed,
        )  # fmt: skip
    return spec


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
    _may_manage(user, project, _("Only the project's managers may change its freeze windows."))
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
    _may_manage(user, project, _("Only the project's managers may change its freeze windows."))
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
