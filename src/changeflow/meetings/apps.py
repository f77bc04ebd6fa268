from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeetingsConfig(AppConfig):
    name = "changeflow.meetings"
    verbose_name = _("Meetings")
