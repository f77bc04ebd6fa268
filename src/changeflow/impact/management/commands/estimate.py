"""``changeflow estimate backtest FILE --target COL``: leave-one-out accuracy of an estimator.

Thin: parse, load the file (``impact.datasets``), run the method (``impact.analogy``), print
JSON. Bad data → one line on stderr, exit 1; bad usage → exit 2 (argparse or ``--k 0``).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from changeflow.impact import analogy, datasets

EXIT_FAILED, EXIT_USAGE = 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(_("must be a whole number of at least 1: %s") % text)
    return value


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


class Command(BaseCommand):
    # Reads a file and prints figures: no database or project state to check first.
    requires_system_checks: list[str] = []

    @property
    def help(self) -> str:  # translated when asked, in the active language
        return _("Estimation tools.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        backtest = sub.add_parser(
            "backtest",
            help=_("leave-one-out backtest of an estimation method on a CSV or ARFF file"),
        )
        backtest.add_argument("file", metavar="FILE", help=_("CSV (with a header row) or ARFF"))
        backtest.add_argument(
            "--target", required=True, metavar="COL", help=_("the column to estimate")
        )
        backtest.add_argument(
            "--exclude", type=_names, default=[], metavar="COL,...",
            help=_("columns not to use as features (e.g. ids, values known only afterwards)"),
        )  # fmt: skip
        backtest.add_argument(
            "--k", type=_positive_int, default=analogy.DEFAULT_K, metavar="K",
            help=_("number of analogies (default %d)") % analogy.DEFAULT_K,
        )  # fmt: skip
        backtest.add_argument(
            "--method", choices=analogy.METHODS, default="analogy",
            help=_("estimation method (default analogy)"),
        )  # fmt: skip
        backtest.add_argument(
            "--missing", type=_names, default=[], metavar="TOKEN,...",
            help=_("extra cell values that mean 'missing' (empty and ? always do)"),
        )  # fmt: skip

    def handle(self, *args, action, file, target, exclude, k, method, missing, **options):
        if k < 1:  # call_command() bypasses the argparse type
            raise CommandError(_("--k must be at least 1"), returncode=EXIT_USAGE)
        try:
            data = datasets.load(file, missing=missing)
            result = analogy.backtest(data, target, exclude, k)
        except datasets.DatasetError as exc:
            raise CommandError(str(exc), returncode=EXIT_FAILED) from None
        cases = result.cases
        missing_cells = int(np.isnan(cases.numeric).sum() + (cases.nominal < 0).sum())
        report = {
            "file": data.name,
            "format": data.format,
            "method": method,
            "target": target,
            "excluded": list(dict.fromkeys(exclude)),
            "k": k,
            "n": cases.n,
            "rows": data.rows,
            "dropped_missing_target": cases.dropped,
            "features": {
                "numeric": list(cases.numeric_names),
                "nominal": list(cases.nominal_names),
            },
            "missing_feature_values": missing_cells,
            "notes": list(data.notes),
            **{name: round(value, 6) for name, value in result.metrics.items()},
        }
        self.stdout.write(json.dumps(report, ensure_ascii=False))
