"""Compare-and-set edits of a versioned row (a ``version`` column grown by every write, which is
also its ETag): the fields that change, and the write that refuses a stale version (409).

Shared by the services that edit such objects field by field (CR form templates, process
templates): read the row afresh in the transaction, ``check`` the version the caller read,
``changes`` of the cleaned values, then ``write`` them."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Model
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import Conflict


def check(fresh: Any, expected: int | None) -> None:
    """409 when the caller read another version than ``fresh``'s (None: they did not say)."""
    if expected is not None and fresh.version != expected:
        raise Conflict(
            _("The template was changed by someone else (version %(v)d is current).")
            % {"v": fresh.version},
            code="stale_version",
        )


def changes(fresh: Any, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after): the fields of ``values`` that differ from ``fresh``'s, old and new."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in values.items():
        old = getattr(fresh, name)
        if old != value:
            before[name], after[name] = old, value
    return before, after


def write(fresh: Model, after: dict[str, Any]) -> None:
    """Write ``after`` to ``fresh``'s row only if its version is still ``fresh.version`` (else
    409: someone else wrote first), growing the version; ``fresh`` then holds what was written."""
    model = type(fresh)
    version = fresh.version  # type: ignore[attr-defined]
    won = model._default_manager.filter(pk=fresh.pk, version=version).update(
        **after, version=F("version") + 1, updated_at=timezone.now()
    )
    if not won:
        raise Conflict(_("The template was changed by someone else."), code="stale_version")
    for name, value in after.items():
        setattr(fresh, name, value)
    fresh.version = version + 1  # type: ignore[attr-defined]


def verb(after: dict[str, Any]) -> str:
    """The audit verb of an edit: ``archived``/``restored`` when only that flag changed."""
    if set(after) == {"archived"}:
        return "archived" if after["archived"] else "restored"
    return "updated"
