"""Every write to change requests and what hangs off them.

Each function is keyword-only, runs in one transaction, checks the actor's rights through the
workflow table, and writes its audit event last (the audit chain head is locked only then).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypedDict

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, DecimalField, F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.ccb import policy
from changeflow.ccb import selectors as ccb
from changeflow.core import audit, ratelimit, search
from changeflow.core.access import manages, role_in
from changeflow.core.errors import (
    ApplicationError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StalePrecondition,
    ValidationError,
)
from changeflow.core.validation import full_clean, invalid
from changeflow.crtemplates import definitions as template_fields
from changeflow.crtemplates.models import CRTemplate

from . import uploads, workflow
from .models import (
    Attachment,
    ChangeRequest,
    Comment,
    DecisionMode,
    ImpactAssessment,
    Ratification,
    Risk,
    StateChange,
    Vote,
    VoteDecision,
    VotePurpose,
)
from .workflow import Action, Context, State

EDITABLE_FIELDS = (
    "title",
    "description",
    "reason",
    "expected_benefit",
    "channel",
    "type",
    "priority",
    "urgency",
    "labels",
    "emergency",
    "desired_date",
    "requester_contact",
)
ACTUAL_FIELDS = ("actual_effort_hours", "actual_cost", "actual_schedule_days")
SNAPSHOT_FIELDS = ("key", "state", *EDITABLE_FIELDS, "requested_by")
# Roles that can be given a CR to carry forward: members of the team, not watchers or customers.
ASSIGNABLE_ROLES = frozenset(workflow.ROLES) - workflow.CUSTOMER_ROLES - {workflow.VIEWER}

_ERRORS = {
    "forbidden": PermissionDenied,
    "state": InvalidTransition,
    "precondition": PreconditionFailed,
    "invalid": ValidationError,
}


def _state_changed(
    cr: ChangeRequest, from_state: str, to_state: str, at: dt.datetime, actor: User | None
) -> None:
    """Record the move in the CR's stage history (``StateChange``); every state change of a CR
    goes through here, in the transaction that makes it."""
    StateChange.objects.create(
        project_id=cr.project_id, change_request_id=cr.pk, from_state=from_state,
        to_state=to_state, at=at, actor=actor,
    )  # fmt: skip


# ---------------------------------------------------------------- context for the workflow


@dataclass(frozen=True)
class AssessmentFacts:
    complete: bool
    effort_hours: Decimal | None = None
    cost: Decimal | None = None
    schedule_days: Decimal | None = None
    risk_exposure: Decimal | None = None  # the largest probability × impact of its risks


class _AssessmentCounts(TypedDict):
    risk_count: int
    max_exposure: Decimal | None


if TYPE_CHECKING:  # (WithAnnotations takes its second argument for the type checker only)
    from django_stubs_ext import WithAnnotations

    # An assessment as current_assessment() reads it: with its risks counted.
    CountedAssessment = WithAnnotations[ImpactAssessment, _AssessmentCounts]


def current_assessment(cr: ChangeRequest) -> CountedAssessment | None:
    return (
        ImpactAssessment.objects.filter(change_request=cr)
        .select_related("author")
        .annotate(
            risk_count=Count("risks"),
            max_exposure=Max(
                F("risks__probability") * F("risks__impact"),
                output_field=DecimalField(max_digits=8, decimal_places=3),
            ),
        )
        .order_by("-version")
        .first()
    )


_UNREAD: Any = object()  # "not read yet", as distinct from "there is none" (None)


def _assessment_facts(cr: ChangeRequest, a: CountedAssessment | None = _UNREAD) -> AssessmentFacts:
    if a is _UNREAD:
        a = current_assessment(cr)
    if a is None:
        return AssessmentFacts(False)
    if hasattr(a, "risk_count"):  # as current_assessment() reads it
        risk_count, exposure = a.risk_count, a.max_exposure
    else:  # as the CR page reads it (selectors.assessment_list): its risks prefetched
        exposures = [r.probability * r.impact for r in a.risks.all()]
        risk_count, exposure = len(exposures), max(exposures) if exposures else None
    complete = (
        a.effort_hours is not None
        and a.schedule_days is not None
        and a.cost is not None
        and risk_count > 0
    )
    return AssessmentFacts(complete, a.effort_hours, a.cost, a.schedule_days, exposure)


def edit_context(
    user: User, *, state: str, project: Project, requested_by_id: int | None
) -> Context:
    """The facts who may edit, assign or link a CR reads (``can_edit``, ``can_assign``,
    ``can_link``): its state, the user's role, whether they asked for it; without the queries
    the action guards need (``workflow_context``). Plain values, so that a row read without
    its CR (a link's other end) is asked the same way."""
    return Context(
        state=State(state),
        role=role_in(user, project),
        is_admin=user.is_superuser,
        is_requester=requested_by_id == user.pk,
    )


def workflow_context(
    cr: ChangeRequest, user: User, *, comment: str = "", assessment: Any = _UNREAD
) -> Context:
    """Gather the plain facts the workflow table needs about ``cr`` and ``user``."""
    facts = _assessment_facts(cr, assessment)
    project = cr.project
    return Context(
        state=State(cr.state),
        role=role_in(user, project),
        is_admin=user.is_superuser,
        is_requester=cr.requested_by_id == user.pk,
        is_chair=ccb.is_chair(user, project),
        emergency=cr.emergency,
        ratification_pending=cr.ratification == Ratification.PENDING,
        has_title_and_description=bool(cr.title.strip() and cr.description.strip()),
        type_set=bool(cr.type),
        priority_set=bool(cr.priority),
        has_comment=bool(comment.strip()),
        assessment_complete=facts.complete,
        within_delegation=policy.within_delegation(
            effort_hours=facts.effort_hours,
            cost=facts.cost,
            schedule_days=facts.schedule_days,
            risk_exposure=facts.risk_exposure,
            **ccb.delegation_limits(project),  # the project's, the one place they live
        ),
        actual_effort_recorded=cr.actual_effort_hours is not None,
        # Only approved CRs start implementation: no query for any other state.
        in_freeze=cr.state == State.APPROVED and ccb.in_freeze(project, timezone.now()),
        # Only implementing CRs can submit for verification: no query for any other state.
        change_set_unapplied=cr.state == State.IMPLEMENTING and _change_set_unapplied(cr),
        # Only approved CRs start implementation: no query for any other state.
        change_order_unsigned=cr.state == State.APPROVED and _change_order_unsigned(cr),
        # Only approved CRs start implementation: no query for any other state.
        **(_open_dependencies(cr, user) if cr.state == State.APPROVED else {}),
    )


def _open_dependencies(cr: ChangeRequest, user: User) -> dict[str, Any]:
    from .links import open_dependencies

    visible, hidden = open_dependencies(cr, user)
    return {"blocked_by": tuple(visible), "blocked_hidden": hidden}


def _change_order_unsigned(cr: ChangeRequest) -> bool:
    from changeflow.orders.services import implementation_blocked

    return implementation_blocked(cr)


def _change_set_unapplied(cr: ChangeRequest) -> bool:
    from changeflow.requirements.changesets import is_unapplied

    return is_unapplied(cr)


def available_actions(*, cr: ChangeRequest, user: User, assessment: Any = _UNREAD) -> list[Action]:
    """The actions ``user`` may take on ``cr`` now (pass ``current_assessment(cr)`` if read)."""
    return workflow.available_actions(workflow_context(cr, user, assessment=assessment))


def _snapshot(cr: ChangeRequest) -> dict[str, Any]:
    data = {f: getattr(cr, f) for f in SNAPSHOT_FIELDS if f != "requested_by"}
    data["requested_by"] = cr.requested_by.username
    return data


def _assignable(project: Project, username: str) -> User:
    """The active team member called ``username`` (not a viewer or a customer), or a 400."""
    user = User.objects.filter(
        username=username, is_active=True, memberships__project=project,
        memberships__role__in=ASSIGNABLE_ROLES,
    ).first()  # fmt: skip
    if user is None:
        raise ValidationError(
            _("The assignee must be a member of the project's team (not a viewer or customer)."),
            fields={"assignee": [_("No such team member: %s") % username]},
        )
    return user


def _search_text(cr: ChangeRequest) -> str:
    # The texts of its custom fields are found too (a template's "affected system" field...).
    custom = [v for v in (cr.field_values or {}).values() if isinstance(v, str)]
    return "\n".join(
        [cr.key, cr.title, cr.description, cr.reason, cr.expected_benefit, " ".join(cr.labels),
         *custom]
    )  # fmt: skip


def search_index_rebuild() -> int:
    """Index every change request again (after a restore: the index is no model of its own, so
    a backup does not carry it); returns how many were indexed."""
    fields = (
        "id", "key", "title", "description", "reason", "expected_benefit", "labels",
        "field_values",
    )  # fmt: skip
    count = 0
    with transaction.atomic():
        for cr in ChangeRequest.objects.only(*fields).order_by("pk").iterator(chunk_size=2000):
            search.index(cr.pk, _search_text(cr))
            count += 1
    return count


def require_member(user: User, project: Project, *, write: bool = True) -> str | None:
    """The user's role in the project; 404 for a non-member, 403 for a viewer's write."""
    role = role_in(user, project)
    if user.is_superuser:
        return role
    if role is None:
        raise NotFound(_("No such project."))
    if write and role == workflow.VIEWER:
        raise PermissionDenied(_("Viewers cannot change anything."))
    return role


def require_manager(user: User, project: Project) -> None:
    """404 for a non-member, 403 unless ``user`` manages ``project`` (its project managers and
    site admins): who imports change requests."""
    require_member(user, project, write=False)
    if not manages(user, project):
        raise PermissionDenied(_("Only project managers import change requests."))


def clean_labels(labels: Any) -> list[str]:
    """A CR's labels (and a CR template's default labels): strings, stripped, sorted, unique;
    a 400 naming ``labels`` otherwise."""
    if labels in (None, ""):
        return []
    if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
        raise ValidationError(
            _("Labels must be a list of strings."), fields={"labels": [_("A list of strings.")]}
        )
    cleaned = sorted({x.strip() for x in labels if x.strip()})
    if len(cleaned) > 20 or any(len(x) > 50 for x in cleaned):
        raise ValidationError(
            _("Too many or too long labels."),
            fields={"labels": [_("At most 20 labels of at most 50 characters.")]},
        )
    return cleaned


def _member_user(project: Project, username: str | None, default: User) -> User:
    if not username:
        return default
    user = User.objects.filter(
        username=username, memberships__project=project, is_active=True
    ).first()
    if user is None:
        raise ValidationError(
            _("The requester must be a member of the project."),
            fields={"requested_by": [_("No such member: %s") % username]},
        )
    return user


def _template(project: Project, raw: Any) -> CRTemplate | None:
    """The active template ``raw`` (an id, or a template) of ``project``, None for none; a 400
    naming ``template`` for another project's, an archived or an unknown one."""
    if raw in (None, ""):
        return None
    pk = raw.pk if isinstance(raw, CRTemplate) else raw
    if isinstance(pk, bool) or not isinstance(pk, int | str) or not str(pk).isdigit():
        raise invalid("template", _("A template id is required."))
    template = CRTemplate.objects.filter(pk=int(pk), project_id=project.pk, archived=False).first()
    if template is None:
        raise invalid("template", _("No such active template in this project: %s") % pk)
    return template


def _changed_values(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict, dict]:
    """The custom field values that differ, old and new (None for an empty one)."""
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}


