"""Links between change requests: duplicates, relates to, depends on, replaces.

Writes (``link_create``, ``link_delete``, ``mark_duplicate``) and the permission-filtered reads
(``link_list``, ``link_get``) of ``ChangeRequestLink``, kept apart from ``services.py`` and
``selectors.py``, which are long enough.

Rules:
- A link belongs to its source CR: who may edit that CR may link it and remove its links
  (``workflow.can_link``: project managers and tech leads until it is closed, its requester —
  customers included — while it is a draft or returned).
- The target must be a CR the user can see (a 404 otherwise, as reading it would be). A link
  is shown on either CR's page only to those who can see both CRs.
- One link per pair of CRs, whichever way and whatever the kind (database constraint); no
  self-links; a CR duplicates at most one other; ``depends_on`` links make no cycle.
- Removing a link deletes its row, in the transaction that records the audit event holding
  what it was (as trace links are removed: ``requirements.services.link_delete``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, User
from changeflow.core import audit
from changeflow.core.access import remember_roles, restrict
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)

from . import selectors, services, workflow
from .models import (
    LINK_INVERSE_LABELS,
    LINK_NOTE_MAX,
    ChangeRequest,
    ChangeRequestLink,
    LinkKind,
)
from .workflow import Action, State

# A dependency is met once the change it depends on is implemented.
IMPLEMENTED = (State.VERIFYING, State.CLOSED)
# The depends_on graph is checked for cycles under one lock (PostgreSQL; SQLite's write
# transactions are serialised already), so that two links added at once cannot close a cycle
# neither saw: "pg_advisory_xact_lock" with this key, released at the end of the transaction.
_DEPENDENCY_LOCK = 0x63665F6C696E6B  # "cf_link"
# The order of the groups on a CR's page.
GROUP_ORDER = [
    ("out", LinkKind.DUPLICATES), ("in", LinkKind.DUPLICATES),
    ("out", LinkKind.DEPENDS_ON), ("in", LinkKind.DEPENDS_ON),
    ("out", LinkKind.REPLACES), ("in", LinkKind.REPLACES),
    ("out", LinkKind.RELATES_TO), ("in", LinkKind.RELATES_TO),
]  # fmt: skip


def label(kind: str, direction: str) -> str:
    """How the link reads from one side: "duplicates" from its source, "is duplicated by" from
    its target; "relates to" either way."""
    if direction == "in":
        return str(LINK_INVERSE_LABELS[LinkKind(kind)])
    return str(LinkKind(kind).label)


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class LinkRow:
    """One link as one CR's page shows it: the other CR and how this one stands to it."""

    id: int
    kind: str
    direction: str  # "out": this CR is the source; "in": the target
    label: str
    from_key: str
    to_key: str
    other_key: str
    other_title: str
    other_state: str
    note: str
    created_by: str
    created_at: Any
    # Whether the reader may remove the link: who may edit its source CR (on the target's page,
    # the source is the other CR, read with the row, not asked again).
    removable: bool = False

    @property
    def other_state_label(self) -> str:
        return str(State(self.other_state).label)


_ROW_FIELDS = (
    "id", "kind", "note", "created_at", "from_cr_id", "to_cr_id", "created_by__username",
    "from_cr__key", "from_cr__title", "from_cr__state", "from_cr__project_id",
    "from_cr__requested_by_id", "to_cr__key", "to_cr__title", "to_cr__state",
)  # fmt: skip


def _visible_links(*, user: User, cr: ChangeRequest):
    """The links of ``cr`` whose other end ``user`` can see (the caller saw ``cr`` itself)."""
    visible = restrict(ChangeRequest.objects, user).values("id")
    return ChangeRequestLink.objects.filter(
        Q(from_cr_id=cr.pk, to_cr_id__in=visible) | Q(to_cr_id=cr.pk, from_cr_id__in=visible)
    )


