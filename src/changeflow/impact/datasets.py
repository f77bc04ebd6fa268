"""Read tabular effort data: CSV with a header row, or ARFF. Pure; no ORM.

ARFF is read by a small parser of our own rather than ``liac-arff``: the public effort files
this reads (``../shared/data/effort``) use things liac-arff 2.5.0 refuses — a ``%`` comment
after an attribute's type (Desharnais, NASA93), the ``text`` type and two ``@data`` sections
(COCOMO81 1.1), tab-separated declarations (one Maxwell copy) — so four of the ten files would
not load. The parser here accepts those and rejects what it cannot read with a typed error.

What it understands
- ``@relation``, ``@attribute NAME TYPE`` (NAME may be quoted; ``numeric``/``real``/
  ``integer`` are numeric, ``{a,b,...}``, ``string``, ``text`` and ``date`` are nominal) and
  ``@data`` with comma-separated, optionally quoted values. Keywords are case-insensitive.
- ``%`` starts a comment anywhere outside quotes.
- A second ``@data`` section ends the table: only the first is read (COCOMO81 1.1 repeats its
  projects with symbolic levels there); a note says so.
- A data row that repeats the attribute names (COCOMO81's rows with id 0) is skipped, noted.
- Free text before the first ``@attribute`` is ignored, noted (COCOMO81 1.1 has a stray table row).
- Sparse rows (``{0 x, 3 y}``) are refused.

CSV: the delimiter is sniffed among ``,``, ``;`` and tab; with ``;`` a decimal comma is read
as a decimal point (Maxwell's original ``0,52919``). The first row must be a header: a first
row made only of numbers is refused rather than silently taken as names.

Missing values: an empty cell and ``?`` are missing everywhere; callers may name more tokens
(Desharnais codes missing data as ``-1``).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.utils.translation import gettext as _

MISSING_TOKENS = frozenset({"", "?"})
NUMERIC_TYPES = frozenset({"numeric", "real", "integer"})


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the problem for the user."""


class UnreadableFile(DatasetError):
    """The file does not exist or cannot be read as text."""


class EmptyDataset(DatasetError):
    """No data rows."""


class MalformedArff(DatasetError):
    """An ARFF file that breaks the format."""


class MalformedCsv(DatasetError):
    """A CSV file without a usable header or with ragged rows."""


class UnknownColumn(DatasetError):
    """A column named by the user is not in the file."""


class NonNumericTarget(DatasetError):
    """The target column holds something other than numbers."""


@dataclass(frozen=True)
class Column:
    """One column: ``numeric`` (float array, NaN where missing) or ``nominal`` (str or None)."""

    name: str
    kind: str
    values: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        if self.kind == "numeric":
            return np.isnan(self.values)
        return np.array([v is None for v in self.values], dtype=bool)


