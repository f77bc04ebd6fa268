"""``changeflow estimate backtest|expert|analogy|similar``: estimation from the command line.

- ``backtest FILE --target COL`` (or ``backtest --all DIR``): leave-one-out accuracy of the
  analogy method on a CSV/ARFF file, or on every known public dataset in DIR (JSON lines);
- ``expert KEY --as USER [--effort O,M,P ...]``: the CR's Delphi rounds, or give an estimate;
- ``analogy KEY --as USER``: the most similar closed CRs with actuals, and the estimate;
- ``similar TEXT --project KEY --as USER``: likely duplicates and related CRs.

Thin: parse, call the selector or service, print JSON. Bad data → one line on stderr, exit 1;
bad usage → exit 2 (argparse, ``--k 0``, a missing FILE).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core.management.base import TranslatedCommand
from changeflow.impact import analogy, datasets, methods
from changeflow.impact.effort_datasets import NOT_DATASETS, SPECS

EXIT_FAILED, EXIT_USAGE = 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(_("must be a whole number of at least 1: %s") % text)
    return value


def _triple(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(
            _("give three numbers: optimistic,most likely,pessimistic")
        )
    return parts


class Command(TranslatedCommand):
    # Reads a file and prints figures: no database or project state to check first.
    requires_system_checks: list[str] = []

    help_lazy = gettext_lazy("Estimation tools.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        backtest = sub.add_parser(
            "backtest",
            help=_("leave-one-out backtest of an estimation method on a CSV or ARFF file"),
        )
        backtest.add_argument(
            "file", metavar="FILE", nargs="?", help=_("CSV (with a header row) or ARFF")
        )
        backtest.add_argument(
            "--all", metavar="DIR", dest="all_dir",
            help=_("backtest every known public dataset in DIR (one JSON line each)"),
        )  # fmt: skip
        backtest.add_argument("--target", metavar="COL", help=_("the column to estimate"))
        backtest.add_argument(
            "--aggregate", choices=analogy.AGGREGATES, default=None,
            help=_("how the analogues are combined, analogy only (default %s)")
            % analogy.DEFAULT_AGGREGATE,
        )  # fmt: skip
        backtest.add_argument(
            "--names", type=methods.names, default=None, metavar="COL,...",
            help=_("column names for a CSV file without a header row"),
        )  # fmt: skip
        backtest.add_argument(
            "--exclude", type=methods.names, default=[], metavar="COL,...",
            help=_("columns not to use as features (e.g. ids, values known only afterwards)"),
        )  # fmt: skip
        backtest.add_argument(
            "--k", type=_positive_int, default=None, metavar="K",
            help=_("number of analogies (analogy: default %(k)d; angel: chosen among "
                   "%(ks)s in each fold unless given)")
            % {"k": analogy.DEFAULT_K, "ks": ", ".join(map(str, methods.ANGEL_KS))},
        )  # fmt: skip
        backtest.add_argument(
            "--method", choices=methods.METHODS, default=methods.DEFAULT_METHOD,
            help=_("estimation method: analogy (changeflow's, the default), angel (Shepperd "
                   "and Schofield's, feature subset and k chosen in each fold) or regression "
                   "(log-linear ridge)"),
        )  # fmt: skip
        backtest.add_argument(
            "--missing", type=methods.names, default=[], metavar="TOKEN,...",
            help=_("extra cell values that mean 'missing' (empty and ? always do)"),
        )  # fmt: skip

        for name, helptext in (
            ("expert", _("a CR's expert estimates and Delphi rounds; give one with --effort")),
            ("analogy", _("a CR's most similar closed CRs with actuals, and the estimate")),
        ):
            p = sub.add_parser(name, help=helptext)
            p.add_argument("key", metavar="KEY", help=_("the change request, e.g. ACME-12"))
            p.add_argument("--as", dest="username", required=True, metavar="USER",
                           help=_("act and see as this user"))  # fmt: skip
            if name == "expert":
                for dim in ("effort", "schedule", "cost"):
                    p.add_argument(f"--{dim}", metavar="O,M,P", type=_triple,
                                   help=_("optimistic,most likely,pessimistic"))  # fmt: skip
                p.add_argument("--comment", default="")
                p.add_argument("--close-round", action="store_true",
                               help=_("close the open round (moderators)"))  # fmt: skip
            else:
                p.add_argument("--scope", choices=("project", "organisation"), default="project")
        p = sub.add_parser("similar", help=_("likely duplicates and related CRs of a text"))
        p.add_argument("text", metavar="TEXT")
        p.add_argument("--project", required=True, metavar="KEY")
        p.add_argument("--as", dest="username", required=True, metavar="USER")
        p.add_argument("--limit", type=_positive_int, default=5)

    def handle(self, *args, action, **options):
        try:
            if action == "backtest":
                return self._backtest(**options)
            return self._db_action(action, **options)
        except datasets.DatasetError as exc:
            raise CommandError(str(exc), returncode=EXIT_FAILED) from None

    def _db_action(self, action, *, username, **options):
        from changeflow.accounts import selectors as account_selectors
        from changeflow.accounts.models import User
        from changeflow.changes import selectors as change_selectors
        from changeflow.core.errors import ApplicationError
        from changeflow.impact import selectors, services

        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(_("no such user: %s") % username, returncode=EXIT_FAILED)
        try:
            if action == "similar":
                project = account_selectors.project_get(user=user, key=options["project"])
                out = selectors.similar_to(
                    user=user, project=project, text=options["text"], limit=options["limit"]
                )
            else:
                cr = change_selectors.change_request_get(user=user, key=options["key"])
                if action == "analogy":
                    out = selectors.analogy_for(user=user, cr=cr, scope=options["scope"])
                else:
                    if options.get("effort") or options.get("schedule") or options.get("cost"):
                        services.expert_estimate_submit(
                            user=user, cr=cr, effort=options.get("effort"),
                            schedule=options.get("schedule"), cost=options.get("cost"),
                            comment=options.get("comment", ""),
                        )  # fmt: skip
                    if options.get("close_round"):
                        services.estimation_round_close(user=user, cr=cr)
                    data = selectors.expert_rounds(user=user, cr=cr)
                    out = {"rounds": data["rounds"]}
        except ApplicationError as exc:
            raise CommandError(str(exc.message), returncode=EXIT_FAILED) from None
        self.stdout.write(json.dumps(out, ensure_ascii=False, default=str))

    def _backtest(self, *, file, all_dir, target, exclude, k, method, missing, aggregate, names,
                  **options):  # fmt: skip
        if k is not None and k < 1:  # call_command() bypasses the argparse type
            raise CommandError(_("--k must be at least 1"), returncode=EXIT_USAGE)
        if method not in methods.METHODS:  # call_command() bypasses the argparse choices
            raise CommandError(_("unknown estimation method %s") % method, returncode=EXIT_USAGE)
        bad = methods.inapplicable(method, k=k, aggregate=aggregate)
        if bad:
            raise CommandError(
                _("%(option)s does not apply to --method %(method)s")
                % {"option": f"--{bad}", "method": method},
                returncode=EXIT_USAGE,
            )
        if all_dir:
            if file or target:
                raise CommandError(
                    _("--all takes no FILE and no --target (each dataset has its own)"),
                    returncode=EXIT_USAGE,
                )
            return self._backtest_all(Path(all_dir), method, k, aggregate)
        if not file or not target:
            raise CommandError(_("give FILE and --target COL, or --all DIR"), returncode=EXIT_USAGE)
        data = datasets.load(file, missing=missing, names=names)
        result = methods.backtest(data, target, exclude, method, k, aggregate)
        self.stdout.write(json.dumps(methods.report(data, result, target, exclude),
                                     ensure_ascii=False))  # fmt: skip

    def _backtest_all(
        self, folder: Path, method: str, k: int | None, aggregate: str | None
    ) -> None:
        if not folder.is_dir():
            raise CommandError(_("no such folder: %s") % folder, returncode=EXIT_FAILED)
        known = {s.file for s in SPECS}
        present = [s for s in SPECS if (folder / s.file).exists()]
        if not present:
            raise CommandError(_("no known effort dataset in %s") % folder, returncode=EXIT_FAILED)
        for spec in present:
            data = datasets.load(folder / spec.file, missing=spec.missing, names=spec.names)
            result = methods.backtest(data, spec.target, spec.exclude, method, k, aggregate)
            report = methods.report(data, result, spec.target, spec.exclude)
            report = {"dataset": spec.label, "why_excluded": spec.why, **report}
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        unknown = sorted(
            p.name for p in folder.iterdir()
            if p.suffix.lower() in (".csv", ".arff") and p.name not in known | NOT_DATASETS
        )  # fmt: skip
        for name in unknown:
            self.stderr.write(_("skipped %s: not a known dataset (use FILE --target)") % name)
