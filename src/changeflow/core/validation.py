"""Bridging Django model validation into ``ApplicationError``s with field names."""

from __future__ import annotations

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
