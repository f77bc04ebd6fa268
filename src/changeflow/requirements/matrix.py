"""The traceability matrix: a project's requirements (rows) against its artifacts (columns),
each cell the links between the two, plus each requirement's links to other requirements.

Reads only, permission-filtered like the selectors. A page of the matrix costs a constant
number of queries whatever its size: the rows (and their count), the links touching them, the
artifacts those links reach. The export writes every filtered row, in chunks.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from typing import Any, TypedDict

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core.access import restrict
from changeflow.core.errors import ValidationError

from .models import (
    Artifact,
    ArtifactKind,
    Kind,
    LinkKind,
    Requirement,
    RequirementStatus,
    TraceLink,
)

EXPORT_FORMATS = ("csv", "xlsx")
MAX_COLUMNS = 16_000  # XLSX has 16,384 columns
CHUNK = 1000


class Column(TypedDict):
    """An artifact column of the matrix."""

    id: int
    key: str
    kind: str
    title: str


@dataclass(frozen=True)
class Filters:
    """What the matrix shows. Empty strings mean "any"."""

    kind: str = ""  # the requirement's kind
    status: str = ""
    link_kind: str = ""
    artifact_kind: str = ""
    suspect: bool = False  # only rows with a suspect link, and only suspect links
    q: str = ""

    @classmethod
    def parse(cls, params) -> Filters:
        """From query parameters; a value that is not one of the choices is a 400 naming it."""
        values: dict[str, Any] = {}
        problems: dict[str, list[str]] = {}
        fields = (("kind", Kind), ("status", RequirementStatus), ("link_kind", LinkKind),
                  ("artifact_kind", ArtifactKind))  # fmt: skip
        for name, choices in fields:
            raw = (params.get(name) or "").strip()
            if raw and raw not in choices.values:
                problems[name] = [_("Not one of: %s.") % ", ".join(choices.values)]
            values[name] = raw
        raw = (params.get("suspect") or "").strip().lower()
        if raw not in ("", "true", "false", "1", "0", "on"):
            problems["suspect"] = [_("true or false.")]
        values["suspect"] = raw in ("true", "1", "on")
        q = (params.get("q") or "").strip()
        if len(q) > 200 or "\x00" in q:
            problems["q"] = [_("At most 200 characters, without NUL.")]
        values["q"] = q
        if problems:
            raise ValidationError(_("Some fields are invalid."), fields=problems)
        return cls(**values)

    @property
    def active(self) -> bool:
        return any((self.kind, self.status, self.link_kind, self.artifact_kind, self.suspect,
                    self.q))  # fmt: skip


def _link_filter(filters: Filters) -> Q:
    q = Q()
    if filters.link_kind:
        q &= Q(kind=filters.link_kind)
    if filters.suspect:
        q &= Q(suspect=True)
    return q


def rows(*, user: User, project: Project, filters: Filters) -> QuerySet[Requirement]:
    """The requirements the matrix shows, in key order."""
    qs = restrict(Requirement.objects, user).filter(project=project)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.q:
        qs = qs.filter(
            Q(key__icontains=filters.q) | Q(title__icontains=filters.q)
            | Q(text__icontains=filters.q)
        )  # fmt: skip
    if filters.link_kind or filters.suspect:
        links = TraceLink.objects.filter(_link_filter(filters))
        qs = qs.filter(
            Exists(links.filter(source_requirement=OuterRef("pk")))
            | Exists(links.filter(target_requirement=OuterRef("pk")))
        )
    return qs.only("id", "key", "number", "title", "kind", "status").order_by("number")


def cells(
    requirements: list[Requirement], *, project: Project, filters: Filters
) -> tuple[list[Column], dict[int, dict[int, list[dict]]], dict[int, list[dict]]]:
    """For these requirements: the artifact columns, the cells ``{req id: {artifact id:
    [link]}}`` and the requirement-to-requirement links ``{req id: [link]}``. Two queries."""
    ids = [r.pk for r in requirements]
    by_art: dict[int, dict[int, list[dict]]] = {}
    by_req: dict[int, list[dict]] = {}
    art_ids: set[int] = set()
    if not ids:
        return [], by_art, by_req
    link_q = _link_filter(filters)
    links = (
        TraceLink.objects.filter(project=project)
        .filter(Q(source_requirement_id__in=ids) | Q(target_requirement_id__in=ids))
        .filter(link_q)
        .order_by("id")
        .values_list("id", "kind", "suspect", "source_requirement_id", "source_artifact_id",
                     "target_requirement_id", "target_artifact_id", "source_requirement__key",
                     "target_requirement__key", "source_artifact__kind", "target_artifact__kind")
    )  # fmt: skip
    wanted = set(ids)
    for (pk, kind, suspect, sr, sa, tr, ta, sr_key, tr_key, sa_kind,
         ta_kind) in links:  # fmt: skip
        art, art_kind = (sa, sa_kind) if sa else (ta, ta_kind)
        if art:
            if filters.artifact_kind and art_kind != filters.artifact_kind:
                continue
            req = sr or tr
            # The artifact is the link's source: it points at (depends on) the requirement.
            direction = "in" if sa else "out"
            by_art.setdefault(req, {}).setdefault(art, []).append(
                {"id": pk, "kind": kind, "suspect": suspect, "direction": direction}
            )
            art_ids.add(art)
            continue
        if filters.artifact_kind:
            continue
        if sr in wanted:
            by_req.setdefault(sr, []).append(
                {"id": pk, "kind": kind, "suspect": suspect, "direction": "out", "key": tr_key}
            )
        if tr in wanted:
            by_req.setdefault(tr, []).append(
                {"id": pk, "kind": kind, "suspect": suspect, "direction": "in", "key": sr_key}
            )
    columns: list[Column] = list(
        Artifact.objects.filter(pk__in=art_ids)
        .order_by("number")
        .values("id", "key", "kind", "title")
    ) if art_ids else []  # fmt: skip
    return columns, by_art, by_req


def page_of(
    *, project: Project, filters: Filters, requirements: list[Requirement]
) -> dict[str, Any]:
    """One page of the matrix as plain data (for the page, the API and the export)."""
    columns, by_art, by_req = cells(requirements, project=project, filters=filters)
    out_rows = []
    for r in requirements:
        row_cells = by_art.get(r.pk, {})
        out_rows.append(
            {
                "key": r.key, "title": r.title, "kind": r.kind, "status": r.status,
                "cells": [row_cells.get(c["id"], []) for c in columns],
                "requirements": by_req.get(r.pk, []),
                "suspect": any(link["suspect"] for links in row_cells.values() for link in links)
                or any(link["suspect"] for link in by_req.get(r.pk, [])),
            }
        )  # fmt: skip
    return {"columns": columns, "rows": out_rows}


def _cell_text(links: list[dict]) -> str:
    return ", ".join(link["kind"] + (" ⚠" if link["suspect"] else "") for link in links)


def export(*, user: User, project: Project, filters: Filters, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name): the whole filtered matrix as a grid; one row per
    requirement, one column per artifact, then its links to other requirements."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"format": [_("Not one of: %s.") % ", ".join(EXPORT_FORMATS)]},
        )
    all_rows = list(rows(user=user, project=project, filters=filters))
    data = page_of(project=project, filters=filters, requirements=all_rows)
    if len(data["columns"]) > MAX_COLUMNS:
        raise ValidationError(
            _(
                "The matrix has %(n)d artifact columns, more than a spreadsheet holds; filter by "
                "artifact kind."
            )
            % {"n": len(data["columns"])}  # fmt: skip
        )
    header = [_("Key"), _("Title"), _("Kind"), _("Status"), _("Requirements")] + [
        c["key"] for c in data["columns"]
    ]
    table = [header]
    for row in data["rows"]:
        related = "; ".join(
            f"{link['kind']} {'→' if link['direction'] == 'out' else '←'} {link['key']}"
            + (" ⚠" if link["suspect"] else "")
            for link in row["requirements"]
        )
        table.append([row["key"], row["title"], row["kind"], row["status"], related,
                      *[_cell_text(c) for c in row["cells"]]])  # fmt: skip
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"{project.key}-traceability-{stamp}.{fmt}"
    from .io.common import CONTENT_TYPES, _defuse

    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        for line in table:
            writer.writerow([_defuse(v) if isinstance(v, str) else v for v in line])
        return codecs.BOM_UTF8 + out.getvalue().encode("utf-8"), CONTENT_TYPES["csv"], name
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Traceability")[:31])
    for line in table:
        row_cells = []
        for value in line:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            row_cells.append(cell)
        sheet.append(row_cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), CONTENT_TYPES["xlsx"], name