def link_list(*, user: User, cr: ChangeRequest) -> list[LinkRow]:
    """The links of ``cr`` that ``user`` may see, both ways, oldest first — in one query (and
    one more for the user's roles when a link comes from another project's CR)."""
    rows = []
    source_ok = may_link(user, cr)
    found = list(_visible_links(user=user, cr=cr).order_by("created_at", "id").values(*_ROW_FIELDS))
    if any(r["from_cr__project_id"] != cr.project_id for r in found):
        remember_roles(user)
    for r in found:
        direction = "out" if r["from_cr_id"] == cr.pk else "in"
        other = "to_cr" if direction == "out" else "from_cr"
        removable = source_ok if direction == "out" else _may_link_source(user, r)
        rows.append(
            LinkRow(
                id=r["id"],
                kind=r["kind"],
                direction=direction,
                label=label(r["kind"], direction),
                from_key=r["from_cr__key"],
                to_key=r["to_cr__key"],
                other_key=r[f"{other}__key"],
                other_title=r[f"{other}__title"],
                other_state=r[f"{other}__state"],
                note=r["note"],
                created_by=r["created_by__username"],
                created_at=r["created_at"],
                removable=removable,
            )  # fmt: skip
        )
    return rows


def grouped(rows: list[LinkRow]) -> list[dict[str, Any]]:
    """The rows in groups by how they read ("blocks", "depends on"...), in ``GROUP_ORDER``."""
    groups: dict[tuple[str, str], list[LinkRow]] = {}
    for row in rows:
        groups.setdefault((row.direction, row.kind), []).append(row)
    out = []
    for direction, kind in GROUP_ORDER:
        if kind == LinkKind.RELATES_TO:  # symmetric: one group, whichever way it was made
            items = groups.get(("out", kind), []) + groups.get(("in", kind), [])
            if direction == "in" or not items:
                continue
        else:
            items = groups.get((direction, kind), [])
        if items:
            out.append({"label": label(kind, direction), "kind": kind, "links": items})
    return out


def link_get(*, user: User, cr: ChangeRequest, pk: int) -> ChangeRequestLink:
    """A link of ``cr`` that ``user`` may see, or a 404."""
    link = (
        _visible_links(user=user, cr=cr)
        .select_related("from_cr__project", "to_cr", "created_by")
        .filter(pk=pk)
        .first()
    )
    if link is None:
        raise NotFound(_("No such link."))
    return link


def open_dependencies(cr: ChangeRequest, user: User) -> tuple[list[str], int]:
    """The keys of the CRs ``cr`` depends on that are not implemented yet and ``user`` can see,
    and how many more there are that ``user`` cannot see (another project's)."""
    rows = list(
        ChangeRequestLink.objects.filter(from_cr_id=cr.pk, kind=LinkKind.DEPENDS_ON)
        .exclude(to_cr__state__in=IMPLEMENTED)
        .order_by("to_cr__project_id", "to_cr__number")
        .values_list("to_cr__key", "to_cr__project_id")
    )
    if not rows:
        return [], 0
    if user.is_superuser:
        return [key for key, _p in rows], 0
    others = {p for _k, p in rows if p != cr.project_id}
    mine = set(
        Membership.objects.filter(user=user, project_id__in=others).values_list(
            "project_id", flat=True
        )
    ) if others else set()  # fmt: skip
    seen = [key for key, p in rows if p == cr.project_id or p in mine]
    return seen, len(rows) - len(seen)


LINK_EVENTS = ("cr.linked", "cr.unlinked")


# ---------------------------------------------------------------- who may


def may_link(user: User, cr: ChangeRequest) -> bool:
    return workflow.can_link(
        services.edit_context(
            user, state=cr.state, project=cr.project, requested_by_id=cr.requested_by_id
        )
    )


def _may_link_source(user: User, row: dict[str, Any]) -> bool:
    """``may_link`` for the source CR of a link row (``_ROW_FIELDS``), without loading it."""
    return workflow.can_link(
        services.edit_context(
            user,
            state=row["from_cr__state"],
            project=Project(pk=row["from_cr__project_id"]),
            requested_by_id=row["from_cr__requested_by_id"],
        )  # fmt: skip
    )


def require_linker(user: User, cr: ChangeRequest) -> None:
    """404 for a non-member, 403 for a viewer or anyone who may not edit ``cr`` now."""
    services.require_member(user, cr.project)
    if not may_link(user, cr):
        raise PermissionDenied(_("You may not change the links of this change request now."))


