"""Permission-filtered reads of requirements, their versions and baselines."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core.access import restrict
from changeflow.core.errors import NotFound

from . import impact
from .models import (
    AffectedRequirement,
    Artifact,
    ArtifactVersion,
    Baseline,
    ChangeSetEdit,
    EditOp,
    Requirement,
    RequirementVersion,
    TraceLink,
)

# Impact analysis stops after this many items (and says so): a bound on time and memory.
IMPACT_LIMIT = 10_000


def requirement_list(*, user: User, project: Project) -> QuerySet[Requirement]:
    return (
        restrict(Requirement.objects, user)
        .filter(project=project)
        .select_related("project", "parent", "created_by")
        .order_by("number")
    )


def requirement_get(*, user: User, key: str) -> Requirement:
    try:
        return (
            restrict(Requirement.objects, user)
            .select_related("project", "parent", "created_by")
            .get(key=key)
        )
    except Requirement.DoesNotExist:
        raise NotFound(_("No such requirement.")) from None


def version_list(*, user: User, requirement: Requirement) -> QuerySet[RequirementVersion]:
    return (
        restrict(RequirementVersion.objects, user)
        .filter(requirement=requirement)
        .select_related("requirement", "parent", "author", "change_request")
        .order_by("-version")
    )


def baseline_list(*, user: User, project: Project) -> QuerySet[Baseline]:
    return (
        restrict(Baseline.objects, user)
        .filter(project=project)
        .select_related("project", "created_by")
        .annotate(requirement_count=Count("items"))
        .order_by("-created_at", "-id")
    )


def baseline_get(*, user: User, project: Project, name: str) -> Baseline:
    baseline = baseline_list(user=user, project=project).filter(name=name).first()
    if baseline is None:
        raise NotFound(_("No such baseline: %s") % name)
    return baseline


def artifact_list(*, user: User, project: Project) -> QuerySet[Artifact]:
    return (
        restrict(Artifact.objects, user)
        .filter(project=project)
        .select_related("project", "created_by")
        .order_by("number")
    )


def artifact_get(*, user: User, key: str) -> Artifact:
    try:
        return restrict(Artifact.objects, user).select_related("project", "created_by").get(key=key)
    except Artifact.DoesNotExist:
        raise NotFound(_("No such artifact.")) from None


def artifact_version_list(*, user: User, artifact: Artifact) -> QuerySet[ArtifactVersion]:
    return (
        restrict(ArtifactVersion.objects, user)
        .filter(artifact=artifact)
        .select_related("artifact", "author", "change_request")
        .order_by("-version")
    )


_LINK_RELATED = (
    "project", "source_requirement", "source_artifact", "target_requirement",
    "target_artifact", "created_by", "reviewed_by",
)  # fmt: skip


def link_list(*, user: User, project: Project, suspect: bool | None = None) -> QuerySet[TraceLink]:
    qs = (
        restrict(TraceLink.objects, user)
        .filter(project=project)
        .select_related(*_LINK_RELATED)
        .order_by("id")
    )
    if suspect is not None:
        qs = qs.filter(suspect=suspect)
    return qs


def link_get(*, user: User, project: Project, pk: int) -> TraceLink:
    link = link_list(user=user, project=project).filter(pk=pk).first()
    if link is None:
        raise NotFound(_("No such trace link."))
    return link


class Touched(NamedTuple):
    """The requirements a change request touches: ids ``declared`` as affected, ids ``in_set``
    (its change set), each in a stable order, and the key of every one of them."""

    declared: list[int]
    in_set: list[int]
    keys: dict[int, str]


def touched_requirements(cr, *, edits: list[ChangeSetEdit] | None = None) -> Touched:
    """The requirements ``cr`` touches, with their keys (two queries, three when an added
    requirement goes under an existing parent; one fewer when the change set's ``edits``,
    with their requirements, are given).

    The change set touches the requirements its edits modify or remove, and the parent an
    added requirement would go under."""
    keys: dict[int, str] = {}
    declared = []
    for rid, key in (
        AffectedRequirement.objects.filter(change_request=cr)
        .order_by("requirement__number")
        .values_list("requirement_id", "requirement__key")
    ):
        declared.append(rid)
        keys[rid] = key
    # Each edit's requirement, or for an add not applied yet the key of its parent: the parents
    # are then read in one query, not one per add edit.
    rows = (
        ChangeSetEdit.objects.filter(change_request=cr)
        .order_by("id")
        .values_list("op", "requirement_id", "requirement__key", "proposed")
        if edits is None
        else [
            (e.op, e.requirement_id, e.requirement.key if e.requirement else None, e.proposed)
            for e in edits
        ]
    )
    touched: list[int | str] = []
    for op, edit_rid, edit_key, proposed in rows:
        if op == EditOp.ADD and edit_rid is None:
            parent = (proposed or {}).get("parent")
            if parent and isinstance(parent, str):
                touched.append(parent)
        elif edit_rid is not None:
            touched.append(edit_rid)
            if edit_key is not None:  # (always: a requirement has a key)
                keys[edit_rid] = edit_key
    parents = {k for k in touched if isinstance(k, str)}
    ids: dict[str, int] = {}
    if parents:
        for rid, key in Requirement.objects.filter(
            project_id=cr.project_id, key__in=parents
        ).values_list("id", "key"):
            ids[key] = rid
            keys[rid] = key
    in_set = [ids.get(k) if isinstance(k, str) else k for k in touched]
    return Touched(declared, list(dict.fromkeys(pk for pk in in_set if pk is not None)), keys)


def impact_of(
    *, user: User, cr, limit: int = IMPACT_LIMIT, touched: Touched | None = None
) -> dict[str, Any]:
    """What a change request may affect: the requirements it touches (declared, and in its
    change set), everything downstream of them (children, and through trace links from a
    link's target, the upstream end, to its source) and the ancestors of every requirement
    reached, each once, with the path of keys that reaches it (``requirements.impact``).

    ``cr`` must already be one the user may see (``change_request_get``). At most ``limit``
    items (``truncated`` then says so). ``touched``: ``touched_requirements(cr)`` if read.
    """
    declared, in_set, keys = touched or touched_requirements(cr)
    starts = list(dict.fromkeys([*declared, *in_set]))
    result = impact.analyse(starts, limit=limit)
    return {
        "change_request": cr.key,
        "affected": [keys[pk] for pk in declared],
        "change_set": [keys[pk] for pk in in_set],
        **result,
    }


def links_of(
    *, user: User, item: Requirement | Artifact
) -> tuple[list[TraceLink], list[TraceLink]]:
    """(links in, links out) of a requirement or an artifact: in = those whose target
    (upstream end) it is, out = those whose source it is. One query."""
    field = "requirement" if isinstance(item, Requirement) else "artifact"
    qs = link_list(user=user, project=item.project).filter(
        Q(**{f"source_{field}": item}) | Q(**{f"target_{field}": item})
    )
    incoming: list[TraceLink] = []
    outgoing: list[TraceLink] = []
    for link in qs:
        (outgoing if getattr(link, f"source_{field}_id") == item.pk else incoming).append(link)
    return incoming, outgoing


def requirement_tree(*, user: User, project: Project) -> list[tuple[int, int]]:
    """(requirement id, depth) of every requirement of ``project``, depth first, children in
    key order: the order of the tree view. One query of ids (cheap for 20,000 rows)."""
    children: dict[int | None, list[int]] = {}
    ids = set()
    for pk, parent in (
        restrict(Requirement.objects, user)
        .filter(project=project)
        .order_by("number")
        .values_list("id", "parent_id")
    ):
        children.setdefault(parent, []).append(pk)
        ids.add(pk)
    out: list[tuple[int, int]] = []
    stack = [(pk, 0) for pk in reversed(children.get(None, []))]
    # A parent outside the visible set (cannot happen within a project) still shows its rows.
    stack += [(pk, 0) for p, kids in children.items() if p is not None and p not in ids
              for pk in reversed(kids)]  # fmt: skip
    while stack:
        pk, depth = stack.pop()
        out.append((pk, depth))
        stack.extend((kid, depth + 1) for kid in reversed(children.get(pk, [])))
    return out
