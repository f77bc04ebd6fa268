"""``changeflow simulate --project ACME [--change-request ACME-12] [--iterations N] [--seed S]
[--plan FILE]``: the Monte Carlo simulation of a project's plan, as JSON on stdout.

Thin: read the stored plan (or a CSV/XLSX plan file), the change request's implementation tasks
and risks, simulate in this process and print the result (nothing is stored). Bad input — an
unknown project, a dependency cycle, an inverted estimate, too many iterations — is one line on
stderr and exit 1; bad usage exits 2.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Project
from changeflow.changes.models import ChangeRequest
from changeflow.core.errors import ApplicationError
from changeflow.core.management.base import TranslatedCommand
from changeflow.impact import plan_io, plans
from changeflow.impact import simulation as sim

EXIT_FAILED, EXIT_USAGE = 1, 2


class Command(TranslatedCommand):
    help_lazy = gettext_lazy(
        "Monte Carlo simulation of a project's plan, with or without a change request."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, metavar="KEY", help=_("project key"))
        parser.add_argument(
            "--change-request", metavar="KEY", help=_("simulate with this change request's tasks")
        )
        parser.add_argument(
            "--iterations", type=int, default=sim.DEFAULT_ITERATIONS, metavar="N",
            help=_("iterations (default %d)") % sim.DEFAULT_ITERATIONS,
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=0, metavar="S", help=_("seed (default 0)"))
        parser.add_argument(
            "--plan", metavar="FILE", help=_("a CSV or XLSX plan to use instead of the stored one")
        )
        parser.add_argument(
            "--start-date", metavar="YYYY-MM-DD", help=_("start date of a --plan file's plan")
        )

    def handle(self, *args, project, change_request, iterations, seed, plan, start_date, **opts):
        try:
            result = self._run(project, change_request, iterations, seed, plan, start_date)
        except (ApplicationError, sim.PlanError) as exc:
            raise CommandError(str(getattr(exc, "message", exc)), returncode=EXIT_FAILED) from None
        except plan_io.PlanProblems as exc:
            raise CommandError("; ".join(exc.problems), returncode=EXIT_FAILED) from None
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, cls=DjangoJSONEncoder))

    def _run(self, key, cr_key, iterations, seed, plan_path, start_date) -> dict:
        proj = Project.objects.filter(key=key).first()
        if proj is None:
            raise CommandError(_("No project %s.") % key, returncode=EXIT_FAILED)
        cr = None
        if cr_key:
            cr = ChangeRequest.objects.filter(key=cr_key, project=proj).first()
            if cr is None:
                raise CommandError(
                    _("No change request %(cr)s in project %(p)s.") % {"cr": cr_key, "p": key},
                    returncode=EXIT_FAILED,
                )
        if seed < 0:
            raise CommandError(_("--seed must be 0 or more"), returncode=EXIT_USAGE)
        iterations = plans._check_iterations(iterations)
        clean = start = None
        if plan_path:
            path = Path(plan_path)
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise CommandError(
                    _("Cannot read %(f)s: %(e)s") % {"f": plan_path, "e": exc.strerror},
                    returncode=EXIT_FAILED,
                ) from None
            clean = plan_io.rows_to_plan(plan_io.read_rows(path.name, content))
            if start_date:
                try:
                    start = dt.date.fromisoformat(start_date)
                except ValueError:
                    raise CommandError(
                        _("--start-date: not a date (YYYY-MM-DD): %s") % start_date,
                        returncode=EXIT_USAGE,
                    ) from None
        spec = plans.build_spec(proj, cr, plan_file=clean, start_date=start)
        plan, change = plans.spec_to_simulation(spec)
        outcome = sim.simulate(plan, change=change, iterations=iterations, seed=seed)
        result = plans.build_result(spec, outcome)
        result.pop("charts", None)
        return {"project": proj.key, "change_request": cr.key if cr else None, **result}
