"""The case and the ratings on a change request's page (``{% cr_cases cr as panel %}``)."""

from __future__ import annotations

from typing import Any

from django import template

from changeflow.changes.workflow import FINAL_STATES, State
from changeflow.core.access import sees_internal

from .. import selectors, services
from ..forms import RatingForm

register = template.Library()


@register.simple_tag(takes_context=True)
def cr_cases(context, cr) -> dict[str, Any]:
    """What the CR page shows of the case library: the case (for who may see it), whether the
    user may mark or edit it, the ratings, and the user's own rating form."""
    user = context["request"].user
    final = cr.state in FINAL_STATES
    # Only a CR in a final state is a case, and final states are never left: an open CR's page
    # asks nothing more.
    case = selectors.case_of(user=user, cr=cr) if final else None
    editor = final and services.may_edit_cases(user, cr.project)
    closed = cr.state == State.CLOSED
    ratings = list(selectors.rating_list(user=user, cr=cr)) if closed else []
    own = next((r for r in ratings if r.user_id == user.pk), None)
    may_rate = closed and services.may_rate(user, cr)
    return {
        "case": case,
        "figures": selectors.figures_of(case) if case else None,
        "may_mark": editor and case is None and final,
        "may_edit": editor and case is not None,
        "closed": closed,
        "ratings": ratings,
        "summary": selectors.rating_summary(cr=cr) if ratings else None,
        "may_rate": may_rate,
        "rating_form": RatingForm(
            initial={"score": own.score, "comment": own.comment} if own else None
        )
        if may_rate
        else None,
        "own": own,
    }


@register.filter
def percent(value) -> str:
    """A relative error as a signed percentage: 0.25 → "+25%"; None → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:+.0f}%"


@register.filter
def stars(value) -> str:
    """A score (or an average, rounded) as stars: 4 → "★★★★☆"."""
    if value is None:
        return ""
    n = max(0, min(5, round(float(value))))
    return "★" * n + "☆" * (5 - n)


@register.filter
def sees_cases(project, user) -> bool:
    """``{% if project|sees_cases:request.user %}``: whether to link the project's library
    (customer roles do not see cases)."""
    return sees_internal(user, project)
