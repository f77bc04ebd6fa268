"""``changeflow createuser NAME [--password P] [--email E] [--admin]``."""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts import services
from changeflow.core.management.base import TranslatedCommand


def _ask_password(stdin) -> str:
    """Prompt twice on the terminal; refuse when there is no terminal to ask on."""
    if stdin is None or not stdin.isatty():
        raise CommandError(
            _("no password given and no terminal to ask for one: pass --password"), returncode=2
        )
    try:
        first = getpass.getpass(_("Password: "))
        second = getpass.getpass(_("Password (again): "))
    except EOFError:
        raise CommandError(_("no password given"), returncode=2) from None
    if first != second:
        raise CommandError(_("the two passwords differ"))
    if not first:
        raise CommandError(_("the password is empty"))
    return first


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Create a user; a site administrator with --admin.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help=_("the user name to sign in with"))
        parser.add_argument(
            "--password",
            help=_("the password (asked on the terminal when not given)"),
        )
        parser.add_argument("--email", default="", help=_("e-mail address"))
        parser.add_argument("--display-name", default="", help=_("full name"))
        parser.add_argument("--admin", action="store_true", help=_("make a site administrator"))

    def handle(self, *args, name, password, email, display_name, admin, **options):
        if password is None:
            password = _ask_password(sys.stdin)
        user = services.user_create(
            username=name, password=password, email=email, display_name=display_name,
            admin=admin,
        )  # fmt: skip
        message = _("Created site administrator %s.") if admin else _("Created user %s.")
        self.stdout.write(message % user.username)
