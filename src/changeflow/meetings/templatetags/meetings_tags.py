"""Template helpers of the meeting pages."""

from django import template

from changeflow.meetings import recurrence

register = template.Library()


@register.filter
def occkey(at) -> str:
    """An occurrence's address from its start (``20261201T020000Z``)."""
    return recurrence.occurrence_key(at)


@register.filter
def state_label(value: str) -> str:
    """A CR state kept in an agenda snapshot, as its (translated) label."""
    from changeflow.changes.workflow import State

    try:
        return str(State(value).label)
    except ValueError:
        return value
