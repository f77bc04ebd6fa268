"""Import and export of requirements: CSV, XLSX and ReqIF.

Two halves. The parsers (``parse``) turn a file's bytes into ``ImportRow``s without touching
the database, and refuse a malformed file with every problem named by its line, row or XML
element. The service (``requirements_import``) resolves the rows against the project, checks
everything (references, hierarchy cycles, the baseline rule, stale versions) before writing
anything, then writes all of it in one transaction with one audit event — or, in a dry run,
only reports what it would do. Exports (``requirements_export``) write the same three formats,
and what they write imports back to the same requirements ("unchanged").

Columns of CSV/XLSX: ``key, parent, title, kind, priority, status, version, links, text``
(English or Chinese header names; only ``title`` is required). A ``key`` of this project's form
(``ACME-R-7``) names an existing requirement, which the row updates; any other value (or none)
makes a new requirement, and the value is a name other rows may use as ``parent`` or in
``links`` — so a file exported from another project imports as new requirements with their
hierarchy. ``links`` lists the requirement's outgoing links as ``kind:KEY`` (``verifies:ACME-A-3;
derives:ACME-R-1``); imports add links, never remove them. ``version``, when given, must be the
requirement's current version for a row that changes it: an edit made since the export is not
silently overwritten.

ReqIF: an object whose ReqIF.ForeignID (or IDENTIFIER) is one of this project's keys updates
that requirement, as a key column does. Any other object is another tool's: its SPEC-OBJECT
IDENTIFIER is kept as the new requirement's ``external_id`` (unique per project), and importing
that tool's file again matches on it — unchanged objects are left alone, changed ones get a new
version (a baselined one only through an implementing CR), as for keyed rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 - writing only; parsing uses defusedxml

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core import audit
from changeflow.core.errors import PreconditionFailed, TooLarge, ValidationError

from .models import (
    EXTERNAL_ID_MAX,
    TEXT_MAX,
    TITLE_MAX,
    AffectedRequirement,
    Artifact,
    BaselineItem,
    Kind,
    LinkKind,
    Requirement,
    RequirementPriority,
    RequirementStatus,
    RequirementVersion,
    TraceLink,
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


def _choice_map(name: str, choices: type) -> dict[str, str]:
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


CHOICES = {"kind": Kind, "priority": RequirementPriority, "status": RequirementStatus}
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


def detect_format(filename: str, explicit: str | None = None) -> str:
    """``csv``, ``xlsx`` or ``reqif``, from ``explicit`` or the file's extension."""
    if explicit:
        fmt = explicit.strip().lower()
        if fmt not in FORMATS:
            raise ValidationError(
                _("Unknown format."),
                fields={"format": [_("Not one of: %s.") % ", ".join(FORMATS)]},
            )
        return fmt
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    fmt = {"csv": "csv", "txt": "csv", "tsv": "csv", "xlsx": "xlsx", "reqif": "reqif",
           "reqifz": "reqif", "xml": "reqif"}.get(ext)  # fmt: skip
    if fmt is None:
        raise ValidationError(
            _("Cannot tell the file's format from its name; name it .csv, .xlsx or .reqif."),
            fields={"format": [_("Not one of: %s.") % ", ".join(FORMATS)]},
        )
    return fmt


def parse(raw: bytes, *, filename: str = "", fmt: str | None = None) -> ParsedFile:
    """The rows of a requirements file; ``ImportRejected`` names every problem."""
    fmt = detect_format(filename, fmt)
    if len(raw) > max_bytes():
        raise TooLarge(
            _("The file is larger than the limit of %(mb).1f MB.") % {"mb": max_bytes() / 1048576}
        )
    if not raw.strip():
        raise ImportRejected([_("The file is empty.")])
    if fmt == "xlsx":
        return _parse_table(_xlsx_rows(raw), "xlsx", _("row %d"))
    if fmt == "reqif":
        return parse_reqif(raw)
    if raw[:4] == b"PK\x03\x04":
        raise ImportRejected([_("This is a zip file (an XLSX workbook?), not CSV text.")])
    return _parse_table(_csv_rows(decode_text(raw)), "csv", _("line %d"))


_CJK_ENCODINGS = {
    "big5", "big5hkscs", "cp950", "gb2312", "gbk", "gb18030", "hz", "cp936", "euc_jp",
    "cp932", "shift_jis", "euc_kr", "cp949", "johab", "iso2022_jp", "iso2022_kr",
}  # fmt: skip


