"""Reads of what a change request does to the requirements: its change set (with redlines),
the conflicts with other open CRs, and impact analysis live and as saved with the assessment.

``cr`` is always one the caller may see (``changes.selectors.change_request_get``): every member
of the project reads these; outsiders never get this far (404).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import User

from . import changesets
from .diff import text_diff
from .models import (
    AffectedRequirement,
    ChangeSetApplication,
    ChangeSetEdit,
    EditOp,
    ImpactSnapshot,
    Requirement,
    RequirementVersion,
)
from .selectors import Touched, impact_of, touched_requirements

FIELD_LABELS = {
    "title": _("Title"),
    "text": _("Text"),
    "kind": _("Kind"),
    "priority": _("Priority"),
    "status": _("Status"),
    "parent": _("Parent"),
}
TEXT_FIELDS = ("title", "text")


def _shown(field: str, value: Any, titles: dict[int, str] | None = None) -> Any:
    """A choice's label rather than its stored value (the redline is read by people); a
    parent this change set adds, by its title."""
    from .models import Kind, RequirementPriority, RequirementStatus

    ref = changesets.new_ref(value) if field == "parent" else None
    if ref is not None:
        return _("the new requirement “%(title)s” (edit %(id)d)") % {
            "title": (titles or {}).get(ref, ""),
            "id": ref,
        }

    choices = {"kind": Kind, "priority": RequirementPriority, "status": RequirementStatus}
    if field in choices and value in choices[field].values:
        return str(choices[field](value).label)
    return value


def _changes(before: dict[str, Any] | None, proposed: dict[str, Any]) -> list[dict[str, Any]]:
    """Field by field, in the order of a version's fields: from, to, and a redline of the
    title and the text (character-level for Chinese, word-level otherwise)."""
    rows = []
    for field in changesets.FIELDS:
        if field not in proposed:
            continue
        old = before.get(field) if before else None
        new = proposed[field]
        if before is not None and old == new:
            continue
        rows.append(
            {
                "field": field,
                "label": str(FIELD_LABELS[field]),
                "from": old,
                "to": new,
                "diff": text_diff(old or "", new or "") if field in TEXT_FIELDS else None,
            }
        )
    return rows


def _edits(cr) -> list[ChangeSetEdit]:
    return list(
        ChangeSetEdit.objects.filter(change_request=cr)
        .select_related("requirement", "created_by")
        .order_by("id")
    )


def change_set_get(*, user: User, cr, edits: list[ChangeSetEdit] | None = None) -> dict[str, Any]:
    """The CR's change set: each edit with its redline against the version it was drafted
    from, whether its requirement moved on since (``stale``), and whether it was applied.
    Three queries whatever the number of edits (two when ``edits``, as ``_edits()`` reads
    them, are given)."""
    if edits is None:
        edits = _edits(cr)
    wanted = [(e.requirement_id, e.base_version) for e in edits if e.op != EditOp.ADD]
    bases: dict[tuple[int, int], dict[str, Any]] = {}
    if wanted:
        versions = RequirementVersion.objects.filter(
            requirement_id__in=[r for r, _v in wanted],
            version__in={v for _r, v in wanted},
        ).select_related("parent")
        for v in versions:
            bases[(v.requirement_id, v.version)] = changesets.version_values(v)
    application = (
        ChangeSetApplication.objects.filter(change_request=cr)
        .select_related("applied_by", "baseline")
        .first()
    )
    out = []
    for e in edits:
        req = e.requirement
        applied = application is not None
        base = (
            bases.get((e.requirement_id, e.base_version))
            if e.op != EditOp.ADD and e.requirement_id is not None and e.base_version is not None
            else None
        )
        stale = bool(req and e.op != EditOp.ADD and not applied and req.version != e.base_version)
        out.append(
            {
                "id": e.pk,
                "op": e.op,
                "op_label": str(EditOp(e.op).label),
                "requirement": req.key if req else None,
                "title": e.proposed.get("title") or (req.title if req else ""),
                "base_version": e.base_version,
                "current_version": req.version if req else None,
                "stale": stale,
                "applied_version": e.applied_version,
                "proposed": e.proposed,
                "changes": _changes(base if e.op != EditOp.ADD else None, e.proposed),
                "created_by": e.created_by.username,
                "created_at": e.created_at,
            }
        )
    # A parent that another add edit creates: the key it got once applied, else "edit:<id>".
    created = {
        e.pk: e.requirement.key for e in edits if e.op == EditOp.ADD and e.requirement is not None
    }
    for item in out:
        for change in item["changes"]:
            ref = changesets.new_ref(change["to"]) if change["field"] == "parent" else None
            if ref is not None and ref in created:
                change["to"] = created[ref]
    return {
        "change_request": cr.key,
        "state": cr.state,
        "applied": {
            "applied_by": application.applied_by.username,
            "applied_at": application.applied_at,
            "edits": application.edits,
            "baseline": application.baseline.name if application.baseline else None,
        }
        if application
        else None,
        "stale": [e["requirement"] for e in out if e["stale"]],
        "edits": out,
    }


def conflicts_of(*, user: User, cr, touched: Touched | None = None) -> list[dict[str, Any]]:
    """The other open change requests of the project that touch a requirement this one
    touches (declared, or in either change set), with the requirements they share.
    ``touched``: ``touched_requirements(cr)`` if read."""
    from changeflow.changes.models import ChangeRequest
    from changeflow.changes.workflow import FINAL_STATES

    declared, in_set, keys = touched or touched_requirements(cr)
    mine = set(declared) | set(in_set)
    if not mine:
        return []
    shared: dict[int, set[int]] = {}
    rows = [
        *AffectedRequirement.objects.filter(requirement_id__in=mine)
        .exclude(change_request_id=cr.pk)
        .values_list("change_request_id", "requirement_id"),
        *ChangeSetEdit.objects.filter(requirement_id__in=mine)
        .exclude(change_request_id=cr.pk)
        .values_list("change_request_id", "requirement_id"),
    ]
    for cr_id, req_id in rows:
        shared.setdefault(cr_id, set()).add(req_id)
    if not shared:
        return []
    others = (
        ChangeRequest.objects.filter(pk__in=shared, project_id=cr.project_id)
        .exclude(state__in=FINAL_STATES)
        .order_by("number")
    )
    # The shared requirements are among this CR's own: their keys are read already.
    return [
        {
            "key": o.key,
            "title": o.title,
            "state": o.state,
            "state_label": str(o.get_state_display()),
            "requirements": sorted((keys[r] for r in shared[o.pk]), key=_key_order),
        }
        for o in others
    ]


def _key_order(key: str) -> tuple[str, int]:
    head, _sep, n = key.rpartition("-")
    return head, int(n) if n.isdigit() else 0


def _signature(data: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["key"], i["relation"]) for i in data.get("items", [])}


def _saved(snap: ImpactSnapshot) -> dict[str, Any]:
    return snap.data | {"saved_with_assessment": snap.assessment.version, "snapshot": None}


def impact_get(*, user: User, cr, assessment: int | None = None) -> dict[str, Any]:
    """Live impact analysis, plus a summary of the one saved with the current assessment
    (``snapshot``) and whether it differs from now. With ``assessment``: that assessment
    version's saved analysis instead of the live one (404 when there is none)."""
    from changeflow.core.errors import NotFound

    if assessment is not None:
        snap = (
            ImpactSnapshot.objects.filter(change_request=cr, assessment__version=assessment)
            .select_related("assessment")
            .first()
        )
        if snap is None:
            raise NotFound(_("No impact analysis was saved with assessment %d.") % assessment)
        return _saved(snap)
    return _live_impact(user=user, cr=cr)[0]


