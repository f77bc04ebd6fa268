"""Change requests from and to spreadsheets and other trackers.

Reading (``parse``) turns a file into ``CrRow``s without touching the database: CSV (UTF-8,
GB18030, UTF-16 …) and XLSX through ``requirements.io.table_rows``, with the columns below by
header name (case-insensitive, English or Chinese); Jira's "Export → CSV" (Summary, Issue key,
Issue Type, Priority, repeated Labels …) and Bugzilla's CSV buglist by their own headers; and
Jira's REST ``search`` JSON. The import (``change_requests_import``) checks every row first and
names every problem as "row N, column C: what is wrong"; then it makes each CR through
``services.change_request_create`` (channel ``import``: audit trail and notifications as for any
CR) in one transaction — all of the file or nothing. A row whose reference (the ``ref`` column,
a Jira issue key, a Bugzilla bug id, or the ``key`` of an exported CR) is already a CR of the
project, as its source reference or its key, is skipped: importing a file again adds nothing.
A ``template`` column names one of the project's active form templates, and ``field:<key>``
columns give its custom fields, checked by ``crtemplates.definitions.clean_values`` as the
create service checks them. ``changes.import_jobs`` runs large imports in the background,
told of the progress through ``progress``.

The export (``change_requests_export``) writes the CRs a list shows (its filters, the caller's
visibility) to CSV (UTF-8 with BOM, for Excel) or XLSX under the headers the import reads, so
an export imports into another project as the same CRs: templates (by name) and custom field
values included, the ``template`` and ``field:<key>`` columns following when any CR has them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, User
from changeflow.core import audit
from changeflow.core.errors import ApplicationError, Conflict, TooLarge, ValidationError
from changeflow.crtemplates import definitions as template_fields
from changeflow.crtemplates.models import CRTemplate, FieldKind
from changeflow.requirements import io as req_io

from . import selectors, services
from .models import TEXT_MAX, TITLE_MAX, ChangeRequest, ChangeType, Channel, Priority, Urgency

FORMATS = ("csv", "xlsx", "jira-csv", "jira-json")
EXPORT_FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {fmt: req_io.CONTENT_TYPES[fmt] for fmt in EXPORT_FORMATS}
DEFAULT_MAX_ROWS = 2000
REF_MAX = 100
CONTACT_MAX = 200

# The export's headers, in its order; the import reads them (and ALIASES). ``key`` and ``state``
# are the CR's own: ``key`` names it as a reference when ``ref`` is empty, ``state`` is not read
# (an imported CR starts as a draft).
COLUMNS = (
    "key", "ref", "title", "description", "reason", "expected benefit", "type", "priority",
    "urgency", "labels", "requester", "requested date", "desired date", "state",
)  # fmt: skip
# Written after COLUMNS when an exported CR was made from a form template: its name, then a
# column "field:<key>" for each of the custom fields the CRs have values for.
TEMPLATE_COLUMN = "template"
# Header (normalised: lower case, spaces, dashes and underscores as "_") → field.
_HEADERS = {
    "key": ("key", "cr", "cr_key", "编号", "变更编号"),
    "ref": ("ref", "reference", "source_ref", "source_reference", "external_id", "external_ref",
            "issue_key", "bug_id", "外部编号", "来源编号", "参考编号"),
    "title": ("title", "summary", "short_desc", "subject", "标题", "主题", "概要", "名称"),
    "description": ("description", "details", "描述", "说明", "详细描述"),
    "reason": ("reason", "原因", "变更原因"),
    "expected_benefit": ("expected_benefit", "benefit", "预期收益", "收益"),
    "type": ("type", "issue_type", "类型", "变更类型", "问题类型"),
    "priority": ("priority", "优先级"),
    "urgency": ("urgency", "紧急程度", "紧急度"),
    "labels": ("labels", "label", "tags", "标签"),
    "requester": ("requester", "reporter", "requested_by", "提出人", "报告人", "申请人"),
    "requested_at": ("requested_date", "requested_on", "created", "提出日期", "创建日期"),
    "desired_date": ("desired_date", "due_date", "期望日期", "到期日"),
    "state": ("state", "status", "bug_status", "状态"),
    "template": ("template", "form", "form_template", "模板", "表单模板"),
}  # fmt: skip
# A custom field's column: "field:<key>" (what the export writes; the key of a field of the
# row's template) or "field:<label>" (its label, when no key is so named); 字段: is the same.
FIELD_PREFIXES = ("field:", "字段:", "字段：")
FIELD = "field:"
ALIASES = {name: fld for fld, names in _HEADERS.items() for name in names}
_FOREIGN = ("issue_key", "summary", "bug_id", "short_desc")  # a Jira or Bugzilla file

# Other trackers' words for our values (normalised). Jira's two priority schemes: its default
# (Medium, Major) is our P3.
_EXTRA_VALUES = {
    "type": {
        "story": "feature", "new_feature": "feature", "epic": "feature", "feature_request":
        "feature", "需求": "feature", "新需求": "feature", "improvement": "modification",
        "enhancement": "modification", "change": "modification", "change_request":
        "modification", "task": "modification", "sub_task": "modification", "subtask":
        "modification", "改进": "modification", "任务": "modification", "bug": "defect",
        "defect": "defect", "缺陷": "defect", "doc": "documentation", "docs": "documentation",
        "文档": "documentation",
    },
    "priority": {
        "highest": "P1", "blocker": "P1", "critical": "P1", "high": "P2", "major": "P2",
        "medium": "P3", "normal": "P3", "minor": "P3", "low": "P4", "lowest": "P4",
        "trivial": "P4", "p5": "P4", "1": "P1", "2": "P2", "3": "P3", "4": "P4", "紧急": "P1",
        "最高": "P1", "高": "P2", "中": "P3", "低": "P4", "最低": "P4",
    },
    "urgency": {"urgent": "critical", "normal": "medium", "紧急": "critical"},
}  # fmt: skip
_CHOICES: dict[str, type[models.TextChoices]] = {
    "type": ChangeType,
    "priority": Priority,
    "urgency": Urgency,
}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def max_rows() -> int:
    return int(getattr(settings, "CHANGEFLOW_CR_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def _norm(value: str) -> str:
    return re.sub(r"[\s\-_/]+", "_", value.strip().lower()).strip("_")


_VALUE_MAPS: dict[str, dict[str, str]] = {}


def value_of(name: str, raw: str) -> str | None:
    """The code of ``raw`` for ``type``, ``priority`` or ``urgency``: codes, labels in English
    and Chinese, and other trackers' words (``_EXTRA_VALUES``); None for an unknown one."""
    if name not in _VALUE_MAPS:
        found: dict[str, str] = {}
        for value, label in _CHOICES[name].choices:
            found[_norm(value)] = value
            for lang in ("en", "zh-hans"):
                with translation.override(lang):
                    text = str(label)
                found.setdefault(_norm(text), value)
                # "P2 — high" / "P2 — 高": the words after the dash too
                if "—" in text:
                    found.setdefault(_norm(text.split("—", 1)[1]), value)
        for word, value in _EXTRA_VALUES.get(name, {}).items():
            found.setdefault(word, value)
        _VALUE_MAPS[name] = found
    return _VALUE_MAPS[name].get(_norm(raw))


