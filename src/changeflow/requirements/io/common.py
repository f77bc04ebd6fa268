"""What the readers, the import and the export share: formats and columns, the refusal
(``ImportRejected``) and the parsed rows, the values' vocabularies and cell hygiene."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext as _

from changeflow.core.errors import ValidationError

from ..models import (
    Kind,
    LinkKind,
    RequirementPriority,
    RequirementStatus,
)

FORMATS = ("csv", "xlsx", "reqif")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "reqif": "application/xml",
}
COLUMNS = ("key", "parent", "title", "kind", "priority", "status", "version", "links", "text")
# Header names a person may type instead (case-insensitive), e.g. in a Chinese Excel sheet.
COLUMN_ALIASES = {
    "id": "key", "编号": "key", "需求编号": "key", "键": "key",
    "父需求": "parent", "上级": "parent", "父": "parent",
    "name": "title", "标题": "title", "名称": "title",
    "type": "kind", "类型": "kind", "种类": "kind",
    "优先级": "priority",
    "状态": "status",
    "版本": "version",
    "链接": "links", "追踪链接": "links",
    "description": "text", "描述": "text", "内容": "text", "正文": "text", "文本": "text",
}  # fmt: skip
MAX_PROBLEMS = 50  # named in one refusal; the rest are counted
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
XLSX_CELL_MAX = 32_767

ProgressFn = Callable[[str, int, int], None]


def max_bytes() -> int:
    return int(getattr(settings, "CHANGEFLOW_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def upload_bytes(upload: Any) -> bytes:
    """The content of an uploaded file to import; a ``TooLarge`` (413) over the limit, before
    it is read."""
    from changeflow.core.errors import TooLarge

    if upload.size > max_bytes():
        raise TooLarge(_("The file is larger than the limit."))
    return upload.read()


class ImportRejected(ValidationError):
    """The file cannot be imported; ``problems`` names each place (row, line, XML element)."""

    code = "import_invalid"

    def __init__(self, problems: list[str], message: str | None = None):
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(_("… and %d more problems") % (len(problems) - MAX_PROBLEMS))
        super().__init__(
            message or _("Nothing was imported: %s") % shown[0], fields={"file": shown}
        )
        self.problems = shown


@dataclass
class ImportRow:
    """One requirement as a file states it. ``None`` in ``fields`` never occurs: a column the
    file does not have is simply absent (an update keeps the requirement's value)."""

    where: str  # "row 5", "line 7", "SPEC-OBJECT rmf-1d…": how errors name it
    ref: str | None  # the key column / the ReqIF IDENTIFIER: how other rows refer to it
    key: str | None = None  # an existing requirement's key this row claims (own form only)
    fields: dict[str, str] = field(default_factory=dict)  # title, text, kind, priority, status
    parent: str | None = None
    has_parent: bool = False  # whether the file says anything about the parent
    version: int | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (kind, target ref)
    aliases: tuple[str, ...] = ()  # other refs that name this row (a ReqIF key and id)
    external_id: str = ""  # another tool's identifier (ReqIF SPEC-OBJECT IDENTIFIER)


@dataclass
class ParsedFile:
    format: str
    rows: list[ImportRow]
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- values


def _norm(value: str) -> str:
    return re.sub(r"[\s\-_]+", "_", value.strip().lower())


_CHOICE_MAPS: dict[str, dict[str, str]] = {}


def _choice_map(name: str, choices: type[models.TextChoices]) -> dict[str, str]:
    """Codes, English labels and Chinese labels of ``choices``, normalised, to the code."""
    if name not in _CHOICE_MAPS:
        found: dict[str, str] = {}
        for value, label in choices.choices:
            found[_norm(value)] = value
            for lang in ("en", "zh-hans"):
                with translation.override(lang):
                    found.setdefault(_norm(str(label)), value)
        _CHOICE_MAPS[name] = found
    return _CHOICE_MAPS[name]


CHOICES: dict[str, type[models.TextChoices]] = {
    "kind": Kind,
    "priority": RequirementPriority,
    "status": RequirementStatus,
}
# Statuses of other tools (DOORS, Polarion, Jama) in ours; anything else is a warning.
FOREIGN_STATUS = {
    "new": "draft", "open": "draft", "proposed": "draft", "in_review": "draft",
    "reviewed": "approved", "accepted": "approved", "baselined": "approved",
    "done": "implemented", "closed": "verified", "tested": "verified",
    "rejected": "retired", "obsolete": "retired", "deleted": "retired", "deprecated": "retired",
}  # fmt: skip


def choice(name: str, raw: str) -> str | None:
    """The code of ``raw`` for the choice field ``name`` (codes or labels, either language)."""
    return _choice_map(name, CHOICES[name]).get(_norm(raw))


def link_kind(raw: str) -> str | None:
    found = _choice_map("link", LinkKind).get(_norm(raw))
    if found is None and _norm(raw) in ("derives_from", "derived_from"):
        return LinkKind.DERIVES
    return found


def _clean_cell(value: Any) -> str:
    """A spreadsheet cell as text: whole numbers without ``.0``, dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


_INJECTION = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value.startswith(_INJECTION) else value


def _undefuse(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_INJECTION) else value


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- reading files


_BY_EXTENSION = {"csv": "csv", "txt": "csv", "tsv": "csv", "xlsx": "xlsx", "reqif": "reqif",
                 "reqifz": "reqif", "xml": "reqif"}  # fmt: skip


def detect_format(
    filename: str,
    explicit: str | None = None,
    *,
    formats: tuple[str, ...] = FORMATS,
    by_extension: dict[str, str] | None = None,
    unknown_extension: str | None = None,
) -> str:
    """One of ``formats`` (default: ``csv``, ``xlsx`` or ``reqif``), from ``explicit`` or the
    file's extension (``by_extension``); a 400 naming ``format`` otherwise (with the message
    ``unknown_extension`` for a name that tells nothing). The change requests' import names
    its own formats and extensions."""
    choices = _("Not one of: %s.") % ", ".join(formats)
    if explicit:
        fmt = explicit.strip().lower()
        if fmt not in formats:
            raise ValidationError(_("Unknown format."), fields={"format": [choices]})
        return fmt
    by_ext = by_extension if by_extension is not None else _BY_EXTENSION
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in by_ext:
        raise ValidationError(
            unknown_extension
            or _("Cannot tell the file's format from its name; name it .csv, .xlsx or .reqif."),
            fields={"format": [choices]},
        )
    return by_ext[ext]
