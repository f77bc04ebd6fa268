"""The base of changeflow's management commands whose help is translated."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django_stubs_ext import StrOrPromise


class TranslatedCommand(BaseCommand):
    """A command whose help is shown in the active language.

    Subclasses set ``help_lazy`` (a ``gettext_lazy`` string, as a class attribute). Django's
    ``help`` must be a plain ``str`` (argparse cannot format a lazy one), so it is translated
    when the command is made, i.e. for each run, in the language active then."""

    help_lazy: StrOrPromise = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = str(self.help_lazy)
