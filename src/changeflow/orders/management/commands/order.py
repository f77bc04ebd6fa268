"""``changeflow order list --project KEY [--state STATE] [--user NAME]``: a project's change
orders (the live revision of each), one a line: key, revision, state, CR, price, schedule
delta, valid until.

``changeflow order show KEY-CO<n> [--revision N] [--pdf FILE] [--user NAME]``: one order's
terms, its files' SHA-256 and its signature; ``--pdf FILE`` writes the PDF as issued (checked
against its SHA-256; ``-``: stdout). The acting user (``--user``, default: the project's first
project manager) sees what they may (customers: issued orders only).
"""

from __future__ import annotations

import re

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.core.management.base import TranslatedCommand, acting_user, write_output
from changeflow.orders import selectors
from changeflow.orders.models import OrderState

ORDER_KEY = re.compile(r"^([A-Za-z0-9]{2,10})-CO(\d{1,9})$", re.IGNORECASE)


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Change orders: list a project's, show one (and its PDF).")

    def add_arguments(self, parser) -> None:
        READER = _("who reads (default: the project's first project manager)")  # noqa: N806
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        ls = sub.add_parser("list", help=_("a project's change orders"))
        ls.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
        ls.add_argument("--state", choices=OrderState.values, help=_("only orders in this state"))
        ls.add_argument("--user", metavar="NAME", default=None, help=READER)
        show = sub.add_parser("show", help=_("one change order"))
        show.add_argument("order", metavar="KEY-CO<n>", help=_("the order's key, e.g. ACME-CO1"))
        show.add_argument(
            "--revision", type=int, metavar="N", help=_("a revision (default: the latest)")
        )
        show.add_argument("--pdf", metavar="FILE", help=_("write its PDF to FILE (- : stdout)"))
        show.add_argument("--user", metavar="NAME", default=None, help=READER)

    def _project(self, key: str, username: str | None):
        target = Project.objects.filter(key__iexact=key.strip()).first()
        if target is None:
            raise CommandError(_("unknown project '%s'") % key)
        user = acting_user(target, username)
        return user, account_selectors.project_get(user=user, key=target.key)

    def handle(self, *args, action: str, **options):
        if action == "list":
            user, project = self._project(options["project"], options.get("user"))
            for o in selectors.order_list(user=user, project=project, state=options.get("state")):
                valid = o.valid_until.isoformat() if o.valid_until else "-"
                self.stdout.write(
                    f"{o.key}\tr{o.revision}\t{o.state}\t{o.change_request.key}\t"
                    f"{o.amount} {o.currency}\t{o.schedule_delta_days:+d}d\t{valid}"
                )
            return
        match = ORDER_KEY.match(options["order"].strip())
        if match is None:
            raise CommandError(
                _("'%s' is not a change order's key such as ACME-CO1") % options["order"]
            )
        user, project = self._project(match.group(1), options.get("user"))
        order = selectors.order_get(
            user=user, project=project, number=int(match.group(2)), revision=options.get("revision")
        )
        pdf = options.get("pdf")
        if pdf:
            if write_output(pdf, selectors.order_file(order, "pdf")):
                self.stderr.write(_("written to %(file)s") % {"file": pdf})
            return
        rows = [
            (_("Order"), f"{order.key} r{order.revision}"),
            (_("State"), str(OrderState(order.state).label)),
            (_("Change request"), f"{order.change_request.key} {order.change_request.title}"),
            (_("Price"), f"{order.amount} {order.currency}"),
            (_("Schedule delta (days)"), str(order.schedule_delta_days)),
            (_("Valid until"), order.valid_until.isoformat() if order.valid_until else "-"),
        ]
        if order.issued_at:
            rows.append((_("Issued at"), f"{timezone.localtime(order.issued_at):%Y-%m-%d %H:%M}"))
            rows.append(("PDF SHA-256", order.pdf_sha256))
        if order.signed_at:
            rows += [
                (
                    _("Signed by"),
                    f"{order.signer_name} ({order.signed_by.username if order.signed_by else ''})",
                ),
                (_("Signed at"), f"{timezone.localtime(order.signed_at):%Y-%m-%d %H:%M}"),
                (_("Statement"), order.signature_statement),
            ]
        if order.declined_at:
            rows.append((_("Reason"), order.decline_reason))
        for label, value in rows:
            self.stdout.write(f"{label}: {value}")
