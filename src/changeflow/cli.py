"""The ``changeflow`` console script: a thin front for the project's management commands.

``changeflow serve``, ``createuser``, ``token create``, ``demo`` and ``audit verify`` are
management commands of the apps (``<app>/management/commands/``); every other Django command
(``migrate``, ``makemigrations --check``, ``shell``...) passes through unchanged. What this
module adds is the contract of the API document: the audit channel ``cli``, exit codes
0 ok / 1 failed / 2 bad usage, and one clear line on stderr instead of a traceback for every
mistake a user can make.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

PROG = "changeflow"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Shown first in ``changeflow help``; the rest are Django's and the apps' other commands.
OWN_COMMANDS = (
    "serve", "worker", "migrate", "createuser", "token", "demo", "audit", "backup", "restore", "cr",
    "process",
)  # fmt: skip
# Documented names that are not valid Python module names: the command each one runs.
ALIASES = {"ingest-email": "ingest_email", "my-work": "my_work"}


class UsageError(Exception):
    """The command line itself is wrong (exit 2)."""


def _say(message: object) -> None:
    """One line on stderr, prefixed with the program's name."""
    text = " ".join(str(message).split())
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeflow.settings")
    import django

    django.setup()
    _activate_language()


def _activate_language() -> None:
    """Speak the terminal's language when the project has it (zh_CN.UTF-8 → zh-hans)."""
    from django.conf import settings
    from django.utils import translation

    env = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG")
    code = (env or "").split(".")[0].replace("_", "-").lower()
    if code.startswith("zh"):
        code = "zh-hant" if code in ("zh-tw", "zh-hk", "zh-hant") else "zh-hans"
    available = {c for c, _name in settings.LANGUAGES}
    translation.activate(code if code in available else settings.LANGUAGE_CODE)


def _help_text() -> str:
    from django.core.management import get_commands, load_command_class
    from django.utils.translation import gettext as _

    commands = get_commands()
    public = {command: alias for alias, command in ALIASES.items()}
    # The apps' own commands (estimate, requirements, simulate, ...) with their one-line help.
    apps = sorted(
        name
        for name, app in commands.items()
        if app.startswith("changeflow") and name not in OWN_COMMANDS
    )
    others = sorted(set(commands) - set(OWN_COMMANDS) - set(apps))
    app_lines = []
    for name in apps:
        command = load_command_class(commands[name], name)
        synopsis = " ".join([public.get(name, name), *_synopsis(command, name)])
        app_lines.append("  %-44s %s" % (synopsis, _first_line(command)))
    lines = [
        _("Usage: changeflow COMMAND [OPTIONS]"),
        "",
        _("Commands:"),
        "  serve [--host H] [--port P] [--workers N] [--no-worker]   "
        + _("migrate, collect static files and serve with gunicorn"),
        "  worker [--batch]                             "
        + _("run background tasks and periodic jobs"),
        "  migrate                                      " + _("apply database migrations"),
        "  createuser NAME [--password P] [--email E] [--admin]   " + _("create a user"),
        "  token create NAME                            "
        + _("create an API token (printed alone on stdout)"),
        "  cr assign KEY USER | cr unassign KEY [--user NAME]   "
        + _("set or clear a change request's assignee"),
        "  demo                                         " + _("load the demo project"),
        "  audit verify                                 " + _("check the audit hash chain"),
        "  backup FILE [--force]                        "
        + _("write the database and the uploaded files to one archive"),
        "  restore FILE                                 "
        + _("restore a backup into an empty database"),
        *app_lines,
        "",
        _("Other commands (Django's): %s") % ", ".join(others),
        "",
        _("'changeflow help COMMAND' shows a command's options."),
        _("Exit codes: 0 success, 1 the operation failed, 2 bad usage."),
    ]
    return "\n".join(lines)


def _first_line(command) -> str:
    """The command's help as a line of this list: "Meeting tools." → "meeting tools"."""
    line = str(command.help).strip().split("\n")[0].rstrip(".。")
    first, second = ([*line.split(maxsplit=2), "", ""])[:2]
    if first.isascii() and first.istitle() and not second[:1].isupper():  # not "Monte Carlo"
        line = line[0].lower() + line[1:]
    return line