# ---------------------------------------------------------------- change requests


def change_request_create(
    *,
    user: User,
    project: Project,
    title: str,
    description: str,
    reason: str = "",
    expected_benefit: str = "",
    channel: str = "web",
    type: str = "",  # noqa: A002 - the API's field name
    priority: str = "",
    urgency: str = "",
    labels: Iterable[str] | None = None,
    emergency: bool = False,
    requested_by: str | None = None,
    requester_contact: str = "",
    desired_date: dt.date | None = None,
    affected_requirements: Iterable[str] | None = None,
    submit: bool = False,
    template: Any = None,
    fields: Any = None,
    requested_at: dt.date | None = None,
    source_ref: str = "",
) -> ChangeRequest:
    """Record a new CR (``draft``, or ``submitted`` when ``submit``) with its next key.

    ``requested_at`` (default today) is the day the customer asked, when that was earlier (an
    imported CR); ``source_ref`` another tracker's id of it (unique in the project).

    ``template`` (an active template of the project, or its id) gives the type, priority,
    urgency and labels left empty, and the custom fields whose ``fields`` (key → value) are
    checked against it; the CR keeps a snapshot of its field definitions."""
    role = require_member(user, project)
    form = _template(project, template)
    definitions = template_fields.snapshot(form.fields) if form else []
    values = template_fields.clean_values(definitions, fields)
    if form is not None:
        type, priority, urgency = (
            type or form.type,
            priority or form.priority,
            urgency or form.urgency,
        )
        labels = labels or form.labels
    if (
        requested_by
        and requested_by != user.username
        and not workflow.can_name_requester(role, is_admin=user.is_superuser)
    ):
        raise PermissionDenied(
            _("Only project managers and tech leads record a change for someone else."),
            fields={"requested_by": [_("Leave empty: you are the requester.")]},
        )
    requester = _member_user(project, requested_by, user)
    cr = ChangeRequest(
        project=project,
        number=0,
        key="-",
        title=title,
        description=description,
        reason=reason or "",
        expected_benefit=expected_benefit or "",
        channel=channel or "web",
        type=type or "",
        priority=priority or "",
        urgency=urgency or "",
        labels=clean_labels(labels),
        emergency=bool(emergency),
        requested_by=requester,
        requester_contact=requester_contact or "",
        created_by=user,
        requested_at=requested_at or timezone.localdate(),
        desired_date=desired_date,
        source_ref=(source_ref or "").strip(),
        template=form,
        field_definitions=definitions,
        field_values=values,
    )
    full_clean(cr, exclude=["project", "created_by", "requested_by", "template"])
    if not cr.title.strip():
        raise ValidationError(_("A title is required."), fields={"title": [_("Required.")]})
    if not cr.description.strip():
        raise ValidationError(
            _("A description is required."), fields={"description": [_("Required.")]}
        )
    with transaction.atomic():
        locked = Project.objects.select_for_update().only("id", "next_cr_number").get(pk=project.pk)
        cr.number = locked.next_cr_number
        cr.key = f"{project.key}-{cr.number}"
        Project.objects.filter(pk=project.pk).update(next_cr_number=F("next_cr_number") + 1)
        cr.save()
        _state_changed(cr, "", State.DRAFT, cr.created_at, user)
        search.index(cr.pk, _search_text(cr))
        from changeflow.requirements.services import affected_requirements_set

        linked = affected_requirements_set(cr=cr, keys=affected_requirements or [])
        affected = [r.key for r in linked]
        if submit:
            # Intake and submission in one step; the same guard as a later `submit`.
            denial = workflow.evaluate(Action.SUBMIT, workflow_context(cr, user))
            if denial:
                raise _ERRORS[denial.kind](denial.message, code=denial.code)
            cr.state = State.SUBMITTED
            cr.save(update_fields=["state"])
            _state_changed(cr, State.DRAFT, State.SUBMITTED, cr.created_at, user)
        audit.record(
            actor=user, action="cr.created", object_type="change_request", object_key=cr.key,
            project=project.key,
            after=_snapshot(cr) | ({"affected_requirements": affected} if affected else {})
            | ({"template": form.name, "fields": values} if form else {}),
        )  # fmt: skip
    return cr


