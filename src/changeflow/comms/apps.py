from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommsConfig(AppConfig):
    name = "changeflow.comms"
    verbose_name = _("Communication")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .tasks import register_periodic_jobs

        register_periodic_jobs()
