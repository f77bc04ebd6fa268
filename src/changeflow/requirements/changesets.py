"""Change sets: the requirement edits a change request proposes, and applying them.

The only writer of ``ChangeSetEdit``, ``ChangeSetApplication`` and ``ImpactSnapshot``. Each
writer runs in one transaction and records its audit event last.

Rules (a professional requirements tool's, decided here once):

- **Who drafts**: the roles that may assess the CR — project managers and tech leads (and site
  admins), as ``changes.services.assessment_create`` allows — and **when**: while the CR is
  assessed, i.e. in the states an assessment may be made (submitted … in review).
- Each ``modify``/``remove`` edit names the requirement version it was drafted against. A
  ``remove`` retires the requirement (requirements are never deleted).
- A change to the change set while the CR is **in review** is material: the board's votes are
  reset (``ccb.services``), and the audit event says so and whom to tell.
- **Apply** is an explicit action of the CR's implementer (project manager or tech lead) once the
  CR is ``implementing``, not automatic at ``start_implementation``: the implementer decides
  when the requirements change, and a stale edit blocks only the apply, not the start of the
  work. All edits or none; a second apply changes nothing.
- An edit whose requirement moved on since it was drafted must be **rebased** before the apply:
  a field changed on both sides (to different values) needs the user's choice, mine or theirs.
- **Closing** (``verify``) a CR that applied its change set freezes the next baseline, named
  ``"<CR key> <date closed>"`` (e.g. ``ACME-12 2026-11-28``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import User
from changeflow.core import audit
from changeflow.core.access import role_in
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)

from . import services
from .models import (
    TEXT_MAX,
    TITLE_MAX,
    ChangeSetApplication,
    ChangeSetEdit,
    EditOp,
    ImpactSnapshot,
    Kind,
    Requirement,
    RequirementPriority,
    RequirementStatus,
    RequirementVersion,
)

FIELDS = services.VERSIONED_FIELDS  # title, text, kind, priority, status, parent
ADD_DEFAULTS = {
    "text": "",
    "kind": Kind.FUNCTIONAL.value,
    "priority": RequirementPriority.SHOULD.value,
    "status": RequirementStatus.DRAFT.value,
    "parent": None,
}
RESOLUTIONS = ("mine", "theirs")  # of a field changed on both sides (see edit_rebase)
MAX_EDITS = 500  # per change set: a bound on what one apply locks and writes
# How the CR page's history names the events this module records against a CR.
EVENT_LABELS = {
    "change_set.edit_added": gettext_lazy("proposed a requirement edit"),
    "change_set.edit_changed": gettext_lazy("changed a proposed requirement edit"),
    "change_set.edit_removed": gettext_lazy("took a requirement edit out of the change set"),
    "change_set.edit_rebased": gettext_lazy("rebased a requirement edit"),
    "change_set.applied": gettext_lazy("applied the change set"),
}
# ... and the details of those events it shows (the rest are internal: ids, vote resets).
EVENT_FIELD_LABELS = {
    "op": gettext_lazy("Kind of edit"),
    "requirement": gettext_lazy("Requirement"),
    "proposed": gettext_lazy("Proposed"),
    "edits": gettext_lazy("Edits applied"),
    "versions": gettext_lazy("New versions"),
    "rebased_from": gettext_lazy("Drafted against version"),
    "rebased_to": gettext_lazy("Rebased on version"),
    "resolutions": gettext_lazy("Conflicts resolved"),
    "dropped": gettext_lazy("Dropped"),
}
EVENT_HIDDEN_KEYS = {"id", "base_version", "material", "votes_reset"}


def drafting_states() -> tuple[str, ...]:
    from changeflow.changes.services import ASSESSABLE_STATES

    return tuple(ASSESSABLE_STATES)


def rebase_states() -> tuple[str, ...]:
    from changeflow.changes.workflow import State

    return (*drafting_states(), State.APPROVED, State.IMPLEMENTING)


def _role(user: User, cr) -> str | None:
    """The user's role; 404 when not a member (the CR does not exist for them)."""
    if user.is_superuser:
        return "admin"
    role = role_in(user, cr.project)
    if role is None:
        raise NotFound(_("No such change request."))
    return role


def may_draft(user: User, cr) -> bool:
    from changeflow.changes import workflow

    role = role_in(user, cr.project) if not user.is_superuser else "admin"
    return (user.is_superuser or role in (workflow.PM, workflow.TL)) and (
        cr.state in drafting_states()
    )


