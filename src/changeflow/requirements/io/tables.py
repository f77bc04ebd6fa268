"""CSV and XLSX: reading a table into ``ImportRow``s (encodings, header names in English or
Chinese, every bad row named by its line or row) and writing the export (formulas defused)."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from changeflow.core.errors import ValidationError

from ..models import (
    LinkKind,
)
from .common import (
    CHOICES,
    COLUMN_ALIASES,
    COLUMNS,
    MAX_PROBLEMS,
    XLSX_CELL_MAX,
    ImportRejected,
    ImportRow,
    ParsedFile,
    _clean_cell,
    _defuse,
    _norm,
    _undefuse,
    choice,
    link_kind,
)

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
        norm = _norm(raw)
        name = norm if norm in COLUMNS else COLUMN_ALIASES.get(norm, COLUMN_ALIASES.get(raw))
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


def _table_values(r: dict[str, Any]) -> list[Any]:
    return [r["key"], r["parent"], r["title"], r["kind"], r["priority"], r["status"],
            r["version"], "; ".join(r["links"]), r["text"]]  # fmt: skip


def table_rows(raw: bytes, fmt: str) -> Iterable[tuple[int, list[str]]]:
    """(line or row number, cells) of a CSV (any encoding ``decode_text`` reads) or XLSX file
    (its first sheet); cells as text, formulas that an export defused given back as written.
    Other tables (the change requests' import) read files with this too."""
    if fmt == "xlsx":
        return _xlsx_rows(raw)
    if raw[:4] == b"PK\x03\x04":
        raise ImportRejected([_("This is a zip file (an XLSX workbook?), not CSV text.")])
    return _csv_rows(decode_text(raw))


def csv_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """A CSV file of ``rows`` under ``header``: UTF-8 with a BOM, so that Excel opens Chinese
    text correctly; formulas defused."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for values in rows:
        writer.writerow([_defuse(v) if isinstance(v, str) else v for v in values])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def xlsx_table(sheet_name: str, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """An XLSX workbook of one sheet: ``rows`` under ``header``, every text a text cell (never
    a formula). The caller checks that no text is longer than ``XLSX_CELL_MAX``."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append(list(header))
    for values in rows:
        cells = []
        for value in values:
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


def write_csv(rows: list[dict[str, Any]]) -> bytes:
    """UTF-8 with a BOM, so that Excel opens Chinese text correctly; formulas defused."""
    return csv_table(COLUMNS, (_table_values(r) for r in rows))


def write_xlsx(rows: list[dict[str, Any]]) -> bytes:
    for r in rows:
        if len(r["text"]) > XLSX_CELL_MAX:
            raise ValidationError(
                _("%s: the text is too long for an XLSX cell; export CSV or ReqIF instead.")
                % r["key"]
            )
    return xlsx_table("requirements", COLUMNS, (_table_values(r) for r in rows))
