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