def require_marker(user: User, cr: ChangeRequest) -> None:
    """Who may mark ``cr`` as a duplicate, whatever the body names: who may link it and may
    withdraw it now (the workflow's guard: 403 for the role, 409 for the state)."""
    services.require_member(user, cr.project)
    denial = workflow.evaluate(Action.WITHDRAW, services.workflow_context(cr, user))
    if denial is not None:
        raise services._ERRORS[denial.kind](denial.message, code=denial.code)
    require_linker(user, cr)


# ---------------------------------------------------------------- writes


def _clean_kind(kind: Any) -> str:
    if kind not in LinkKind.values:
        raise ValidationError(
            _("Unknown kind of link."),
            fields={"kind": [_("One of: %s") % ", ".join(LinkKind.values)]},
        )
    return str(kind)


def _clean_note(note: Any) -> str:
    note = (note or "").strip() if isinstance(note, str | type(None)) else None
    if note is None or len(note) > LINK_NOTE_MAX:
        raise ValidationError(
            _("The note is too long."),
            fields={"note": [_("At most %d characters.") % LINK_NOTE_MAX]},
        )
    return note


def _target(user: User, cr: ChangeRequest, key: Any, field: str) -> ChangeRequest:
    key = (key or "").strip().upper() if isinstance(key, str) else ""
    if not key:
        raise ValidationError(
            _("Name the other change request, e.g. ACME-7."), fields={field: [_("Required.")]}
        )
    other = selectors.change_request_get(user=user, key=key)  # NotFound: as reading it
    if other.pk == cr.pk:
        raise ValidationError(
            _("A change request cannot be linked to itself."),
            fields={field: [_("Name another change request.")]},
        )
    return other


def _cycle(source: ChangeRequest, target: ChangeRequest) -> list[str] | None:
    """The keys of the depends_on cycle a link ``source`` → ``target`` would close (``source``
    first and last), or None. Breadth-first from ``target``: one query per level."""
    parent: dict[int, int] = {target.pk: source.pk}
    frontier = [target.pk]
    while frontier:
        edges = ChangeRequestLink.objects.filter(
            kind=LinkKind.DEPENDS_ON, from_cr_id__in=frontier
        ).values_list("from_cr_id", "to_cr_id")
        nxt = []
        for a, b in edges:
            if b in parent:
                continue
            parent[b] = a
            if b == source.pk:
                path = [b]
                while path[-1] != target.pk:
                    path.append(parent[path[-1]])
                path.append(source.pk)
                keys = dict(ChangeRequest.objects.filter(pk__in=path).values_list("pk", "key"))
                return [keys[pk] for pk in reversed(path)]
            nxt.append(b)
        frontier = nxt
    return None


def _record_both(
    action: str, user: User, source: ChangeRequest, target: ChangeRequest, *,
    after: dict, before: dict | None = None,
) -> None:  # fmt: skip
    """One event in each CR's history: a link belongs to both, and each CR's history (and its
    project's audit trail) must show it. The target's event names the same source and target,
    so each reads the same from either side."""
    for cr in (source, target):
        audit.record(
            actor=user, action=action, object_type="change_request", object_key=cr.key,
            project=cr.project.key, before=before, after=after,
        )  # fmt: skip


def _snapshot(link: ChangeRequestLink, source: ChangeRequest, target: ChangeRequest) -> dict:
    return {
        "link": link.pk,
        "kind": link.kind,
        "source": source.key,
        "target": target.key,
        "note": link.note,
    }