def require_drafter(user: User, cr, *, states: tuple[str, ...] | None = None) -> None:
    """Project managers, tech leads and site admins change a change set (403 for the other
    members, 404 for a user of no role in the project), while the CR is in one of ``states``
    (the drafting states unless said; 409 otherwise). The services call it, and the API views
    too, before they read the body."""
    from changeflow.changes import workflow

    role = _role(user, cr)
    if not (user.is_superuser or role in (workflow.PM, workflow.TL)):
        raise PermissionDenied(
            _("Only project managers and tech leads draft and apply a change set.")
        )
    if cr.state not in (states or drafting_states()):
        raise Conflict(
            _("The change set can be changed only while the change request is assessed.")
        )


def require_rebaser(user: User, cr) -> None:
    """Who may rebase an edit, and when: a drafter (``require_drafter``), from submission to
    implementation (an approved change set may have to follow a requirement that moved on)."""
    require_drafter(user, cr, states=rebase_states())


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(_("Some fields are invalid."), fields={field: [message]})


def version_values(v: RequirementVersion | Requirement) -> dict[str, Any]:
    """A version's (or the current requirement's) versioned fields, parent as a key."""
    out = {f: getattr(v, f) for f in FIELDS if f != "parent"}
    out["parent"] = v.parent.key if v.parent else None
    return out


def _target(edit: ChangeSetEdit) -> Requirement:
    """The requirement a ``modify``/``remove`` edit changes (an ``add`` edit has none until
    the change set is applied)."""
    if edit.requirement is None:
        raise ValueError(f"change set edit {edit.pk} ({edit.op}) has no requirement")
    return edit.requirement


NEW_REF = "edit:"  # a parent given as "edit:<id>": the requirement that add edit will create


def new_ref(value: Any) -> int | None:
    """The edit id of a parent given as ``"edit:<id>"`` (another add edit of the same change
    set), else None."""
    if isinstance(value, str) and value.startswith(NEW_REF):
        digits = value[len(NEW_REF) :]
        # ASCII digits only (str.isdigit also takes "²", which int() refuses), and an id's
        # length (int() refuses more than 4,300 digits): anything else is no edit reference.
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:
            return int(digits)
    return None


def _cycle(edit_ids: list[int]) -> PreconditionFailed:
    return PreconditionFailed(
        _("These edits would make requirements each other's ancestors: edits %s.")
        % ", ".join(str(i) for i in edit_ids),
        code="parent_cycle",
        fields={"parent": [_("This parent would make a cycle in the hierarchy.")]},
    )


def _clean_new_parent(cr, ref: int, *, requirement, edit_id: int | None) -> str:
    """A parent that is another requirement this change set adds, for an added requirement or
    for one a modify edit moves: only an add edit of the same change set (400), and no cycle
    in the hierarchy as the change set would leave it (422 ``parent_cycle``)."""
    if cr is None:
        raise _invalid(
            "parent", _("Only within a change set can a parent be a requirement it adds.")
        )
    adds = set(
        ChangeSetEdit.objects.filter(change_request=cr, op=EditOp.ADD).values_list("pk", flat=True)
    )
    if ref not in adds:
        raise _invalid("parent", _("No requirement added by this change set has edit id %d.") % ref)
    node = ("R", requirement.pk) if requirement is not None else ("E", edit_id)
    _check_hierarchy(cr, node, ("E", ref), edit_id=edit_id)
    return f"{NEW_REF}{ref}"