def _live_impact(
    *, user: User, cr, touched: Touched | None = None
) -> tuple[dict[str, Any], ImpactSnapshot | None]:
    """``impact_get()`` of the live analysis, and the snapshot it is compared with."""
    live = impact_of(user=user, cr=cr, touched=touched)
    snap = (
        ImpactSnapshot.objects.filter(change_request=cr)
        .select_related("assessment")
        .order_by("-assessment__version")
        .first()
    )
    live["saved_with_assessment"] = None
    live["snapshot"] = (
        {
            "assessment": snap.assessment.version,
            "computed_at": snap.data.get("computed_at"),
            "differs": _signature(snap.data) != _signature(live),
            "items": len(snap.data.get("items", [])),
        }
        if snap
        else None
    )
    return live, snap


def cr_panel(*, user: User, cr) -> dict[str, Any]:
    """The context of the CR page's requirements panel (``requirements/_cr_panel.html``)."""
    from changeflow.changes.workflow import State

    from .models import EditOp as Op

    edits = _edits(cr)  # for the change set and for the requirements it touches
    change_set = change_set_get(user=user, cr=cr, edits=edits)
    titles = {e["id"]: e["title"] for e in change_set["edits"]}
    for edit in change_set["edits"]:  # labels, not stored values, for people
        edit["changes"] = [
            c
            | {
                "from": _shown(c["field"], c["from"]),
                "to": _shown(c["field"], c["to"], titles),
            }
            for c in edit["changes"]
        ]
    # Read once for the impact analysis and the conflicts; the snapshot that differs from
    # the live analysis is the one shown as saved (one per assessment: no second read).
    touched = touched_requirements(cr, edits=edits)
    impact, snap = _live_impact(user=user, cr=cr, touched=touched)
    saved = _saved(snap) if snap and impact["snapshot"]["differs"] else None
    may = changesets.may_draft(user, cr)
    implementer = user.is_superuser or _is_editor(user, cr)
    return {
        "change_set": change_set,
        "impact": impact,
        "impact_saved": saved,
        "conflicts": conflicts_of(user=user, cr=cr, touched=touched),
        "can_draft": may,
        "can_rebase": implementer
        and cr.state in changesets.rebase_states()
        and not change_set["applied"],
        "can_apply": implementer
        and cr.state == State.IMPLEMENTING
        and not change_set["applied"]
        and bool(change_set["edits"]),
        "requirement_choices": list(
            Requirement.objects.filter(project_id=cr.project_id)
            .exclude(status="retired")
            .order_by("number")
            .values_list("key", "title")[:2000]
        )
        if may
        else [],
        "ops": Op,
    }


def _is_editor(user: User, cr) -> bool:
    from changeflow.changes import workflow
    from changeflow.core.access import role_in

    return role_in(user, cr.project) in (workflow.PM, workflow.TL)