def decode_text(raw: bytes) -> str:
    """Bytes of a text file as text: UTF-8 (with or without BOM), UTF-16 with a BOM, else
    detected (charset-normalizer), Simplified Chinese preferred among CJK guesses (a short
    GB18030 file from Excel is otherwise easily taken for Big5). Undecodable: refused."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ImportRejected([_bad_byte(raw, exc, encoding)]) from None
    if b"\x00" in raw:
        raise ImportRejected([_("This is not a text file (it contains NUL bytes).")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        loose = raw.decode("utf-8", errors="replace")
        good = sum(1 for ch in loose if ord(ch) > 127 and ch != "\ufffd")
        if good >= 3 and loose.count("\ufffd") < good:
            # Mostly UTF-8 with a few broken bytes: guessing another encoding would garble it.
            raise ImportRejected([_bad_byte(raw, exc, "UTF-8")]) from None
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise ImportRejected(
            [_("Cannot tell the file's character encoding; save it as UTF-8 and try again.")]
        )
    encoding = best.encoding.replace("-", "_").lower()
    if encoding in _CJK_ENCODINGS:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            pass
    return str(best)


def _bad_byte(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    line = raw.count(b"\n", 0, exc.start) + 1
    return _("The file is not valid %(enc)s: line %(line)d has an undecodable byte (at byte "
             "%(pos)d); save it as UTF-8 and try again.") % {
        "enc": encoding, "line": line, "pos": exc.start,
    }  # fmt: skip


def _csv_rows(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, cells) of a CSV text; the delimiter is the one the header uses."""
    header_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=lambda d: (header_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for cells in reader:
            yield reader.line_num, [_undefuse(c) for c in cells]
    except csv.Error as exc:
        raise ImportRejected(
            [_("line %(line)d: %(why)s") % {"line": reader.line_num, "why": exc}]
        ) from None


def _xlsx_rows(raw: bytes) -> Iterable[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, KeyError and XML errors alike
        raise ImportRejected(
            [_("This is not a valid XLSX workbook (%s).") % type(exc).__name__]
        ) from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_undefuse(_clean_cell(v)) for v in values]
    finally:
        book.close()


def _parse_table(rows: Iterable[tuple[int, list[str]]], fmt: str, where: str) -> ParsedFile:
    """CSV/XLSX rows (the first non-empty one is the header) as ``ImportRow``s."""
    problems: list[str] = []
    header: list[str | None] | None = None
    out: list[ImportRow] = []
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = _header(cells, where % number)
            continue
        place = where % number
        values = {}
        for i, cell in enumerate(cells):
            name = header[i] if i < len(header) else None
            if name is None:
                if cell.strip():
                    problems.append(
                        _("%(where)s: a value in column %(col)d, which has no header")
                        % {"where": place, "col": i + 1}
                    )
                continue
            values[name] = cell
        out.append(_table_row(place, values, problems))
        if len(problems) > MAX_PROBLEMS:
            break
    if header is None:
        raise ImportRejected([_("The file has no header row.")])
    if not out and not problems:
        raise ImportRejected([_("The file has a header but no requirements.")])
    if problems:
        raise ImportRejected(problems)
    return ParsedFile(fmt, out)


def _header(cells: list[str], where: str) -> list[str | None]:
    names: list[str | None] = []
    problems = []
    for i, cell in enumerate(cells):
        raw = cell.strip().lstrip("\ufeff")
        if not raw:
            names.append(None)
            continue
        name = _norm(raw)
        name = name if name in COLUMNS else COLUMN_ALIASES.get(name, COLUMN_ALIASES.get(raw))
        if name is None:
            problems.append(
                _(
                    "%(where)s: unknown column '%(name)s' (column %(col)d); the columns are: "
                    "%(known)s"
                )
                % {
                    "where": where,
                    "name": raw,
                    "col": i + 1,
                    "known": ", ".join(COLUMNS),
                }  # fmt: skip
            )
        elif name in names:
            problems.append(
                _("%(where)s: column '%(name)s' appears twice") % {"where": where, "name": name}
            )
        names.append(name)
    if "title" not in names and "key" not in names:
        problems.append(
            _("%(where)s: the header has no 'title' column (the columns are: %(known)s)")
            % {"where": where, "known": ", ".join(COLUMNS)}
        )
    if problems:
        raise ImportRejected(problems)
    return names


def _table_row(where: str, values: dict[str, str], problems: list[str]) -> ImportRow:
    ref = values.get("key", "").strip() or None
    row = ImportRow(where=where, ref=ref)
    if "title" in values:
        row.fields["title"] = values["title"]
    if "text" in values:
        row.fields["text"] = values["text"]
    for name in ("kind", "priority", "status"):
        raw = values.get(name, "").strip()
        if raw:
            code = choice(name, raw)
            if code is None:
                problems.append(
                    _("%(where)s: %(field)s '%(value)s' is not one of: %(choices)s")
                    % {
                        "where": where,
                        "field": name,
                        "value": raw,
                        "choices": ", ".join(CHOICES[name].values),
                    }  # fmt: skip
                )
            else:
                row.fields[name] = code
    if "parent" in values:
        row.has_parent = True
        row.parent = values["parent"].strip() or None
    raw_version = values.get("version", "").strip()
    if raw_version:
        if raw_version.isascii() and raw_version.isdigit() and 0 < len(raw_version) < 10:
            row.version = int(raw_version)
        else:
            problems.append(
                _("%(where)s: version '%(value)s' is not a whole number")
                % {"where": where, "value": raw_version}
            )
    for item in re.split(r"[;,\n]+", values.get("links", "")):
        item = item.strip()
        if not item:
            continue
        kind_raw, sep, target = item.rpartition(":")
        kind = link_kind(kind_raw) if sep else None
        if kind is None or not target.strip():
            problems.append(
                _("%(where)s: link '%(value)s' is not kind:KEY with a kind of: %(kinds)s")
                % {"where": where, "value": item, "kinds": ", ".join(LinkKind.values)}
            )
            continue
        row.links.append((kind, target.strip()))
    return row


# ---------------------------------------------------------------- ReqIF


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: ET.Element | None, name: str | None = None) -> list[ET.Element]:
    if el is None:
        return []
    return [c for c in el if name is None or _local(c.tag) == name]


def _ref(el: ET.Element, container: str) -> str | None:
    """The text of the ``*-REF`` inside ``el``'s child ``container`` (DEFINITION, TYPE...)."""
    holder = _child(el, container)
    if holder is None:
        return None
    for c in holder:
        if _local(c.tag).endswith("-REF") and (c.text or "").strip():
            return c.text.strip()
    return None


_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "ul", "ol"}


def _xhtml_text(value: ET.Element) -> str:
    """Text of an XHTML value: one plain ``div`` verbatim (what we export), otherwise blocks
    separated by line breaks."""
    parts = list(value)
    if len(parts) == 1 and len(parts[0]) == 0 and _local(parts[0].tag) in ("div", "p"):
        return parts[0].text or ""
    out: list[str] = []

    def walk(el: ET.Element) -> None:
        block = _local(el.tag) in _BLOCKS
        if block and out and not out[-1].endswith("\n"):
            out.append("\n")
        if el.text:
            out.append(el.text)
        for c in el:
            walk(c)
            if c.tail:
                out.append(c.tail)
        if block and out and not out[-1].endswith("\n"):
            out.append("\n")

    for el in parts:
        walk(el)
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


# Attribute LONG-NAMEs (normalised) that carry our fields, best first.
_REQIF_NAMES = {
    "key": ("reqif.foreignid", "key", "id", "requirement_id", "uid"),
    "title": ("reqif.name", "title", "name", "reqif.chaptername", "heading", "summary"),
    "text": ("reqif.text", "text", "description", "reqif.description", "statement",
             "technical_description", "object_text"),
    "kind": ("kind", "requirement_kind", "requirement_type", "reqif.category"),
    "priority": ("priority",),
    "status": ("status", "state", "reqif.status"),
}  # fmt: skip


