import datetime as dt

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# How often the workers look for improvement actions past or near their due date (each is
# still announced once per due date, however often this runs).
DUE_CHECK_PERIOD = dt.timedelta(hours=1)
# How often they look for a missing scheduled review report (each period's report is made once:
# a run that finds it made does nothing).
REVIEW_CHECK_PERIOD = dt.timedelta(hours=1)


class ReportsConfig(AppConfig):
    name = "changeflow.reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from changeflow.core import periodic

        from . import actions, reviews

        periodic.register(
            "reports.improvements_due", every=DUE_CHECK_PERIOD, func=actions.check_due
        )
        periodic.register(
            "reports.review_reports_due", every=REVIEW_CHECK_PERIOD, func=reviews.generate_due
        )