def parse_date(raw: str) -> dt.date | None:
    """A day from ISO 8601 (a date or a date and time), 2026/3/1, 2026.3.1, 2026年3月1日 or
    Jira's 03/Mar/16 1:40 PM; None when it is none of these."""
    text = raw.strip()
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:$|[T\s])", text)
    if m:
        y, mo, d = (int(x) for x in m.groups())
    else:
        m = re.match(r"^(\d{1,2})[/\- ]([A-Za-z]{3})[a-z]*[/\- ](\d{2}|\d{4})(?:$|\s)", text)
        if not m or m.group(2).lower() not in _MONTHS:
            return None
        d, mo, y = int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3))
        y = y + 2000 if y < 100 else y
    try:
        return dt.date(y, mo, d)
    except ValueError:
        return None


# ---------------------------------------------------------------- reading files


# The file cannot be imported; ``problems`` names each row and column.
ImportRejected = req_io.ImportRejected


@dataclass
class CrRow:
    """One change request as a file states it: raw text values by field, and how errors name
    the row ("row 5", "issue HELP-7") and each field's column ("column 优先级")."""

    where: str
    values: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    contact: str = ""  # whom to name when the requester is no member (Jira's display name)


@dataclass
class ParsedFile:
    format: str
    rows: list[CrRow]
    lenient: bool = False  # another tracker's file: unknown types and priorities are left empty
    warnings: list[str] = field(default_factory=list)