def _synopsis(command, name: str) -> list[str]:
    """What a command takes, for the list: its actions ("import|export"), else its positional
    arguments and required options ("FILE --project KEY")."""
    import argparse

    words: list[str] = []
    for action in command.create_parser(PROG, name)._actions:
        if isinstance(action, argparse._SubParsersAction):
            words.append("|".join(action.choices))
        elif not action.option_strings and action.dest != "args":
            words.append(action.metavar or action.dest.upper())
        elif action.required:
            words.append(f"{action.option_strings[0]} {action.metavar or action.dest.upper()}")
    return words


def version() -> str:
    """The installed changeflow's version (``changeflow --version``; recorded in backups)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("changeflow")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _fetch(name: str):
    """The command object for ``name``, or a UsageError when there is no such command."""
    from django.core.management import BaseCommand, get_commands, load_command_class
    from django.utils.translation import gettext as _

    # A documented name (ingest-email) runs its command, and usage lines keep that name.
    name = ALIASES.get(name, name)
    app = get_commands().get(name)
    if app is None:
        raise UsageError(_("unknown command '%s' (see 'changeflow help')") % name)
    if isinstance(app, BaseCommand):  # a command registered as an object (Django allows it)
        return app
    return load_command_class(app, name)


def _run(argv: list[str]) -> int:
    from django.core.management.base import CommandError, handle_default_options

    from changeflow.core import audit

    name, args = argv[0], argv[1:]
    command = _fetch(name)
    # Parse first, with errors raised instead of printed: whatever fails here is bad usage.
    command._called_from_command_line = False
    parser = command.create_parser(PROG, name)
    try:
        options = parser.parse_args(args)
    except CommandError as exc:
        raise UsageError(str(exc).removeprefix("Error: ")) from None
    handle_default_options(options)
    cmd_options = vars(options)
    positional = cmd_options.pop("args", ())
    # Commands that prompt (createuser, shell...) may now treat the process as interactive.
    command._called_from_command_line = True
    with audit.origin("cli"):
        command.execute(*positional, **cmd_options)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _setup()
    except Exception as exc:  # settings that cannot load: say why in one line
        _say("configuration error: %s" % exc)
        return EXIT_FAILED

    from django.core.exceptions import ImproperlyConfigured
    from django.core.management.base import CommandError, SystemCheckError
    from django.db import DatabaseError
    from django.utils.translation import gettext as _

    from changeflow.core.errors import ApplicationError

    if not argv or argv[0] in ("help", "-h", "--help"):
        if len(argv) > 1 and argv[1] not in ("-h", "--help"):
            try:
                _fetch(argv[1]).print_help(PROG, argv[1])
            except UsageError as exc:
                _say(exc)
                return EXIT_USAGE
            return EXIT_OK
        print(_help_text())
        return EXIT_OK if argv else EXIT_USAGE
    if argv[0] in ("--version", "version"):
        print(version())
        return EXIT_OK
    if argv[0].startswith("-"):
        _say(_("options go after the command (see 'changeflow help')"))
        return EXIT_USAGE

    traceback = "--traceback" in argv
    try:
        return _run(argv)
    except UsageError as exc:
        _say(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help, or a command that exits on its own (makemigrations)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        _say(exc.code)
        return EXIT_FAILED
    except Exception as exc:
        if traceback:
            raise
        if isinstance(exc, ApplicationError):
            _say(_describe_application_error(exc))
        elif isinstance(exc, SystemCheckError):
            # Django's system check report is several lines by design; keep it whole.
            print(str(exc), file=sys.stderr)
        elif isinstance(exc, CommandError):
            _say(exc)
            return exc.returncode or EXIT_FAILED
        elif isinstance(exc, DatabaseError):
            _say(_describe_database_error(exc))
        elif isinstance(exc, ImproperlyConfigured):
            _say(_("configuration error: %s") % exc)
        else:
            raise
        return EXIT_FAILED


def _describe_application_error(exc) -> str:
    """The error's message, and the fields it names, on one line."""
    message = str(exc.message)
    details = []
    for field, problems in (exc.fields or {}).items():
        problems = problems if isinstance(problems, list | tuple) else [problems]
        details.append("%s: %s" % (field, " ".join(str(p) for p in problems)))
    return message + (" (" + "; ".join(details) + ")" if details else "")


def _describe_database_error(exc) -> str:
    from django.utils.translation import gettext as _

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return _("database error: %s — run 'changeflow migrate' first") % text
    return _("database error: %s") % text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
