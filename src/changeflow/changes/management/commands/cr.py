"""``changeflow cr assign KEY USER`` / ``changeflow cr unassign KEY``: set or clear a change
request's assignee, through ``change_request_update`` like the API (team members only,
audited on the ``cli`` channel, the new assignee notified)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import User
from changeflow.changes import services
from changeflow.changes.models import ChangeRequest
from changeflow.core.management.base import TranslatedCommand, acting_user


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Work on change requests from the command line.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        assign = sub.add_parser("assign", help=_("set a change request's assignee"))
        assign.add_argument("key", metavar="KEY", help=_("the change request, e.g. ACME-12"))
        assign.add_argument(
            "assignee", metavar="USER", help=_("a member of the project's team (not a viewer "
                                               "or customer)"),
        )  # fmt: skip
        unassign = sub.add_parser("unassign", help=_("clear a change request's assignee"))
        unassign.add_argument("key", metavar="KEY", help=_("the change request, e.g. ACME-12"))
        for p in (assign, unassign):
            p.add_argument(
                "--user", "--as", dest="user", metavar="NAME", default=None,
                help=_("who does it (default: the project's first project manager)"),
            )  # fmt: skip

    def handle(self, *args, action: str, key: str, **options):
        cr = ChangeRequest.objects.select_related("project").filter(key__iexact=key.strip()).first()
        if cr is None:
            raise CommandError(_("unknown change request '%s'") % key)
        actor = acting_user(cr.project, options.get("user"))
        name = (options.get("assignee") or "").strip() if action == "assign" else ""
        if action == "assign":  # a blank name is a mistake, not an unassign
            target = User.objects.filter(username=name).first() if name else None
            if target is None:
                raise CommandError(_("unknown user '%s'") % name)
            if not target.is_active:
                raise CommandError(_("the user %s is deactivated") % name)
        cr = services.change_request_update(user=actor, cr=cr, data={"assignee": name or None})
        if name:
            self.stdout.write(_("%(key)s assigned to %(user)s") % {"key": cr.key, "user": name})
        else:
            self.stdout.write(_("%s has no assignee now") % cr.key)