def _check_hierarchy(cr, node: tuple[str, Any], parent: tuple[str, Any], *, edit_id) -> None:
    """Refuse (422 ``parent_cycle``) making ``parent`` the parent of ``node`` when, with every
    other edit of the change set applied, the hierarchy would have a loop through it. Nodes are
    ("R", requirement id) and ("E", add edit id); ``edit_id`` is the edit being drafted (None
    for a new one), whose current proposal is left out."""
    ups: dict[tuple[str, Any], tuple[str, Any] | None] = {}
    ids: dict[str, int] = {}
    moved_by: dict[tuple[str, Any], int] = {}  # requirement -> the modify edit moving it
    for pk, key, parent_id in Requirement.objects.filter(project_id=cr.project_id).values_list(
        "id", "key", "parent_id"
    ):
        ups[("R", pk)] = ("R", parent_id) if parent_id else None
        ids[key] = pk

    def ref_of(value: Any) -> tuple[str, Any] | None:
        ref = new_ref(value)
        if ref is not None:
            return ("E", ref)
        return ("R", ids[value]) if value in ids else None

    for pk, op, rid, proposed in ChangeSetEdit.objects.filter(change_request=cr).values_list(
        "pk", "op", "requirement_id", "proposed"
    ):
        if pk == edit_id or not isinstance(proposed, dict):
            continue
        if op == EditOp.ADD:
            ups[("E", pk)] = ref_of(proposed.get("parent"))
        elif op == EditOp.MODIFY and "parent" in proposed:
            ups[("R", rid)] = ref_of(proposed["parent"])
            moved_by[("R", rid)] = pk
    ups[node] = parent
    chain: list[tuple[str, Any]] = [node]
    current: tuple[str, Any] | None = parent
    while current is not None and current not in chain[1:]:
        if current == node:
            involved = {n[1] if n[0] == "E" else moved_by.get(n) for n in chain} | {edit_id}
            raise _cycle(sorted(i for i in involved if i is not None))
        chain.append(current)
        current = ups.get(current)


def _clean_fields(
    project, data: Any, *, requirement: Requirement | None, cr=None, edit_id: int | None = None
) -> dict[str, Any]:
    """The proposed values, checked like a requirement edit would be. An added requirement's
    parent may be another one the change set ``cr`` adds, as ``"edit:<id>"``."""
    if not isinstance(data, dict):
        raise _invalid("fields", _("An object of requirement fields."))
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in unknown},
        )
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == "title":
            out[name] = services._clean_text("title", value, TITLE_MAX, required=True)
        elif name == "text":
            out[name] = services._clean_text("text", value, TEXT_MAX, required=False)
        elif name == "kind":
            out[name] = services._clean_choice("kind", value, Kind)
        elif name == "priority":
            out[name] = services._clean_choice("priority", value, RequirementPriority)
        elif name == "status":
            out[name] = services._clean_choice("status", value, RequirementStatus)
        elif name == "parent":
            if value is not None and not isinstance(value, str):
                raise _invalid("parent", _("A requirement key."))
            ref = new_ref((value or "").strip())
            if ref is not None:
                out[name] = _clean_new_parent(cr, ref, requirement=requirement, edit_id=edit_id)
                continue
            parent = services._parent(project, (value or "").strip() or None)
            if (
                parent is not None
                and requirement is not None
                and (parent.pk == requirement.pk or services._would_cycle(requirement, parent))
            ):
                raise _invalid("parent", _("This parent would make a cycle in the hierarchy."))
            if cr is not None and parent is not None and (requirement or edit_id) is not None:
                # With the change set's other edits (moves, added requirements) applied.
                node = ("R", requirement.pk) if requirement is not None else ("E", edit_id)
                _check_hierarchy(cr, node, ("R", parent.pk), edit_id=edit_id)
            out[name] = parent.key if parent else None
    return out


def _snapshot(edit: ChangeSetEdit) -> dict[str, Any]:
    return {
        "id": edit.pk,
        "op": edit.op,
        "requirement": edit.requirement.key if edit.requirement else None,
        "base_version": edit.base_version,
        "proposed": edit.proposed,
    }


def _lock_cr(cr):
    from changeflow.changes.models import ChangeRequest

    return ChangeRequest.objects.select_for_update().select_related("project").get(pk=cr.pk)


def _material(cr, user: User, after: dict[str, Any]) -> dict[str, Any]:
    """A material change of the change set while the board reviews the CR resets the votes
    cast so far (they were cast on other content); returns what to add to the audit event."""
    from changeflow.changes.workflow import State

    if cr.state != State.IN_REVIEW:
        return after
    from changeflow.ccb import services as ccb_services

    # reset_votes records its own "votes.reset" event naming whom to tell.
    voided = ccb_services.reset_votes(cr=cr, reason=_("The change set changed."), by=user)
    return after | {"material": True, "votes_reset": voided}


def _record(user: User, cr, action: str, *, before=None, after=None) -> None:
    audit.record(
        actor=user, action=action, object_type="change_request", object_key=cr.key,
        project=cr.project.key, before=before, after=after,
    )  # fmt: skip


# ---------------------------------------------------------------- drafting


