import subprocess
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.test import TestCase

from changeflow.changes import services as cr_services
from changeflow.core.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.models import AuditEvent
from changeflow.notifications.models import Notification
from changeflow.orders import selectors, services
from changeflow.orders.models import ChangeOrder, OrderState
from tests.factories import PASSWORD, advance, fresh, make_cr

from .helpers import in_review_cr, issued_order

pytestmark = pytest.mark.django_db


def test_create_prefills_from_the_assessment_and_numbers_per_project(personas):
    p = personas
    cr = in_review_cr(p)
    order = services.change_order_create(user=p.pm, cr=cr)
    assert (order.key, order.revision, order.state) == ("ACME-CO1", 1, OrderState.DRAFT)
    assert order.amount == Decimal("12000.00") and order.currency == "CNY"
    assert order.schedule_delta_days == 5
    with pytest.raises(Conflict):
        services.change_order_create(user=p.pm, cr=cr)
    second = services.change_order_create(user=p.pm, cr=make_cr(p.project, by=p.customer))
    assert second.key == "ACME-CO2"


@pytest.mark.parametrize("role", ["tech_lead", "qa", "developer", "customer_rep", "viewer"])
def test_only_managers_prepare(personas, role):
    cr = make_cr(personas.project, by=personas.customer)
    with pytest.raises(PermissionDenied):
        services.change_order_create(user=personas.by_role[role], cr=cr)


def test_draft_edit_is_compare_and_set_and_validated(personas):
    p = personas
    order = services.change_order_create(user=p.pm, cr=make_cr(p.project, by=p.customer))
    order = services.change_order_update(
        user=p.pm, order=order, data={"amount": "5000", "scope": "范围"}, expected_version=1
    )
    assert order.version == 2 and order.amount == Decimal("5000.00")
    with pytest.raises(Conflict):
        services.change_order_update(user=p.pm, order=order, data={"amount": 1}, expected_version=1)
    with pytest.raises(ValidationError) as exc:
        services.change_order_update(user=p.pm, order=order, data={"currency": "yuan"})
    assert "currency" in exc.value.fields


def test_issue_needs_a_cr_in_review_or_later(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    order = services.change_order_create(user=p.pm, cr=cr)
    with pytest.raises(PreconditionFailed):
        services.change_order_issue(user=p.pm, order=order)
    assert not ChangeOrder.objects.get(pk=order.pk).issued_at


def test_issue_renders_once_and_freezes_the_terms(personas):
    p = personas
    cr, order = issued_order(p, title="短信验证码登录", description="登录页面需要支持短信验证码")
    assert order.state == OrderState.ISSUED and len(order.pdf_sha256) == 64
    pdf = selectors.order_file(order, "pdf")
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "短信验证码" in text and "ACME-CO1" in text
    assert "12,000.00 CNY" in text  # the price grouped by thousands, as a contract writes it
    assert "短信验证码登录" in selectors.order_file(order, "html").decode()
    with pytest.raises(InvalidTransition):
        services.change_order_update(user=p.pm, order=order, data={"amount": 1})
    with pytest.raises(InvalidTransition):
        services.change_order_issue(user=p.pm, order=order)


def test_a_changed_file_is_refused(personas):
    p = personas
    _cr, order = issued_order(p)
    default_storage.delete(order.pdf_file.name)
    default_storage.save(order.pdf_file.name, __import__("io").BytesIO(b"%PDF forged"))
    with pytest.raises(Conflict):
        selectors.order_file(order, "pdf")
    with pytest.raises(Conflict):
        services.change_order_sign(
            user=p.customer_rep, order=order, password=PASSWORD, signer_name="Li Na"
        )
    assert ChangeOrder.objects.get(pk=order.pk).state == OrderState.ISSUED


def test_sign_records_the_signature_and_tells_the_managers(personas):
    p = personas
    with TestCase.captureOnCommitCallbacks(execute=True):
        _cr, order = issued_order(p)
    told = set(
        Notification.objects.filter(kind="order.issued").values_list("user__username", flat=True)
    )
    assert told == {p.customer_rep.username, p.customer.username}
    with TestCase.captureOnCommitCallbacks(execute=True):
        order = services.change_order_sign(
            user=p.customer_rep, order=order, password=PASSWORD, signer_name="李娜", ip="10.0.0.9"
        )
    assert order.state == OrderState.SIGNED and order.signed_by == p.customer_rep
    assert order.signed_pdf_sha256 == order.pdf_sha256
    assert order.signature_ip == "10.0.0.9" and "李娜" in order.signature_statement
    assert "ACME-CO1" in order.signature_statement and "12,000.00 CNY" in order.signature_statement
    event = AuditEvent.objects.filter(action="change_order.signed").get()
    assert event.after["pdf_sha256"] == order.pdf_sha256
    told = set(
        Notification.objects.filter(kind="order.signed").values_list("user__username", flat=True)
    )
    assert told == {p.pm.username}
    with pytest.raises(InvalidTransition):
        services.change_order_sign(user=p.customer, order=order, password=PASSWORD, signer_name="x")


def test_wrong_password_records_nothing(personas):
    p = personas
    _cr, order = issued_order(p)
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied) as exc:
        services.change_order_sign(
            user=p.customer_rep, order=order, password="wrong", signer_name="Li Na"
        )
    assert exc.value.code == "invalid_signature" and "password" in exc.value.fields
    assert AuditEvent.objects.count() == before
    row = ChangeOrder.objects.get(pk=order.pk)
    assert row.state == OrderState.ISSUED and row.signed_at is None


