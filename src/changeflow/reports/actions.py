"""Writes of improvement actions. Each runs in one transaction and writes its audit event last.

Roles (one place: ``require_manager`` / ``require_mover``, on top of ``reports.selectors``'
visibility): project managers and tech leads (and site admins) create, edit, cancel and reopen
actions and take any transition; the owner of an action updates its progress and starts and
completes it; everyone else who sees it reads. Customer roles do not see improvement actions
(``core.access`` treats them as internal), so every write of theirs is a 404 before it is a 403.

Writes are compare-and-set on ``version``: a write that lost the race, or that names a version
that is no longer current, is a 409 and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.changes.models import ChangeRequest
from changeflow.core import audit
from changeflow.core.errors import Conflict, PermissionDenied, PreconditionFailed, ValidationError
from changeflow.core.validation import clean_text, invalid

from . import selectors
from .models import ACTIVE_STATUSES, TEXT_MAX, TITLE_MAX, ActionStatus, ImprovementAction

S = ActionStatus
# The transitions: action → (the statuses it starts from, the status it leads to).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": ((S.OPEN,), S.IN_PROGRESS),
    "complete": ((S.OPEN, S.IN_PROGRESS), S.DONE),
    "cancel": ((S.OPEN, S.IN_PROGRESS), S.CANCELLED),
    "reopen": ((S.DONE, S.CANCELLED), S.OPEN),
}
# Their names, the choices of the API's ``action`` (named in the schema's ENUM_NAME_OVERRIDES).
TRANSITION_NAMES = tuple(TRANSITIONS)
TRANSITION_LABELS = {
    "start": gettext_lazy("Start"),
    "complete": gettext_lazy("Mark done"),
    "cancel": gettext_lazy("Cancel"),
    "reopen": gettext_lazy("Reopen"),
}
# What the owner may do to their own action; managers may do everything.
OWNER_TRANSITIONS = ("start", "complete")
MANAGER_FIELDS = ("title", "description", "problem", "owner", "due_date", "change_requests")
OWNER_FIELDS = ("progress",)
EDITABLE = (*MANAGER_FIELDS, *OWNER_FIELDS, "resolution")
MAX_LINKED = 100
# A reminder this many days before the due date (a notification kind the user may turn off).
REMIND_DAYS_BEFORE = 3


def require_manager(user: User, project: Project) -> None:
    """403 unless ``user`` creates and edits improvement actions of ``project``."""
    if not selectors.may_manage(user, project):
        raise PermissionDenied(
            _("Only project managers and tech leads create and edit improvement actions.")
        )


def require_mover(user: User, action: ImprovementAction) -> None:
    """403 unless ``user`` may write to ``action`` at all: a manager, or its owner."""
    if action.owner_id != user.pk:
        require_manager(user, action.project)


def available_transitions(*, user: User, action: ImprovementAction) -> list[str]:
    """The transitions ``user`` may take on ``action`` now."""
    manager = selectors.may_manage(user, action.project)
    owner = action.owner_id == user.pk
    return [
        name
        for name, (sources, _target) in TRANSITIONS.items()
        if action.status in sources and (manager or (owner and name in OWNER_TRANSITIONS))
    ]


# ------------------------------------------------------------------ cleaning


def _date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise invalid(name, _("A date is required (YYYY-MM-DD)."))
    if isinstance(value, dt.date):
        return value
    try:
        parsed = parse_date(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid(name, _("A date is required (YYYY-MM-DD)."))
    return parsed


def _progress(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid("progress", _("A whole number from 0 to 100 is required."))
    try:
        number = int(value)
    except ValueError:
        raise invalid("progress", _("A whole number from 0 to 100 is required.")) from None
    if not 0 <= number <= 100:
        raise invalid("progress", _("A whole number from 0 to 100 is required."))
    return number


def _owner(project: Project, username: Any) -> User:
    """A member of ``project`` who may own an action (``selectors.NOT_OWNERS`` may not)."""
    if not isinstance(username, str) or not username.strip():
        raise invalid("owner", _("This field is required."))
    member = (
        Membership.objects.filter(
            project_id=project.pk, user__username=username.strip(), user__is_active=True
        )
        .exclude(role__in=selectors.NOT_OWNERS)
        .select_related("user")
        .first()
    )
    if member is None:
        raise invalid(
            "owner", _("Not a member of the project's team: %(name)s") % {"name": username}
        )
    return member.user


def _change_requests(project: Project, keys: Any) -> list[ChangeRequest]:
    if keys is None:
        return []
    if isinstance(keys, str) or not isinstance(keys, Iterable):
        raise invalid("change_requests", _("A list of change request keys is required."))
    wanted = []
    for key in keys:
        if not isinstance(key, str):
            raise invalid("change_requests", _("A list of change request keys is required."))
        if key.strip() and key.strip() not in wanted:
            wanted.append(key.strip())
    if len(wanted) > MAX_LINKED:
        raise invalid("change_requests", _("At most %(n)d items.") % {"n": MAX_LINKED})
    found = {
        cr.key: cr
        for cr in ChangeRequest.objects.filter(project_id=project.pk, key__in=wanted).only(
            "id", "key"
        )
    }
    missing = [k for k in wanted if k not in found]
    if missing:
        raise invalid(
            "change_requests",
            _("No such change request in this project: %(keys)s") % {"keys": ", ".join(missing)},
        )
    return [found[k] for k in wanted]


def snapshot(action: ImprovementAction, crs: list[ChangeRequest] | None = None) -> dict:
    """The fields of ``action`` as the audit log keeps them."""
    data = {
        "title": action.title,
        "description": action.description,
        "problem": action.problem,
        "owner": action.owner.username,
        "due_date": action.due_date,
        "status": action.status,
        "progress": action.progress,
    }
    if crs is not None:
        data["change_requests"] = [cr.key for cr in crs]
    return data


def _record(user: User | str, verb: str, action: ImprovementAction, **kwargs: Any) -> None:
    audit.record(
        actor=user, action=f"improvement.{verb}", object_type="improvement_action",
        object_key=action.key, project=action.project.key, internal=True, **kwargs,
    )  # fmt: skip


# ------------------------------------------------------------------ writes


def improvement_create(
    *,
    user: User,
    project: Project,
    title: Any,
    owner: Any,
    due_date: Any,
    description: Any = "",
    problem: Any = "",
    change_requests: Any = None,
) -> ImprovementAction:
    """A new open action of ``project`` with the next key ``<KEY>-I<n>``."""
    require_manager(user, project)
    action = ImprovementAction(
        project=project,
        title=clean_text("title", title, TITLE_MAX, required=True),
        description=clean_text("description", description, TEXT_MAX),
        problem=clean_text("problem", problem, TEXT_MAX),
        owner=_owner(project, owner),
        due_date=_date("due_date", due_date),
        created_by=user,
    )
    crs = _change_requests(project, change_requests)
    with transaction.atomic():
        # The project row is the numbering lock, as for requirements: two creations never take
        # the same number.
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        last = ImprovementAction.objects.filter(project=project).aggregate(n=Max("number"))["n"]
        action.number = (last or 0) + 1
        action.key = f"{project.key}-I{action.number}"
        action.save()
        action.change_requests.set(crs)
        _record(user, "created", action, after=snapshot(action, crs))
    return action


def _fresh(action: ImprovementAction, expected_version: int | None) -> ImprovementAction:
    fresh = ImprovementAction.objects.select_related("project", "owner").get(pk=action.pk)
    if expected_version is not None and fresh.version != expected_version:
        raise Conflict(
            _("The improvement action was changed by someone else (version %(v)d is current).")
            % {"v": fresh.version},
            code="stale_version",
        )
    return fresh


def _save(fresh: ImprovementAction, columns: dict[str, Any]) -> None:
    """Compare-and-set on the version: zero rows means someone else wrote first (409)."""
    won = ImprovementAction.objects.filter(pk=fresh.pk, version=fresh.version).update(
        **columns, version=F("version") + 1, updated_at=timezone.now()
    )
    if not won:
        raise Conflict(_("The improvement action was changed by someone else."))
    fresh.version += 1


def improvement_update(
    *,
    user: User,
    action: ImprovementAction,
    data: dict[str, Any],
    expected_version: int | None = None,
) -> ImprovementAction:
    """Change fields; each changed field is audited old → new. Managers change everything;
    the owner only the progress (and nothing else: a 403 names the field)."""
    data = dict(data)
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in unknown},
        )
    require_mover(user, action)
    project = action.project
    manager = selectors.may_manage(user, project)
    with transaction.atomic():
        fresh = _fresh(action, expected_version)
        old_crs = list(fresh.change_requests.order_by("number").only("id", "key"))
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        new_crs: list[ChangeRequest] | None = None
        for name, raw in data.items():
            if name == "title":
                value: Any = clean_text(name, raw, TITLE_MAX, required=True)
            elif name in ("description", "problem", "resolution"):
                value = clean_text(name, raw, TEXT_MAX)
            elif name == "owner":
                value = _owner(project, raw)
            elif name == "due_date":
                value = _date(name, raw)
            elif name == "progress":
                value = _progress(raw)
            else:  # change_requests
                new_crs = _change_requests(project, raw)
                if [c.pk for c in new_crs] != [c.pk for c in old_crs]:
                    before[name] = [c.key for c in old_crs]
                    after[name] = [c.key for c in new_crs]
                continue
            old = getattr(fresh, name)
            if old != value:
                if name == "owner":
                    before[name], after[name] = old.username, value.username
                else:
                    before[name], after[name] = old, value
                columns[name] = value
        if not after:
            return fresh
        if not manager:
            refused = sorted(set(after) - set(OWNER_FIELDS))
            if refused:
                raise PermissionDenied(
                    _("The owner of an action updates its progress and status only."),
                    fields={k: [_("You may not change this field.")] for k in refused},
                )
        if "progress" in columns and fresh.status not in ACTIVE_STATUSES:
            raise PreconditionFailed(
                _("The progress of a closed action does not change; reopen it first."),
                fields={"progress": [_("Reopen the action first.")]},
            )
        if "resolution" in columns and fresh.status != S.DONE:
            raise PreconditionFailed(
                _("A resolution is recorded when the action is done."),
                fields={"resolution": [_("Mark the action done to record its resolution.")]},
            )
        if "resolution" in columns and not columns["resolution"]:
            raise invalid("resolution", _("A done action keeps its resolution."))
        _save(fresh, columns)
        for name, value in columns.items():
            setattr(fresh, name, value)
        if new_crs is not None and "change_requests" in after:
            fresh.change_requests.set(new_crs)
        _record(user, "updated", fresh, before=before, after=after | {"version": fresh.version})
    return fresh


def improvement_transition(
    *,
    user: User,
    action: ImprovementAction,
    name: str,
    resolution: Any = "",
    comment: Any = "",
    expected_version: int | None = None,
) -> ImprovementAction:
    """Take transition ``name`` (``TRANSITIONS``). ``complete`` needs a resolution: what was
    changed in the process and the evidence that it works. ``reopen`` makes an action open
    again (its overdue notice may then be given again)."""
    if name not in TRANSITIONS:
        raise invalid("action", _("Unknown action: %(name)s") % {"name": name})
    require_mover(user, action)
    if name not in OWNER_TRANSITIONS:
        require_manager(user, action.project)
    resolution = clean_text("resolution", resolution, TEXT_MAX)
    comment = clean_text("comment", comment, TEXT_MAX)
    sources, target = TRANSITIONS[name]
    with transaction.atomic():
        fresh = _fresh(action, expected_version)
        if fresh.status not in sources:
            raise Conflict(
                _("Not possible while the action is %(status)s.")
                % {"status": ActionStatus(fresh.status).label},
                code="invalid_transition",
            )
        columns: dict[str, Any] = {"status": target}
        if name == "complete":
            if not resolution:
                raise PreconditionFailed(
                    _("Say what was changed and the evidence before marking it done."),
                    code="resolution_required",
                    fields={"resolution": [_("This field is required.")]},
                )
            columns |= {"resolution": resolution, "progress": 100, "closed_at": timezone.now()}
        elif name == "cancel":
            columns["closed_at"] = timezone.now()
        elif name == "reopen":
            columns |= {"closed_at": None, "overdue_noticed_for": None, "reminded_for": None}
        before = {"status": fresh.status}
        _save(fresh, columns)
        for key, value in columns.items():
            setattr(fresh, key, value)
        after: dict[str, Any] = {"status": target, "version": fresh.version}
        if name == "complete":
            after["resolution"] = resolution
        if comment:
            after["comment"] = comment
        _record(user, name, fresh, before=before, after=after)
    return fresh


# ------------------------------------------------------------------ the periodic job


def _managers(project_id: int) -> list[str]:
    return list(
        Membership.objects.filter(
            project_id=project_id, role=Role.PROJECT_MANAGER, user__is_active=True
        ).values_list("user__username", flat=True)
    )


def _announce(verb: str, column: str, candidates, notify) -> int:
    """Record ``improvement.<verb>`` once per action and due date: ``column`` is set to the due
    date by compare-and-set in the same transaction as the event, so exactly one run (of one
    worker) records it, and a later run finds nothing to say until the due date changes."""
    sent = 0
    for action in candidates:
        with transaction.atomic():
            won = (
                ImprovementAction.objects.filter(
                    pk=action.pk, due_date=action.due_date, status__in=ACTIVE_STATUSES
                )
                .exclude(**{column: action.due_date})
                .update(**{column: action.due_date})
            )
            if not won:
                continue
            _record(
                "system", verb, action,
                after={"notify": notify(action), "title": action.title,
                       "due_date": action.due_date, "owner": action.owner.username},
            )  # fmt: skip
        sent += 1
    return sent


def check_due(now: dt.datetime | None = None) -> int:
    """Tell owners (and, once overdue, the project managers) about actions past their due date,
    and owners about those due within ``REMIND_DAYS_BEFORE`` days; each once per due date
    however often this runs. Returns how many events were recorded."""
    today = timezone.localdate(now) if now else timezone.localdate()
    active = ImprovementAction.objects.filter(status__in=ACTIVE_STATUSES).select_related(
        "project", "owner"
    )
    overdue = active.filter(due_date__lt=today).exclude(overdue_noticed_for=F("due_date"))
    soon = active.filter(
        due_date__gte=today, due_date__lte=today + dt.timedelta(days=REMIND_DAYS_BEFORE)
    ).exclude(Q(reminded_for=F("due_date")))
    sent = _announce(
        "overdue", "overdue_noticed_for", list(overdue.order_by("pk")),
        lambda a: sorted({a.owner.username, *_managers(a.project_id)}),
    )  # fmt: skip
    sent += _announce(
        "due_soon", "reminded_for", list(soon.order_by("pk")), lambda a: [a.owner.username]
    )
    return sent