@dataclass(frozen=True)
class Dataset:
    name: str
    format: str  # "csv" | "arff"
    columns: tuple[Column, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def rows(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise UnknownColumn(
            _("no column '%(name)s' in %(file)s (columns: %(columns)s)")
            % {"name": name, "file": self.name, "columns": ", ".join(self.names)}
        )


def load(
    path: str | Path, *, missing: Iterable[str] = (), names: Sequence[str] | None = None
) -> Dataset:
    """Read ``path`` as ARFF (``.arff``) or CSV (anything else).

    ``names`` gives the column names of a CSV file that has no header row (every row is data).
    """
    path = Path(path)
    return parse(_read_bytes(path), path.name, missing=missing, names=names)


def parse(
    raw: bytes, name: str, *, missing: Iterable[str] = (), names: Sequence[str] | None = None
) -> Dataset:
    """Read ``raw``, the content of a file called ``name``, as ``load`` reads a file (an
    upload, say)."""
    tokens = MISSING_TOKENS | {t.strip() for t in missing}
    if b"\0" in raw[:4096]:
        raise UnreadableFile(_("%s is not a text file") % name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # old PROMISE files; every byte decodes
    if not text.strip():
        raise EmptyDataset(_("%s is empty") % name)
    if name.lower().endswith(".arff"):
        return _parse_arff(text, name, tokens)
    return _parse_csv(text, name, tokens, names)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(_("no such file: %s") % path) from None
    except IsADirectoryError:
        raise UnreadableFile(_("%s is a folder, not a file") % path) from None
    except OSError as exc:
        raise UnreadableFile(_("cannot read %(file)s: %(reason)s") % {
            "file": path, "reason": exc.strerror or exc
        }) from None  # fmt: skip


def _number(token: str, decimal_comma: bool = False) -> float | None:
    """The token as a float, or None when it is not a number."""
    if decimal_comma and token.count(",") == 1 and "." not in token:
        token = token.replace(",", ".")
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _column(name: str, kind: str, cells: Sequence[str | None], decimal_comma=False) -> Column:
    if kind == "numeric":
        values = np.array(
            [math.nan if c is None else _number(c, decimal_comma) for c in cells], dtype=float
        )
    else:
        values = np.array(list(cells), dtype=object)
    return Column(name=name, kind=kind, values=values)


# --- ARFF -------------------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    """The line without a ``%`` comment that starts outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "%":
            return line[:i]
    return line


def _split_values(line: str, lineno: int) -> list[str]:
    """Comma-separated values, each optionally quoted with ' or "."""
    values: list[str] = []
    current: list[str] = []
    quote: str | None = None
    quoted = False
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
            else:
                current.append(ch)
        elif ch in "'\"" and not "".join(current).strip():
            quote, quoted, current = ch, True, []
        elif ch == ",":
            values.append("".join(current) if quoted else "".join(current).strip())
            current, quoted = [], False
        else:
            current.append(ch)
    if quote:
        raise MalformedArff(_("line %d: a quote is not closed") % lineno)
    values.append("".join(current) if quoted else "".join(current).strip())
    return values


_ATTRIBUTE = re.compile(r"""^@attribute\s+('[^']*'|"[^"]*"|\S+)\s+(.+)$""", re.IGNORECASE)


def _parse_arff(text: str, name: str, missing: frozenset[str]) -> Dataset:
    attributes: list[tuple[str, str]] = []
    rows: list[list[str]] = []
    notes: list[str] = []
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        keyword = line.split(None, 1)[0].lower()
        if keyword == "@data":
            if in_data:
                notes.append(_("only the first @data section was read (line %d)") % lineno)
                break
            if not attributes:
                raise MalformedArff(_("line %d: @data before any @attribute") % lineno)
            in_data = True
        elif in_data:
            if line.startswith("{"):
                raise MalformedArff(_("line %d: sparse ARFF rows are not supported") % lineno)
            values = _split_values(line, lineno)
            if len(values) != len(attributes):
                raise MalformedArff(
                    _("line %(line)d: %(got)d values where %(want)d attributes are declared")
                    % {"line": lineno, "got": len(values), "want": len(attributes)}
                )
            names = {a.lower() for a, _k in attributes}
            if sum(v.lower() in names for v in values) * 2 > len(values):
                notes.append(_("line %d repeats the attribute names; skipped") % lineno)
                continue
            rows.append(values)
        elif keyword == "@relation":
            continue
        elif keyword == "@attribute":
            match = _ATTRIBUTE.match(line)
            if not match:
                raise MalformedArff(_("line %d: an @attribute needs a name and a type") % lineno)
            attr, kind = match.group(1).strip("'\""), match.group(2).strip()
            if kind.lower() in NUMERIC_TYPES:
                attributes.append((attr, "numeric"))
            elif (kind.startswith("{") and kind.endswith("}")) or kind.split()[0].lower() in (
                "string",
                "text",
                "date",
            ):
                attributes.append((attr, "nominal"))
            else:
                raise MalformedArff(
                    _("line %(line)d: unknown attribute type '%(type)s'")
                    % {"line": lineno, "type": kind}
                )
        elif not attributes:
            # Free text in the preamble (COCOMO81 1.1 has an uncommented table row there).
            notes.append(_("line %d before the first @attribute is not ARFF; ignored") % lineno)
        else:
            raise MalformedArff(
                _("line %(line)d: expected @relation, @attribute or @data, found '%(text)s'")
                % {"line": lineno, "text": line[:40]}
            )
    if not in_data:
        raise MalformedArff(_("%s has no @data section") % name)
    if not rows:
        raise EmptyDataset(_("%s has no data rows") % name)
    _unique([a for a, _k in attributes], name)
    columns = []
    for index, (attr, kind) in enumerate(attributes):
        cells = [None if r[index] in missing else r[index] for r in rows]
        if kind == "numeric":
            for lineno_in_data, cell in enumerate(cells, start=1):
                if cell is not None and _number(cell) is None:
                    raise MalformedArff(
                        _(
                            "numeric attribute '%(attr)s' has the value '%(value)s' "
                            "(data row %(row)d)"
                        )
                        % {"attr": attr, "value": cell[:40], "row": lineno_in_data}
                    )
        columns.append(_column(attr, kind, cells))
    return Dataset(name=name, format="arff", columns=tuple(columns), notes=tuple(notes))


def _unique(names: list[str], file: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise DatasetError(
                _("column '%(name)s' appears twice in %(file)s") % {"name": n, "file": file}
            )
        seen.add(n)


# --- CSV --------------------------------------------------------------------------------


def _parse_csv(
    text: str, name: str, missing: frozenset[str], names: Sequence[str] | None = None
) -> Dataset:
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    decimal_comma = delimiter != ","
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        table = [(reader.line_num, [c.strip() for c in row]) for row in reader if any(row)]
    except csv.Error as exc:
        raise MalformedCsv(_("%(file)s: %(reason)s") % {"file": name, "reason": exc}) from None
    if not table:
        raise EmptyDataset(_("%s has no rows") % name)
    if names:
        table = [(0, list(names)), *table]
    header = table[0][1]
    if all(_number(c, decimal_comma) is not None for c in header):
        raise MalformedCsv(
            _("%s: the first row holds only numbers; a header row with column names is needed")
            % name
        )
    if any(not c for c in header):
        raise MalformedCsv(_("%s: a column in the header row has no name") % name)
    _unique(header, name)
    body = table[1:]
    if not body:
        raise EmptyDataset(_("%s has a header but no data rows") % name)
    for lineno, row in body:
        if len(row) != len(header):
            raise MalformedCsv(
                _("%(file)s line %(line)d: %(got)d values where the header has %(want)d")
                % {"file": name, "line": lineno, "got": len(row), "want": len(header)}
            )
    columns = []
    for index, col in enumerate(header):
        cells = [None if r[index] in missing else r[index] for _ln, r in body]
        numeric = all(c is None or _number(c, decimal_comma) is not None for c in cells)
        columns.append(_column(col, "numeric" if numeric else "nominal", cells, decimal_comma))
    return Dataset(name=name, format="csv", columns=tuple(columns))
