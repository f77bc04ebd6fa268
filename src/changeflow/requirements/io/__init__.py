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

The package, by format:

- ``common``: formats, columns, ``ImportRejected``, ``ImportRow``/``ParsedFile``, value
  vocabularies and cell hygiene shared by all;
- ``tables``: CSV and XLSX, reading and writing;
- ``reqif``: ReqIF, reading (``.reqif`` and ``.reqifz``) and writing;
- ``importing``: ``parse`` (any format) and the import service ``requirements_import``;
- ``exporting``: ``export_rows`` and the export service ``requirements_export``.

Callers import from here (``from changeflow.requirements import io as req_io``); the names
below are the package's public interface.
"""

from .common import (
    COLUMN_ALIASES,
    COLUMNS,
    CONTENT_TYPES,
    DEFAULT_MAX_BYTES,
    FORMATS,
    MAX_PROBLEMS,
    XLSX_CELL_MAX,
    ImportRejected,
    ImportRow,
    ParsedFile,
    ProgressFn,
    choice,
    detect_format,
    link_kind,
    max_bytes,
    upload_bytes,
)
from .exporting import export_rows, requirements_export
from .importing import parse, requirements_import
from .reqif import REQIF_NS, XHTML_NS, parse_reqif, write_reqif
from .tables import csv_table, decode_text, table_rows, write_csv, write_xlsx, xlsx_table

__all__ = [
    "COLUMNS",
    "COLUMN_ALIASES",
    "CONTENT_TYPES",
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "MAX_PROBLEMS",
    "REQIF_NS",
    "XHTML_NS",
    "XLSX_CELL_MAX",
    "ImportRejected",
    "ImportRow",
    "ParsedFile",
    "ProgressFn",
    "choice",
    "csv_table",
    "decode_text",
    "detect_format",
    "export_rows",
    "link_kind",
    "max_bytes",
    "parse",
    "parse_reqif",
    "requirements_export",
    "requirements_import",
    "table_rows",
    "upload_bytes",
    "write_csv",
    "write_reqif",
    "write_xlsx",
    "xlsx_table",
]
