"""The change request page's "Change order" panel."""

from __future__ import annotations

from django import template

from changeflow.orders import selectors, services

register = template.Library()


@register.inclusion_tag("orders/_cr_orders.html", takes_context=True)
def cr_change_orders(context, cr):
    request = context["request"]
    user = request.user
    rows = selectors.orders_of_cr(user=user, cr=cr)
    can_create = services.may_manage(user, cr.project) and not any(
        o.state not in ("withdrawn", "superseded") for o in rows
    )
    return {"cr": cr, "rows": rows, "can_create": can_create, "request": request}
