"""The organisation's directory, OpenLDAP or Active Directory (``settings.CHANGEFLOW_LDAP``).

Search, then bind: the service account (or an anonymous connection) finds the one entry the
user filter matches under the search base, then the password is checked by binding as that
entry, and membership of the required group is asked of the group's own entry. Nothing is
written to the directory; nothing of it is cached.

Two kinds of failure, never mixed up: ``Refused`` (the directory answered: no such person,
wrong password, outside the group) and ``Unavailable`` (it did not: unreachable, timed out, the
service account refused, a certificate not trusted). Their messages name the cause, for the log
of a sign-in (accounts.backends) and for the operator's commands.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _


class DirectoryError(Exception):
    """The directory did not let this person in; ``reason`` is a short code for the audit."""

    reason = "error"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class Refused(DirectoryError):
    """The directory answered no: ``not_found``, ``ambiguous``, ``wrong_password`` or
    ``not_in_group``."""


class Unavailable(DirectoryError):
    """The directory cannot answer now (down, timed out, refused the service account...)."""

    reason = "unavailable"


@dataclass(frozen=True)
class Person:
    """A directory entry, as changeflow uses it."""

    dn: str
    username: str
    display_name: str
    email: str


def unavailable_message() -> str:
    """What a person signing in is told when the directory cannot be asked."""
    return _(
        "The organisation's directory (LDAP) cannot be reached, so directory accounts cannot "
        "sign in right now; try again later or tell your site administrator."
    )


def configured() -> dict | None:
    """The directory's settings, or None when signing in with it is off."""
    return getattr(settings, "CHANGEFLOW_LDAP", None)


def manages_password_of(user) -> bool:
    """Whether ``user``'s password is the directory's: a directory user while it is on (with it
    off, a site admin may give them a local password: ``changeflow changepassword``)."""
    return bool(user.directory_dn) and configured() is not None


def _first(entry: dict[str, Any], attribute: str) -> str:
    value = entry.get("attributes", {}).get(attribute)
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value or "").strip()


