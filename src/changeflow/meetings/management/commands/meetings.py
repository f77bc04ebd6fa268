"""``changeflow meetings remind``: record the reminders of meetings that start soon."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core.management.base import TranslatedCommand
from changeflow.meetings import services


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Meeting tools.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        sub.add_parser(
            "remind",
            help=_("record a reminder for each meeting starting within its lead time (once)"),
        )

    def handle(self, *args, action: str, **options):
        count = services.send_due_reminders()
        self.stdout.write(_("%d meeting reminders recorded.") % count)
