"""``changeflow process export --project KEY [-o FILE]``: the project's process as a JSON
process document (stdout unless ``-o`` names a file).

``changeflow process apply --project KEY (--template NAME | --preset NAME | FILE) [--parts
board,delegation,...] [--dry-run] [--user NAME]``: apply a saved template, a preset or a
document (``-`` reads stdin) to the project, through the same service as the page and the API
(all parts or none); prints what each part changes, and ``--dry-run`` only that.

``changeflow process list``: the presets and the saved templates, one a line.

Who acts is ``--user`` (default: the project's first project manager); the services check what
they may do. Errors: one line on stderr, exit 1 (2 for bad usage).
"""

from __future__ import annotations

import json

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Project, User
from changeflow.core.management.base import (
    TranslatedCommand,
    acting_user,
    read_input,
    write_output,
)
from changeflow.processes import definitions, presets, selectors, services


def _project(key: str) -> Project:
    project = Project.objects.filter(key__iexact=key.strip()).first()
    if project is None:
        raise CommandError(_("unknown project '%s'") % key)
    return project


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Process templates: export a project's process, apply one, list.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        e = sub.add_parser("export", help=_("a project's process as a JSON document"))
        e.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
        e.add_argument("-o", "--output", metavar="FILE", help=_("write to FILE instead of stdout"))
        e.add_argument("--user", metavar="NAME", help=_("who reads it (default: its first PM)"))

        a = sub.add_parser("apply", help=_("apply a template, a preset or a document"))
        a.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
        source = a.add_mutually_exclusive_group(required=True)
        source.add_argument("--template", metavar="NAME", help=_("a saved template's name"))
        source.add_argument("--preset", choices=list(presets.BY_SLUG), help=_("a preset"))
        source.add_argument("file", nargs="?", metavar="FILE",
                            help=_("a process document (JSON; - reads stdin)"))  # fmt: skip
        a.add_argument(
            "--parts", metavar="PARTS",
            help=_("comma-separated parts (default: all the template holds): %s")
            % ",".join(definitions.PARTS),
        )  # fmt: skip
        a.add_argument("--dry-run", action="store_true", help=_("only show what would change"))
        a.add_argument("--user", metavar="NAME", help=_("who applies it (default: its first PM)"))

        li = sub.add_parser("list", help=_("the presets and the saved templates"))
        li.add_argument("--user", metavar="NAME", help=_("who reads them (default: a site admin)"))

    def handle(self, *args, action: str, **options):
        if action == "list":
            self.list(options.get("user"))
            return
        project = _project(options["project"])
        user = acting_user(project, options.get("user"))
        selectors.require_process_manager(user, project)
        if action == "export":
            document = services.process_of(project)
            content = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()
            if write_output(options.get("output"), content):
                self.stderr.write(_("written to %(file)s") % {"file": options["output"]})
            return
        self.apply(user, project, options)

    def list(self, username: str | None) -> None:
        for preset in presets.PRESETS:
            self.stdout.write(f"preset\t{preset.slug}\t{preset.name}")
        users = User.objects.filter(is_active=True)
        reader = (
            users.filter(username=username).first()
            if username
            else users.filter(is_superuser=True).order_by("pk").first()
        )
        if username and reader is None:
            raise CommandError(_("unknown user '%s'") % username)
        if reader is None:
            return
        for template in selectors.template_list(user=reader):
            parts = ",".join(definitions.parts_of(template.document))
            self.stdout.write(f"template\t{template.name}\t{parts}")

    def apply(self, user: User, project: Project, options: dict) -> None:
        document = None
        if options.get("file"):
            raw = read_input(options["file"])
            try:
                document = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise CommandError(
                    _("%(file)s is not JSON: %(why)s") % {"file": options["file"], "why": exc}
                ) from None
        source = services.source_of(
            user=user, template=options.get("template"), preset=options.get("preset"),
            document=document,
        )  # fmt: skip
        result = services.process_apply(
            user=user, project=project, source=source, parts=options.get("parts"),
            dry_run=options["dry_run"],
        )  # fmt: skip
        for part in result["parts"]:
            mark = "" if part["selected"] else " " + _("(not chosen)")
            self.stdout.write(f"{part['part']}: {part['status']}{mark}")
            for change in part["changes"]:
                self.stdout.write(f"  {change['field']}: {change['current']} → {change['new']}")
            for line in part["notes"] + part["problems"]:
                self.stdout.write(f"  ! {line}")
        if result["applied"]:
            self.stdout.write(_("applied: %s") % ", ".join(result["applied_parts"]))
