from __future__ import annotations

from changeflow.orders import services
from tests.factories import advance, make_cr


def in_review_cr(p, **fields):
    cr = make_cr(p.project, by=p.customer, **fields)
    return advance(cr, p, "in_review")


def issued_order(p, **fields):
    cr = in_review_cr(p, **fields)
    order = services.change_order_create(user=p.pm, cr=cr)
    return cr, services.change_order_issue(user=p.pm, order=order)
