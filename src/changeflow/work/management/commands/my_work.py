"""``changeflow my-work --user NAME [--json]``: what waits on NAME across their projects, the
sections of the "My work" page (``--json``: the API's ``GET /api/v1/me/work/`` body).

Each section prints its title and its items, one a line: key, project, due date (``!`` when
overdue), title, what is asked. Sections with nothing are left out.
"""

from __future__ import annotations

import json

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.utils.encoders import JSONEncoder

from changeflow.accounts.models import User
from changeflow.core.management.base import TranslatedCommand
from changeflow.work import selectors
from changeflow.work.serializers import as_data


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("What waits on a user across their projects (My work).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, metavar="NAME", help=_("whose work"))
        parser.add_argument("--json", action="store_true", help=_("print the API's JSON body"))

    def handle(self, *args, user: str, json: bool = False, **options) -> None:
        who = User.objects.filter(username=user, is_active=True).first()
        if who is None:
            raise CommandError(_("unknown user '%s'") % user)
        sections = selectors.my_work(user=who)
        if json:
            self.stdout.write(_dumps(as_data(sections)))
            return
        shown = [s for s in sections if s.items]
        if not shown:
            self.stdout.write(_("Nothing waits on %(user)s.") % {"user": who.username})
            return
        for n, section in enumerate(shown):
            if n:
                self.stdout.write("")
            self.stdout.write(f"{section.title} ({section.count})")
            for item in section.items:
                due = item.due.isoformat() if item.due else "-"
                mark = "!" if item.overdue else ""
                self.stdout.write(
                    f"  {item.key or '-'}\t{item.project}\t{due}{mark}\t{item.title}\t{item.detail}"
                )
            if section.more:
                self.stdout.write("  " + _("… and %(n)d more") % {"n": section.more})


def _dumps(data) -> str:
    return json.dumps(data, cls=JSONEncoder, ensure_ascii=False, indent=2)