def _coerce_decimal(name: str, value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(
            _("Some fields are invalid."), fields={name: [_("A number is required.")]}
        ) from None
    if not result.is_finite():
        raise ValidationError(
            _("Some fields are invalid."), fields={name: [_("A number is required.")]}
        )
    return result


def change_request_update(
    *, user: User, cr: ChangeRequest, data: dict[str, Any], expected_version: int | None = None
) -> ChangeRequest:
    """Edit fields; each changed field is audited old → new. Compare-and-set on ``version``.

    ``assignee`` (a username, or None/"" to clear) is set by managers and tech leads; the new
    assignee is told through the audit event (``after.notify``)."""
    data = dict(data)
    assign = "assignee" in data
    assignee_name = (data.pop("assignee", None) or "").strip() if assign else ""
    retemplate, new_template = "template" in data, data.pop("template", None)
    refill, new_fields = "fields" in data, data.pop("fields", None)
    unknown = set(data) - set(EDITABLE_FIELDS) - set(ACTUAL_FIELDS)
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in sorted(unknown)},
        )
    require_member(user, cr.project)
    with transaction.atomic():
        fresh = ChangeRequest.objects.select_related("project", "requested_by", "assignee").get(
            pk=cr.pk
        )
        if expected_version is not None and fresh.version != expected_version:
            raise StalePrecondition(_("The change request was changed by someone else."))
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        old_assignee = fresh.assignee.username if fresh.assignee else None
        if assign and (assignee_name or None) != old_assignee:
            if not workflow.can_assign(workflow_context(fresh, user)):
                raise PermissionDenied(
                    _("Only project managers and tech leads assign a change request."),
                    fields={"assignee": [_("You may not change the assignee.")]},
                )
            new = _assignable(fresh.project, assignee_name) if assignee_name else None
            fresh.assignee = new
            before["assignee"], after["assignee"] = old_assignee, assignee_name or None
            columns["assignee"] = new
        if retemplate or refill:
            _custom_fields(fresh, before, after, columns, new_template if retemplate else _UNREAD,
                           new_fields if refill else {})  # fmt: skip
        for name, value in data.items():
            if name == "labels":
                value = clean_labels(value)
            elif name in ACTUAL_FIELDS:
                value = _coerce_decimal(name, value)
            elif name == "emergency":
                value = bool(value)
            elif value is None and name != "desired_date":
                value = ""
            old = getattr(fresh, name)
            if old != value:
                before[name], after[name] = old, value
                columns[name] = value
                setattr(fresh, name, value)
        if not after:
            return fresh
        # Rights are checked on what actually changes: a form or client that sends unchanged
        # fields back along with the actuals is not refused for them.
        ctx = workflow_context(fresh, user)
        if set(columns) & {*EDITABLE_FIELDS, *CUSTOM_COLUMNS} and not workflow.can_edit(ctx):
            raise PermissionDenied(_("You may not edit this change request now."))
        if set(columns) & set(ACTUAL_FIELDS) and not workflow.can_record_actuals(ctx):
            if ctx.state in (State.IMPLEMENTING, State.VERIFYING) or ctx.role is None:
                raise PermissionDenied(_("You may not record actuals."))
            raise PreconditionFailed(
                _("Actuals are recorded during implementation and verification."),
                code="actuals_not_now",
            )
        full_clean(fresh, exclude=["project", "created_by", "requested_by", "assignee", "template"])
        if not fresh.title.strip() or not fresh.description.strip():
            field = "title" if not fresh.title.strip() else "description"
            raise ValidationError(_("Some fields are invalid."), fields={field: [_("Required.")]})
        updated = ChangeRequest.objects.filter(pk=fresh.pk, version=fresh.version).update(
            **columns, version=F("version") + 1, updated_at=timezone.now()
        )
        if not updated:
            raise InvalidTransition(_("The change request was changed by someone else."))
        fresh.version += 1
        if set(after) & {"title", "description", "reason", "expected_benefit", "labels", "fields"}:
            search.index(fresh.pk, _search_text(fresh))
        if after.get("assignee") and after["assignee"] != user.username:
            after = {**after, "notify": [after["assignee"]]}
        audit.record(
            actor=user, action="cr.updated", object_type="change_request",
            object_key=fresh.key, project=fresh.project.key, before=before, after=after,
        )  # fmt: skip
    return fresh


