"""``changeflow backup FILE [--force]``: the whole site (data and media files) in one archive."""

from __future__ import annotations

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow import backup
from changeflow.core.management.base import TranslatedCommand


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Back up the database and the uploaded files into one archive.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", metavar="FILE", help=_("the archive to write (a .zip file)"))
        parser.add_argument("--force", action="store_true", help=_("replace FILE when it exists"))

    def handle(self, *args, file: str, force: bool = False, **options):
        summary = backup.backup(file, force=force)
        self.stdout.write(
            _("Backed up to %(file)s (%(size)s): rows %(rows)d, models %(models)d, "
              "files %(files)d")
            % {
                "file": summary.path,
                "rows": summary.rows,
                "models": len(summary.counts),
                "files": summary.files,
                "size": filesizeformat(summary.size),
            }
        )  # fmt: skip
