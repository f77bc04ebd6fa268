from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GuideConfig(AppConfig):
    name = "changeflow.guide"
    verbose_name = _("Process guide")