def parse_reqif(raw: bytes) -> ParsedFile:
    """A ReqIF document (or a .reqifz archive holding one) as rows: every SPEC-OBJECT a
    requirement, the SPEC-HIERARCHY its parent, SPEC-RELATIONs its links."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    if raw[:4] == b"PK\x03\x04":
        raw = _unzip_reqif(raw)
    try:
        root = fromstring(raw, forbid_dtd=True)
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise ImportRejected(
            [
                _("Broken XML at line %(line)d, column %(col)d: %(why)s")
                % {"line": line, "col": column, "why": str(exc).split(":")[0]}
            ]  # fmt: skip
        ) from None
    except DefusedXmlException:
        raise ImportRejected(
            [_("The XML declares a DTD or entities, which are refused for safety.")]
        ) from None
    if _local(root.tag) != "REQ-IF":
        raise ImportRejected(
            [
                _("This is not a ReqIF document: its root element is <%s>, not <REQ-IF>.")
                % _local(root.tag)
            ]  # fmt: skip
        )
    warnings: list[str] = []
    problems: list[str] = []
    definitions: dict[str, str] = {}  # attribute definition id -> normalised LONG-NAME
    enum_values: dict[str, str] = {}  # enum value id -> LONG-NAME
    relation_types: dict[str, str] = {}
    for el in root.iter():
        tag = _local(el.tag)
        ident = el.get("IDENTIFIER")
        if not ident:
            continue
        if tag.startswith("ATTRIBUTE-DEFINITION-"):
            definitions[ident] = (el.get("LONG-NAME") or ident).strip().lower()
        elif tag == "ENUM-VALUE":
            enum_values[ident] = (el.get("LONG-NAME") or ident).strip()
        elif tag == "SPEC-RELATION-TYPE":
            relation_types[ident] = (el.get("LONG-NAME") or ident).strip()

    objects: dict[str, ImportRow] = {}
    order: list[str] = []
    ignored: set[str] = set()
    for n, obj in enumerate(_iter_local(root, "SPEC-OBJECT"), start=1):
        ident = (obj.get("IDENTIFIER") or "").strip()
        if not ident:
            problems.append(_("SPEC-OBJECT #%d has no IDENTIFIER") % n)
            continue
        where = "SPEC-OBJECT %s" % ident
        if ident in objects:
            problems.append(_("%s: the IDENTIFIER is used twice") % where)
            continue
        values: dict[str, str] = {}
        for value in _children(_child(obj, "VALUES")):
            def_id = _ref(value, "DEFINITION")
            name = definitions.get(def_id or "")
            if name is None:
                warnings.append(
                    _("%(where)s: a value of an undefined attribute (%(ref)s) was ignored")
                    % {"where": where, "ref": def_id or "?"}
                )
                continue
            values[name] = _reqif_value(value, enum_values, where, warnings)
        row = _reqif_row(where, ident, values, warnings, ignored)
        objects[ident] = row
        order.append(ident)

    # The hierarchy: document order, parent = the enclosing SPEC-HIERARCHY's object.
    placed: dict[str, None] = {}  # ordered, with fast membership
    for spec in _iter_local(root, "SPECIFICATION"):
        for top in _children(_child(spec, "CHILDREN"), "SPEC-HIERARCHY"):
            _walk_hierarchy(top, None, objects, placed, problems, warnings)
    for ident in placed:
        objects[ident].has_parent = True
    for rel in _iter_local(root, "SPEC-RELATION"):
        where = "SPEC-RELATION %s" % (rel.get("IDENTIFIER") or "?")
        source, target = _ref(rel, "SOURCE"), _ref(rel, "TARGET")
        type_name = relation_types.get(_ref(rel, "TYPE") or "", "")
        for end in (source, target):
            if end not in objects:
                problems.append(
                    _("%(where)s refers to SPEC-OBJECT %(ref)s, which the file does not define")
                    % {"where": where, "ref": end or "?"}
                )
        kind = link_kind(type_name) if type_name else None
        if kind is None:
            warnings.append(
                _("%(where)s: relation type '%(type)s' is not a link kind of ours; skipped")
                % {"where": where, "type": type_name or "?"}
            )
            continue
        if source in objects and target in objects:
            objects[source].links.append((kind, target))
    if ignored:
        warnings.append(_("Attributes not imported: %s") % ", ".join(sorted(ignored)))
    if problems:
        raise ImportRejected(problems)
    if not objects:
        raise ImportRejected([_("The ReqIF document has no SPEC-OBJECT.")])
    seen = set(placed)
    rows = [objects[i] for i in placed] + [objects[i] for i in order if i not in seen]
    return ParsedFile("reqif", rows, warnings)


def _unzip_reqif(raw: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".reqif")]
            if not names:
                raise ImportRejected([_("The .reqifz archive holds no .reqif file.")])
            info = archive.getinfo(names[0])
            if info.file_size > max_bytes():
                raise TooLarge(_("The ReqIF file inside the archive is too large."))
            return archive.read(names[0])
    except zipfile.BadZipFile:
        raise ImportRejected([_("This is not a valid .reqifz (zip) archive.")]) from None


def _iter_local(root: ET.Element, name: str) -> Iterable[ET.Element]:
    return (el for el in root.iter() if _local(el.tag) == name)


def _reqif_value(value: ET.Element, enums: dict[str, str], where: str, warnings) -> str:
    tag = _local(value.tag)
    if tag == "ATTRIBUTE-VALUE-ENUMERATION":
        labels = []
        for ref in _children(_child(value, "VALUES")):
            ident = (ref.text or "").strip()
            if ident in enums:
                labels.append(enums[ident])
            else:
                warnings.append(
                    _("%(where)s: enumeration value %(ref)s is not defined; ignored")
                    % {"where": where, "ref": ident}
                )
        return ", ".join(labels)
    if tag == "ATTRIBUTE-VALUE-XHTML":
        the_value = _child(value, "THE-VALUE")
        return _xhtml_text(the_value) if the_value is not None else ""
    return value.get("THE-VALUE") or ""


def _reqif_row(where, ident, values: dict[str, str], warnings, ignored: set[str]) -> ImportRow:
    row = ImportRow(where=where, ref=ident)
    if len(ident) <= EXTERNAL_ID_MAX:
        row.external_id = ident
    else:
        warnings.append(
            _("%(where)s: the IDENTIFIER is longer than %(n)d characters and is not kept; "
              "importing this file again will add it again")
            % {"where": where, "n": EXTERNAL_ID_MAX}
        )  # fmt: skip
    used = set()

    def pick(name: str) -> str | None:
        for candidate in _REQIF_NAMES[name]:
            if candidate in values:
                used.add(candidate)
                return values[candidate]
        return None

    foreign_id = pick("key")
    if foreign_id:
        row.key = foreign_id.strip()  # ours only if of this project's form (resolved later)
        row.aliases = (row.key,)
    title, text = pick("title"), pick("text")
    text = _newlines(text or "")
    if not (title or "").strip():
        first = text.strip().split("\n", 1)[0]
        title = first[:80].rsplit(" ", 1)[0] if len(first) > 80 else first
        title = title or foreign_id or ident
    row.fields["title"] = title.strip()[:TITLE_MAX]
    row.fields["text"] = text
    for name in ("kind", "priority", "status"):
        raw = pick(name)
        if not raw:
            continue
        code = choice(name, raw) or (FOREIGN_STATUS.get(_norm(raw)) if name == "status" else None)
        if code is None:
            warnings.append(
                _("%(where)s: %(field)s '%(value)s' is not one of ours; left at the default")
                % {"where": where, "field": name, "value": raw}
            )
        else:
            row.fields[name] = code
    ignored.update(set(values) - used)
    return row


def _walk_hierarchy(top, parent, objects, placed, problems, warnings) -> None:
    """Depth first, in document order, without recursion (a file may nest deeply)."""
    stack = [(top, parent)]
    while stack:
        node, parent = stack.pop()
        ident = _ref(node, "OBJECT")
        where = "SPEC-HIERARCHY %s" % (node.get("IDENTIFIER") or "?")
        if ident not in objects:
            problems.append(
                _("%(where)s refers to SPEC-OBJECT %(ref)s, which the file does not define")
                % {"where": where, "ref": ident or "?"}
            )
            continue
        if ident in placed:
            warnings.append(
                _(
                    "%(where)s: SPEC-OBJECT %(ref)s appears twice in the hierarchy; the first "
                    "place is kept"
                )
                % {"where": where, "ref": ident}  # fmt: skip
            )
        else:
            placed[ident] = None
            objects[ident].parent = parent
        kids = _children(_child(node, "CHILDREN"), "SPEC-HIERARCHY")
        stack.extend((kid, ident) for kid in reversed(kids))


# ---------------------------------------------------------------- the import service


@dataclass
class _Existing:
    pk: int
    key: str
    number: int
    version: int
    values: dict[str, Any]  # title, text, kind, priority, status, parent (pk or None)
    external_id: str = ""


def _own_key(project: Project, kind: str = "R") -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(project.key)}-{kind}-[1-9][0-9]{{0,8}}$")


def requirements_import(
    *,
    user: User,
    project: Project,
    parsed: ParsedFile,
    change_request: str | None = None,
    dry_run: bool = False,
    filename: str = "",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Import ``parsed`` into ``project``: all of it or, on any problem, nothing.

    Rows naming an existing requirement update it (a new version when something changes);
    the others add requirements. A baselined requirement changes only with ``change_request``,
    a CR of the project in state ``implementing`` (422 otherwise), as for a PATCH. With
    ``dry_run`` nothing is written and the report says what would be. One audit event.
    """
    from .services import _require_editor

    _require_editor(user, project)
    progress = progress or (lambda stage, done, total: None)
    with transaction.atomic():
        if not dry_run:
            # Numbering and baselines take this lock too: the plan below stays true.
            Project.objects.select_for_update().only("id").get(pk=project.pk)
        plan = _plan(project, parsed, progress)
        baselined = set(
            BaselineItem.objects.filter(
                requirement_id__in=[e.pk for e, _c in plan.modified]
            ).values_list("requirement_id", flat=True)
        )
        needs_cr = [e.key for e, _c in plan.modified if e.pk in baselined]
        cr = _change_request_of(project, change_request, needs_cr)
        report = plan.report(parsed, dry_run=dry_run, change_request=cr)
        if dry_run:
            return report
        _write(user, project, plan, cr, progress)
        audit.record(
            actor=user, action="requirement.imported", object_type="project",
            object_key=project.key, project=project.key,
            after={
                "file": filename[:200], "format": parsed.format,
                "added": report["added"], "modified": report["modified"],
                "unchanged": report["unchanged"], "links_added": report["links_added"],
                "change_request": cr.key if cr else None,
                "modified_keys": [e.key for e, _c in plan.modified][:200],
            },
        )  # fmt: skip
    return report


