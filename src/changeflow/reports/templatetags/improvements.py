"""Template tags of improvement actions and review reports on other apps' pages: whether the
project's tabs link them, and the change request page's panel."""

from __future__ import annotations

from django import template

from changeflow.reports import selectors

register = template.Library()


@register.filter
def sees_reviews(project, user) -> bool:
    """``{% if project|sees_reviews:request.user %}``: whether to link the project's review
    reports and improvement actions (not for customer roles)."""
    return selectors.may_see(user, project)


@register.inclusion_tag("reports/_cr_improvements.html", takes_context=True)
def cr_improvement_actions(context, cr):
    request = context["request"]
    user = request.user
    shown = selectors.may_see(user, cr.project)  # not to customer roles: no query for them
    return {
        "cr": cr,
        "rows": list(selectors.for_change_request(user=user, cr=cr)) if shown else [],
        "shown": shown,
        "can_create": selectors.may_manage(user, cr.project),
        "today": selectors.today(),
        "request": request,
    }