def edit_create(
    *, user: User, cr, op: str, requirement: str | None = None, fields: Any = None
) -> ChangeSetEdit:
    """Add an edit to the CR's change set: ``add`` a requirement (``fields``: its title and
    the rest), ``modify`` the requirement ``requirement`` (``fields``: only what changes),
    or ``remove`` (retire) it."""
    require_drafter(user, cr)
    if op not in EditOp.values:
        raise _invalid("op", _("Not one of: %s.") % ", ".join(EditOp.values))
    fields = {} if fields is None else fields
    with transaction.atomic():
        cr = _lock_cr(cr)
        require_drafter(user, cr)
        if ChangeSetEdit.objects.filter(change_request=cr).count() >= MAX_EDITS:
            raise _invalid("op", _("A change set holds at most %d edits.") % MAX_EDITS)
        target = None
        if op == EditOp.ADD:
            if requirement:
                raise _invalid("requirement", _("An added requirement has no key yet."))
            proposed = ADD_DEFAULTS | _clean_fields(cr.project, fields, requirement=None, cr=cr)
            if not proposed.get("title"):
                raise _invalid("title", _("Required."))
        else:
            if not isinstance(requirement, str) or not requirement.strip():
                raise _invalid("requirement", _("The key of the requirement to change."))
            target = (
                Requirement.objects.select_related("parent")
                .filter(project=cr.project, key=requirement.strip())
                .first()
            )
            if target is None:
                raise _invalid(
                    "requirement", _("No such requirement in this project: %s") % requirement
                )
            if ChangeSetEdit.objects.filter(change_request=cr, requirement=target).exists():
                raise _invalid(
                    "requirement",
                    _("%s is already in this change set: change that edit instead.") % target.key,
                )
            current = version_values(target)
            if op == EditOp.REMOVE:
                if fields:
                    raise _invalid("fields", _("A removal proposes no fields."))
                if target.status == RequirementStatus.RETIRED:
                    raise _invalid("requirement", _("%s is already retired.") % target.key)
                proposed = {"status": RequirementStatus.RETIRED.value}
            else:
                cleaned = _clean_fields(cr.project, fields, requirement=target, cr=cr)
                proposed = {k: v for k, v in cleaned.items() if current[k] != v}
                if not proposed:
                    raise _invalid("fields", _("The edit changes nothing."))
        edit = ChangeSetEdit.objects.create(
            change_request=cr, op=op, requirement=target,
            base_version=target.version if target else None, proposed=proposed, created_by=user,
        )  # fmt: skip
        _record(user, cr, "change_set.edit_added", after=_material(cr, user, _snapshot(edit)))
    return edit


def _edit_locked(cr, edit_id: int) -> ChangeSetEdit:
    edit = (
        ChangeSetEdit.objects.select_for_update(of=("self",))
        .filter(change_request=cr, pk=edit_id)
        .select_related("requirement__parent")
        .first()
    )
    if edit is None:
        raise NotFound(_("No such edit in this change set."))
    return edit


def edit_update(*, user: User, cr, edit_id: int, fields: Any) -> ChangeSetEdit:
    """Replace what an ``add`` or ``modify`` edit proposes (a removal has nothing to change)."""
    require_drafter(user, cr)
    with transaction.atomic():
        cr = _lock_cr(cr)
        require_drafter(user, cr)
        edit = _edit_locked(cr, edit_id)
        before = _snapshot(edit)
        if edit.op == EditOp.REMOVE:
            raise _invalid("fields", _("A removal proposes no fields."))
        if edit.op == EditOp.ADD:
            proposed = ADD_DEFAULTS | _clean_fields(
                cr.project, fields, requirement=None, cr=cr, edit_id=edit.pk
            )
            if not proposed.get("title"):
                raise _invalid("title", _("Required."))
        else:
            base = _base_values(edit)
            cleaned = _clean_fields(
                cr.project, fields, requirement=edit.requirement, cr=cr, edit_id=edit.pk
            )
            proposed = {k: v for k, v in cleaned.items() if base[k] != v}
            if not proposed:
                raise _invalid("fields", _("The edit changes nothing."))
        if proposed == edit.proposed:
            return edit
        edit.proposed = proposed
        edit.save(update_fields=["proposed", "updated_at"])
        _record(
            user, cr, "change_set.edit_changed", before=before,
            after=_material(cr, user, _snapshot(edit)),
        )  # fmt: skip
    return edit


