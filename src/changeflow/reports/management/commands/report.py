"""``changeflow report metrics --project KEY [--from DATE] [--to DATE] [--format json|html|pdf]
[--output FILE]``: a project's process metrics over a period (default: the last three months).

JSON (the API's figures) goes to stdout unless ``--output`` names a file; HTML and PDF too, as
bytes. The figures are those the acting user (``--user``, default: the project's first project
manager) may see.
"""

from __future__ import annotations

import json

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.core.management.base import TranslatedCommand, acting_user, write_output
from changeflow.reports import exports, metrics

FORMATS = ("json", "html", "pdf")


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Process review reports: a project's metrics over a period.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        m = sub.add_parser("metrics", help=_("a project's process metrics over a period"))
        m.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
        m.add_argument("--from", dest="start", metavar="DATE",
                       help=_("first day, YYYY-MM-DD (default: three months ago)"))  # fmt: skip
        m.add_argument("--to", dest="end", metavar="DATE",
                       help=_("the first day after the period (default: tomorrow)"))  # fmt: skip
        m.add_argument("--format", choices=FORMATS, default="json", help=_("json, html or pdf"))
        m.add_argument("--output", metavar="FILE", help=_("write to FILE instead of stdout"))
        m.add_argument(
            "--user", metavar="NAME", default=None,
            help=_("who reads it (default: the project's first project manager)"),
        )  # fmt: skip

    def handle(self, *args, action: str, project: str, **options):
        target = Project.objects.filter(key__iexact=project.strip()).first()
        if target is None:
            raise CommandError(_("unknown project '%s'") % project)
        user = acting_user(target, options.get("user"))
        target = account_selectors.project_get(user=user, key=target.key)  # may they see it
        period = metrics.parse_period(options.get("start"), options.get("end"))
        data = metrics.project_metrics(user=user, project=target, period=period)
        fmt = options["format"]
        if fmt == "json":
            content = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        elif fmt == "html":
            content = exports.metrics_html(target, data)
        else:
            content = exports.metrics_pdf(target, data)
        output = options.get("output")
        if write_output(output, content):
            self.stderr.write(_("written to %(file)s") % {"file": output})
