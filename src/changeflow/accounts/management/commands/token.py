"""``changeflow token create NAME``: print a new API token for a user, alone on stdout."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts import services
from changeflow.accounts.models import User
from changeflow.core.management.base import TranslatedCommand


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Manage API tokens.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        create = sub.add_parser("create", help=_("create a token and print it alone on stdout"))
        create.add_argument("name", help=_("the user the token signs in as"))
        create.add_argument(
            "--label", default="cli", help=_("what the token is for (shown in lists)")
        )

    def handle(self, *args, action, name, label, **options):
        user = User.objects.filter(username=name).first()
        if user is None:
            raise CommandError(_("no such user: %s") % name)
        if not user.is_active:
            raise CommandError(_("the user %s is deactivated") % name)
        token = services.token_create(user=user, name=label)
        # The token alone, so that `TOKEN=$(changeflow token create NAME)` just works.
        self.stdout.write(token)
