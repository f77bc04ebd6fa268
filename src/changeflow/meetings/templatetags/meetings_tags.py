"""Template helpers of the meeting pages."""

from django import template

from changeflow.meetings import recurrence

register = template.Library()


@register.filter
def occkey(at) -> str:
    """An occurrence's address from its start (``20261201T020000Z``)."""
    return recurrence.occurrence_key(at)
