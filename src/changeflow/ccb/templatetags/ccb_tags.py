"""Template helpers of the board's pages: roles and verdicts in the user's language."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Role

register = template.Library()

_VERDICTS = {"approve": _("approved"), "reject": _("rejected"), "defer": _("deferred")}


@register.filter
def role_label(value: str | None) -> str:
    """A role's label ("customer_rep" → "Customer representative"), or the value itself."""
    if value is None:
        return ""
    try:
        return str(Role(value).label)
    except ValueError:
        return value


@register.filter
def verdict_label(value: str | None) -> str:
    return str(_VERDICTS.get(value or "", value or ""))
