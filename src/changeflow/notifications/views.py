"""Pages: the inbox, preferences, watching a CR, and a project's webhooks (its managers)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from changeflow.changes import selectors as change_selectors
from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, form_status, or_404

from . import messages as texts
from . import selectors, services
from .forms import PreferencesForm, WebhookForm
from .models import Kind

PAGE_SIZE = 30


@require_safe
@login_required
def inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    unread_only = request.GET.get("unread") == "1"
    page = Paginator(selectors.inbox(user=request.user, unread_only=unread_only), PAGE_SIZE)
    page_obj = page.get_page(request.GET.get("page"))
    rows = [
        {"note": n, "text": texts.headline(n.kind, n.data), "kind": Kind(n.kind).label
         if n.kind in Kind.values else n.kind}
        for n in page_obj.object_list
    ]  # fmt: skip
    return render(
        request,
        "notifications/inbox.html",
        {"rows": rows, "page_obj": page_obj, "unread_only": unread_only},
    )


@login_required
@require_POST
def mark_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.POST.get("all"):
        services.mark_read(user=request.user)
    else:
        ids = [int(v) for v in request.POST.getlist("id") if v.isdigit()]
        services.mark_read(user=request.user, ids=ids)
    return redirect("notification-inbox")


@login_required
@require_POST
def open_notification(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read and go to what it is about. A POST (the inbox's button):
    a GET must not change anything, and a link would be marked read by any prefetcher or
    link checker that follows it before the person has seen it."""
    note = selectors.inbox(user=request.user).filter(pk=pk).first()
    if note is None:
        raise Http404()
    services.mark_read(user=request.user, ids=[note.pk])
    return redirect(texts.path(note.data) or "notification-inbox")


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PreferencesForm(
        request.POST or None,
        current=selectors.preferences(request.user),
        language=services.language_of(request.user),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.preferences_set(
                user=request.user, channels=form.channels(),
                language=form.cleaned_data.get("language") or "",
            )  # fmt: skip
        except ApplicationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Your notification preferences are saved."))
            return redirect("notification-preferences")
    return render(
        request, "notifications/preferences.html", {"form": form}, status=form_status(form)
    )


@login_required
@require_POST
def watch(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = or_404(change_selectors.change_request_get, user=request.user, key=key)
    watching = request.POST.get("watching") == "1"
    services.watch_set(user=request.user, cr=cr, watching=watching)
    messages.success(
        request,
        _("You are watching %(key)s.") % {"key": cr.key}
        if watching
        else _("You no longer watch %(key)s.") % {"key": cr.key},
    )
    return redirect("cr-detail", key=cr.key)


def _project(request, key):
    try:
        return selectors.webhook_project(user=request.user, key=key), None
    except ApplicationError as exc:
        return None, error_page(request, exc)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project, denied = _project(request, key)
    if denied:
        return denied
    form = WebhookForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                hook = services.webhook_create(
                    user=request.user, project=project,
                    data=form.data_for_service(creating=True),
                )  # fmt: skip
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The webhook is saved."))
                return redirect("webhook-detail", key=project.key, pk=hook.pk)
        else:
            status = 400
    hooks = selectors.webhook_list(user=request.user, project=project)
    return render(
        request,
        "notifications/webhook_list.html",
        {"project": project, "hooks": hooks, "form": form},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    project, denied = _project(request, key)
    if denied:
        return denied
    hook = or_404(selectors.webhook_get, user=request.user, project=project, pk=pk)
    initial = {
        "name": hook.name, "url": hook.url, "kind": hook.kind, "language": hook.language,
        "events": [] if "*" in hook.events else hook.events, "active": hook.active,
    }  # fmt: skip
    form = WebhookForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.webhook_update(
                    user=request.user, hook=hook, data=form.data_for_service(creating=False)
                )
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The webhook is saved."))
                return redirect("webhook-detail", key=project.key, pk=hook.pk)
        else:
            status = 400
    deliveries = selectors.delivery_list(webhook=hook)[:50]
    return render(
        request,
        "notifications/webhook_detail.html",
        {"project": project, "hook": hook, "form": form, "deliveries": deliveries},
        status=status,
    )  # fmt: skip


@login_required
@require_POST
def webhook_test(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    project, denied = _project(request, key)
    if denied:
        return denied
    hook = or_404(selectors.webhook_get, user=request.user, project=project, pk=pk)
    delivery = services.webhook_test(user=request.user, hook=hook)
    delivery.refresh_from_db()
    messages.info(
        request,
        _("Test message sent: %(state)s.") % {"state": delivery.get_state_display()},
    )
    return redirect("webhook-detail", key=project.key, pk=hook.pk)


@login_required
@require_POST
def webhook_delete(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    project, denied = _project(request, key)
    if denied:
        return denied
    hook = or_404(selectors.webhook_get, user=request.user, project=project, pk=pk)
    services.webhook_delete(user=request.user, hook=hook)
    messages.success(request, _("The webhook is deleted."))
    return redirect("webhook-list", key=project.key)
