"""``changeflow audit verify``: walk the hash chain; exit 0 when intact, 1 when broken."""

from __future__ import annotations

import json

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core import audit
from changeflow.core.management.base import TranslatedCommand


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
            self.stdout.write(
                _("Audit chain intact: %(events)d events, head %(head)s")
                % {"events": result.events, "head": result.head}
            )
        if result.ok:
            return
        # CommandError: the CLI prints it as one line on stderr and exits 1.
        raise CommandError(
            _(
                "audit chain broken at event #%(seq)s (id %(id)s): %(reason)s; "
                "%(good)d events before it verified, last good hash %(head)s"
            )
            % {
                "seq": result.broken_seq,
                "id": result.broken_id if result.broken_id is not None else "-",
                "reason": result.reason,
                "good": max(0, result.events - 1)
                if result.broken_id is not None
                else result.events,
                "head": result.head,
            }
        )