class Directory:
    """One conversation with the directory: use it as a context manager."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self._connection: Any = None

    # -------------------------------------------------------------- connections

    def _server(self):
        import ldap3

        tls = None
        if self.config["url"].startswith("ldaps://") or self.config["start_tls"]:
            # Always verified: against the CA file when one is given, else the system's CAs.
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED,
                version=ssl.PROTOCOL_TLS_CLIENT,
                ca_certs_file=self.config["ca_file"] or None,
            )
        return ldap3.Server(
            self.config["url"],
            get_info=ldap3.NONE,
            tls=tls,
            connect_timeout=self.config["timeout"],
        )

    def _open(self, user: str | None, password: str | None):
        """A bound connection; raises ldap3's exceptions."""
        import ldap3

        connection = ldap3.Connection(
            self._server(),
            user=user,
            password=password,
            authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
            raise_exceptions=True,
            receive_timeout=self.config["timeout"],
            auto_referrals=False,
            read_only=True,
        )
        try:
            connection.open(read_server_info=False)
            if self.config["start_tls"]:
                connection.start_tls(read_server_info=False)
            connection.bind(read_server_info=False)
        except BaseException:
            _close(connection)
            raise
        return connection

    def __enter__(self) -> Directory:
        from ldap3.core.exceptions import LDAPException, LDAPInvalidCredentialsResult

        config = self.config
        try:
            self._connection = self._open(config["bind_dn"] or None, config["bind_password"])
        except LDAPInvalidCredentialsResult:
            raise Unavailable(
                _("the directory refuses the service account %s (check CHANGEFLOW_LDAP_BIND_DN "
                  "and CHANGEFLOW_LDAP_BIND_PASSWORD)") % config["bind_dn"]
            ) from None  # fmt: skip
        except (LDAPException, OSError) as exc:
            raise Unavailable(
                _("the directory at %(url)s cannot be reached: %(why)s")
                % {"url": config["url"], "why": _why(exc)}
            ) from None
        return self

    def __exit__(self, *exc_info) -> None:
        if self._connection is not None:
            _close(self._connection)
            self._connection = None

    # -------------------------------------------------------------- questions

    def _search(self, base: str, search_filter: str, scope: str, attributes: list[str]) -> list:
        from ldap3.core.exceptions import LDAPException, LDAPNoSuchObjectResult

        try:
            self._connection.search(
                base, search_filter, search_scope=scope, attributes=attributes, size_limit=2
            )
        except LDAPNoSuchObjectResult:
            return []
        except (LDAPException, OSError) as exc:
            raise Unavailable(
                _("the directory failed a search under %(base)s: %(why)s")
                % {"base": base, "why": _why(exc)}
            ) from None
        return [e for e in self._connection.response if e.get("type") == "searchResEntry"]

    def check_base(self) -> None:
        """The search base exists and the connection may read it."""
        import ldap3

        base = self.config["search_base"]
        if not self._search(base, "(objectClass=*)", ldap3.BASE, ["1.1"]):
            raise Unavailable(
                _("the search base %s does not exist or this account cannot read it "
                  "(check CHANGEFLOW_LDAP_SEARCH_BASE)") % base
            )  # fmt: skip
        group = self.config["require_group"]
        if group and not self._search(group, "(objectClass=*)", ldap3.BASE, ["1.1"]):
            raise Unavailable(
                _("the group %s does not exist or this account cannot read it "
                  "(check CHANGEFLOW_LDAP_REQUIRE_GROUP)") % group
            )  # fmt: skip

    def find(self, username: str) -> Person:
        """The one entry for ``username``; refuses when there is none, or more than one."""
        import ldap3
        from ldap3.utils.conv import escape_filter_chars

        config = self.config
        search_filter = config["user_filter"].replace("{username}", escape_filter_chars(username))
        name_attribute, email_attribute = config["name_attribute"], config["email_attribute"]
        entries = self._search(
            config["search_base"],
            search_filter,
            ldap3.SUBTREE,
            [name_attribute, email_attribute, "cn"],
        )
        if not entries:
            raise Refused(
                _("%s is not in the directory (or not under the search base)") % username,
                "not_found",
            )
        if len(entries) > 1:
            raise Refused(
                _("%s matches more than one directory entry (check CHANGEFLOW_LDAP_USER_FILTER)")
                % username,
                "ambiguous",
            )
        entry = entries[0]
        return Person(
            dn=entry["dn"],
            username=username,
            display_name=_first(entry, name_attribute) or _first(entry, "cn"),
            email=_first(entry, email_attribute),
        )

    def in_group(self, person: Person) -> bool:
        """Whether ``person`` is a direct member of the required group (True when none is
        required): groupOfNames and AD groups (member), groupOfUniqueNames (uniqueMember),
        posixGroup (memberUid)."""
        import ldap3
        from ldap3.utils.conv import escape_filter_chars

        group = self.config["require_group"]
        if not group:
            return True
        dn, uid = escape_filter_chars(person.dn), escape_filter_chars(person.username)
        member = "(|(member=%s)(uniqueMember=%s)(memberUid=%s))" % (dn, dn, uid)
        if self._search(group, member, ldap3.BASE, ["1.1"]):
            return True
        if not self._search(group, "(objectClass=*)", ldap3.BASE, ["1.1"]):
            raise Unavailable(
                _("the group %s does not exist or this account cannot read it "
                  "(check CHANGEFLOW_LDAP_REQUIRE_GROUP)") % group
            )  # fmt: skip
        return False

    def member(self, username: str) -> Person:
        """The person for ``username``, refused when outside the required group."""
        person = self.find(username)
        if not self.in_group(person):
            raise Refused(
                _("%(user)s is not in the group %(group)s")
                % {"user": username, "group": self.config["require_group"]},
                "not_in_group",
            )
        return person

    def check_password(self, person: Person, password: str) -> None:
        """Bind as the person's entry; refuses a wrong password."""
        from ldap3.core.exceptions import LDAPException, LDAPInvalidCredentialsResult

        if not password:  # an empty password would be an unauthenticated bind: it "succeeds"
            raise Refused(_("The password is empty."), "wrong_password")
        try:
            _close(self._open(person.dn, password))
        except LDAPInvalidCredentialsResult:
            raise Refused(_("wrong password for %s") % person.username, "wrong_password") from None
        except (LDAPException, OSError) as exc:
            raise Unavailable(
                _("the directory failed to check the password of %(dn)s: %(why)s")
                % {"dn": person.dn, "why": _why(exc)}
            ) from None


def _close(connection) -> None:
    """Unbind, whatever state the connection is in (a broken socket included)."""
    from ldap3.core.exceptions import LDAPException

    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()


def _why(exc: BaseException) -> str:
    """ldap3's error in one readable line: it wraps the socket's own error in tuples of reprs,
    ``("('socket ssl wrapping error: [SSL: ...] ... (_ssl.c:1020)',)",)``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if text.startswith("("):
        text = re.sub(r"^[(\"', ]+|[\"', )]+$", "", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)?$", "", text)
    return text[:300]


def authenticate(config: dict, username: str, password: str) -> Person:
    """The person, when the directory knows ``username`` with this ``password`` and they are
    in the required group. Raises ``Refused`` or ``Unavailable``."""
    with Directory(config) as directory:
        person = directory.member(username)
        directory.check_password(person, password)
    return person


def lookup(config: dict, username: str) -> Person:
    """The person for ``username`` (in the required group), without their password."""
    with Directory(config) as directory:
        return directory.member(username)


def problem(config: dict | None = None) -> str:
    """Why the directory cannot be used, in one line; "" when it can (or is not configured)."""
    config = config if config is not None else configured()
    if not config:
        return ""
    try:
        with Directory(config) as directory:
            directory.check_base()
    except Unavailable as exc:
        return _("directory: %s") % exc.message
    return ""
