"""``changeflow cr assign KEY USER`` / ``changeflow cr unassign KEY``: set or clear a change
request's assignee, through ``change_request_update`` like the API (team members only,
audited on the ``cli`` channel, the new assignee notified).

``changeflow cr bulk KEY... --assign USER | --unassign | --priority P | --type T | --add-label L |
--remove-label L | --action A [--comment C]``: one change to many change requests, all or
nothing (``changes.bulk``); a refusal names each refused CR on one line, nothing changed.

``changeflow cr import FILE --project KEY`` / ``cr export FILE --project KEY``: change requests
from CSV, XLSX, Jira's CSV or JSON (all or nothing; ``--dry-run`` writes nothing) and to CSV or
XLSX (``changes.io``). The import runs here whatever the file's size (the web and the API
import large files in the background); a progress line goes to stderr when it is a terminal.

``changeflow cr link KEY KIND OTHER [--note TEXT]`` / ``cr unlink KEY OTHER`` / ``cr links KEY``:
link two change requests (``duplicates``, ``relates_to``, ``depends_on``, ``replaces``), remove
the link between them, list a CR's links both ways (``changes.links``, as the API)."""

from __future__ import annotations

import sys

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from changeflow.accounts.models import Project, User
from changeflow.changes import bulk, links, services
from changeflow.changes import io as cr_io
from changeflow.changes.models import ChangeRequest, LinkKind
from changeflow.core.management.base import (
    TranslatedCommand,
    acting_user,
    read_input,
    write_output,
)
from changeflow.requirements.management.commands.requirements import Progress


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
        link = sub.add_parser("link", help=_("link a change request to another"))
        link.add_argument("key", metavar="KEY", help=_("the change request, e.g. ACME-12"))
        link.add_argument("kind", metavar="KIND", choices=LinkKind.values,
                          help=_("one of: %s") % ", ".join(LinkKind.values))  # fmt: skip
        link.add_argument("other", metavar="OTHER", help=_("the other change request, e.g. ACME-7"))
        link.add_argument("--note", default="", help=_("why they are linked"))
        unlink = sub.add_parser("unlink", help=_("remove the link between two change requests"))
        unlink.add_argument("key", metavar="KEY", help=_("the change request, e.g. ACME-12"))
        unlink.add_argument("other", metavar="OTHER", help=_("the other change request"))
        listing = sub.add_parser("links", help=_("list a change request's links"))
        listing.add_argument("key", metavar="KEY", help=_("the change request, e.g. ACME-12"))
        imp = sub.add_parser("import", help=_("import change requests from a file, all or nothing"))
        exp = sub.add_parser("export", help=_("export a project's change requests to a file"))
        for p, formats in ((imp, cr_io.FORMATS), (exp, cr_io.EXPORT_FORMATS)):
            p.add_argument("file", metavar="FILE", help=_("the file; '-' is stdin/stdout"))
            p.add_argument("--project", required=True, metavar="KEY", help=_("the project's key"))
            p.add_argument(
                "--format", choices=formats, default=None,
                help=_("default: from the file's extension"),
            )  # fmt: skip
        imp.add_argument(
            "--dry-run", action="store_true", help=_("report what would be created; write nothing")
        )
        imp.add_argument(
            "--submit", action="store_true",
            help=_("submit the new change requests (the team is notified); default: drafts"),
        )  # fmt: skip
        many = sub.add_parser("bulk", help=_("change many change requests at once, all or nothing"))
        many.add_argument("keys", metavar="KEY", nargs="+", help=_("the change requests"))
        what = many.add_mutually_exclusive_group(required=True)
        what.add_argument("--assign", metavar="USER", help=_("assign them to a team member"))
        what.add_argument("--unassign", action="store_true", help=_("clear their assignee"))
        what.add_argument("--priority", metavar="P", help=_("set their priority (P1…P4)"))
        what.add_argument("--type", metavar="T", help=_("set their type"))
        what.add_argument("--add-label", metavar="L", help=_("add a label"))
        what.add_argument("--remove-label", metavar="L", help=_("remove a label"))
        what.add_argument(
            "--action",
            dest="workflow_action",
            metavar="A",
            help=_("take a workflow action (triage, …)"),
        )
        many.add_argument("--comment", default="", help=_("the comment that goes with --action"))
        for p in (assign, unassign, link, unlink, listing, imp, exp, many):
            p.add_argument(
                "--user", "--as", dest="user", metavar="NAME", default=None,
                help=_("who does it (default: the project's first project manager)"),
            )  # fmt: skip

    def handle(self, *args, action: str, **options):
        if action in ("import", "export"):
            project = Project.objects.filter(key__iexact=options["project"].strip()).first()
            if project is None:
                raise CommandError(_("unknown project '%s'") % options["project"])
            user = acting_user(project, options.get("user"))
            if action == "export":
                return self._export(user, project, options["file"], options.get("format"))
            return self._import(user, project, options["file"], options)
        if action == "bulk":
            return self._bulk(options)
        key = options["key"]
        cr = ChangeRequest.objects.select_related("project").filter(key__iexact=key.strip()).first()
        if cr is None:
            raise CommandError(_("unknown change request '%s'") % key)
        actor = acting_user(cr.project, options.get("user"))
        if action in ("link", "unlink", "links"):
            return self._links(actor, cr, action, options)
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

    def _bulk(self, options) -> None:
        first = options["keys"][0].strip()
        cr = ChangeRequest.objects.select_related("project").filter(key__iexact=first).first()
        if cr is None:
            raise CommandError(_("unknown change request '%s'") % first)
        actor = acting_user(cr.project, options.get("user"))
        chosen = {
            bulk.ASSIGN: options.get("assign"),
            bulk.UNASSIGN: options.get("unassign"),
            bulk.PRIORITY: options.get("priority"),
            bulk.TYPE: options.get("type"),
            bulk.ADD_LABEL: options.get("add_label"),
            bulk.REMOVE_LABEL: options.get("remove_label"),
            bulk.ACTION: options.get("workflow_action"),
        }
        kind = next(k for k, v in chosen.items() if v not in (None, False))
        field = {bulk.ASSIGN: "assignee", bulk.ADD_LABEL: "label", bulk.REMOVE_LABEL: "label"}
        data = {"operation": kind, field.get(kind, kind): chosen[kind],
                "comment": options.get("comment") or ""}  # fmt: skip
        changed = bulk.change_request_bulk(
            user=actor, keys=options["keys"], operation=bulk.BulkOperation.parse(data)
        )
        for c in changed:
            self.stdout.write(f"{c.key}\tv{c.version}")
        self.stdout.write(
            ngettext("%(count)d change request updated", "%(count)d change requests updated",
                     len(changed)) % {"count": len(changed)}
        )  # fmt: skip

    def _links(self, actor, cr: ChangeRequest, action: str, options) -> None:
        if action == "link":
            made = links.link_create(
                user=actor, cr=cr, kind=options["kind"], target=options["other"],
                note=options.get("note") or "",
            )  # fmt: skip
            self.stdout.write(f"{cr.key} {links.label(made.kind, 'out')} {made.to_cr.key}")
            return
        rows = links.link_list(user=actor, cr=cr)
        if action == "links":
            for r in rows:
                note = f"  ({r.note})" if r.note else ""
                self.stdout.write(
                    f"{r.id}\t{r.label}\t{r.other_key}\t{r.other_state}\t{r.other_title}{note}"
                )
            return
        other = options["other"].strip().upper()
        row = next((r for r in rows if r.other_key == other), None)
        if row is None:
            raise CommandError(
                _("%(key)s has no link to %(other)s") % {"key": cr.key, "other": other}
            )
        links.link_delete(user=actor, link=links.link_get(user=actor, cr=cr, pk=row.id))
        self.stdout.write(_("removed: %(a)s %(label)s %(b)s")
                          % {"a": cr.key, "label": row.label, "b": other})  # fmt: skip

    def _export(self, user, project, file: str, fmt: str | None) -> None:
        if fmt is None:
            if file == "-":
                raise CommandError(_("name the format with --format when writing to stdout"))
            fmt = file.rsplit(".", 1)[-1].lower() if "." in file else ""
            if fmt not in cr_io.EXPORT_FORMATS:
                raise CommandError(_("name the file .csv or .xlsx, or give --format"))
        content, _type, _name = cr_io.change_requests_export(user=user, project=project, fmt=fmt)
        if write_output(file, content):
            self.stdout.write(_("exported to %(file)s") % {"file": file})

    def _import(self, user, project, file: str, options) -> None:
        fmt = options.get("format")
        if file == "-" and fmt is None:
            raise CommandError(_("name the format with --format when reading stdin"))
        raw = read_input(file)
        parsed = cr_io.parse(raw, filename=file, fmt=fmt)
        # In this process, however large (the operator's tool): a progress line on a terminal.
        progress = Progress(sys.stderr)
        try:
            report = cr_io.change_requests_import(
                user=user, project=project, parsed=parsed, dry_run=options.get("dry_run", False),
                submit=options.get("submit", False), filename=file, progress=progress,
            )  # fmt: skip
        finally:
            progress.done()
        for warning in report["warnings"]:
            self.stderr.write(_("warning: %s") % warning)
        labels = {"created": _("would create") if report["dry_run"] else _("created"),
                  "skipped": _("skipped (already imported)")}  # fmt: skip
        for item in report["items"]:
            self.stdout.write(
                f"{labels[item['action']]} {item['key']} [{item['where']}] {item['title']}"
            )
        summary = _("%(created)d created, %(skipped)d skipped") % report
        if report["dry_run"]:
            summary = _("dry run, nothing written: %s") % summary
        self.stdout.write(summary)