def _change_request_of(project: Project, key: str | None, baselined: list[str]):
    """The CR named for the import; required (and ``implementing``) when a row changes a
    baselined requirement — the rule of a PATCH."""
    from changeflow.changes.models import ChangeRequest
    from changeflow.changes.workflow import State

    listed = ", ".join(baselined[:20]) + (" …" if len(baselined) > 20 else "")
    key = (key or "").strip()
    if not key:
        if not baselined:
            return None
        raise PreconditionFailed(
            _("These requirements are in a baseline and change only through a change request "
              "that is being implemented; name it: %s") % listed,
            code="change_request_required",
            fields={"change_request": [_("Name a change request in state implementing.")]},
        )  # fmt: skip
    cr = ChangeRequest.objects.filter(project=project, key=key).first()
    if cr is None:
        raise PreconditionFailed(
            _("No such change request in this project: %s") % key,
            code="change_request_required",
            fields={"change_request": [_("No such change request in this project: %s") % key]},
        )
    if baselined and cr.state != State.IMPLEMENTING:
        raise PreconditionFailed(
            _("%(cr)s is not being implemented; it cannot change the baselined requirements "
              "%(keys)s") % {"cr": cr.key, "keys": listed},
            code="change_request_not_implementing",
            fields={"change_request": [_("%s is not in state implementing.") % cr.key]},
        )  # fmt: skip
    return cr


