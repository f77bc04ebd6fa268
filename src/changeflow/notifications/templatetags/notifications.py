"""Template tags: whether the reader watches a CR (the top bar's unread count is
``changeflow.context_processors.nav``'s)."""

from __future__ import annotations

from django import template

from changeflow.notifications import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def watching(context, cr) -> bool:
    request = context.get("request")
    return selectors.is_watching(user=request.user, cr=cr)
