import datetime as dt

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# How often the workers look for improvement actions past or near their due date (each is
# still announced once per due date, however often this runs).
DUE_CHECK_PERIOD = dt.timedelta(hours=1)


class ReportsConfig(AppConfig):
    name = "changeflow.reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from changeflow.core import periodic

        from . import actions

        periodic.register(
            "reports.improvements_due", every=DUE_CHECK_PERIOD, func=actions.check_due
        )
