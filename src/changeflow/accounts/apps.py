from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "changeflow.accounts"
    label = "accounts"
    verbose_name = _("Accounts and projects")

    def ready(self) -> None:
        from django.contrib.auth import signals

        from . import receivers

        signals.user_logged_in.connect(receivers.on_logged_in, dispatch_uid="accounts.audit")
        signals.user_login_failed.connect(receivers.on_login_failed, dispatch_uid="accounts.audit")
        signals.user_logged_out.connect(receivers.on_logged_out, dispatch_uid="accounts.audit")
