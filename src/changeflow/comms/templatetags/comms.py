"""The communication panel of a CR page: its communication log entries and SLA breaches,
beside the audit history (one include line in ``changes/cr_detail.html``)."""

from __future__ import annotations

from django import template

from changeflow.comms import selectors, sla

register = template.Library()


@register.inclusion_tag("comms/_cr_communications.html", takes_context=True)
def cr_communications(context, cr):
    user = context["request"].user
    return {
        "cr": cr,
        "entries": list(selectors.communications_for_cr(user=user, cr=cr)),
        "breaches": list(sla.breaches_for_cr(user=user, cr=cr)),
        "request": context["request"],
    }
