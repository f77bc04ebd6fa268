"""``changeflow ldap check [--user NAME]`` and ``changeflow ldap add NAME``: the organisation's
directory for operators (README, "Signing in with LDAP or Active Directory")."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts import directory, services
from changeflow.core.management.base import TranslatedCommand


class Command(TranslatedCommand):
    help_lazy = gettext_lazy("Check the directory (LDAP / Active Directory) and add its people.")

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        check = sub.add_parser(
            "check", help=_("connect, bind and search; show what the directory has for --user")
        )
        check.add_argument("--user", help=_("a user name to look up"))
        add = sub.add_parser(
            "add",
            help=_("create (or refresh) a changeflow user from the directory before they sign in"),
        )
        add.add_argument("username", help=_("the user name, as people sign in with it"))

    def handle(self, *args, action, **options):
        config = directory.configured()
        if not config:
            raise CommandError(_("the directory is not configured (set CHANGEFLOW_LDAP_URL)"))
        try:
            if action == "check":
                self._check(config, options.get("user"))
            else:
                self._add(config, options["username"])
        except directory.DirectoryError as exc:
            raise CommandError(exc.message) from None

    def _check(self, config: dict, username: str | None) -> None:
        with directory.Directory(config) as ldap:
            ldap.check_base()
            security = (
                "LDAPS" if config["url"].startswith("ldaps://")
                else "StartTLS" if config["start_tls"] else _("unencrypted")
            )  # fmt: skip
            self.stdout.write(_("Directory: %(url)s (%(security)s)") % {
                "url": config["url"], "security": security,
            })  # fmt: skip
            self.stdout.write(_("Bound as: %s") % (config["bind_dn"] or _("anonymous")))
            self.stdout.write(_("Search base: %s") % config["search_base"])
            self.stdout.write(_("User filter: %s") % config["user_filter"])
            if config["require_group"]:
                self.stdout.write(_("Required group: %s") % config["require_group"])
            if not username:
                return
            person = ldap.find(username)
            self.stdout.write(_("Entry: %s") % person.dn)
            self.stdout.write(_("Display name: %s") % (person.display_name or "-"))
            self.stdout.write(_("E-mail: %s") % (person.email or "-"))
            if config["require_group"]:
                member = ldap.in_group(person)
                answer = _("yes") if member else _("no")
                self.stdout.write(_("In the required group: %s") % answer)
                if not member:
                    raise CommandError(
                        _("%(user)s is not in the group %(group)s and cannot sign in")
                        % {"user": username, "group": config["require_group"]}
                    )

    def _add(self, config: dict, username: str) -> None:
        person = directory.lookup(config, username)
        # A refusal (a local account's name, a name changeflow cannot hold) is an
        # ApplicationError: the console script prints it on one line and exits 1.
        user, created = services.directory_user_sync(person=person)
        if created:
            done = _("Created user %(user)s from the directory (%(name)s, %(email)s).")
        else:
            done = _("User %(user)s is up to date with the directory (%(name)s, %(email)s).")
        self.stdout.write(done % {
            "user": user.username, "name": user.display_name or "-", "email": user.email or "-",
        })  # fmt: skip
