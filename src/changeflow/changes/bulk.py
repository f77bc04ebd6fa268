"""Bulk changes: one operation (assign, set the priority, add a label, triage...) on many
change requests at once, all or nothing.

``BulkOperation`` is the pure description of what to do (``BulkOperation.parse`` reads and
checks it: a 400 naming the bad field); ``change_request_bulk`` applies it. Each CR goes
through the service a single edit uses (``change_request_update`` for fields and the assignee,
``change_request_transition`` for a workflow action), so rights, workflow rules, audit events
and notifications are exactly those of doing it one by one.

All or nothing: the CRs are locked (in id order, so that two bulk operations never wait on
each other crosswise), every one is checked first, and if any would be refused nothing is
written and ``BulkRefused`` names each refused CR with the reason. Otherwise all are applied in
that one transaction; their notifications and webhooks leave after it commits (``audit.record``
announces on commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Membership, Project, User
from changeflow.core.access import restrict, role_in
from changeflow.core.errors import (
    ApplicationError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    TooLarge,
    ValidationError,
)

from . import services, workflow
from .models import ChangeRequest, ChangeType, Priority
from .workflow import Action, Context

ASSIGN = "assign"
UNASSIGN = "unassign"
PRIORITY = "priority"
TYPE = "type"
ADD_LABEL = "add_label"
REMOVE_LABEL = "remove_label"
ACTION = "action"

OPERATIONS = {
    ASSIGN: gettext_lazy("Assign to"),
    UNASSIGN: gettext_lazy("Unassign"),
    PRIORITY: gettext_lazy("Set priority"),
    TYPE: gettext_lazy("Set type"),
    ADD_LABEL: gettext_lazy("Add label"),
    REMOVE_LABEL: gettext_lazy("Remove label"),
    ACTION: gettext_lazy("Workflow action"),
}
# The operations' names: the API's ``operation`` (BulkOperationEnum in the schema).
OPERATION_NAMES = tuple(OPERATIONS)
# The workflow actions a bulk operation may take: every one a person takes (not the board's).
BULK_ACTIONS = tuple(a.value for a, t in workflow.TABLE.items() if not t.board_only)
# Roles that may ask for a bulk change at all (each CR is then checked as a single edit is):
# the team. Customers and viewers work on their CRs one by one.
BULK_ROLES = frozenset(workflow.ROLES) - workflow.CUSTOMER_ROLES - {workflow.VIEWER}
LABEL_MAX = 50


def limit() -> int:
    """How many change requests one bulk request may touch (``CHANGEFLOW_BULK_MAX``)."""
    return int(settings.CHANGEFLOW_BULK_MAX)


class BulkRefused(PreconditionFailed):
    """Some CRs would be refused: nothing was written. ``refusals``: key → reason."""

    code = "bulk_refused"

    def __init__(self, refusals: dict[str, str]):
        self.refusals = dict(sorted(refusals.items(), key=lambda kv: _key_order(kv[0])))
        super().__init__(
            _("%(count)d of the change requests cannot be changed so: nothing was changed.")
            % {"count": len(self.refusals)},
            fields={key: [reason] for key, reason in self.refusals.items()},
        )


@dataclass(frozen=True)
class BulkOperation:
    """What to do to every CR: ``kind`` (one of ``OPERATIONS``) and its ``value`` (a username,
    a priority, a type, a label or a workflow action); ``comment`` goes with an action."""

    kind: str
    value: str = ""
    comment: str = ""

    @classmethod
    def parse(cls, data: dict[str, Any]) -> BulkOperation:
        """The operation ``data`` describes (``operation`` and its field: ``assignee``,
        ``priority``, ``type``, ``label`` or ``action`` with ``comment``); a 400 naming the
        field that is missing or wrong."""
        kind = _text(data.get("operation"))
        if kind not in OPERATIONS:
            raise _invalid("operation", _("One of: %s") % ", ".join(OPERATIONS))
        field = _VALUE_FIELD.get(kind, "")
        value = _text(data.get(field)) if field else ""
        comment = _text(data.get("comment"))
        if field and not value:
            raise _invalid(field, _("Required for this operation."))
        if kind == PRIORITY and value not in Priority.values:
            raise _invalid(field, _("One of: %s") % ", ".join(Priority.values))
        if kind == TYPE and value not in ChangeType.values:
            raise _invalid(field, _("One of: %s") % ", ".join(ChangeType.values))
        if kind in (ADD_LABEL, REMOVE_LABEL) and len(value) > LABEL_MAX:
            raise _invalid(field, _("At most %d characters.") % LABEL_MAX)
        if kind == ACTION and value not in BULK_ACTIONS:
            raise _invalid(field, _("One of: %s") % ", ".join(BULK_ACTIONS))
        if len(comment) > 100_000:
            raise _invalid("comment", _("Too long."))
        return cls(kind, value, comment if kind == ACTION else "")

    def describe(self) -> str:
        """The operation in words, for messages."""
        label = str(OPERATIONS[self.kind])
        if self.kind == ACTION:
            return f"{label}: {workflow.ACTION_LABELS[Action(self.value)]}"
        return f"{label} {self.value}".strip()


_VALUE_FIELD = {
    ASSIGN: "assignee",
    PRIORITY: "priority",
    TYPE: "type",
    ADD_LABEL: "label",
    REMOVE_LABEL: "label",
    ACTION: "action",
}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(_("Some fields are invalid."), fields={field: [message]})


def _key_order(key: str) -> tuple[str, int]:
    prefix, _sep, number = key.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (key, 0)


def clean_keys(keys: Any) -> list[str]:
    """The keys, upper-cased, each once, in the order given; a 400 naming ``keys`` when there
    are none, 413 when there are more than ``limit()``."""
    if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
        raise _invalid("keys", _("A list of change request keys."))
    cleaned = [k for k in dict.fromkeys(k.strip().upper() for k in keys) if k]
    if not cleaned:
        raise _invalid("keys", _("Select at least one change request."))
    if len(cleaned) > limit():
        raise TooLarge(
            _("At most %(limit)d change requests at once (CHANGEFLOW_BULK_MAX); %(count)d were "
              "sent.") % {"limit": limit(), "count": len(cleaned)},
            fields={"keys": [_("At most %d.") % limit()]},
        )  # fmt: skip
    return cleaned


def may_bulk(user: User, project: Project | None = None) -> bool:
    """Whether ``user`` may ask for bulk changes (in ``project``, or in any of theirs): site
    admins and the team; not customers or viewers."""
    if user.is_superuser:
        return True
    if project is not None:
        return role_in(user, project) in BULK_ROLES
    return Membership.objects.filter(user=user, role__in=BULK_ROLES).exists()


def require_bulk(user: User, project: Project | None = None) -> None:
    """Checked before a request's body is read (each CR's project is checked again): in
    ``project``, 404 for a non-member and 403 for a customer or viewer; without, 403 for
    someone who is a customer or viewer wherever they are a member, 404 for a member of no
    project (there is no change request they could name)."""
    if project is not None:
        services.require_member(user, project)
    elif not may_bulk(user) and not Membership.objects.filter(user=user).exists():
        raise NotFound(_("No such change request."))
    if not may_bulk(user, project):
        raise PermissionDenied(_("Customers and viewers change change requests one by one."))


def change_request_bulk(
    *, user: User, keys: Any, operation: BulkOperation, project: Project | None = None
) -> list[ChangeRequest]:
    """Apply ``operation`` to the CRs ``keys`` names (of ``project`` when given), all or
    nothing; the changed CRs in key order, with their new versions.

    404 naming the keys that are not visible (another project's, when ``project`` is given);
    403 for a customer or viewer; 413 above ``limit()``; ``BulkRefused`` (422) when any CR
    would be refused, each named with its reason, nothing written."""
    wanted = clean_keys(keys)
    visible = restrict(ChangeRequest.objects, user).filter(key__in=wanted)
    if project is not None:
        visible = visible.filter(project_id=project.pk)
    found = dict(visible.values_list("key", "pk"))
    missing = [k for k in wanted if k not in found]
    if missing:
        raise NotFound(
            _("No such change request: %s") % ", ".join(missing), fields={"keys": missing}
        )
    with transaction.atomic():
        # Locked in a stable order (by id), so that two bulk requests on overlapping CRs wait
        # for each other rather than deadlock; then checked and written on the rows as locked.
        crs = list(
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("project", "requested_by", "assignee")
            .filter(pk__in=found.values())
            .order_by("pk")
        )
        for project_of in {cr.project_id: cr.project for cr in crs}.values():
            require_bulk(user, project_of)
        refusals = _check(user, crs, operation)
        if refusals:
            raise BulkRefused(refusals)
        for cr in crs:
            try:
                _apply(user, cr, operation)
            except ApplicationError as exc:  # what the check missed: still nothing written
                refusals[cr.key] = str(exc.message)
        if refusals:
            raise BulkRefused(refusals)
        changed = list(
            ChangeRequest.objects.filter(pk__in=found.values()).only("key", "version", "project")
        )
    return sorted(changed, key=lambda cr: _key_order(cr.key))


def _light_context(cr: ChangeRequest, user: User) -> Context:
    """What ``can_edit`` and ``can_assign`` read, without the action guards' queries."""
    return services.edit_context(
        user, state=cr.state, project=cr.project, requested_by_id=cr.requested_by_id
    )


def _check(user: User, crs: list[ChangeRequest], op: BulkOperation) -> dict[str, str]:
    """key → why the CR would be refused, for every CR that would be (as its service would
    refuse it)."""
    refusals: dict[str, str] = {}
    assignable: dict[int, bool] = {}
    for cr in crs:
        reason: Any = None
        if op.kind == ACTION:
            ctx = services.workflow_context(cr, user, comment=op.comment)
            denial = workflow.evaluate(op.value, ctx)
            reason = denial.message if denial else None
        elif op.kind in (ASSIGN, UNASSIGN):
            current = cr.assignee.username if cr.assignee else ""
            target = op.value if op.kind == ASSIGN else ""
            if current == target:
                continue  # nothing to change: the service changes nothing either
            if not workflow.can_assign(_light_context(cr, user)):
                reason = _("Only project managers and tech leads assign a change request.")
            elif target:
                if cr.project_id not in assignable:  # one query per project, not per CR
                    assignable[cr.project_id] = Membership.objects.filter(
                        project_id=cr.project_id, user__username=target, user__is_active=True,
                        role__in=services.ASSIGNABLE_ROLES,
                    ).exists()  # fmt: skip
                if not assignable[cr.project_id]:
                    reason = _("%s is not a member of this project's team.") % target
        else:
            new = _new_value(cr, op)
            if new == getattr(cr, _COLUMN[op.kind]):
                continue
            if not workflow.can_edit(_light_context(cr, user)):
                reason = _("You may not edit this change request now.")
            elif op.kind == ADD_LABEL and len(new) > 20:
                reason = _("At most 20 labels of at most 50 characters.")
        if reason is not None:
            refusals[cr.key] = str(reason)
    return refusals


_COLUMN = {PRIORITY: "priority", TYPE: "type", ADD_LABEL: "labels", REMOVE_LABEL: "labels"}


def _new_value(cr: ChangeRequest, op: BulkOperation) -> Any:
    if op.kind == ADD_LABEL:
        return sorted({*cr.labels, op.value})
    if op.kind == REMOVE_LABEL:
        return [label for label in cr.labels if label != op.value]
    return op.value


def _apply(user: User, cr: ChangeRequest, op: BulkOperation) -> None:
    """One CR, through the service a single edit uses."""
    if op.kind == ACTION:
        services.change_request_transition(user=user, cr=cr, action=op.value, comment=op.comment)
    elif op.kind in (ASSIGN, UNASSIGN):
        services.change_request_update(user=user, cr=cr, data={"assignee": op.value or None})
    else:
        services.change_request_update(
            user=user, cr=cr, data={_COLUMN[op.kind]: _new_value(cr, op)}
        )