def detect_format(filename: str, explicit: str | None = None) -> str:
    """One of ``FORMATS``, from ``explicit`` or the file's extension."""
    return req_io.detect_format(
        filename, explicit, formats=FORMATS,
        by_extension={"csv": "csv", "txt": "csv", "tsv": "csv", "xlsx": "xlsx",
                      "json": "jira-json"},
        unknown_extension=_(
            "Cannot tell the file's format from its name; name it .csv, .xlsx or .json."),
    )  # fmt: skip


def parse(raw: bytes, *, filename: str = "", fmt: str | None = None) -> ParsedFile:
    """The rows of a file of change requests; ``ImportRejected`` names every problem, a file
    over the size or row limit is a ``TooLarge`` (413)."""
    fmt = detect_format(filename, fmt)
    if len(raw) > req_io.max_bytes():
        raise TooLarge(
            _("The file is larger than the limit of %(mb).1f MB.")
            % {"mb": req_io.max_bytes() / 1048576}
        )
    if not raw.strip():
        raise ImportRejected([_("The file is empty.")])
    parsed = _parse_json(raw) if fmt == "jira-json" else _parse_table(raw, fmt)
    if len(parsed.rows) > max_rows():
        raise TooLarge(
            _("The file has more than %d change requests: import it in parts.") % max_rows()
        )
    return parsed


def _parse_table(raw: bytes, fmt: str) -> ParsedFile:
    table = req_io.table_rows(raw, "xlsx" if fmt == "xlsx" else "csv")
    header: list[str | None] | None = None
    columns: dict[str, str] = {}
    rows: list[CrRow] = []
    parsed = ParsedFile(fmt, rows)
    for ordinal, (number, cells) in enumerate(table, start=1):
        # A CSV's rows are counted as a spreadsheet shows them (a cell may span lines).
        row_number = number if fmt == "xlsx" else ordinal
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header, titles = _header(cells, parsed)
            columns = {}
            for name, title in zip(header, titles, strict=True):
                if name is not None:
                    columns.setdefault(name, _("column %s") % title)
            continue
        if len(rows) >= max_rows():
            rows.append(CrRow(where=""))  # one too many: parse() refuses the file
            break
        row = CrRow(where=_("row %d") % row_number, columns=columns)
        for i, cell in enumerate(cells):
            name = header[i] if i < len(header) else None
            if name is None or not cell.strip():
                continue
            if name == "labels" and row.values.get("labels"):
                row.values["labels"] += "," + cell  # Jira repeats its Labels column
            else:
                row.values[name] = cell
        rows.append(row)
    if header is None:
        raise ImportRejected([_("The file is empty.")])
    if not rows:
        raise ImportRejected([_("The file has a header but no change requests.")])
    return parsed


def _header(cells: list[str], parsed: ParsedFile) -> tuple[list[str | None], list[str]]:
    names: list[str | None] = []
    titles = [c.strip().lstrip("\ufeff") for c in cells]
    ignored = []
    problems = []
    for title in titles:
        norm = _norm(title)
        name = ALIASES.get(norm)
        prefix = next((p for p in FIELD_PREFIXES if title.lower().startswith(p)), None)
        if prefix is not None and title[len(prefix) :].strip():
            name = FIELD + title[len(prefix) :].strip()
        if norm in _FOREIGN:
            parsed.lenient = True
            if parsed.format == "csv" and norm in ("issue_key", "summary"):
                parsed.format = "jira-csv"
        if name is not None and name in names and name != "labels":
            problems.append(
                _("row 1, column %(col)s: appears twice (also column %(other)d)")
                % {"col": title, "other": names.index(name) + 1}
            )
        if name is None and title:
            ignored.append(title)
        names.append(name)
    if parsed.format == "jira-csv":
        parsed.lenient = True
    if "title" not in names:
        problems.append(
            _("row 1: the header has no title column (title, 标题 or Summary); the columns are: "
              "%s") % ", ".join(COLUMNS)
        )  # fmt: skip
    if problems:
        raise ImportRejected(problems)
    if ignored:
        parsed.warnings.append(
            _("Columns not read: %s") % ", ".join(dict.fromkeys(ignored))
        )  # fmt: skip
    return names, titles