CUSTOM_COLUMNS = ("template", "field_definitions", "field_values")


def _custom_fields(
    fresh: ChangeRequest, before: dict, after: dict, columns: dict, template: Any, values: Any
) -> None:
    """Apply a new ``template`` (``_UNREAD``: unchanged) and custom field ``values`` (merged
    into the current ones: a key set to None or "" clears it) to ``fresh``, noting what
    changes. Values are checked against the definitions the CR keeps, or the new template's."""
    if values is not None and not isinstance(values, dict):
        raise invalid("fields", _("An object is required."))
    definitions = fresh.field_definitions or []
    current = dict(fresh.field_values or {})
    if template is not _UNREAD:
        form = _template(fresh.project, template)
        if (form.pk if form else None) != fresh.template_id:
            old_name = fresh.template.name if fresh.template is not None else None
            definitions = template_fields.snapshot(form.fields) if form else []
            keys = {d["key"] for d in definitions}
            current = {k: v for k, v in current.items() if k in keys}
            before["template"], after["template"] = old_name, form.name if form else None
            columns.update(template=form, field_definitions=definitions)
            fresh.template, fresh.field_definitions = form, definitions
    cleaned = template_fields.clean_values(definitions, {**current, **(values or {})})
    if cleaned != (fresh.field_values or {}):
        before["fields"], after["fields"] = _changed_values(fresh.field_values or {}, cleaned)
        columns["field_values"] = cleaned
        fresh.field_values = cleaned


