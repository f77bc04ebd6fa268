import datetime as dt
import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# How often the workers look for meetings to remind people of (each reminder is still recorded
# once per occurrence, however often this runs).
REMINDER_PERIOD = dt.timedelta(minutes=1)


class MeetingsConfig(AppConfig):
    name = "changeflow.meetings"
    verbose_name = _("Meetings")

    def ready(self) -> None:
        # The background worker's periodic registry, when the installed version has it
        # ('changeflow meetings remind' does the same job from cron otherwise).
        try:
            from changeflow.core import periodic
        except ImportError:
            return
        from . import services

        try:
            periodic.register(
                "meetings.send_due_reminders", every=REMINDER_PERIOD,
                func=services.send_due_reminders,
            )  # fmt: skip
        except (TypeError, ValueError):  # another registry API: say so, keep the app running
            logging.getLogger(__name__).warning(
                "meeting reminders not registered as a periodic job; run "
                "'changeflow meetings remind' from cron instead"
            )
