import datetime as dt

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# How often the workers look for meetings to remind people of (each reminder is still recorded
# once per occurrence, however often this runs).
REMINDER_PERIOD = dt.timedelta(minutes=1)


class MeetingsConfig(AppConfig):
    name = "changeflow.meetings"
    verbose_name = _("Meetings")

    def ready(self) -> None:
        # A job of the workers' periodic registry ('changeflow meetings remind' does the same
        # job from cron).
        from changeflow.core import periodic

        from . import services

        periodic.register(
            "meetings.send_due_reminders", every=REMINDER_PERIOD, func=services.send_due_reminders
        )