def _parse_json(raw: bytes) -> ParsedFile:
    """Jira's REST ``search`` answer (``{"issues": [...]}``), a list of issues, or one issue."""
    try:
        data = json.loads(req_io.decode_text(raw))
    except ValueError as exc:
        raise ImportRejected([_("This is not valid JSON (%s).") % exc]) from None
    if isinstance(data, dict) and isinstance(data.get("issues"), list):
        issues = data["issues"]
    elif isinstance(data, dict) and "fields" in data:
        issues = [data]
    elif isinstance(data, list):
        issues = data
    else:
        raise ImportRejected(
            [_("This JSON is no Jira search result: it has no list of issues.")]
        )  # fmt: skip
    rows: list[CrRow] = []
    parsed = ParsedFile("jira-json", rows, lenient=True)
    for i, issue in enumerate(issues, start=1):
        fields = issue.get("fields") if isinstance(issue, dict) else None
        if not isinstance(fields, dict):
            raise ImportRejected([_("issue %d: it has no fields") % i])
        key = str(issue.get("key") or "")
        row = CrRow(where=_("issue %s") % (key or i))

        def text(value: Any) -> str:
            if isinstance(value, dict):
                value = value.get("name") or value.get("value") or ""
            return "" if value is None else str(value)

        description = fields.get("description")
        reporter = fields.get("reporter") or fields.get("creator") or {}
        labels = fields.get("labels") or []
        values = {
            "ref": key,
            "title": text(fields.get("summary")).strip() or key,
            "description": _adf_text(description)
            if isinstance(description, dict)
            else text(description),
            "type": text(fields.get("issuetype")),
            "priority": text(fields.get("priority")),
            "labels": ",".join(str(x) for x in labels) if isinstance(labels, list) else "",
            "requester": text(reporter),
            "requested_at": text(fields.get("created")),
            "desired_date": text(fields.get("duedate")),
        }
        jira_names = {"ref": "key", "title": "summary", "type": "issuetype",
                      "requester": "reporter", "requested_at": "created",
                      "desired_date": "duedate"}  # fmt: skip
        for name, value in values.items():
            if value.strip():
                row.values[name] = value
                row.columns[name] = _("field %s") % jira_names.get(name, name)
        if isinstance(reporter, dict):
            row.contact = str(reporter.get("displayName") or "")
        rows.append(row)
    if not rows:
        raise ImportRejected([_("The file has no issues.")])
    return parsed


def _adf_text(node: Any) -> str:
    """The plain text of a description in Jira's REST v3 document format (ADF): its text
    nodes, a line break after each paragraph, heading or list item."""
    if isinstance(node, list):
        return "".join(_adf_text(n) for n in node)
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text") or "")
    if node.get("type") == "hardBreak":
        return "\n"
    inner = _adf_text(node.get("content") or [])
    if node.get("type") in ("paragraph", "heading", "listItem", "codeBlock", "blockquote"):
        return inner.rstrip("\n") + "\n"
    return inner


# ---------------------------------------------------------------- the import


@dataclass
class _Planned:
    row: CrRow
    kwargs: dict[str, Any]
    ref: str


def _problem(row: CrRow, name: str, what: str) -> str:
    return _("%(where)s, %(col)s: %(what)s") % {
        "where": row.where, "col": row.columns.get(name) or _("column %s") % name, "what": what,
    }  # fmt: skip