@dataclass
class _Plan:
    new: list[ImportRow]
    new_keys: dict[int, str]  # id(row) -> key it gets
    modified: list[tuple[_Existing, dict[str, Any]]]  # (requirement, changed values)
    unchanged: list[_Existing]
    row_target: dict[int, tuple[str, Any]]  # id(row) -> ("new", row) | ("old", _Existing)
    parents: dict[int, tuple[str, Any] | None]  # id(row) -> resolved parent of new rows
    links: list[tuple[tuple[str, Any], str, tuple[str, Any]]]  # (source, kind, target)
    items: list[dict[str, Any]]
    next_number: int

    def report(self, parsed: ParsedFile, *, dry_run: bool, change_request) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "format": parsed.format,
            "added": len(self.new),
            "modified": len(self.modified),
            "unchanged": len(self.unchanged),
            "links_added": len(self.links),
            "change_request": change_request.key if change_request else None,
            "items": self.items,
            "warnings": parsed.warnings[:MAX_PROBLEMS],
        }


def _plan(project: Project, parsed: ParsedFile, progress: ProgressFn) -> _Plan:
    """Resolve every row and reference and check everything; no write."""
    own = _own_key(project)
    own_artifact = _own_key(project, "A")
    existing: dict[str, _Existing] = {}
    by_pk: dict[int, _Existing] = {}
    by_external: dict[str, _Existing] = {}
    fields = ("id", "key", "number", "version", "external_id", "title", "text", "kind",
              "priority", "status", "parent_id")  # fmt: skip
    for pk, key, number, version, external_id, *vals in Requirement.objects.filter(
        project=project
    ).values_list(*fields):
        values = dict(
            zip(("title", "text", "kind", "priority", "status", "parent"), vals, strict=True)
        )
        e = _Existing(pk, key, number, version, values, external_id)
        existing[key] = by_pk[pk] = e
        if external_id:
            by_external[external_id] = e
    problems: list[str] = []
    refs: dict[str, ImportRow] = {}
    claimed: dict[str, ImportRow] = {}
    target: dict[int, tuple[str, Any]] = {}
    total = len(parsed.rows)
    for i, row in enumerate(parsed.rows):
        key = row.key if row.key and own.match(row.key) else None
        if key is None and row.ref and own.match(row.ref):
            key = row.ref
        matched = None  # a requirement an earlier import of another tool's file made
        if key is None and row.external_id in by_external:
            matched = by_external[row.external_id]
            key = matched.key
        if key is not None:
            if key not in existing:
                problems.append(
                    _(
                        "%(where)s: no requirement %(key)s in project %(project)s (a new "
                        "requirement leaves the key empty)"
                    )
                    % {"where": row.where, "key": key, "project": project.key}  # fmt: skip
                )
                continue
            if key in claimed:
                problems.append(
                    _("%(where)s: %(key)s appears twice (also %(other)s)")
                    % {"where": row.where, "key": key, "other": claimed[key].where}
                    if matched is None
                    else _(
                        "%(where)s: %(key)s, imported earlier as %(ident)s, appears twice "
                        "(also %(other)s)"
                    )
                    % {
                        "where": row.where,
                        "key": key,
                        "ident": row.external_id,
                        "other": claimed[key].where,
                    }  # fmt: skip
                )
                continue
            claimed[key] = row
            target[id(row)] = ("old", existing[key])
        else:
            target[id(row)] = ("new", row)
        for name in dict.fromkeys([row.ref, *row.aliases]):
            if not name:
                continue
            if name in refs and refs[name] is not row:
                problems.append(
                    _("%(where)s: '%(ref)s' names two rows (also %(other)s)")
                    % {"where": row.where, "ref": name, "other": refs[name].where}
                )
            refs[name] = row
        if i % 2000 == 0:
            progress("check", i, total)

    def resolve(ref: str, *, artifacts: bool = False) -> tuple[str, Any] | None:
        if ref in refs and id(refs[ref]) in target:
            return target[id(refs[ref])]
        if ref in existing:
            return ("old", existing[ref])
        if artifacts and own_artifact.match(ref):
            art = Artifact.objects.filter(project=project, key=ref).values_list("id", flat=True)
            pk = art.first()
            return ("art", pk) if pk is not None else None
        return None

    rows = [r for r in parsed.rows if id(r) in target]
    parents: dict[int, tuple[str, Any] | None] = {}
    links: list[tuple[tuple[str, Any], str, tuple[str, Any]]] = []
    for row in rows:
        if row.has_parent and row.parent:
            found = resolve(row.parent)
            if found is None:
                problems.append(
                    _(
                        "%(where)s: parent '%(ref)s' is neither in the file nor a requirement of "
                        "%(project)s"
                    )
                    % {"where": row.where, "ref": row.parent, "project": project.key}  # fmt: skip
                )
            parents[id(row)] = found
        elif row.has_parent:
            parents[id(row)] = None
        for kind, ref in row.links:
            found = resolve(ref, artifacts=True)
            if found is None:
                problems.append(
                    _(
                        "%(where)s: link target '%(ref)s' is neither in the file nor a "
                        "requirement or artifact of %(project)s"
                    )
                    % {"where": row.where, "ref": ref, "project": project.key}  # fmt: skip
                )
            elif found == target[id(row)]:
                problems.append(_("%s: a link cannot point to its own source") % row.where)
            else:
                links.append((target[id(row)], kind, found))
    if problems:
        raise ImportRejected(problems)

    # Values: validate, and compare with the current ones.
    new: list[ImportRow] = []
    modified: list[tuple[_Existing, dict[str, Any]]] = []
    unchanged: list[_Existing] = []
    items: list[dict[str, Any]] = []
    next_number = max((e.number for e in existing.values()), default=0) + 1
    new_keys: dict[int, str] = {}
    for row in rows:
        problems.extend(_check_values(row, new=target[id(row)][0] == "new"))
    if problems:
        raise ImportRejected(problems)

    def parent_pk_or_row(row: ImportRow):
        found = parents.get(id(row))
        if found is None:
            return None
        return found[1].pk if found[0] == "old" else ("new", id(found[1]))

    for row in rows:
        kind_of, obj = target[id(row)]
        if kind_of == "new":
            new_keys[id(row)] = f"{project.key}-R-{next_number + len(new)}"
            new.append(row)
            items.append({"where": row.where, "key": new_keys[id(row)], "action": "added",
                          "fields": []})  # fmt: skip
            continue
        e: _Existing = obj
        changes: dict[str, Any] = {}
        for name, value in row.fields.items():
            current = e.values[name]
            if name == "text":
                if _newlines(value) != _newlines(current):
                    changes[name] = _newlines(value)
            elif name == "title":
                if value.strip() != current:
                    changes[name] = value.strip()
            elif value != current:
                changes[name] = value
        if row.has_parent:
            wanted = parent_pk_or_row(row)
            if wanted != e.values["parent"]:
                changes["parent"] = wanted
        if changes and row.version is not None and row.version != e.version:
            problems.append(
                _(
                    "%(where)s: %(key)s was changed since this file was written (version "
                    "%(file)d in the file, %(now)d now); export it again"
                )
                % {"where": row.where, "key": e.key, "file": row.version, "now": e.version}
            )
        if changes:
            modified.append((e, changes))
            items.append({"where": row.where, "key": e.key, "action": "modified",
                          "fields": list(changes)})  # fmt: skip
        else:
            unchanged.append(e)
            items.append({"where": row.where, "key": e.key, "action": "unchanged",
                          "fields": []})  # fmt: skip
    if problems:
        raise ImportRejected(problems)

    # Cycles in the hierarchy as it would be.
    graph: dict[Any, Any] = {pk: e.values["parent"] for pk, e in by_pk.items()}
    for e, changes in modified:
        if "parent" in changes:
            graph[e.pk] = changes["parent"]
    for row in new:
        graph[("new", id(row))] = parent_pk_or_row(row)
    names = {pk: e.key for pk, e in by_pk.items()} | {("new", id(r)): new_keys[id(r)] for r in new}
    cycle = _find_cycle(graph)
    if cycle:
        where = {("new", id(r)): r.where for r in new} | {
            e.pk: claimed[e.key].where for e in by_pk.values() if e.key in claimed
        }
        first = next((where[n] for n in cycle if n in where), "")
        raise ImportRejected(
            [_("%(where)s: the hierarchy would have a cycle: %(cycle)s")
             % {"where": first, "cycle": " → ".join(names[n] for n in [*cycle, cycle[0]])}]
        )  # fmt: skip

    # Links: only those that do not exist yet.
    wanted_links = _new_links(links)
    progress("check", total, total)
    return _Plan(new, new_keys, modified, unchanged, target, parents, wanted_links, items,
                 next_number)  # fmt: skip