def link_create(
    *, user: User, cr: ChangeRequest, kind: str, target: str, note: str = ""
) -> ChangeRequestLink:
    """Link ``cr`` to the CR keyed ``target`` (``ACME-7``; any project ``user`` can see)."""
    require_linker(user, cr)
    kind = _clean_kind(kind)
    note = _clean_note(note)
    other = _target(user, cr, target, "target")
    with transaction.atomic():
        # Both CRs locked in one order: two writers on the same pair queue here, and the
        # second sees the first's link below (the unique constraint is the last word).
        locked = {
            c.pk: c
            for c in ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("project")
            .filter(pk__in=[cr.pk, other.pk])
            .order_by("pk")
        }
        source, dest = locked[cr.pk], locked[other.pk]
        if not may_link(user, source):
            raise PermissionDenied(_("You may not change the links of this change request now."))
        existing = (
            ChangeRequestLink.objects.filter(
                Q(from_cr_id=source.pk, to_cr_id=dest.pk)
                | Q(from_cr_id=dest.pk, to_cr_id=source.pk)
            )
            .values_list("from_cr_id", "kind")
            .first()
        )
        if existing is not None:
            way = existing[0] == source.pk
            raise Conflict(
                _("%(a)s already %(label)s %(b)s: remove that link first.")
                % {"a": source.key if way else dest.key, "b": dest.key if way else source.key,
                   "label": label(existing[1], "out")},
                code="already_linked",
            )  # fmt: skip
        if kind == LinkKind.DUPLICATES:
            original = (
                ChangeRequestLink.objects.filter(from_cr_id=source.pk, kind=LinkKind.DUPLICATES)
                .values_list("to_cr__key", flat=True)
                .first()
            )
            if original:
                raise Conflict(
                    _("%(a)s already duplicates %(b)s: a change request duplicates one other.")
                    % {"a": source.key, "b": original},
                    code="already_duplicate",
                )
        if kind == LinkKind.DEPENDS_ON:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DEPENDENCY_LOCK])
            cycle = _cycle(source, dest)
            if cycle:
                raise PreconditionFailed(
                    _("This dependency would make a cycle: %s.") % " → ".join(cycle),
                    code="dependency_cycle",
                )
        link = ChangeRequestLink(from_cr=source, to_cr=dest, kind=kind, note=note, created_by=user)
        try:
            with transaction.atomic():
                link.save()
        except IntegrityError:  # made at the same moment by someone else
            raise Conflict(
                _("These change requests were linked by someone else just now."), code="conflict"
            ) from None
        _record_both("cr.linked", user, source, dest, after=_snapshot(link, source, dest))
    return link


def link_delete(*, user: User, link: ChangeRequestLink) -> None:
    """Remove a link (its source CR's editors may); the audit event keeps what it was."""
    source = link.from_cr
    require_linker(user, source)
    with transaction.atomic():
        locked = (
            ChangeRequestLink.objects.select_for_update(of=("self",))
            .select_related("from_cr__project", "to_cr__project", "created_by")
            .filter(pk=link.pk)
            .first()
        )
        if locked is None:
            raise NotFound(_("No such link."))
        if not may_link(user, locked.from_cr):
            raise PermissionDenied(_("You may not change the links of this change request now."))
        before = _snapshot(locked, locked.from_cr, locked.to_cr) | {
            "created_by": locked.created_by.username,
            "created_at": locked.created_at.isoformat(),
        }
        locked.delete()
        _record_both(
            "cr.unlinked", user, locked.from_cr, locked.to_cr, before=before, after={"link": None}
        )


def mark_duplicate(
    *, user: User, cr: ChangeRequest, original: str, note: str = ""
) -> ChangeRequest:
    """Record that ``cr`` duplicates ``original`` and withdraw it, in one transaction.

    The workflow's exit for a duplicate is ``withdraw``: a duplicate is found at intake or
    triage, before any assessment, and ``reject`` is a decision on an assessed change (it needs
    one under the delegated thresholds, or the board). So the withdraw's guards apply: the
    project manager (or the CR's requester, for their own) while the CR is not yet approved.
    The comment names the original (when it is of the same project: the CR's readers may not see
    another); the requester is told (notification ``cr.duplicate``)."""
    require_marker(user, cr)
    note = _clean_note(note)
    other = _target(user, cr, original, "original")
    with transaction.atomic():
        made = ChangeRequestLink.objects.filter(
            from_cr_id=cr.pk, to_cr_id=other.pk, kind=LinkKind.DUPLICATES
        ).exists()
        if not made:  # linked as a duplicate already (by hand): withdraw only
            link_create(user=user, cr=cr, kind=LinkKind.DUPLICATES, target=other.key, note=note)
        if other.project_id == cr.project_id:
            comment = _("Duplicate of %(key)s: %(title)s") % {
                "key": other.key,
                "title": other.title,
            }
        else:  # the comment is read by the CR's members, who may not see the other project
            comment = _("Duplicate of a change request of another project.")
        if note:
            comment = f"{comment}\n\n{note}"
        return services.change_request_transition(
            user=user, cr=cr, action=Action.WITHDRAW, comment=comment,
            audit_extra={"duplicate_of": other.key},
        )  # fmt: skip
