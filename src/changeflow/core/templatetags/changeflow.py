"""Template helpers of the browser pages: safe rendering of user text."""

from __future__ import annotations

from functools import cache

import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()


@cache
def _markdown() -> MarkdownIt:
    # Raw HTML in the source is shown as text (html=False); single line breaks are kept, as
    # users write Chinese and English paragraphs without Markdown in mind.
    return (
        MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
        .enable("table")
        .enable("strikethrough")
    )


@register.filter
def render_text(value: str | None) -> SafeString:
    """User text (plain or Markdown) as sanitised HTML: never unsanitised markup."""
    html = _markdown().render(value or "")
    # nh3 (ammonia) keeps only a safe allow-list of tags, attributes and URL schemes.
    cleaned = nh3.clean(html, link_rel="noopener noreferrer nofollow")
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above
