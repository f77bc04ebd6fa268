"""An issued change order under concurrent hands: exactly one of the customers' signatures and
declines happens, the others are told the order moved on, and the record holds that one alone;
a signature and the manager's withdrawal race the same way (a signed order is a contract and
cannot be withdrawn; a withdrawn one cannot be signed)."""

from __future__ import annotations

import pytest

from changeflow.core.errors import InvalidTransition
from changeflow.core.models import AuditEvent
from changeflow.orders import services
from changeflow.orders.models import ChangeOrder, OrderState
from tests.concurrency import run_together
from tests.factories import PASSWORD

from .helpers import issued_order

pytestmark = pytest.mark.django_db(transaction=True)

OUTCOME = {
    "change_order.signed": OrderState.SIGNED,
    "change_order.declined": OrderState.DECLINED,
    "change_order.withdrawn": OrderState.WITHDRAWN,
}


def sign(user, order, name):
    return services.change_order_sign(
        user=user, order=ChangeOrder.objects.get(pk=order.pk), password=PASSWORD, signer_name=name
    )


def one_won(order, results):
    """The one result that is an order (the others refused as moved on); the record agrees."""
    won = [r for r in results if isinstance(r, ChangeOrder)]
    assert len(won) == 1, results
    assert all(isinstance(r, InvalidTransition) for r in results if r is not won[0]), results
    order.refresh_from_db()
    assert order.state == won[0].state
    events = AuditEvent.objects.filter(object_key=order.key, action__in=OUTCOME)
    assert [OUTCOME[e] for e in events.values_list("action", flat=True)] == [order.state]
    return order


@pytest.mark.parametrize("round_", range(2))
def test_two_signatures_and_a_decline_at_once_one_happens(personas, round_):
    p = personas
    _, order = issued_order(p)
    hands = [
        lambda: sign(p.customer_rep, order, "李娜"),
        lambda: sign(p.customer, order, "周杰"),
        lambda: services.change_order_decline(
            user=p.customer, order=ChangeOrder.objects.get(pk=order.pk), reason="Too dear"
        ),
    ]
    order = one_won(order, run_together(3, lambda i: hands[i]()))
    if order.state == OrderState.SIGNED:
        assert order.signed_by in (p.customer_rep, p.customer)
        assert order.signed_pdf_sha256 == order.pdf_sha256
    else:
        assert order.signed_at is None and order.signed_pdf_sha256 == ""


@pytest.mark.parametrize("round_", range(2))
def test_a_signature_and_a_withdrawal_at_once_one_happens(personas, round_):
    p = personas
    _, order = issued_order(p)
    hands = [
        lambda: sign(p.customer_rep, order, "李娜"),
        lambda: services.change_order_withdraw(
            user=p.pm, order=ChangeOrder.objects.get(pk=order.pk), reason="Scope moved"
        ),
    ]
    order = one_won(order, run_together(2, lambda i: hands[i]()))
    assert (order.signed_at is None) == (order.state == OrderState.WITHDRAWN)