def _check_values(row: ImportRow, *, new: bool) -> list[str]:
    problems = []
    title = row.fields.get("title")
    if title is not None or new:
        if not (title or "").strip():
            problems.append(_("%s: the title is empty") % row.where)
        elif len(title.strip()) > TITLE_MAX:
            problems.append(
                _("%(where)s: the title is longer than %(n)d characters")
                % {"where": row.where, "n": TITLE_MAX}
            )
    text = row.fields.get("text", "")
    if len(text) > TEXT_MAX:
        problems.append(
            _("%(where)s: the text is longer than %(n)d characters")
            % {"where": row.where, "n": TEXT_MAX}
        )
    if any("\x00" in v for v in row.fields.values()):
        problems.append(_("%s: a value contains a NUL character") % row.where)
    return problems


def _find_cycle(graph: dict[Any, Any]) -> list[Any] | None:
    """A loop in a child → parent map, as the list of its nodes, or None. Linear time."""
    state: dict[Any, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if start in state:
            continue
        path: list[Any] = []
        node = start
        while node is not None and node not in state:
            state[node] = 1
            path.append(node)
            node = graph.get(node)
        if node is not None and state.get(node) == 1:
            return path[path.index(node) :]
        for n in path:
            state[n] = 2
    return None


def _new_links(links):
    """The planned links that do not exist yet (each once)."""
    if not links:
        return []
    existing_pairs = set()
    old_sources = [s[1].pk for s, _k, _t in links if s[0] == "old"]
    if old_sources:
        for sr, kind, tr, ta in TraceLink.objects.filter(
            source_requirement_id__in=old_sources
        ).values_list("source_requirement_id", "kind", "target_requirement_id",
                      "target_artifact_id"):  # fmt: skip
            existing_pairs.add((sr, kind, ("old", tr) if tr else ("art", ta)))
    out, seen = [], set()
    for source, kind, target in links:
        tkey = ("old", target[1].pk) if target[0] == "old" else (
            ("art", target[1]) if target[0] == "art" else ("new", id(target[1])))  # fmt: skip
        skey = source[1].pk if source[0] == "old" else ("new", id(source[1]))
        if (skey, kind, tkey) in seen:
            continue
        seen.add((skey, kind, tkey))
        if source[0] == "old" and (skey, kind, tkey) in existing_pairs:
            continue
        out.append((source, kind, target))
    return out


def _write(user: User, project: Project, plan: _Plan, cr, progress: ProgressFn) -> None:
    now = timezone.now()
    total = len(plan.new) + len(plan.modified)
    # New requirements (parents set once every new one has its id).
    created: dict[int, Requirement] = {}
    objs = []
    for i, row in enumerate(plan.new):
        f = row.fields
        req = Requirement(
            project=project, number=plan.next_number + i, key=plan.new_keys[id(row)],
            external_id=row.external_id,
            title=f["title"].strip(), text=_newlines(f.get("text", "")),
            kind=f.get("kind", Kind.FUNCTIONAL),
            priority=f.get("priority", RequirementPriority.SHOULD),
            status=f.get("status", RequirementStatus.DRAFT),
            created_by=user, version=1,
        )  # fmt: skip
        found = plan.parents.get(id(row))
        if found is not None and found[0] == "old":
            req.parent_id = found[1].pk
        created[id(row)] = req
        objs.append(req)
    for start in range(0, len(objs), 1000):
        Requirement.objects.bulk_create(objs[start : start + 1000])
        progress("write", start + len(objs[start : start + 1000]), total)
    if any(pk is None for pk in (r.pk for r in objs)):  # pragma: no cover - old databases
        by_key = dict(
            Requirement.objects.filter(project=project, key__in=[r.key for r in objs]).values_list(
                "key", "id"
            )
        )
        for r in objs:
            r.pk = r.id = by_key[r.key]
    late = []
    for row in plan.new:
        found = plan.parents.get(id(row))
        if found is not None and found[0] == "new":
            created[id(row)].parent_id = created[id(found[1])].pk
            late.append(created[id(row)])
    if late:
        Requirement.objects.bulk_update(late, ["parent"], batch_size=500)

    # Modified requirements: the new values, version + 1.
    changed = []
    for e, changes in plan.modified:
        req = Requirement(pk=e.pk, version=e.version + 1, updated_at=now)
        for name in ("title", "text", "kind", "priority", "status"):
            setattr(req, name, changes.get(name, e.values[name]))
        parent = changes.get("parent", e.values["parent"])
        req.parent_id = created[parent[1]].pk if isinstance(parent, tuple) else parent
        changed.append(req)
    if changed:
        Requirement.objects.bulk_update(
            changed, ["title", "text", "kind", "priority", "status", "parent", "version",
                      "updated_at"], batch_size=500,
        )  # fmt: skip
        progress("write", total, total)

    versions = [
        RequirementVersion(
            requirement_id=r.pk,
            version=r.version,
            title=r.title,
            text=r.text,
            kind=r.kind,
            priority=r.priority,
            status=r.status,
            parent_id=r.parent_id,
            author=user,
            change_request=cr if r in changed else None,
        )  # fmt: skip
        for r in [*objs, *changed]
    ]
    RequirementVersion.objects.bulk_create(versions, batch_size=1000)
    pks = [r.pk for r in changed]
    if cr is not None and pks:
        AffectedRequirement.objects.bulk_create(
            [AffectedRequirement(change_request=cr, requirement_id=pk) for pk in pks],
            ignore_conflicts=True,
        )
    for start in range(0, len(pks), 500):  # the upstream end changed: its links are suspect
        TraceLink.objects.filter(
            target_requirement_id__in=pks[start : start + 500], suspect=False
        ).update(suspect=True, suspect_since=now)

    def end(spec: tuple[str, Any], prefix: str) -> dict[str, Any]:
        kind_of, obj = spec
        if kind_of == "art":
            return {f"{prefix}_artifact_id": obj}
        pk = obj.pk if kind_of == "old" else created[id(obj)].pk
        return {f"{prefix}_requirement_id": pk}

    TraceLink.objects.bulk_create(
        [
            TraceLink(
                project=project, kind=kind, created_by=user, **end(s, "source"), **end(t, "target")
            )  # fmt: skip
            for s, kind, t in plan.links
        ],
        batch_size=1000,
    )


# ---------------------------------------------------------------- export


def export_rows(project: Project) -> list[dict[str, Any]]:
    """Every requirement of ``project`` as a row of the export (three queries)."""
    reqs = list(
        Requirement.objects.filter(project=project)
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
    )
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


def _table_values(r: dict[str, Any]) -> list[Any]:
    return [r["key"], r["parent"], r["title"], r["kind"], r["priority"], r["status"],
            r["version"], "; ".join(r["links"]), r["text"]]  # fmt: skip


def write_csv(rows: list[dict[str, Any]]) -> bytes:
    """UTF-8 with a BOM, so that Excel opens Chinese text correctly; formulas defused."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_defuse(v) if isinstance(v, str) else v for v in _table_values(r)])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def write_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet("requirements")
    sheet.append(list(COLUMNS))
    for r in rows:
        if len(r["text"]) > XLSX_CELL_MAX:
            raise ValidationError(
                _("%s: the text is too long for an XLSX cell; export CSV or ReqIF instead.")
                % r["key"]
            )
        cells = []
        for value in _table_values(r):
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"  # text, even when it starts with "=" (never a formula)
            else:
                cell = WriteOnlyCell(sheet, value=value)
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


REQIF_NS = "http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
XHTML_NS = "http://www.w3.org/1999/xhtml"


def _ident(value: str) -> str:
    """An xsd:ID from a key (an ID cannot start with a digit, a project key may)."""
    return "cf-" + re.sub(r"[^A-Za-z0-9_.-]", "_", value)


def write_reqif(project: Project, rows: list[dict[str, Any]]) -> bytes:
    """A ReqIF 1.0 document: one SPEC-OBJECT-TYPE "Requirement" with ReqIF.ForeignID (our
    key), ReqIF.Name, ReqIF.Text (XHTML) and the enumerations Kind, Priority and Status; the
    hierarchy as one SPECIFICATION; requirement-to-requirement links as SPEC-RELATIONs."""
    ET.register_namespace("", REQIF_NS)
    ET.register_namespace("xhtml", XHTML_NS)

    def el(parent, tag, text=None, **attrs):
        node = ET.SubElement(
            parent, f"{{{REQIF_NS}}}{tag}", {k.replace("_", "-"): v for k, v in attrs.items()}
        )
        if text is not None:
            node.text = text
        return node

    now = timezone.now().isoformat(timespec="seconds")
    root = ET.Element(f"{{{REQIF_NS}}}REQ-IF")
    header = el(el(root, "THE-HEADER"), "REQ-IF-HEADER", IDENTIFIER=_ident(f"{project.key}-hdr"))
    el(header, "COMMENT", _("Requirements of %s exported by changeflow") % project.key)
    el(header, "CREATION-TIME", now)
    el(header, "REQ-IF-TOOL-ID", "changeflow")
    el(header, "REQ-IF-VERSION", "1.0")
    el(header, "SOURCE-TOOL-ID", "changeflow")
    el(header, "TITLE", f"{project.key} {project.name}".strip())
    content = el(el(root, "CORE-CONTENT"), "REQ-IF-CONTENT")
    types = el(content, "DATATYPES")
    el(types, "DATATYPE-DEFINITION-STRING", IDENTIFIER="cf-dt-string", LAST_CHANGE=now,
       LONG_NAME="String", MAX_LENGTH=str(TEXT_MAX))  # fmt: skip
    el(types, "DATATYPE-DEFINITION-XHTML", IDENTIFIER="cf-dt-xhtml", LAST_CHANGE=now,
       LONG_NAME="Text")  # fmt: skip
    enums = {"kind": Kind, "priority": RequirementPriority, "status": RequirementStatus}
    for name, choices in enums.items():
        dtype = el(types, "DATATYPE-DEFINITION-ENUMERATION", IDENTIFIER=f"cf-dt-{name}",
                   LAST_CHANGE=now, LONG_NAME=name.capitalize())  # fmt: skip
        values = el(dtype, "SPECIFIED-VALUES")
        for n, (value, label) in enumerate(choices.choices):
            with translation.override("en"):
                label = str(label)
            ev = el(values, "ENUM-VALUE", IDENTIFIER=f"cf-{name}-{value}", LAST_CHANGE=now,
                    LONG_NAME=value)  # fmt: skip
            el(el(ev, "PROPERTIES"), "EMBEDDED-VALUE", KEY=str(n), OTHER_CONTENT=label)
    spec_types = el(content, "SPEC-TYPES")
    el(spec_types, "SPECIFICATION-TYPE", IDENTIFIER="cf-specification-type", LAST_CHANGE=now,
       LONG_NAME="Requirements specification")  # fmt: skip
    otype = el(spec_types, "SPEC-OBJECT-TYPE", IDENTIFIER="cf-requirement-type",
               LAST_CHANGE=now, LONG_NAME="Requirement")  # fmt: skip
    attrs = el(otype, "SPEC-ATTRIBUTES")
    for ident, long_name, kind, dtype in (
        ("cf-ad-key", "ReqIF.ForeignID", "STRING", "cf-dt-string"),
        ("cf-ad-title", "ReqIF.Name", "STRING", "cf-dt-string"),
        ("cf-ad-text", "ReqIF.Text", "XHTML", "cf-dt-xhtml"),
        ("cf-ad-kind", "Kind", "ENUMERATION", "cf-dt-kind"),
        ("cf-ad-priority", "Priority", "ENUMERATION", "cf-dt-priority"),
        ("cf-ad-status", "Status", "ENUMERATION", "cf-dt-status"),
    ):
        extra = {"MULTI_VALUED": "false"} if kind == "ENUMERATION" else {}
        ad = el(attrs, f"ATTRIBUTE-DEFINITION-{kind}", IDENTIFIER=ident, LAST_CHANGE=now,
                LONG_NAME=long_name, **extra)  # fmt: skip
        el(el(ad, "TYPE"), f"DATATYPE-DEFINITION-{kind}-REF", dtype)
    for value in LinkKind.values:
        el(spec_types, "SPEC-RELATION-TYPE", IDENTIFIER=f"cf-link-{value}", LAST_CHANGE=now,
           LONG_NAME=value)  # fmt: skip

    objects = el(content, "SPEC-OBJECTS")
    for r in rows:
        changed = r["updated_at"].isoformat(timespec="seconds")
        obj = el(objects, "SPEC-OBJECT", IDENTIFIER=_ident(r["key"]), LAST_CHANGE=changed)
        values = el(obj, "VALUES")
        for def_id, value in (("cf-ad-key", r["key"]), ("cf-ad-title", r["title"])):
            av = el(values, "ATTRIBUTE-VALUE-STRING", THE_VALUE=value)
            el(el(av, "DEFINITION"), "ATTRIBUTE-DEFINITION-STRING-REF", def_id)
        av = el(values, "ATTRIBUTE-VALUE-XHTML")
        el(el(av, "DEFINITION"), "ATTRIBUTE-DEFINITION-XHTML-REF", "cf-ad-text")
        div = ET.SubElement(el(av, "THE-VALUE"), f"{{{XHTML_NS}}}div")
        div.text = r["text"]
        for name in enums:
            av = el(values, "ATTRIBUTE-VALUE-ENUMERATION")
            el(el(av, "DEFINITION"), "ATTRIBUTE-DEFINITION-ENUMERATION-REF", f"cf-ad-{name}")
            el(el(av, "VALUES"), "ENUM-VALUE-REF", f"cf-{name}-{r[name]}")
        el(el(obj, "TYPE"), "SPEC-OBJECT-TYPE-REF", "cf-requirement-type")

    relations = el(content, "SPEC-RELATIONS")
    keys = {r["key"] for r in rows}
    for r in rows:
        for link in r["links"]:
            kind, target = link.split(":", 1)
            if target not in keys:
                continue  # an artifact: ReqIF carries requirements only
            rel = el(relations, "SPEC-RELATION", IDENTIFIER=_ident(f"{r['key']}-{kind}-{target}"),
                     LAST_CHANGE=now)  # fmt: skip
            el(el(rel, "SOURCE"), "SPEC-OBJECT-REF", _ident(r["key"]))
            el(el(rel, "TARGET"), "SPEC-OBJECT-REF", _ident(target))
            el(el(rel, "TYPE"), "SPEC-RELATION-TYPE-REF", f"cf-link-{kind}")

    specs = el(content, "SPECIFICATIONS")
    spec = el(specs, "SPECIFICATION", IDENTIFIER=_ident(f"{project.key}-spec"), LAST_CHANGE=now,
              LONG_NAME=project.name or project.key)  # fmt: skip
    el(el(spec, "TYPE"), "SPECIFICATION-TYPE-REF", "cf-specification-type")
    children: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        children.setdefault(r["parent"], []).append(r)

    top = children.get("", [])
    stack = [(spec, None, top)]  # (element, its CHILDREN holder or None, rows to place)
    while stack:
        node, holder, todo = stack.pop()
        if not todo:
            continue
        if holder is None:
            holder = el(node, "CHILDREN")
        r, rest = todo[0], todo[1:]
        stack.append((node, holder, rest))
        child = el(holder, "SPEC-HIERARCHY", IDENTIFIER=_ident(f"{r['key']}-h"),
                   LAST_CHANGE=now)  # fmt: skip
        el(el(child, "OBJECT"), "SPEC-OBJECT-REF", _ident(r["key"]))
        stack.append((child, None, children.get(r["key"], [])))
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
