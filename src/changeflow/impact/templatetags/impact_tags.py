"""Template tags that give the impact panels their context from ``impact.selectors``, so the
CR page and the assessment form include them with one line and no change to their views."""

from __future__ import annotations

from django import template

from changeflow.impact import selectors
from changeflow.impact.forms import ExpertEstimateForm

register = template.Library()


@register.simple_tag(takes_context=True)
def impact_methods(context, cr):
    """Expert rounds, analogy and calibration-corrected figures for ``cr`` (None for customers)."""
    request = context.get("request")
    if request is None:
        return None
    # The CR page and the assessment form have read the current assessment already.
    extra = {}
    for name in ("assessment", "current"):
        if name in context:
            extra["assessment"] = context[name]
            break
    # The CR page's requirements panel has read the requirements the CR declares affected.
    impact = (context.get("requirements_panel") or {}).get("impact") or {}
    if impact.get("change_request") == cr.key and "affected" in impact:
        extra["requirements"] = len(impact["affected"])
    data = selectors.methods_side_by_side(user=request.user, cr=cr, **extra)
    if not data.get("visible"):
        return None
    mine = data["expert"]["my_current"]
    initial = {}
    if mine:
        for dim in ("effort", "schedule", "cost"):
            if mine.get(dim):
                for point in ("optimistic", "most_likely", "pessimistic"):
                    initial[f"{dim}_{point}"] = mine[dim][point]
        initial["comment"] = mine.get("comment", "")
    data["form"] = ExpertEstimateForm(initial=initial)
    return data


@register.simple_tag(takes_context=True)
def similar_changes(context, cr):
    request = context.get("request")
    if request is None:
        return []
    return selectors.similar_to(
        user=request.user, project=cr.project, text=cr.title, body=cr.description,
        exclude_key=cr.key,
    )  # fmt: skip


@register.simple_tag(takes_context=True)
def simulation_summary_of(context, cr):
    """P50/P80/P95 of the CR's latest finished simulation (``impact.plans.simulation_summary``),
    for the methods side by side; None for those who do not see simulations (customer roles)."""
    from changeflow.impact.plans import sees_plans, simulation_summary

    request = context.get("request")
    if request is None or not sees_plans(request.user, cr.project):
        return None
    panel = context.get("simulation")  # the CR page's simulation panel has it already
    if panel and panel.get("cr") is cr and "summary" in panel:
        return panel["summary"]
    return simulation_summary(cr)


@register.filter
def sees_plans(project, user) -> bool:
    """``{% if project|sees_plans:request.user %}``: whether to link the project's plan."""
    from changeflow.impact.plans import sees_plans as sees

    return sees(user, project)


@register.filter
def pct(value):
    """0.123 → 12 (for "12 %")."""
    try:
        return round(float(value) * 100)
    except (TypeError, ValueError):
        return ""
