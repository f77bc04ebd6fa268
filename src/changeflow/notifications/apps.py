from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "changeflow.notifications"
    label = "notifications"
    verbose_name = _("Notifications and webhooks")

    def ready(self) -> None:
        from changeflow.core.signals import audit_recorded

        from . import receivers

        audit_recorded.connect(receivers.on_audit_recorded, dispatch_uid="notifications")
        receivers.register_periodic()