def change_request_transition(
    *,
    user: User,
    cr: ChangeRequest,
    action: str,
    comment: str = "",
    audit_extra: dict[str, Any] | None = None,
) -> ChangeRequest:
    """Take ``action`` on ``cr``: guarded by the workflow table, applied compare-and-set.
    ``audit_extra``: more facts for the audit event (``duplicate_of``: a CR closed as a
    duplicate by ``changes.links.mark_duplicate``)."""
    require_member(user, cr.project)  # a viewer may take no action (workflow: _may_act)
    comment = (comment or "").strip()
    if len(comment) > 100_000:
        raise ValidationError(_("The comment is too long."), fields={"comment": [_("Too long.")]})
    with transaction.atomic():
        # Decide on the row as it is now, locked, not on the caller's copy: the compare-and-set
        # below checks only the state, so a stale copy could pass the guards on facts changed
        # since (actuals cleared before `verify`, the emergency flag removed, thresholds...).
        current = (
            ChangeRequest.objects.select_for_update()
            .select_related("project", "requested_by")
            .get(pk=cr.pk)
        )
        ctx = workflow_context(current, user, comment=comment)
        denial = workflow.evaluate(action, ctx)
        if denial:
            raise _ERRORS[denial.kind](denial.message, code=denial.code)
        action = Action(action)
        target = workflow.target_state(action, ctx.state)
        now = timezone.now()
        updates: dict[str, Any] = {"state": target, "state_changed_at": now}
        if action in (Action.APPROVE, Action.REJECT, Action.DEFER):
            updates["decision_mode"] = DecisionMode.DELEGATED
        elif action is Action.APPROVE_EMERGENCY:
            updates.update(decision_mode=DecisionMode.EMERGENCY, ratification=Ratification.PENDING)
        elif action is Action.REQUEST_REVIEW:
            updates["review_round"] = F("review_round") + 1
        elif action is Action.REOPEN:
            updates["decision_mode"] = DecisionMode.NONE
        elif action is Action.VERIFY:
            updates["closed_at"] = now
        moved = ChangeRequest.objects.filter(pk=cr.pk, state=ctx.state).update(
            **updates, version=F("version") + 1, updated_at=now
        )
        if not moved:
            raise InvalidTransition(
                _("Someone else changed the state of this change request first."),
                code="conflict",
            )
        _state_changed(current, ctx.state, target, now, user)
        if action is Action.REQUEST_REVIEW:
            # Who votes on this round, as the board is now: a board edited mid-review does
            # not change this review's tally.
            current.review_round += 1
            ccb.snapshot_take(current, VotePurpose.DECISION, current.review_round)
        elif action is Action.APPROVE_EMERGENCY:
            ccb.snapshot_take(current, VotePurpose.RATIFICATION, 1)
        if comment:
            Comment.objects.create(change_request=cr, author=user, body=comment)
        if action is Action.VERIFY:  # an applied change set's requirements: the next baseline
            from changeflow.requirements.changesets import on_cr_closed

            on_cr_closed(user=user, cr=current)
        after: dict[str, Any] = {"state": target, "comment": comment, **(audit_extra or {})}
        if updates.get("decision_mode") == DecisionMode.DELEGATED:
            # Recorded as delegated: the thresholds it was decided under.
            after["delegation"] = ccb.delegation_limits(current.project)
        if "decision_mode" in updates:
            after["decision_mode"] = updates["decision_mode"]
        if "ratification" in updates:
            after["ratification"] = updates["ratification"]
        audit.record(
            actor=user, action=f"cr.{action.value}", object_type="change_request",
            object_key=cr.key, project=cr.project.key, before={"state": ctx.state}, after=after,
        )  # fmt: skip
    cr.refresh_from_db()
    return cr


# ---------------------------------------------------------------- comments and attachments


