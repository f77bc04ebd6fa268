"""Writes of process templates, and applying a process to a project.

Applying goes through the services that own each part (``ccb.services.board_set``,
``board_remove`` and ``delegation_set``, ``comms.sla.sla_targets_set``,
``reports.reviews.schedule_set``, ``crtemplates.services.template_create``), so their
validation and audit events stay as they are, all in one transaction with one
``process.applied`` event last: a part that fails leaves nothing of the others applied.

What cannot apply is said by the preview, part by part: a voter role no member holds (that
role is left off the board), a CR template whose name the project has already (skipped), a
board shared with other projects (never changed from here: 409), a board the project's members
could not satisfy (422).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from changeflow.accounts import services as account_services
from changeflow.accounts.models import Membership, Project, User
from changeflow.ccb import policy
from changeflow.ccb import selectors as ccb_selectors
from changeflow.ccb import services as ccb_services
from changeflow.ccb.models import Board
from changeflow.comms import sla
from changeflow.core import audit, versioning
from changeflow.core.errors import Conflict, PreconditionFailed, ValidationError
from changeflow.core.validation import clean_text, invalid
from changeflow.crtemplates import services as form_services
from changeflow.crtemplates.models import CRTemplate
from changeflow.reports import reviews

from . import definitions, selectors
from .definitions import number_text
from .models import DESCRIPTION_MAX, NAME_MAX, ProcessTemplate

EDITABLE = ("name", "description", "document", "archived")


# ---------------------------------------------------------------- a project's process


def _board_part(project: Project) -> dict[str, Any] | None:
    board = Board.objects.filter(links__project_id=project.pk).first()
    if board is None:
        return None
    voters: dict[str, Decimal] = {}
    for role, weight in board.members.values_list("role", "weight"):
        voters[role] = max(voters.get(role, Decimal(0)), weight)
    order = definitions.BOARD_ROLES
    return {
        "rule": board.rule,
        "threshold": number_text(board.threshold),
        "quorum": board.quorum,
        "required_roles": list(board.required_roles),
        "veto_roles": list(board.veto_roles),
        "ratification_days": board.ratification_days,
        "voters": {r: number_text(voters[r]) for r in sorted(voters, key=lambda r: order.index(r))},
    }


def process_of(project: Project) -> dict[str, Any]:
    """The process ``project`` follows now, as a document (the caller checked who may read it).
    A board's voters are its members' roles, each with the largest weight given to it."""
    forms = CRTemplate.objects.filter(project_id=project.pk, archived=False).order_by(
        "position", "id"
    )
    return {
        "version": definitions.VERSION,
        "board": _board_part(project),
        "delegation": {k: number_text(v) for k, v in ccb_selectors.delegation_of(project).items()},
        "sla": {str(stage): hours for stage, hours in sla.targets(project).items()},
        "review_schedule": str(reviews.schedule_of(project)),
        "cr_templates": [
            {name: getattr(t, name) for name in definitions.TEMPLATE_KEYS} for t in forms
        ],
    }


# ---------------------------------------------------------------- preview


@dataclass
class PartPreview:
    """What applying one part does: each field current → new, notes on what is skipped, and
    the problems that stop it (``blocked``)."""

    part: str
    selected: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    conflict: list[str] = field(default_factory=list)  # other projects sharing the board
    plan: Any = None  # what to apply (for the services)

    @property
    def status(self) -> str:
        if self.problems:
            return "blocked"
        return "changes" if self.changes else "unchanged"

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part, "selected": self.selected, "status": self.status,
            "changes": self.changes, "notes": self.notes, "problems": self.problems,
            "shared_with": self.conflict,
        }  # fmt: skip


def _diff(prefix: str, current: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"field": f"{prefix}{k}", "current": current.get(k), "new": new.get(k)}
        for k in new
        if current.get(k) != new.get(k)
    ]


def _preview_board(project: Project, current: dict[str, Any], new: Any, part: PartPreview):
    board = Board.objects.filter(links__project_id=project.pk).first()
    if board is not None:
        others = sorted(
            board.links.exclude(project_id=project.pk).values_list("project__key", flat=True)
        )
        if others:
            part.conflict = others
            part.problems.append(
                _("The board is shared with %(projects)s: it is not changed from here "
                  "(change it on the board's page).") % {"projects": ", ".join(others)}
            )  # fmt: skip
            return
    old = current["board"]
    if new is None:
        if old is not None:
            part.changes.append({"field": "board", "current": "configured", "new": "default"})
        part.plan = None
        return
    if old is None:
        old = {"rule": "majority", "threshold": None, "quorum": None, "required_roles": [],
               "veto_roles": [], "ratification_days": None,
               "voters": dict.fromkeys(policy.DEFAULT_BOARD_ROLES, "1")}  # fmt: skip
    scalars = {k: v for k, v in new.items() if k != "voters"}
    part.changes += _diff("", {k: old.get(k) for k in scalars}, scalars)
    part.changes += _diff("voters.", old["voters"], new["voters"])
    part.changes += [
        {"field": f"voters.{r}", "current": old["voters"][r], "new": None}
        for r in old["voters"]
        if r not in new["voters"]
    ]
    rows = (
        Membership.objects.filter(
            project_id=project.pk, user__is_active=True, role__in=list(new["voters"])
        )
        .order_by("user__username")
        .values_list("user__username", "role")
    )
    members = [{"username": u, "role": r, "weight": new["voters"][r]} for u, r in rows]
    held = {m["role"] for m in members}
    for role in new["voters"]:
        if role not in held:
            part.notes.append(
                _("No member of the project is %(role)s: nobody sits on the board in that role.")
                % {"role": role}
            )
    seats_now = sorted(
        (m.user.username, m.role, number_text(m.weight))
        for m in (board.members.select_related("user") if board else [])
    )
    seats_new = sorted((m["username"], m["role"], m["weight"]) for m in members)
    if board is None or seats_now != seats_new:
        part.changes.append(
            {"field": "members", "current": [f"{u} ({r} ×{w})" for u, r, w in seats_now] or None,
             "new": [f"{u} ({r} ×{w})" for u, r, w in seats_new]}
        )  # fmt: skip
    found = policy.problems(
        members={m["username"]: m["role"] for m in members}, rule=new["rule"],
        threshold=None if new["threshold"] is None else Decimal(new["threshold"]),
        quorum=new["quorum"], required_roles=new["required_roles"],
        veto_roles=new["veto_roles"],
    )  # fmt: skip
    part.problems += [
        ccb_services.policy_problem_message(code, dict(params)) for code, params in found.values()
    ]
    chair = board.chair.username if board is not None and board.chair else None
    part.plan = {
        "members": members, "rule": new["rule"], "threshold": new["threshold"],
        "quorum": new["quorum"], "required_roles": new["required_roles"],
        "veto_roles": new["veto_roles"], "ratification_days": new["ratification_days"],
        "chair": chair if any(m["username"] == chair for m in members) else None,
        "name": board.name if board is not None else "",
    }  # fmt: skip


def _preview_templates(project: Project, new: list[dict[str, Any]], part: PartPreview) -> None:
    taken = set(CRTemplate.objects.filter(project_id=project.pk).values_list("name", flat=True))
    part.plan = []
    for item in new:
        if item["name"] in taken:
            part.notes.append(
                _("The project has a CR template named %(name)s already: it is skipped.")
                % {"name": item["name"]}
            )
        else:
            part.plan.append(item)
            part.changes.append({"field": "cr_templates", "current": None, "new": item["name"]})


def preview(project: Project, document: dict[str, Any], chosen: list[str]) -> list[PartPreview]:
    """What applying the (clean) ``document``'s ``chosen`` parts to ``project`` would do, each
    part of the document in its order (the unchosen ones too, marked so). Reads only."""
    current = process_of(project)
    found = []
    for name in definitions.parts_of(document):
        part = PartPreview(name, name in chosen)
        new = document[name]
        if name == "board":
            _preview_board(project, current, new, part)
        elif name == "delegation":
            part.changes = _diff("", current["delegation"], new)
            part.plan = new
        elif name == "sla":
            part.changes = [
                {"field": f"{stage}.{p}", "current": current["sla"][stage][p], "new": hours}
                for stage, row in new.items()
                for p, hours in row.items()
                if current["sla"][stage][p] != hours
            ]
            part.plan = new
        elif name == "review_schedule":
            if current["review_schedule"] != new:
                part.changes = [
                    {"field": "review_schedule", "current": current["review_schedule"],
                     "new": new}
                ]  # fmt: skip
            part.plan = new
        else:
            _preview_templates(project, new, part)
        found.append(part)
    return found


# ---------------------------------------------------------------- apply


def _apply_part(user: User, project: Project, part: PartPreview) -> None:
    if part.part == "board":
        if part.plan is None:
            ccb_services.board_remove(user=user, project=project)
        else:
            ccb_services.board_set(user=user, project=project, data=part.plan)
    elif part.part == "delegation":
        ccb_services.delegation_set(user=user, project=project, limits=part.plan)
    elif part.part == "sla":
        rows = [
            {"stage": stage, "priority": p, "hours": hours}
            for stage, row in part.plan.items()
            for p, hours in row.items()
        ]
        sla.sla_targets_set(user=user, project=project, rows=rows)
    elif part.part == "review_schedule":
        reviews.schedule_set(user=user, project=project, frequency=part.plan)
    else:
        for item in part.plan:
            form_services.template_create(user=user, project=project, data=dict(item))


def _refusal(blocked: list[PartPreview]) -> Exception:
    fields = {p.part: p.problems for p in blocked}
    shared = [p for p in blocked if p.conflict]
    if shared:
        return Conflict(
            _("The board is shared with %(projects)s: applying the board would change it for "
              "them too.") % {"projects": ", ".join(shared[0].conflict)},
            code="shared_board", fields=fields,
        )  # fmt: skip
    return PreconditionFailed(
        _("Some parts cannot be applied to this project."), code="cannot_apply", fields=fields
    )


@dataclass(frozen=True)
class Source:
    """Where a document comes from: a saved template, a preset, or an uploaded document."""

    kind: str  # "template" | "preset" | "document"
    name: str = ""
    document: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # what a person reads: a preset's name in their language (its slug is name)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}


def source_of(
    *, user: User, template: Any = None, preset: Any = None, document: Any = None
) -> Source:
    """The one source named: a saved template (by id or name), a preset (by slug) or a
    document; a 400 unless exactly one is given, a 404 for one that is not there."""
    given = [n for n, v in (("template", template), ("preset", preset), ("document", document))
             if v not in (None, "")]  # fmt: skip
    if len(given) != 1:
        raise ValidationError(
            _("Name one of template, preset or document."),
            fields={"template": [_("Name one of template, preset or document.")]},
        )
    if template not in (None, ""):
        if isinstance(template, int) or (isinstance(template, str) and template.isdigit()):
            saved = selectors.template_get(user=user, pk=template)
        else:
            saved = selectors.template_by_name(user=user, name=str(template))
        return Source("template", saved.name, saved.document, saved.name)
    if preset not in (None, ""):
        found = selectors.preset_get(preset)
        return Source("preset", found.slug, found.document, str(found.name))
    return Source("document", "", document)


def process_apply(
    *,
    user: User,
    project: Project,
    source: Source,
    parts: Any = None,
    dry_run: bool = False,
    skip_blocked: bool = False,
) -> dict[str, Any]:
    """Apply ``source``'s document (its ``parts``, default all it holds) to ``project``, or
    with ``dry_run`` only say what it would do. A chosen part that cannot apply refuses the
    whole (409 for a shared board, 422 otherwise) unless ``skip_blocked`` (a new project,
    whose members are not there yet): then it is left out and reported. Returns the preview,
    ``applied`` and the parts applied."""
    selectors.require_process_manager(user, project)
    document = definitions.clean_document(source.document)
    chosen = definitions.clean_parts(parts, document)
    with transaction.atomic():
        if not dry_run:
            # One apply of a project at a time: the preview it acts on stays true.
            Project.objects.select_for_update().only("id").get(pk=project.pk)
        found = preview(project, document, chosen)
        blocked = [p for p in found if p.selected and p.status == "blocked"]
        result = {
            "source": source.as_dict(),
            "parts": [p.as_dict() for p in found],
            "applied": False,
            "applied_parts": [],
        }
        if dry_run:
            return result
        if blocked and not skip_blocked:
            raise _refusal(blocked)
        done = [p for p in found if p.selected and p.status != "blocked"]
        for part in done:
            project.__dict__.pop("_ccb_board", None)
            _apply_part(user, project, part)
        project.__dict__.pop("_ccb_board", None)
        result["applied"] = True
        result["applied_parts"] = [p.part for p in done]
        audit.record(
            actor=user, action="process.applied", object_type="project",
            object_key=project.key, project=project.key,
            after={"source": source.as_dict(), "parts": result["applied_parts"],
                   "skipped": {p.part: p.problems for p in blocked},
                   "notes": {p.part: p.notes for p in done if p.notes}},
        )  # fmt: skip
    return result


def project_create(
    *,
    user: User,
    key: str,
    name: str,
    customer: str | None = None,
    description: str = "",
    template: Any = None,
    preset: Any = None,
) -> tuple[Project, dict[str, Any] | None]:
    """Create a project and, when a template or preset is named, apply it at once, in the same
    transaction (a template that fails leaves no project). The new project's only member is its
    manager, so a board whose roles nobody holds yet is left out and reported."""
    source = None
    if template not in (None, "") or preset not in (None, ""):
        source = source_of(user=user, template=template, preset=preset)
    with transaction.atomic():
        project = account_services.project_create(
            user=user, key=key, name=name, customer=customer, description=description
        )
        if source is None:
            return project, None
        result = process_apply(user=user, project=project, source=source, skip_blocked=True)
    return project, result


# ---------------------------------------------------------------- templates


def _clean(name: str, value: Any) -> Any:
    if name == "name":
        return clean_text(name, value, NAME_MAX, required=True)
    if name == "description":
        return clean_text(name, value, DESCRIPTION_MAX)
    if name == "document":
        return definitions.clean_document(value)
    if not isinstance(value, bool):
        raise invalid(name, _("True or false is required."))
    return value


def _name_free(name: str, pk: int | None = None) -> None:
    taken = ProcessTemplate.objects.filter(name=name)
    if pk is not None:
        taken = taken.exclude(pk=pk)
    if taken.exists():
        raise invalid("name", _("A process template of that name exists already."))


def _record(user: User, verb: str, template: ProcessTemplate, **kwargs: Any) -> None:
    audit.record(
        actor=user, action=f"process_template.{verb}", object_type="process_template",
        object_key=str(template.pk),
        project=template.source_project.key if template.source_project else "", **kwargs,
    )  # fmt: skip


def template_create(
    *,
    user: User,
    name: Any,
    description: Any = "",
    document: Any = None,
    project: Project | None = None,
) -> ProcessTemplate:
    """A new template: from ``document``, or (``project``) the process ``project`` follows now,
    saved by one of its managers. Names are unique."""
    if project is None:
        selectors.require_creator(user)
    else:
        selectors.require_process_manager(user, project)
    if (document is None) == (project is None):
        raise invalid("document", _("Give a document or a project, not both."))
    values = {"name": _clean("name", name), "description": _clean("description", description)}
    values["document"] = _clean("document", process_of(project) if project else document)
    try:
        with transaction.atomic():
            _name_free(values["name"])
            template = ProcessTemplate.objects.create(
                **values, source_project=project, created_by=user
            )
            _record(user, "created", template, after={**values, "version": 1})
    except IntegrityError:  # the same name, created meanwhile
        raise invalid("name", _("A process template of that name exists already.")) from None
    return template


def template_update(
    *,
    user: User,
    template: ProcessTemplate,
    data: dict[str, Any],
    expected_version: int | None = None,
) -> ProcessTemplate:
    """Change a template's name, description or document (``archived`` archives or restores);
    compare-and-set on ``version`` (a stale one: 409)."""
    selectors.require_editor(user, template)
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in unknown},
        )
    values = {name: _clean(name, raw) for name, raw in data.items()}
    try:
        with transaction.atomic():
            fresh = ProcessTemplate.objects.select_related("source_project").get(pk=template.pk)
            versioning.check(fresh, expected_version)
            before, after = versioning.changes(fresh, values)
            if not after:
                return fresh
            if "name" in after:
                _name_free(after["name"], fresh.pk)
            versioning.write(fresh, after)
            verb = versioning.verb(after)
            _record(user, verb, fresh, before=before, after=after | {"version": fresh.version})
    except IntegrityError:
        raise invalid("name", _("A process template of that name exists already.")) from None
    return fresh
