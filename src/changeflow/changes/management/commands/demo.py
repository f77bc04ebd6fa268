"""``changeflow demo``: load the demo project (idempotent)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow import demo
from changeflow.accounts.models import Project
from changeflow.core.management.base import TranslatedCommand


class Command(TranslatedCommand):
    help_lazy = gettext_lazy(
        "Load the demo project ACME (华东电商平台) with a user per role and a change request "
        "in every state. Does nothing when it exists."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=_("load it only when the database has no project at all"),
        )

    def handle(self, *args, if_empty: bool = False, **options):
        others = Project.objects.exclude(key=demo.PROJECT_KEY).exists()
        if if_empty and others and not Project.objects.filter(key=demo.PROJECT_KEY).exists():
            self.stdout.write(_("Projects exist already: the demo is not loaded."))
            return
        result = demo.load()
        if not result.created:
            self.stdout.write(
                _("The demo project %s exists already; nothing to do.") % demo.PROJECT_KEY
            )
            path = demo.credentials_path()
            if path.exists():
                self.stdout.write(
                    _("Sign in as admin (or any demo user); the passwords are in %s") % path
                )
            return
        project = result.project
        assert project is not None  # made when created
        self.stdout.write(
            _("Loaded the demo project %(key)s — %(name)s: %(crs)d change requests.")
            % {
                "key": project.key,
                "name": project.name,
                # all of them: the ones in every state and the closed history behind them
                "crs": project.change_requests.count(),
            }
        )
        self.stdout.write("")
        self.stdout.write(f"  {_('user'):<10} {_('role'):<16} {_('password')}")
        for username, role, password in result.credentials:
            self.stdout.write(f"  {username:<10} {role:<16} {password}")
        self.stdout.write("")
        self.stdout.write(
            _("These passwords are also in %s (readable only by you).") % result.credentials_path
        )
