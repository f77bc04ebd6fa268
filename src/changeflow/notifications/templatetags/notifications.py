"""Template tags: the unread count in the top bar, and whether the reader watches a CR."""

from __future__ import annotations

from django import template

from changeflow.notifications import selectors

register = template.Library()


@register.inclusion_tag("notifications/_nav.html", takes_context=True)
def notifications_nav(context) -> dict:
    """The inbox link with its unread count: one indexed COUNT per page."""
    request = context.get("request")
    user = getattr(request, "user", None)
    count = selectors.unread_count(user) if user is not None and user.is_authenticated else 0
    return {"unread": count, "request": request}


@register.simple_tag(takes_context=True)
def watching(context, cr) -> bool:
    request = context.get("request")
    return selectors.is_watching(user=request.user, cr=cr)
