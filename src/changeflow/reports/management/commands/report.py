"""``changeflow report metrics --project KEY [--from DATE] [--to DATE] [--format json|html|pdf]
[--output FILE]``: a project's process metrics over a period (default: the last three months).

JSON (the API's figures) goes to stdout unless ``--output`` names a file; HTML and PDF too, as
bytes. The figures are those the acting user (``--user``, default: the project's first project
manager) may see.

``changeflow report review --project KEY [--period weekly|monthly] [--date DATE | --from DATE
--to DATE] [--user NAME]``: generate and store a review report (``reports.reviews``) and print
its number and files: weekly or monthly, the week or month containing ``--date`` (default: the
last complete one), or on demand over ``--from``/``--to``. ``--list``: the project's reports.
A report of that kind and period existing already is an error (exit 1), as in the API (409).
"""

from __future__ import annotations

import json

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.core import storage
from changeflow.core.management.base import TranslatedCommand, acting_user, write_output
from changeflow.reports import exports, metrics, reviews, selectors
from changeflow.reports.models import ReportKind

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

        r = sub.add_parser("review", help=_("generate a periodic review report, or list them"))
        r.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
        r.add_argument(
            "--period", choices=(ReportKind.WEEKLY, ReportKind.MONTHLY),
            help=_("weekly or monthly (default: on demand, over --from and --to)"),
        )  # fmt: skip
        r.add_argument(
            "--date", metavar="DATE",
            help=_("a day in the week or month (default: the last complete one)"),
        )  # fmt: skip
        r.add_argument("--from", dest="start", metavar="DATE", help=_("first day, YYYY-MM-DD"))
        r.add_argument("--to", dest="end", metavar="DATE",
                       help=_("the first day after the period"))  # fmt: skip
        r.add_argument("--list", action="store_true", help=_("list the project's reports"))
        r.add_argument(
            "--user", metavar="NAME", default=None,
            help=_("who generates it (default: the project's first project manager)"),
        )  # fmt: skip

    def handle(self, *args, action: str, project: str, **options):
        target = Project.objects.filter(key__iexact=project.strip()).first()
        if target is None:
            raise CommandError(_("unknown project '%s'") % project)
        user = acting_user(target, options.get("user"))
        if action == "review":
            self.review(user, target, options)
            return
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

    def review(self, user, project: Project, options: dict) -> None:
        project = selectors.project_get(user=user, key=project.key)  # not customers, outsiders
        if options.get("list"):
            if (
                options.get("period")
                or options.get("date")
                or options.get("start")
                or options.get("end")
            ):
                raise CommandError(_("--list takes no period"))
            for report in selectors.review_report_list(user=user, project=project):
                by = (
                    report.generated_by.username
                    if report.generated_by
                    else _("the review schedule")
                )
                self.stdout.write(
                    f"{report.key}\t{report.kind}\t{report.period_start}\t{report.period_end}"
                    f"\t{timezone.localtime(report.generated_at):%Y-%m-%d %H:%M}\t{by}"
                )
            return
        reviews.require_project_manager(user, project)
        kind = options.get("period") or ReportKind.ON_DEMAND
        date = options.get("date")
        if (
            kind != ReportKind.ON_DEMAND
            and not date
            and not (options.get("start") or options.get("end"))
        ):
            date = reviews.last_complete(kind, reviews.local_today()).start
        report = reviews.review_report_request(
            user=user,
            project=project,
            kind=kind,
            date=date,
            start=options.get("start"),
            end=options.get("end"),
        )
        self.stdout.write(
            _("%(key)s: %(kind)s review, %(start)s to %(end)s (number %(number)d)")
            % {"key": report.key, "kind": report.kind, "start": report.period_start,
               "end": report.last_day, "number": report.number}
        )  # fmt: skip
        for fmt in ("html", "pdf"):
            name = getattr(report, f"{fmt}_file").name
            self.stdout.write(f"{fmt}: {storage.where(name)}")
