"""``{% help_link %}``: the link to the guide's topic for the page being shown."""

from __future__ import annotations

from django import template

from changeflow.guide import topics

register = template.Library()


@register.inclusion_tag("guide/_help_link.html", takes_context=True)
def help_link(context: template.Context) -> dict[str, object]:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return {"topic": topics.for_page(getattr(match, "url_name", None))}
