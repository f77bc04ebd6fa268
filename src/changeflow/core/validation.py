"""Bridging Django model validation into ``ApplicationError``s with field names."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django.utils.translation import gettext as _

from .errors import ValidationError


def full_clean(obj: Model, *, exclude: list[str] | None = None) -> None:
    """Run model validation; raise our ``ValidationError`` naming every bad field."""
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        raise ValidationError(_("Some fields are invalid."), fields=fields) from None


def in_utc(value: dt.datetime) -> dt.datetime | None:
    """An aware date and time in UTC, or None when that is out of range (year 1 or 9999 near
    the edge). Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: a value with
    its own offset sent to the database as it came was a 500 (DataError) there."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        return None


def invalid(name: str, message: object) -> ValidationError:
    """The error of one invalid field: ``name`` and why (a 400 naming it)."""
    return ValidationError(_("Some fields are invalid."), fields={name: [str(message)]})


def clean_text(
    name: str, value: object, limit: int, *, required: bool = False, strip: bool = True
) -> str:
    """A text field of a service's input: None is empty, anything but a string is refused, at
    most ``limit`` characters (after stripping, unless ``strip`` is false: minutes keep their
    layout), not empty when ``required``."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid(name, _("A text is required."))
    if strip:
        value = value.strip()
    if "\x00" in value:  # PostgreSQL stores none (the forms and the API refuse it too)
        raise invalid(name, _("Null characters are not allowed."))
    if required and not value:
        raise invalid(name, _("This field is required."))
    if len(value) > limit:
        raise invalid(name, _("At most %(n)d characters.") % {"n": limit})
    return value