def edit_delete(*, user: User, cr, edit_id: int) -> None:
    """Take an edit out of the change set."""
    require_drafter(user, cr)
    with transaction.atomic():
        cr = _lock_cr(cr)
        require_drafter(user, cr)
        edit = _edit_locked(cr, edit_id)
        before = _snapshot(edit)
        children = sorted(
            ChangeSetEdit.objects.filter(
                change_request=cr, proposed__parent=f"{NEW_REF}{edit.pk}"
            ).values_list("pk", flat=True)
        )
        if children:
            raise PreconditionFailed(
                _("Edits %s have the requirement this one adds as parent: change them first.")
                % ", ".join(str(i) for i in children),
                code="edit_is_parent",
            )
        edit.delete()
        _record(user, cr, "change_set.edit_removed", before=before, after=_material(cr, user, {}))


def _base_values(edit: ChangeSetEdit) -> dict[str, Any]:
    """The values of the version a ``modify``/``remove`` edit was drafted against."""
    req = _target(edit)
    version = (
        None
        if edit.base_version is None
        else RequirementVersion.objects.select_related("parent")
        .filter(requirement_id=req.pk, version=edit.base_version)
        .first()
    )
    if version is None:  # a base that never existed: treat the current one as the base
        return version_values(req)
    return version_values(version)


# ---------------------------------------------------------------- rebase


def three_way(edit: ChangeSetEdit) -> dict[str, Any]:
    """The 3-way view of a ``modify``/``remove`` edit: for each field the base (the version the
    edit was drafted against), theirs (the current version), mine (what the edit proposes),
    and the merged value — or a conflict when both sides changed it differently."""
    req = _target(edit)
    base = _base_values(edit)
    theirs = version_values(req)
    rows = []
    for f in FIELDS:
        mine_changed = f in edit.proposed and edit.proposed[f] != base[f]
        mine = edit.proposed[f] if f in edit.proposed else base[f]
        theirs_changed = theirs[f] != base[f]
        conflict = mine_changed and theirs_changed and mine != theirs[f]
        rows.append(
            {
                "field": f, "base": base[f], "theirs": theirs[f], "mine": mine,
                "mine_changed": mine_changed, "theirs_changed": theirs_changed,
                "conflict": conflict, "merged": None if conflict else (
                    mine if mine_changed else theirs[f]
                ),
            }
        )  # fmt: skip
    return {
        "edit": edit.pk,
        "requirement": req.key,
        "base_version": edit.base_version,
        "current_version": req.version,
        "stale": req.version != edit.base_version,
        "fields": rows,
        "conflicts": [r["field"] for r in rows if r["conflict"]],
    }


def edit_rebase(*, user: User, cr, edit_id: int, resolutions: Any = None) -> ChangeSetEdit | None:
    """Re-base a ``modify``/``remove`` edit on the requirement's current version.

    Fields changed only on one side merge by themselves; a field changed on both sides to
    different values needs ``resolutions[field]`` = ``"mine"`` (keep the edit's value) or
    ``"theirs"`` (take the current one), else 409 naming the fields; a resolution of a field
    that is not in conflict is refused (400 naming it: it would be ignored). An edit left proposing
    nothing the current version does not already say is dropped (``None`` is returned).
    """
    resolutions = {} if resolutions is None else resolutions
    require_rebaser(user, cr)
    if not isinstance(resolutions, dict) or any(v not in RESOLUTIONS for v in resolutions.values()):
        raise _invalid("resolutions", _('An object of field: "mine" or "theirs".'))
    with transaction.atomic():
        cr = _lock_cr(cr)
        require_rebaser(user, cr)
        if ChangeSetApplication.objects.filter(change_request=cr).exists():
            raise Conflict(_("The change set was already applied."))
        edit = _edit_locked(cr, edit_id)
        if edit.op == EditOp.ADD or edit.requirement_id is None:
            raise _invalid("edit", _("An added requirement has no version to rebase on."))
        Requirement.objects.select_for_update(of=("self",)).filter(pk=edit.requirement_id).get()
        _target(edit).refresh_from_db()
        view = three_way(edit)
        unasked = sorted(set(resolutions) - set(view["conflicts"]))
        if unasked:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={f"resolutions.{f}": [_("Not in conflict: nothing to resolve.")]
                        for f in unasked},
            )  # fmt: skip
        if not view["stale"]:
            return edit
        missing = [f for f in view["conflicts"] if f not in resolutions]
        if missing:
            raise Conflict(
                _("%(key)s changed on both sides in: %(fields)s. Choose mine or theirs for each.")
                % {"key": view["requirement"], "fields": ", ".join(missing)},
                code="rebase_conflict",
                fields={f: [_("Changed on both sides: choose mine or theirs.")] for f in missing},
            )
        before = _snapshot(edit)
        proposed: dict[str, Any] = {}
        for row in view["fields"]:
            f = row["field"]
            keep = row["mine_changed"] and (not row["conflict"] or resolutions[f] == "mine")
            if keep and row["mine"] != row["theirs"]:
                proposed[f] = row["mine"]
        after_info = {
            "rebased_from": view["base_version"], "rebased_to": view["current_version"],
            "resolutions": {f: resolutions[f] for f in view["conflicts"]},
        }  # fmt: skip
        # Resolving a conflict changes what the board was shown; a clean merge does not.
        material = bool(view["conflicts"]) or proposed != edit.proposed
        if not proposed:
            edit.delete()
            after = after_info | {"dropped": True}
            _record(
                user, cr, "change_set.edit_rebased", before=before,
                after=_material(cr, user, after) if material else after,
            )  # fmt: skip
            return None
        edit.proposed = proposed
        edit.base_version = view["current_version"]
        edit.save(update_fields=["proposed", "base_version", "updated_at"])
        after = after_info | _snapshot(edit)
        _record(
            user, cr, "change_set.edit_rebased", before=before,
            after=_material(cr, user, after) if material else after,
        )  # fmt: skip
    return edit


