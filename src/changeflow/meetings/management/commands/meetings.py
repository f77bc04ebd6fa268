"""``changeflow meetings remind``: record the reminders of meetings that start soon."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from changeflow.meetings import services


class Command(BaseCommand):
    @property
    def help(self) -> str:  # translated when asked, in the active language
        return _("Meeting tools.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        sub.add_parser(
            "remind",
            help=_("record a reminder for each meeting starting within its lead time (once)"),
        )

    def handle(self, *args, action: str, **options):
        count = services.send_due_reminders()
        self.stdout.write(_("%d meeting reminders recorded.") % count)