def _check(
    row: CrRow, parsed: ParsedFile, members: dict[str, str], problems: list[str]
) -> dict[str, Any]:
    """The keyword arguments of ``change_request_create`` for ``row``; every bad value is
    added to ``problems``."""
    v = row.values
    out: dict[str, Any] = {}
    if any("\x00" in x for x in v.values()):
        problems.append(_("%s: a value contains a NUL character") % row.where)
    title = v.get("title", "").strip()
    if not title:
        problems.append(_problem(row, "title", _("the title is empty")))
    elif len(title) > TITLE_MAX:
        problems.append(
            _problem(row, "title", _("longer than %d characters") % TITLE_MAX)
        )  # fmt: skip
    out["title"] = title
    for name in ("description", "reason", "expected_benefit"):
        value = v.get(name, "").replace("\r\n", "\n").strip()
        if len(value) > TEXT_MAX:
            problems.append(_problem(row, name, _("longer than %d characters") % TEXT_MAX))
        out[name] = value
    out["description"] = out["description"] or title  # only the title is required
    for name in ("type", "priority", "urgency"):
        raw = v.get(name, "").strip()
        if not raw:
            continue
        code = value_of(name, raw)
        if code is None:
            choices = ", ".join(_CHOICES[name].values)
            if parsed.lenient:
                parsed.warnings.append(
                    _problem(row, name, _("'%(value)s' has no equivalent (%(choices)s); left "
                                          "empty") % {"value": raw, "choices": choices})
                )  # fmt: skip
                continue
            problems.append(
                _problem(row, name, _("'%(value)s' is not one of: %(choices)s")
                         % {"value": raw, "choices": choices})
            )  # fmt: skip
            continue
        out[name] = code
    labels = [x.strip() for x in re.split(r"[,，、;；\n]+", v.get("labels", "")) if x.strip()]
    try:
        out["labels"] = services.clean_labels(labels)
    except ValidationError as exc:
        problems.append(_problem(row, "labels", "; ".join(exc.fields.get("labels", []))))
    requester = v.get("requester", "").strip()
    if requester:
        username = members.get(requester.lower())
        if username:
            out["requested_by"] = username
        else:
            contact = row.contact or requester
            if len(contact) > CONTACT_MAX:
                problems.append(
                    _problem(row, "requester", _("longer than %d characters") % CONTACT_MAX)
                )
            out["requester_contact"] = contact
    for name in ("requested_at", "desired_date"):
        raw = v.get(name, "").strip()
        if raw:
            day = parse_date(raw)
            if day is None:
                problems.append(
                    _problem(row, name, _("'%s' is not a date (YYYY-MM-DD)") % raw)
                )  # fmt: skip
            out[name] = day
    if out.get("requested_at") and out["requested_at"] > timezone.localdate():
        problems.append(_problem(row, "requested_at", _("a day in the future")))
    return out


_YES = {"yes", "y", "true", "1", "x", "是", "对", "√", "✓"}
_NO = {"no", "n", "false", "0", "否", "不", "×"}