# ---------------------------------------------------------------- apply and close


def stale_edits(cr) -> list[ChangeSetEdit]:
    return [
        e
        for e in ChangeSetEdit.objects.filter(
            change_request=cr, op__in=[EditOp.MODIFY, EditOp.REMOVE]
        )
        .select_related("requirement")
        .order_by("id")
        if e.requirement is not None and e.requirement.version != e.base_version
    ]


def is_unapplied(cr) -> bool:
    """Whether ``cr`` proposes requirement edits that have not been applied (one query): such a
    CR may not go to verification, or its approved edits would never reach the requirements."""
    return (
        ChangeSetEdit.objects.filter(change_request=cr)
        .exclude(change_request__in=ChangeSetApplication.objects.values("change_request"))
        .exists()
    )


def in_dependency_order(edits: list[ChangeSetEdit]) -> list[ChangeSetEdit]:
    """The order to apply ``edits`` in: the added requirements first, each after the added one
    it has as parent whatever order they were drafted in, then the modifications and removals
    in their order (a modify edit may move a requirement under an added one). A cycle, or a
    parent edit no longer in the change set, is refused (422) — drafting refuses both already."""
    adds = {e.pk for e in edits if e.op == EditOp.ADD}
    for e in edits:
        ref = new_ref(e.proposed.get("parent")) if e.op != EditOp.REMOVE else None
        if ref is not None and ref not in adds:
            raise PreconditionFailed(
                _("Edit %(id)d has as parent edit %(ref)d, which is not in the change set.")
                % {"id": e.pk, "ref": ref},
                code="parent_missing",
                fields={
                    "parent": [_("No requirement added by this change set has edit id %d.") % ref]
                },
            )
    ordered: list[ChangeSetEdit] = []
    done: set[int] = set()
    pending = [e for e in edits if e.op == EditOp.ADD]
    while pending:
        waiting = []
        for e in pending:
            ref = new_ref(e.proposed.get("parent"))
            if ref is not None and ref not in done:
                waiting.append(e)
            else:
                ordered.append(e)
                done.add(e.pk)
        if len(waiting) == len(pending):
            raise _cycle(sorted(e.pk for e in waiting))
        pending = waiting
    return ordered + [e for e in edits if e.op != EditOp.ADD]


