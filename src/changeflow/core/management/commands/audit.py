"""``changeflow audit verify``: walk the hash chain; exit 0 when intact, 1 when broken."""

from __future__ import annotations

import json

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core import audit
from changeflow.core.management.base import TranslatedCommand, audit_broken, audit_intact


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Audit log tools.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        verify = sub.add_parser(
            "verify", help=_("check every event of the hash chain, oldest first")
        )
        verify.add_argument(
            "--json", action="store_true", dest="as_json",
            help=_("print the result as JSON"),
        )  # fmt: skip

    def handle(self, *args, action, as_json: bool = False, **options):
        result = audit.verify()
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
        elif result.ok:
            self.stdout.write(audit_intact(result))
        if not result.ok:
            # CommandError: the CLI prints it as one line on stderr and exits 1.
            raise audit_broken(result)
