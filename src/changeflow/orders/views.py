"""Pages of change orders: the project's list, one order (its document, revisions, signature
and the actions of the reader's role), the draft's form, signing with the password.

Thin: selectors read (404 for outsiders; drafts do not exist for customer roles), the
services' role checks run before a form is read, one service writes, and an
``ApplicationError`` is shown on the page with its own status.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import selectors as cr_selectors
from changeflow.core.access import role_in
from changeflow.core.errors import ApplicationError, NotFound
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.core.middleware import client_ip
from changeflow.web import add_errors, error_page, form_status, or_404, paged

from . import documents, selectors, services
from .forms import DeclineForm, OrderForm, SignForm, WithdrawForm
from .models import ChangeOrder

PER_PAGE = 25


def _project(request, key):
    return or_404(account_selectors.project_get, user=request.user, key=key)


def _revision(request) -> int | None:
    raw = request.GET.get("revision", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 32768 else None


def _order(request, key, number, revision=None) -> ChangeOrder:
    project = _project(request, key)
    return or_404(
        selectors.order_get, user=request.user, project=project, number=number, revision=revision
    )


def _version(request) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


@login_required
@require_GET
def order_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    page, query = paged(request, selectors.order_list(user=request.user, project=project), PER_PAGE)
    return render(
        request, "orders/order_list.html",
        {"project": project, "page": page, "query": query,
         "can_manage": services.may_manage(request.user, project)},
    )  # fmt: skip


def _detail(request, order: ChangeOrder, status: int = 200, **forms) -> HttpResponse:
    user = request.user
    available = services.available_actions(user=user, order=order)
    body = None
    if order.issued_at:
        try:
            selectors.order_file(order, "pdf")  # the record: checked as a download is
        except ApplicationError as exc:
            return error_page(request, exc)
        body = documents.context_of(order, order.content, order.issued_at)
    return render(
        request, "orders/order_detail.html",
        {"project": order.project, "order": order, "cr": order.change_request, "body": body,
         "revisions": selectors.revisions_of(user=user, order=order), "available": available,
         "signature": documents.signature_rows(order) if order.signed_at else None,
         "decline_form": forms.get("decline_form") or DeclineForm(),
         "withdraw_form": forms.get("withdraw_form") or WithdrawForm()},
        status=status,
    )  # fmt: skip


@login_required
@require_GET
def order_detail(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    return _detail(request, _order(request, key, number, _revision(request)))


@login_required
@require_http_methods(["GET", "POST"])
def order_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        services.require_manager(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    cr_key = (request.POST.get("cr") or request.GET.get("cr") or "")[:40]
    try:
        cr = cr_selectors.change_request_get(user=request.user, key=cr_key)
        if cr.project_id != project.pk:
            raise NotFound(_("No such change request."))
    except ApplicationError as exc:
        return error_page(request, exc)
    form = OrderForm(request.POST or None, initial=services.prefill(cr))
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            order = services.change_order_create(user=request.user, cr=cr, data=form.cleaned_data)
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("%(key)s was created.") % {"key": order.key})
            return redirect("order-detail", key=project.key, number=order.number)
    return render(
        request, "orders/order_form.html", {"project": project, "cr": cr, "form": form},
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def order_edit(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    order = _order(request, key, number)
    try:
        services.require_manager(request.user, order.project)
    except ApplicationError as exc:
        return error_page(request, exc)
    initial = {name: getattr(order, name) for name in services.EDITABLE}
    form = OrderForm(request.POST or None, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            services.change_order_update(
                user=request.user, order=order, data=form.cleaned_data,
                expected_version=_version(request),
            )  # fmt: skip
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("The change order was saved."))
            return redirect("order-detail", key=order.project.key, number=order.number)
    return render(
        request, "orders/order_form.html",
        {"project": order.project, "cr": order.change_request, "form": form, "order": order},
        status=status,
    )  # fmt: skip


def _act(request, key: str, number: int, check, write, form_class=None, form_name=""):
    """A write from the detail page: the role first, then the form, then ``write``; a refusal
    is shown on the page with its status, success redirects back with ``write``'s message."""
    order = _order(request, key, number)
    try:
        check(request.user, order.project)
    except ApplicationError as exc:
        return error_page(request, exc)
    data: dict = {}
    form = None
    if form_class is not None:
        form = form_class(request.POST)
        if not form.is_valid():
            return _detail(request, order, 400, **{form_name: form})
        data = dict(form.cleaned_data)
    try:
        message = write(order, data)
    except ApplicationError as exc:
        if form is None:
            return error_page(request, exc)
        add_errors(form, exc)
        return _detail(request, order, exc.status, **{form_name: form})
    messages.success(request, message)
    return redirect("order-detail", key=order.project.key, number=order.number)


@login_required
@require_POST
def order_issue(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    def write(order, _data) -> str:
        order = services.change_order_issue(
            user=request.user, order=order, expected_version=_version(request)
        )
        return _("%(order)s was issued to the customer.") % {"order": order.label}

    return _act(request, key, number, services.require_manager, write)


@login_required
@require_POST
def order_revise(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    def write(order, _data) -> str:
        new = services.change_order_revise(user=request.user, order=order)
        return _("%(order)s is a new draft.") % {"order": new.label}

    return _act(request, key, number, services.require_manager, write)


@login_required
@require_POST
def order_withdraw(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    def write(order, data) -> str:
        services.change_order_withdraw(user=request.user, order=order, reason=data["reason"])
        return _("%(order)s was withdrawn.") % {"order": order.label}

    return _act(
        request, key, number, services.require_manager, write, WithdrawForm, "withdraw_form"
    )


@login_required
@require_POST
def order_decline(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    def write(order, data) -> str:
        services.change_order_decline(user=request.user, order=order, reason=data["reason"])
        return _("You declined %(order)s.") % {"order": order.label}

    return _act(request, key, number, services.require_customer, write, DeclineForm, "decline_form")


@login_required
@require_http_methods(["GET", "POST"])
def order_sign(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    order = _order(request, key, number)
    try:
        services.require_customer(request.user, order.project)
    except ApplicationError as exc:
        return error_page(request, exc)
    initial = {"signer_name": request.user.display_name or ""}
    form = SignForm(request.POST or None, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            services.change_order_sign(
                user=request.user, order=order, password=form.cleaned_data["password"],
                signer_name=form.cleaned_data["signer_name"], ip=client_ip(request),
            )  # fmt: skip
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("You signed %(order)s.") % {"order": order.label})
            return redirect("order-detail", key=order.project.key, number=order.number)
    return render(
        request, "orders/order_sign.html",
        {"project": order.project, "order": order, "form": form,
         "statement": services.signature_statement(
             order, signer_name=form["signer_name"].value() or "…",
             role=role_in(request.user, order.project) or "")},
        status=status,
    )  # fmt: skip


@login_required
@require_GET
def order_download(
    request: AuthenticatedHttpRequest, key: str, number: int, fmt: str
) -> HttpResponseBase:
    order = _order(request, key, number, _revision(request))
    try:
        if fmt == "certificate":
            if order.signed_at is None:
                raise NotFound(_("This change order is not signed."))
            return selectors.file_response(
                order, "pdf", documents.certificate_pdf(order), "-signature"
            )
        return selectors.file_response(order, fmt, selectors.order_file(order, fmt))
    except ApplicationError as exc:
        return error_page(request, exc)
