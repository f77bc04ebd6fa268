"""The base of changeflow's management commands whose help is translated, and helpers they share."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django_stubs_ext import StrOrPromise

if TYPE_CHECKING:
    from changeflow.accounts.models import Project, User
    from changeflow.core.audit import VerifyResult


class TranslatedCommand(BaseCommand):
    """A command whose help is shown in the active language.

    Subclasses set ``help_lazy`` (a ``gettext_lazy`` string, as a class attribute). Django's
    ``help`` must be a plain ``str`` (argparse cannot format a lazy one), so it is translated
    when the command is made, i.e. for each run, in the language active then."""

    help_lazy: StrOrPromise = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = str(self.help_lazy)


def acting_user(project: Project, username: str | None) -> User:
    """Who a command acts as: ``--user NAME`` (an active user), else the project's first
    project manager, else a site admin. The services then check what that user may do."""
    from changeflow.accounts.models import Membership, Role, User

    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(_("unknown user '%s'") % username)
        return user
    membership = (
        Membership.objects.filter(project=project, role=Role.PROJECT_MANAGER, user__is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if membership:
        return membership.user
    admin = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if admin is None:
        raise CommandError(_("the project has no project manager: name the user with --user"))
    return admin


def read_input(file: str) -> bytes:
    """The bytes of ``file``, or of stdin when it is ``-``; one that cannot be read is a
    ``CommandError`` naming it and why."""
    try:
        if file == "-":
            return sys.stdin.buffer.read()
        with open(file, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandError(file_error("read", file, exc)) from None


def file_error(what: Literal["read", "write"], path: object, exc: OSError) -> str:
    """The one line that says why ``path`` cannot be read or written."""
    if what == "read":
        text = _("cannot read %(file)s: %(why)s")
    else:
        text = _("cannot write %(file)s: %(why)s")
    return text % {"file": path, "why": exc.strerror or exc}


def write_output(file: str | None, content: bytes) -> bool:
    """Write ``content`` to ``file``, or to stdout (as bytes) when it is None, "" or ``-``;
    whether it went to a file. One that cannot be written is a ``CommandError`` naming it."""
    if not file or file == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return False
    try:
        with open(file, "wb") as handle:
            handle.write(content)
    except OSError as exc:
        raise CommandError(file_error("write", file, exc)) from None
    return True


def audit_intact(result: VerifyResult) -> str:
    """The line ``audit verify`` (and ``restore``) prints for an intact chain."""
    return _("Audit chain intact: %(events)d events, head %(head)s") % {
        "events": result.events,
        "head": result.head,
    }


def audit_broken(result: VerifyResult) -> CommandError:
    """The error (one line, exit 1) for a broken chain: where, why, and the last good hash."""
    return CommandError(
        _(
            "audit chain broken at event #%(seq)s (id %(id)s): %(reason)s; "
            "%(good)d events before it verified, last good hash %(head)s"
        )
        % {
            "seq": result.broken_seq,
            "id": result.broken_id if result.broken_id is not None else "-",
            "reason": result.reason,
            "good": max(0, result.events - 1) if result.broken_id is not None else result.events,
            "head": result.head,
        }
    )
