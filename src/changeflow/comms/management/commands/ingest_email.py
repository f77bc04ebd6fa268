"""``changeflow ingest-email FILE --project KEY``: one mail into a project (``-`` reads stdin)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Project
from changeflow.comms.models import QuarantinedMail
from changeflow.comms.services import mail_receive
from changeflow.core.management.base import TranslatedCommand, read_input


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Turn one e-mail into a change request or a comment on one.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", metavar="FILE", help=_("the mail (.eml); '-' reads stdin"))
        parser.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))

    def handle(self, *args, file: str, project: str, **options):
        target = Project.objects.filter(key__iexact=project.strip()).first()
        raw = read_input(file)
        if not raw.strip():
            raise CommandError(_("the mail is empty"))
        record = mail_receive(raw=raw, source="cli", project=target, project_hint=project.strip())
        if isinstance(record, QuarantinedMail):
            # Kept, never lost: the managers (site admins for an unknown project) see it.
            raise CommandError(
                _("%(reason)s: the mail is kept in quarantine as #%(id)d")
                % {"reason": record.reason, "id": record.pk}
            )
        labels = {
            "created": _("created"),
            "commented": _("commented"),
            "ignored": _("ignored"),
        }
        line = labels.get(record.outcome, record.outcome)
        if record.change_request is not None:
            line += " " + record.change_request.key
        if record.reason:
            line += " (" + " ".join(record.reason.split()) + ")"
        self.stdout.write(line)