@pytest.mark.parametrize("role", ["project_manager", "tech_lead", "qa", "developer", "viewer"])
def test_only_customer_roles_sign_or_decline(personas, role):
    p = personas
    _cr, order = issued_order(p)
    with pytest.raises(PermissionDenied):
        services.change_order_sign(
            user=p.by_role[role], order=order, password=PASSWORD, signer_name="X"
        )
    with pytest.raises(PermissionDenied):
        services.change_order_decline(user=p.by_role[role], order=order, reason="no")


def test_decline_then_revise_supersedes(personas):
    p = personas
    _cr, order = issued_order(p)
    with pytest.raises(ValidationError):
        services.change_order_decline(user=p.customer, order=order, reason=" ")
    with TestCase.captureOnCommitCallbacks(execute=True):
        order = services.change_order_decline(user=p.customer, order=order, reason="太贵了")
    assert order.state == OrderState.DECLINED
    told = set(
        Notification.objects.filter(kind="order.declined").values_list("user__username", flat=True)
    )
    assert told == {p.pm.username}
    new = services.change_order_revise(user=p.pm, order=order)
    assert (new.key, new.revision, new.state) == (order.key, 2, OrderState.DRAFT)
    assert ChangeOrder.objects.get(pk=order.pk).state == OrderState.SUPERSEDED
    # The customer sees the superseded revision until the new one is issued.
    got = selectors.order_get(user=p.customer, project=p.project, number=order.number)
    assert got.revision == 1
    assert selectors.order_get(user=p.pm, project=p.project, number=order.number).revision == 2


def test_customers_do_not_see_drafts(personas):
    p = personas
    order = services.change_order_create(user=p.pm, cr=make_cr(p.project, by=p.customer))
    assert not selectors.order_list(user=p.customer, project=p.project).exists()
    assert selectors.order_list(user=p.developer, project=p.project).get() == order


def test_implementation_waits_for_the_signature(personas):
    p = personas
    cr, order = issued_order(p)
    for voter in (p.pm, p.qa, p.customer_rep):
        cr_services.vote_cast(
            user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD
        )
    cr = fresh(cr, p.tech_lead)
    assert cr.state == "approved"
    assert "start_implementation" not in cr_services.available_actions(cr=cr, user=p.tech_lead)
    with pytest.raises(PreconditionFailed) as exc:
        cr_services.change_request_transition(
            user=p.tech_lead, cr=cr, action="start_implementation"
        )
    assert exc.value.code == "change_order_unsigned"
    services.change_order_sign(
        user=p.customer_rep, order=order, password=PASSWORD, signer_name="Li Na"
    )
    cr = cr_services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="start_implementation"
    )
    assert cr.state == "implementing"


def test_withdrawn_order_lifts_the_guard_and_a_cr_without_order_is_not_held(personas):
    p = personas
    cr, order = issued_order(p)
    services.change_order_withdraw(user=p.pm, order=order, reason="not billable")
    assert not services.implementation_blocked(cr)
    other = advance(make_cr(p.project, by=p.customer), p, "implementing")
    assert other.state == "implementing"


@pytest.mark.parametrize("emergency", [False, True])
def test_the_guard_in_the_workflow_table(emergency):
    from changeflow.changes import workflow

    ctx = workflow.Context(
        state=workflow.State.APPROVED, role="tech_lead", change_order_unsigned=True,
        emergency=emergency,
    )  # fmt: skip
    denial = workflow.evaluate("start_implementation", ctx)
    if emergency:  # emergency changes proceed; their order is signed as they are ratified
        assert denial is None
    else:
        assert denial is not None and denial.code == "change_order_unsigned"


def test_the_notification_links_to_the_order(personas):
    from changeflow.notifications import messages

    p = personas
    with TestCase.captureOnCommitCallbacks(execute=True):
        issued_order(p)
    note = Notification.objects.filter(kind="order.issued", user=p.customer_rep).get()
    assert messages.path(note.data) == "/projects/ACME/change-orders/1/"
    assert "ACME-CO1" in messages.headline("order.issued", note.data)