class _Templates:
    """The project's active form templates by name (case-insensitive), read once."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._by_name: dict[str, CRTemplate] | None = None

    def get(self, name: str) -> CRTemplate | None:
        if self._by_name is None:
            self._by_name = {
                t.name.strip().lower(): t
                for t in CRTemplate.objects.filter(project=self.project, archived=False)
            }
        return self._by_name.get(name.strip().lower())


def _field_value(defn: dict[str, Any], raw: str) -> Any:
    """A cell's text as ``definitions.clean_values`` takes it: yes/no words as true or false,
    the dates the import reads elsewhere as dates; anything else as written (so that the
    service's own check names what is wrong)."""
    text = raw.strip()
    if defn["kind"] == FieldKind.YES_NO:
        word = text.lower()
        return True if word in _YES else False if word in _NO else text
    if defn["kind"] == FieldKind.DATE:
        return parse_date(text) or text
    return raw


def _check_custom(row: CrRow, forms: _Templates, out: dict[str, Any], problems: list[str]) -> None:
    """The row's form template (``template`` column) and its custom fields (``field:``
    columns) into ``out``, checked against the template's definitions as
    ``change_request_create`` checks them; each problem named by row and column."""
    name = row.values.get("template", "").strip()
    custom = {k: v for k, v in row.values.items() if k.startswith(FIELD)}
    if not name:
        for column in custom:
            problems.append(
                _problem(row, column, _("a custom field needs the row's template (column "
                                        "template)"))
            )  # fmt: skip
        return
    form = forms.get(name)
    if form is None:
        problems.append(
            _problem(row, "template", _("'%s' is no active form template of this project") % name)
        )  # fmt: skip
        return
    definitions = template_fields.snapshot(form.fields)
    by_key = {d["key"]: d for d in definitions}
    labels: dict[str, list[dict[str, Any]]] = {}
    for d in definitions:
        labels.setdefault(d["label"].strip().lower(), []).append(d)
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for column, raw in custom.items():
        ref = column[len(FIELD) :]
        defn = by_key.get(ref) or by_key.get(ref.lower())
        if defn is None and len(labels.get(ref.lower(), [])) == 1:
            defn = labels[ref.lower()][0]
        if defn is None:
            problems.append(
                _problem(row, column, _("the template %(template)s has no field %(field)s")
                         % {"template": form.name, "field": ref})
            )  # fmt: skip
            continue
        if defn["key"] in values:
            other = row.columns.get(origin[defn["key"]], origin[defn["key"]])
            problems.append(
                _problem(row, column, _("the field %(key)s is given twice (also %(other)s)")
                         % {"key": defn["key"], "other": other})
            )  # fmt: skip
            continue
        values[defn["key"]] = _field_value(defn, raw)
        origin[defn["key"]] = column
    try:
        out["fields"] = template_fields.clean_values(definitions, values)
    except ValidationError as exc:
        for field_name, messages in (exc.fields or {}).items():
            key = field_name.removeprefix("fields.")
            problems.append(_problem(row, origin.get(key, FIELD + key), "; ".join(messages)))
    out["template"] = form


def change_requests_import(
    *,
    user: User,
    project: Project,
    parsed: ParsedFile,
    dry_run: bool = False,
    submit: bool = False,
    filename: str = "",
    progress: Callable[[str, int, int], None] | None = None,
    finish: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Import ``parsed`` into ``project``: every new CR of the file, or, on any problem,
    nothing (``ImportRejected`` names each row and column). Rows whose reference is already a
    CR of the project (its source reference or its key) are skipped. Each CR is made by
    ``change_request_create`` on the ``import`` channel, a draft or, with ``submit``,
    submitted (and the team notified); one more audit event sums up the import. With
    ``dry_run`` nothing is written and the report says what would be.

    ``progress(stage, done, total)`` is told of each row checked (stage ``check``) and
    written (``write``); ``finish(report)`` runs last inside the import's transaction (a
    background job records itself done in the same commit as its CRs)."""
    services.require_manager(user, project)
    members = {
        name.lower(): name
        for name in Membership.objects.filter(project=project, user__is_active=True).values_list(
            "user__username", flat=True
        )
    }
    refs: dict[str, CrRow] = {}
    problems: list[str] = []
    for row in parsed.rows:
        ref = row.values.get("ref", "").strip() or row.values.get("key", "").strip()
        if len(ref) > REF_MAX:
            problems.append(_problem(row, "ref", _("longer than %d characters") % REF_MAX))
        elif ref in refs:
            problems.append(
                _problem(row, "ref", _("'%(ref)s' appears twice (also %(other)s)")
                         % {"ref": ref, "other": refs[ref].where})
            )  # fmt: skip
        elif ref:
            refs[ref] = row
    known = _known_refs(project, list(refs))
    planned: list[_Planned] = []
    items: list[dict[str, Any]] = []
    forms = _Templates(project)
    total = len(parsed.rows)
    for done, row in enumerate(parsed.rows):
        if progress is not None:
            progress("check", done, total)
        ref = row.values.get("ref", "").strip() or row.values.get("key", "").strip()
        if ref and ref in known:
            title = row.values.get("title", "").strip()
            items.append(
                {"where": row.where, "key": known[ref], "ref": ref, "title": title,
                 "action": "skipped"}
            )  # fmt: skip
            continue
        kwargs = _check(row, parsed, members, problems)
        _check_custom(row, forms, kwargs, problems)
        planned.append(_Planned(row, kwargs, ref))
    if problems:
        raise ImportRejected(problems)
    report: dict[str, Any] = {
        "dry_run": dry_run,
        "format": parsed.format,
        "created": len(planned),
        "skipped": len(items),
        "items": items,
        "warnings": parsed.warnings[: req_io.MAX_PROBLEMS],
    }
    if dry_run:
        number = Project.objects.filter(pk=project.pk).values_list("next_cr_number", flat=True)[0]
        for i, p in enumerate(planned):
            items.append({"where": p.row.where, "key": f"{project.key}-{number + i}", "ref": p.ref,
                          "title": p.kwargs["title"], "action": "created"})  # fmt: skip
        return report
    try:
        with transaction.atomic():
            for done, p in enumerate(planned):
                if progress is not None:
                    progress("write", done, len(planned))
                try:
                    cr = services.change_request_create(
                        user=user, project=project, channel=Channel.IMPORT, source_ref=p.ref,
                        submit=submit, **p.kwargs,
                    )  # fmt: skip
                except ApplicationError as exc:
                    if isinstance(exc, (TooLarge, Conflict)) or exc.status in (403, 404):
                        raise
                    details = [m for msgs in (exc.fields or {}).values() for m in msgs]
                    raise ImportRejected(
                        [f"{p.row.where}: {exc.message}" + (f" ({'; '.join(details)})"
                                                            if details else "")]
                    ) from None  # fmt: skip
                items.append({"where": p.row.where, "key": cr.key, "ref": p.ref,
                              "title": cr.title, "action": "created"})  # fmt: skip
            audit.record(
                actor=user, action="cr.imported", object_type="project", object_key=project.key,
                project=project.key,
                after={"file": filename[:200], "format": parsed.format, "created": len(planned),
                       "submitted": submit,
                       "skipped": report["skipped"],
                       "keys": [i["key"] for i in items if i["action"] == "created"][:200]},
            )  # fmt: skip
            if finish is not None:
                finish(report)
    except IntegrityError:
        # Another import of the same references won the race between our check and the write.
        raise Conflict(
            _("Another import added some of these change requests meanwhile; try again.")
        ) from None
    return report


def _known_refs(project: Project, refs: list[str]) -> dict[str, str]:
    """Which of ``refs`` name a CR of ``project`` (its source reference or its key) → its key."""
    known: dict[str, str] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        for key, source_ref in ChangeRequest.objects.filter(
            models.Q(source_ref__in=chunk) | models.Q(key__in=chunk), project=project
        ).values_list("key", "source_ref"):
            known[key] = key
            if source_ref:
                known[source_ref] = key
    return known


# ---------------------------------------------------------------- the export

_EXPORT_FIELDS = (
    "key", "source_ref", "title", "description", "reason", "expected_benefit", "type",
    "priority", "urgency", "labels", "requested_by__username", "requester_contact",
    "requested_at", "desired_date", "state", "template__name", "field_values",
    "field_definitions",
)  # fmt: skip


def _cell(value: Any) -> str:
    """A custom field's stored value as a cell: yes/no as yes or no, the rest as stored."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def export_table(*, user: User, filters: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of the export of the CRs ``selectors.change_request_list`` gives
    ``user`` for ``filters`` (by key unless they say another order): ``COLUMNS``, then, when
    any of them was made from a form template, ``template`` and a ``field:<key>`` column for
    each custom field they have a value for; one query, whatever their number."""
    filters = {"ordering": "key", **{k: v for k, v in filters.items() if v}}
    qs = selectors.change_request_list(user=user, filters=filters).values_list(*_EXPORT_FIELDS)
    rows: list[list[Any]] = []
    customs: list[tuple[str, dict[str, Any]]] = []
    keys: dict[str, None] = {}
    for values in qs.iterator(chunk_size=1000):
        *texts, labels, username, contact, requested_at, desired_date, state = values[:-3]
        template, field_values, definitions = values[-3:]
        rows.append([
            *texts, ", ".join(labels or []), contact or username,
            requested_at.isoformat() if requested_at else "",
            desired_date.isoformat() if desired_date else "", state,
        ])  # fmt: skip
        field_values = field_values or {}
        customs.append((template or "", field_values))
        # In the form's order (a JSON object's keys are not kept in order on PostgreSQL).
        keys.update(dict.fromkeys(d["key"] for d in definitions or [] if d["key"] in field_values))
    header = list(COLUMNS)
    if any(template or values for template, values in customs):
        header += [TEMPLATE_COLUMN, *(FIELD + key for key in keys)]
        for row, (template, values) in zip(rows, customs, strict=True):
            row += [template, *(_cell(values.get(key)) for key in keys)]
    return header, rows


def change_requests_export(
    *, user: User, project: Project, fmt: str, filters: dict[str, Any] | None = None
) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the CRs of ``project`` that ``user`` sees and
    ``filters`` keep, as CSV or XLSX. ``project`` must be one the user sees (``project_get``);
    every member may export what they see."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(
            _("Unknown format."),
            fields={"format": [_("Not one of: %s.") % ", ".join(EXPORT_FORMATS)]},
        )
    header, rows = export_table(user=user, filters={**(filters or {}), "project": project.key})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"{project.key}-change-requests-{stamp}.{fmt}"
    if fmt == "csv":
        return req_io.csv_table(header, rows), CONTENT_TYPES[fmt], name
    return req_io.xlsx_table("change requests", header, _fits_xlsx(rows)), CONTENT_TYPES[fmt], name


def _fits_xlsx(rows: Iterable[list[Any]]) -> Iterable[list[Any]]:
    for row in rows:
        if any(isinstance(v, str) and len(v) > req_io.XLSX_CELL_MAX for v in row):
            raise ValidationError(
                _("%s: a text is too long for an XLSX cell; export CSV instead.") % row[0],
                fields={"format": [_("Export CSV instead.")]},
            )
        yield row
