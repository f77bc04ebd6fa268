"""``changeflow restore FILE``: a backup into this site's empty database, then the audit check."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow import backup
from changeflow.core.management.base import TranslatedCommand, audit_broken, audit_intact


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Restore a backup into an empty database.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", metavar="FILE", help=_("the archive 'changeflow backup' wrote"))

    def handle(self, *args, file: str, verbosity: int = 1, **options):
        summary = backup.restore(file)
        manifest = summary.manifest
        if summary.migrated:
            self.stdout.write(_("The database was migrated first."))
        self.stdout.write(
            _("Restored %(file)s (made %(when)s by changeflow %(version)s on %(vendor)s): "
              "rows %(rows)d, models %(models)d, files %(files)d")
            % {
                "file": summary.path,
                "when": manifest.get("created_at", "?"),
                "version": manifest.get("changeflow_version", "?"),
                "vendor": manifest.get("database_vendor", "?"),
                "rows": summary.rows,
                "models": len(summary.counts),
                "files": summary.files,
            }
        )  # fmt: skip
        if verbosity > 1:
            for label, count in summary.counts.items():
                self.stdout.write("  %-44s %d" % (label, count))
        if summary.key_differs:
            self.stderr.write(
                _("warning: this site's secret key is not the one the backup was made with: "
                  "stored secrets (mailbox passwords, webhook secrets) that cannot be decrypted: "
                  "%(count)d. Set CHANGEFLOW_SECRET_KEY to the old site's key (or copy its "
                  "secret_key file into CHANGEFLOW_HOME), or have the project managers enter "
                  "those passwords and secrets again.")
                % {"count": summary.unreadable_secrets}
            )  # fmt: skip
        assert summary.audit is not None  # restore() always verifies
        if not summary.audit.ok:
            raise audit_broken(summary.audit)
        self.stdout.write(audit_intact(summary.audit))
