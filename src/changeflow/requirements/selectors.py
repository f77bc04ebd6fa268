"""Permission-filtered reads of requirements, their versions and baselines."""

from __future__ import annotations

from collections import deque
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core.access import restrict
from changeflow.core.errors import NotFound

from .models import (
    AffectedRequirement,
    Artifact,
    Baseline,
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


def impact_of(*, user: User, cr, limit: int = IMPACT_LIMIT) -> dict[str, Any]:
    """What a change request may affect: its declared requirements, their descendants (by
    parent) and everything downstream of them through trace links (from a link's target, the
    upstream end, to its source), each once, with the shortest path of keys that reaches it.

    ``cr`` must already be one the user may see (``change_request_get``). Breadth-first,
    cycle-safe, at most ``limit`` items (``truncated`` then says so). Four queries whatever
    the size: the declared requirements, the project's requirements, its links, the artifacts
    reached.
    """
    project_id = cr.project_id
    start = list(
        restrict(AffectedRequirement.objects, user)
        .filter(change_request=cr)
        .order_by("requirement__number")
        .values_list("requirement_id", flat=True)
    )
    reqs: dict[int, tuple[str, str, int | None]] = {
        pk: (key, title, parent)
        for pk, key, title, parent in Requirement.objects.filter(project_id=project_id)
        .order_by("number")
        .values_list("id", "key", "title", "parent_id")
    }
    down: dict[tuple[str, int], list[tuple[tuple[str, int], str, bool]]] = {}
    for pk, _parent in ((pk, v[2]) for pk, v in reqs.items()):
        if _parent is not None:
            down.setdefault(("R", _parent), []).append((("R", pk), "child", False))
    links = TraceLink.objects.filter(project_id=project_id).order_by("id")
    for sr, sa, tr, ta, kind, suspect in links.values_list(
        "source_requirement_id", "source_artifact_id", "target_requirement_id",
        "target_artifact_id", "kind", "suspect",
    ):  # fmt: skip
        upstream = ("R", tr) if tr is not None else ("A", ta)
        downstream = ("R", sr) if sr is not None else ("A", sa)
        down.setdefault(upstream, []).append((downstream, kind, suspect))

    reached: dict[tuple[str, int], dict[str, Any]] = {}
    queue: deque[tuple[str, int]] = deque()
    for pk in start:
        node = ("R", pk)
        if node not in reached:
            reached[node] = {"path": [node], "depth": 0, "via": None, "suspect": False}
            queue.append(node)
    truncated = False
    while queue and not truncated:
        node = queue.popleft()
        here = reached[node]
        for nxt, via, suspect in down.get(node, ()):
            if nxt in reached:
                continue  # seen: a shorter (or equal) path already reached it; cycles end here
            if len(reached) >= limit:
                truncated = True
                break
            reached[nxt] = {
                "path": [*here["path"], nxt], "depth": here["depth"] + 1, "via": via,
                "suspect": suspect,
            }  # fmt: skip
            queue.append(nxt)

    arts = (
        {
            pk: (key, title, kind)
            for pk, key, title, kind in Artifact.objects.filter(
                project_id=project_id, pk__in=[pk for t, pk in reached if t == "A"]
            ).values_list("id", "key", "title", "kind")
        }
        if any(t == "A" for t, _pk in reached)
        else {}
    )

    def key_of(node: tuple[str, int]) -> str:
        return reqs[node[1]][0] if node[0] == "R" else arts[node[1]][0]

    items = []
    for node, info in reached.items():
        if node[0] == "R":
            key, title, _p = reqs[node[1]]
            item_type, kind = "requirement", None
        else:
            key, title, kind = arts[node[1]]
            item_type = "artifact"
        items.append(
            {
                "key": key, "type": item_type, "kind": kind, "title": title,
                "depth": info["depth"], "via": info["via"], "suspect": info["suspect"],
                "path": [key_of(n) for n in info["path"]],
            }
        )  # fmt: skip
    return {
        "change_request": cr.key,
        "affected": [reqs[pk][0] for pk in dict.fromkeys(start)],
        "items": items,
        "truncated": truncated,
    }