def change_set_apply(*, user: User, cr) -> dict[str, Any]:
    """Apply the CR's whole change set, atomically: every edit makes a new requirement version
    that records the CR (an added requirement starts at version 1), or nothing happens.

    Only while the CR is ``implementing``, by a project manager or tech lead. Refused (409,
    naming the requirements) when a target moved on since its edit was drafted. A second
    apply changes nothing and answers ``{"applied": false}``.
    """
    from changeflow.changes.workflow import State

    require_drafter(user, cr, states=tuple(State))
    with transaction.atomic():
        cr = _lock_cr(cr)
        done = ChangeSetApplication.objects.filter(change_request=cr).first()
        if done is not None:
            return {"applied": False, "already_applied_at": done.applied_at, "versions": {}}
        if cr.state != State.IMPLEMENTING:
            raise Conflict(
                _("A change set is applied while its change request is being implemented.")
            )
        edits = list(
            ChangeSetEdit.objects.filter(change_request=cr)
            .select_related("requirement")
            .order_by("id")
        )
        if not edits:
            raise PreconditionFailed(_("The change set is empty: there is nothing to apply."))
        targets = sorted(e.requirement_id for e in edits if e.requirement_id)
        current = dict(
            Requirement.objects.select_for_update()
            .filter(pk__in=targets)
            .order_by("pk")
            .values_list("pk", "version")
        )
        # (edit, its requirement, that requirement's current version) of every stale edit
        stale = [
            (e, e.requirement, current[e.requirement.pk])
            for e in edits
            if e.requirement is not None and current[e.requirement.pk] != e.base_version
        ]
        if stale:
            keys = ", ".join(req.key for _e, req, _now in stale)
            raise Conflict(
                _(
                    "Not applied: %(keys)s changed since the change set was drafted. Rebase "
                    "those edits on the current versions, then apply again."
                )
                % {"keys": keys},
                code="change_set_stale",
                fields={
                    "change_set": [
                        _("%(key)s: drafted against version %(base)d, now version %(now)d.")
                        % {
                            "key": req.key,
                            "base": e.base_version,
                            "now": now,
                        }  # fmt: skip
                        for e, req, now in stale
                    ]
                },
            )
        versions: dict[str, int] = {}
        created: dict[int, str] = {}  # add edit id -> the key of the requirement it created
        for edit in in_dependency_order(edits):
            values = dict(edit.proposed)
            ref = new_ref(values.get("parent"))
            if ref is not None:  # an added requirement, created earlier in this loop
                values["parent"] = created[ref]
            if edit.op == EditOp.ADD:
                req = services.requirement_create(
                    user=user, project=cr.project, change_request=cr, **values
                )
                edit.requirement = req
                created[edit.pk] = req.key
            else:
                req = services.requirement_update(
                    user=user, requirement=_target(edit), data=values,
                    change_request=cr.key, expected_version=edit.base_version,
                )  # fmt: skip
            edit.applied_version = req.version
            edit.save(update_fields=["requirement", "applied_version", "updated_at"])
            versions[req.key] = req.version
        ChangeSetApplication.objects.create(change_request=cr, applied_by=user, edits=len(edits))
        _record(user, cr, "change_set.applied", after={"edits": len(edits), "versions": versions})
    return {"applied": True, "already_applied_at": None, "versions": versions}


def baseline_name(cr, day=None) -> str:
    return f"{cr.key} {(day or timezone.localdate()).isoformat()}"


def on_cr_closed(*, user: User, cr):
    """Called by ``changes.services`` inside the transaction that closes ``cr``: when its change
    set was applied, freeze the next baseline (``"ACME-12 2026-11-28"``) and remember it."""
    application = ChangeSetApplication.objects.select_for_update().filter(change_request=cr).first()
    if application is None or application.baseline_id:
        return None
    from .models import Baseline

    name = base = baseline_name(cr)
    n = 2
    while Baseline.objects.filter(project_id=cr.project_id, name=name).exists():
        name, n = f"{base} ({n})", n + 1
    keys = list(
        ChangeSetEdit.objects.filter(change_request=cr)
        .order_by("requirement__number")
        .values_list("requirement__key", flat=True)
    )
    baseline = services.baseline_freeze(
        user=user, project=cr.project, name=name,
        description=_("Made when %(cr)s closed; its change set changed %(keys)s.")
        % {"cr": cr.key, "keys": ", ".join(k for k in keys if k)},
        extra={"change_request": cr.key, "automatic": True},
    )  # fmt: skip
    application.baseline = baseline
    application.save(update_fields=["baseline"])
    return baseline


def impact_snapshot_save(*, assessment) -> ImpactSnapshot:
    """Called by ``changes.services.assessment_create`` in its transaction: keep what impact
    analysis showed when this assessment was made, so the board sees what was known."""
    from .selectors import impact_of

    cr = assessment.change_request
    data = impact_of(user=assessment.author, cr=cr)
    data["computed_at"] = timezone.now().isoformat()
    return ImpactSnapshot.objects.create(assessment=assessment, change_request=cr, data=data)
