"""The export service: every requirement of a project as rows, written in one of the formats."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from changeflow.accounts.models import Project, User

from ..models import (
    Requirement,
    TraceLink,
)
from .common import CONTENT_TYPES, detect_format
from .reqif import write_reqif
from .tables import write_csv, write_xlsx

# ---------------------------------------------------------------- export


def export_rows(project: Project) -> list[dict[str, Any]]:
    """Every requirement of ``project`` as a row of the export (three queries)."""
    reqs: list[dict[str, Any]] = [
        dict(r)
        for r in Requirement.objects.filter(project=project)
        .order_by("number")
        .values(
            "id",
            "key",
            "number",
            "title",
            "text",
            "kind",
            "priority",
            "status",
            "version",
            "parent__key",
            "updated_at",
        )  # fmt: skip
    ]
    links: dict[int, list[str]] = {}
    for sr, kind, tr, ta in (
        TraceLink.objects.filter(project=project, source_requirement__isnull=False)
        .order_by("id")
        .values_list(
            "source_requirement_id", "kind", "target_requirement__key", "target_artifact__key"
        )  # fmt: skip
    ):
        links.setdefault(sr, []).append(f"{kind}:{tr or ta}")
    for r in reqs:
        r["parent"] = r.pop("parent__key") or ""
        r["links"] = links.get(r["id"], [])
    return reqs


def requirements_export(*, user: User, project: Project, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the export of ``project`` in ``fmt``.

    ``project`` must be one the user sees (``project_get``); every member may export."""
    fmt = detect_format("", fmt)
    rows = export_rows(project)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"{project.key}-requirements-{stamp}.{fmt}"
    if fmt == "csv":
        return write_csv(rows), CONTENT_TYPES[fmt], name
    if fmt == "xlsx":
        return write_xlsx(rows), CONTENT_TYPES[fmt], name
    return write_reqif(project, rows), CONTENT_TYPES[fmt], name
