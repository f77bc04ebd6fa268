from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CcbConfig(AppConfig):
    name = "changeflow.ccb"
    label = "ccb"
    verbose_name = _("Change Control Board")