def comment_create(
    *, user: User, cr: ChangeRequest, body: str, internal: bool = False, email_sender: str = ""
) -> Comment:
    """``email_sender``: the comment is a mail from someone without an account, whom ``user``
    records (see ``Comment.email_sender``)."""
    role = require_member(user, cr.project)
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("The comment is empty."), fields={"body": [_("Required.")]})
    if len(body) > 100_000:
        raise ValidationError(_("The comment is too long."), fields={"body": [_("Too long.")]})
    if internal and role in workflow.CUSTOMER_ROLES and not user.is_superuser:
        raise PermissionDenied(_("Customers cannot write internal comments."))
    with transaction.atomic():
        comment = Comment.objects.create(
            change_request=cr, author=user, body=body, internal=bool(internal),
            email_sender=email_sender[:200],
        )  # fmt: skip
        after = {"comment_id": comment.pk, "body": body, "internal": bool(internal)}
        if comment.email_sender:
            after["email_sender"] = comment.email_sender
        audit.record(
            actor=user, action="comment.created", object_type="change_request",
            object_key=cr.key, project=cr.project.key, internal=bool(internal), after=after,
        )  # fmt: skip
    return comment


def attachment_create(*, user: User, cr: ChangeRequest, upload) -> Attachment:
    """Store an uploaded file after checking its size and that its content matches its type."""
    require_member(user, cr.project)
    if cr.state in workflow.FINAL_STATES:
        raise InvalidTransition(_("The change request is closed."))
    checked = uploads.check(upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    sha = digest.hexdigest()
    attachment = Attachment(
        change_request=cr,
        uploaded_by=user,
        filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        sha256=sha,
    )
    with transaction.atomic():
        upload.seek(0)
        # Content-addressed: an identical file is stored once.
        existing = Attachment.objects.filter(sha256=sha).values_list("file", flat=True).first()
        if existing:
            attachment.file.name = existing
        else:
            attachment.file.save(sha, ContentFile(upload.read()), save=False)
        attachment.save()
        audit.record(
            actor=user, action="attachment.created", object_type="change_request",
            object_key=cr.key, project=cr.project.key,
            after={"attachment_id": attachment.pk, "filename": attachment.filename,
                   "size": attachment.size, "sha256": sha,
                   "content_type": attachment.content_type},
        )  # fmt: skip
    return attachment


# ---------------------------------------------------------------- impact assessments

ASSESSABLE_STATES = (State.SUBMITTED, State.TRIAGED, State.ASSESSING, State.IN_REVIEW)


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError(_("Some fields are invalid."), fields={name: [message]})


def _clean_resources(resources: Any) -> list[dict[str, Any]]:
    if resources in (None, ""):
        return []
    if not isinstance(resources, list) or len(resources) > 100:
        raise _field_error("resources", _("A list of at most 100 {role, hours} entries."))
    cleaned = []
    for i, item in enumerate(resources):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise _field_error("resources", _("Entry %d needs a role and hours.") % (i + 1))
        hours = _coerce_decimal("resources", item.get("hours"))
        if hours is None or hours < 0 or not item["role"].strip() or len(item["role"]) > 100:
            raise _field_error("resources", _("Entry %d needs a role and hours.") % (i + 1))
        cleaned.append({"role": item["role"].strip(), "hours": str(hours)})
    return cleaned


def _clean_risks(risks: Any) -> list[Risk]:
    if risks in (None, ""):
        return []
    if not isinstance(risks, list) or len(risks) > 100:
        raise _field_error("risks", _("A list of at most 100 risks."))
    cleaned = []
    for i, item in enumerate(risks):
        if not isinstance(item, dict):
            raise _field_error("risks", _("Risk %d is not an object.") % (i + 1))
        description = item.get("description")
        if not isinstance(description, str) or not description.strip():
            raise _field_error("risks", _("Risk %d needs a description.") % (i + 1))
        probability = _coerce_decimal("risks", item.get("probability"))
        if probability is None or not (0 <= probability <= 1):
            raise _field_error("risks", _("Risk %d: probability must be in [0, 1].") % (i + 1))
        impact = item.get("impact")
        if isinstance(impact, bool) or not isinstance(impact, int) or not 1 <= impact <= 5:
            raise _field_error("risks", _("Risk %d: impact must be an integer 1–5.") % (i + 1))
        mitigation, owner = item.get("mitigation") or "", item.get("owner") or ""
        if not isinstance(mitigation, str) or not isinstance(owner, str) or len(owner) > 150:
            raise _field_error("risks", _("Risk %d: mitigation and owner are text.") % (i + 1))
        cleaned.append(
            Risk(
                description=description.strip(),
                probability=probability.quantize(Decimal("0.001")),
                impact=impact,
                mitigation=mitigation,
                owner=owner,
            )
        )
    return cleaned


def assessment_create(
    *,
    user: User,
    cr: ChangeRequest,
    effort_hours: Any = None,
    schedule_days: Any = None,
    cost: Any = None,
    currency: str = "",
    resources: Any = None,
    risks: Any = None,
    method: str = "manual",
    notes: str = "",
) -> ImpactAssessment:
    """Add the next version of the CR's impact assessment; it becomes the current one."""
    ctx = workflow_context(cr, user)
    if not (user.is_superuser or ctx.role in (workflow.PM, workflow.TL)):
        raise PermissionDenied(_("Only project managers and tech leads assess changes."))
    if ctx.state not in ASSESSABLE_STATES:
        raise InvalidTransition(_("Assessments are made between submission and the decision."))
    currency = (currency or cr.project.currency or "").upper()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise _field_error("currency", _("An ISO 4217 code such as CNY, USD or EUR."))
    assessment = ImpactAssessment(
        change_request=cr,
        version=0,
        author=user,
        method=method or "manual",
        effort_hours=_coerce_decimal("effort_hours", effort_hours),
        schedule_days=_coerce_decimal("schedule_days", schedule_days),
        cost=_coerce_decimal("cost", cost),
        currency=currency,
        resources=_clean_resources(resources),
        notes=notes or "",
    )
    risk_rows = _clean_risks(risks)
    full_clean(assessment, exclude=["change_request", "author", "version"])
    from changeflow.ccb import services as ccb_services

    with transaction.atomic():
        previous = ImpactAssessment.objects.filter(change_request=cr).order_by("-version").first()
        figures_before = ccb_services.assessment_figures(previous)
        bumped = ChangeRequest.objects.filter(pk=cr.pk, state=ctx.state).update(
            version=F("version") + 1, updated_at=timezone.now()
        )
        if not bumped:
            raise InvalidTransition(_("Someone else changed this change request first."))
        latest = ImpactAssessment.objects.filter(change_request=cr).aggregate(v=Max("version"))
        assessment.version = (latest["v"] or 0) + 1
        assessment.save()
        for risk in risk_rows:
            risk.assessment = assessment
        Risk.objects.bulk_create(risk_rows)
        from changeflow.requirements.changesets import impact_snapshot_save

        impact_snapshot_save(assessment=assessment)  # what the board will see when it decides
        changed = ccb_services.material_changes(
            figures_before, ccb_services.assessment_figures(assessment)
        )
        if changed and ctx.state == State.IN_REVIEW:
            # The board voted on other figures: its votes no longer hold.
            ccb_services.reset_votes(
                cr=cr, by=user,
                reason=ccb_services.material_reason(assessment.version, changed),
            )  # fmt: skip
        audit.record(
            actor=user, action="assessment.created", object_type="change_request",
            object_key=cr.key, project=cr.project.key,
            after={
                "version": assessment.version, "method": assessment.method,
                "effort_hours": assessment.effort_hours,
                "schedule_days": assessment.schedule_days, "cost": assessment.cost,
                "currency": currency, "resources": assessment.resources,
                "risks": [{"description": r.description, "probability": r.probability,
                           "impact": r.impact} for r in risk_rows],
            },
        )  # fmt: skip
    return assessment


# ---------------------------------------------------------------- votes (electronic signature)


def board_eligible(cr: ChangeRequest) -> list[str]:
    """Who may vote on what ``cr`` is being voted on now (none when nothing is)."""
    purpose = vote_purpose(cr)
    if purpose is None:
        return []
    return ccb.voting_for(cr, purpose, _round(cr, purpose)).eligible


def vote_purpose(cr: ChangeRequest) -> str | None:
    if cr.ratification == Ratification.PENDING:
        return VotePurpose.RATIFICATION
    if cr.state == State.IN_REVIEW:
        return VotePurpose.DECISION
    return None


def live_votes(cr: ChangeRequest, purpose: str, rnd: int) -> dict[str, str]:
    """username → decision of the votes that count (not voided) in this round."""
    return dict(
        Vote.objects.filter(
            change_request=cr, purpose=purpose, round=rnd, voided_at__isnull=True
        ).values_list("voter__username", "decision")
    )


def decision_tally(cr: ChangeRequest) -> tuple[str | None, policy.Tally]:
    """The purpose being voted on now and the tally so far (on the review's snapshot)."""
    purpose = vote_purpose(cr)
    if not purpose:
        board = ccb.voting(cr.project, requester=cr.requested_by.username)
        return None, policy.evaluate(board.policy, board.eligible, {})
    rnd = _round(cr, purpose)
    board = ccb.voting_for(cr, purpose, rnd)
    return purpose, policy.evaluate(board.policy, board.eligible, live_votes(cr, purpose, rnd))


def _round(cr: ChangeRequest, purpose: str) -> int:
    return cr.review_round if purpose == VotePurpose.DECISION else 1


def require_voter(user: User, cr: ChangeRequest) -> tuple[str, int, ccb.Voting]:
    """What ``user`` may vote on in ``cr`` now: the purpose, its round and the board voting on
    it. 404 for a non-member; 403 for a viewer, the requester (but the sole holder of a required
    role) and anyone else not on the board; 409 when nothing is being voted on. The one check
    before a vote, whatever it says: a page or an endpoint calls it before reading the vote."""
    require_member(user, cr.project)
    purpose = vote_purpose(cr)
    if purpose is None:
        raise InvalidTransition(_("Nothing is being voted on for this change request."))
    rnd = _round(cr, purpose)
    board = ccb.voting_for(cr, purpose, rnd)
    if cr.requested_by_id == user.pk and user.username not in board.eligible:
        # Only the sole holder of a required role votes on their own request.
        raise PermissionDenied(
            _("Nobody may vote on a CR they requested."), code="own_change_request"
        )
    if user.username not in board.eligible:
        raise PermissionDenied(_("You are not a voting member of this board."), code="not_board")
    return purpose, rnd, board


# The statement a voter signs with their password (ccb owns its wording).
signature_meaning = ccb.signature_meaning


def vote_cast(
    *, user: User, cr: ChangeRequest, decision: str, password: str, comment: str = "", ip: str = ""
) -> tuple[Vote, policy.Tally]:
    """Sign and cast (or change) a board member's vote; apply the verdict once reached.

    The signature records the signer, the time and its meaning (``signature_meaning``). A
    second vote before the decision replaces the first; both are audited.
    """
    require_voter(user, cr)  # who may vote, whatever the vote and before its password
    if decision not in VoteDecision.values:
        raise _field_error("decision", _("One of: %s") % ", ".join(VoteDecision.values))
    if len(comment or "") > 100_000:
        raise _field_error("comment", _("Too long."))
    ratelimit.check(user.username, ip)
    if not password or not user.check_password(password):
        ratelimit.failed(user.username, ip)
        raise PermissionDenied(
            _("The password is wrong: the vote was not signed."), code="invalid_signature",
            fields={"password": [_("Wrong password.")]},
        )  # fmt: skip
    ratelimit.succeeded(user.username, ip)
    with transaction.atomic():
        # Serialise votes on one CR so that every verdict sees every earlier vote.
        fresh = (
            ChangeRequest.objects.select_for_update()
            .select_related("project", "requested_by")
            .get(pk=cr.pk)
        )
        purpose, rnd, board = require_voter(user, fresh)  # again: decided on the locked row
        if purpose == VotePurpose.RATIFICATION and decision == VoteDecision.DEFER:
            raise _field_error("decision", _("A ratification is approved, rejected or abstained."))
        role = board.policy.roles.get(user.username) or role_in(user, fresh.project) or ""
        meaning = signature_meaning(key=fresh.key, purpose=purpose, decision=decision, role=role)
        now = timezone.now()
        vote = Vote.objects.filter(
            change_request=fresh, purpose=purpose, round=rnd, voter=user, voided_at__isnull=True
        ).first()
        before = {}
        if vote:
            before = {"decision": vote.decision, "comment": vote.comment,
                      "meaning": vote.meaning, "signed_at": vote.signed_at}  # fmt: skip
            vote.decision, vote.comment, vote.signed_at = decision, comment or "", now
            vote.meaning = meaning
            vote.save(update_fields=["decision", "comment", "signed_at", "meaning"])
        else:
            vote = Vote.objects.create(
                change_request=fresh, voter=user, purpose=purpose, round=rnd, decision=decision,
                comment=comment or "", role=role, signed_at=now, meaning=meaning,
            )  # fmt: skip
        tally = policy.evaluate(board.policy, board.eligible, live_votes(fresh, purpose, rnd))
        audit.record(
            actor=user, action="vote.changed" if before else "vote.cast",
            object_type="change_request", object_key=fresh.key, project=fresh.project.key,
            before=before,
            after={"decision": decision, "comment": comment or "", "purpose": purpose,
                   "round": rnd, "role": role, "signature": "password re-entered",
                   "signer": user.username, "meaning": meaning, "signed_at": vote.signed_at},
        )  # fmt: skip
        if tally.verdict:
            _apply_verdict(fresh, purpose, tally)
    return vote, tally


_VERDICT_STATES = {"approve": State.APPROVED, "reject": State.REJECTED, "defer": State.DEFERRED}


def _apply_verdict(cr: ChangeRequest, purpose: str, tally: policy.Tally) -> None:
    now = timezone.now()
    before: dict[str, Any]
    after: dict[str, Any]
    if purpose == VotePurpose.DECISION:
        assert tally.verdict is not None  # called only with a verdict
        target = _VERDICT_STATES[tally.verdict]
        moved = ChangeRequest.objects.filter(pk=cr.pk, state=State.IN_REVIEW).update(
            state=target, decision_mode=DecisionMode.BOARD, state_changed_at=now,
            version=F("version") + 1, updated_at=now,
        )  # fmt: skip
        before, after, action = {"state": State.IN_REVIEW}, {"state": target}, "cr.decided"
        if moved:
            _state_changed(cr, State.IN_REVIEW, target, now, None)
    else:
        outcome = Ratification.RATIFIED if tally.verdict == "approve" else Ratification.REFUSED
        moved = ChangeRequest.objects.filter(pk=cr.pk, ratification=Ratification.PENDING).update(
            ratification=outcome, version=F("version") + 1, updated_at=now
        )
        before, after = {"ratification": Ratification.PENDING}, {"ratification": outcome}
        action = "cr.ratified" if outcome == Ratification.RATIFIED else "cr.ratification_refused"
    if not moved:  # the verdict was applied already: never twice
        raise InvalidTransition(_("The decision was already made."))
    after["tally"] = tally.as_dict()
    audit.record(
        actor="board", action=action, object_type="change_request", object_key=cr.key,
        project=cr.project.key, before=before, after=after,
    )  # fmt: skip


__all__ = [
    "ApplicationError",
    "assessment_create",
    "attachment_create",
    "available_actions",
    "change_request_create",
    "change_request_transition",
    "change_request_update",
    "comment_create",
    "decision_tally",
    "require_member",
    "require_voter",
    "vote_cast",
]
