"""``changeflow requirements import|export FILE --project KEY``: requirements from and to CSV,
XLSX and ReqIF (the format from the file's extension, or ``--format``).

An import is all or nothing; ``--dry-run`` reports what it would change and writes nothing.
A progress line goes to stderr while a large file is checked and written, only when stderr
is a terminal.
"""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Project
from changeflow.core.management.base import (
    TranslatedCommand,
    acting_user,
    read_input,
    write_output,
)
from changeflow.requirements import io as req_io


class Progress:
    """``\\r``-rewritten status line on a terminal; nothing otherwise."""

    def __init__(self, stream, *, every: float = 0.2):
        self.stream = stream
        self.live = stream.isatty()
        self.every = every
        self.last = 0.0
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        label = {"read": _("reading"), "check": _("checking"), "write": _("writing")}[stage]
        pct = f" {100 * done // total:3d}%" if total else ""
        self.stream.write(f"\r{label} {done}/{total}{pct}\x1b[K")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Import or export a project's requirements (CSV, XLSX, ReqIF).")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        imp = sub.add_parser("import", help=_("import requirements from a file, all or nothing"))
        exp = sub.add_parser("export", help=_("export the requirements to a file"))
        for p in (imp, exp):
            p.add_argument("file", metavar="FILE", help=_("the file; '-' is stdin/stdout"))
            p.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
            p.add_argument(
                "--format", choices=req_io.FORMATS, default=None,
                help=_("csv, xlsx or reqif (default: from the file's extension)"),
            )  # fmt: skip
            p.add_argument(
                "--user", metavar="NAME", default=None,
                help=_("who does it (default: the project's first project manager)"),
            )  # fmt: skip
        imp.add_argument(
            "--dry-run", action="store_true", help=_("report what would change; write nothing")
        )
        imp.add_argument(
            "--change-request", metavar="CR", default=None,
            help=_("the change request (in state implementing) that changes baselined "
                   "requirements, e.g. ACME-12"),
        )  # fmt: skip
        imp.add_argument("--json", action="store_true", dest="as_json", help=_("print JSON"))

    def handle(self, *args, action: str, file: str, project: str, **options):
        target = Project.objects.filter(key__iexact=project.strip()).first()
        if target is None:
            raise CommandError(_("unknown project '%s'") % project)
        user = acting_user(target, options.get("user"))
        if action == "export":
            return self._export(user, target, file, options.get("format"))
        return self._import(user, target, file, options)

    def _export(self, user, project, file: str, fmt: str | None) -> None:
        if fmt is None:
            if file == "-":
                raise CommandError(_("name the format with --format when writing to stdout"))
            fmt = req_io.detect_format(file)
        content, _type, _name = req_io.requirements_export(user=user, project=project, fmt=fmt)
        if write_output(file, content):
            self.stdout.write(_("exported to %(file)s") % {"file": file})

    def _import(self, user, project, file: str, options) -> None:
        fmt = options.get("format")
        progress = Progress(sys.stderr)
        if file == "-" and fmt is None:
            raise CommandError(_("name the format with --format when reading stdin"))
        raw = read_input(file)
        progress("read", 0, 0)
        try:
            parsed = req_io.parse(raw, filename=file, fmt=fmt)
            report = req_io.requirements_import(
                user=user, project=project, parsed=parsed,
                change_request=options.get("change_request"),
                dry_run=options.get("dry_run", False), filename=file, progress=progress,
            )  # fmt: skip
        finally:
            progress.done()
        if options.get("as_json"):
            self.stdout.write(json.dumps(report, ensure_ascii=False))
            return
        for warning in report["warnings"]:
            self.stderr.write(_("warning: %s") % warning)
        if report["dry_run"]:
            labels = {"added": _("would add"), "modified": _("would change")}
            for item in report["items"]:
                if item["action"] in labels:
                    fields = (" (" + ", ".join(item["fields"]) + ")") if item["fields"] else ""
                    self.stdout.write(
                        f"{labels[item['action']]} {item['key']} [{item['where']}]{fields}"
                    )
        summary = _(
            "%(added)d added, %(modified)d modified, %(unchanged)d unchanged, "
            "%(links)d links added"
        ) % {
            "added": report["added"], "modified": report["modified"],
            "unchanged": report["unchanged"], "links": report["links_added"],
        }  # fmt: skip
        if report["dry_run"]:
            summary = _("dry run, nothing written: %s") % summary
        self.stdout.write(summary)
