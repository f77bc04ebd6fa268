from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrTemplatesConfig(AppConfig):
    name = "changeflow.crtemplates"
    verbose_name = _("Change request templates")
