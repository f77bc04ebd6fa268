"""Pages of the communication app: communication log, SLA, mailbox and quarantine, and the
site administrators' task list. Thin: select (404 for outsiders), one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from changeflow.accounts import selectors as account_selectors
from changeflow.core.access import manages
from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, form_status, or_404

from . import selectors, services, sla
from .forms import CommunicationForm, MailboxForm
from .models import LogChannel


def _project(request: HttpRequest, key: str):
    return or_404(account_selectors.project_get, user=request.user, key=key)


@login_required
@require_http_methods(["GET", "POST"])
def communication_log(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    can_log = selectors.may_log(request.user, project)
    form = CommunicationForm(request.POST or None, initial={"channel": LogChannel.PHONE})
    status = 200
    if request.method == "POST":
        try:  # the role before the form
            services.require_logger(request.user, project)
        except ApplicationError as exc:
            return error_page(request, exc)
        if form.is_valid():
            try:
                services.communication_create(
                    user=request.user, project=project,
                    channel=form.cleaned_data["channel"],
                    occurred_at=form.cleaned_data["occurred_at"],
                    summary=form.cleaned_data["summary"],
                    participants=form.split("participants"),
                    change_requests=[k.upper() for k in form.split("change_requests")],
                )  # fmt: skip
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The communication was logged."))
                return redirect("comms-log", key=project.key)
        status = status if status != 200 else form_status(form)
    entries = selectors.communication_list(user=request.user, project=project)[:200]
    return render(
        request, "comms/log.html",
        {"project": project, "entries": entries, "form": form, "can_log": can_log},
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def sla_page(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    can_manage = manages(request.user, project)
    table = sla.targets(project)
    error = None
    status = 200
    if request.method == "POST":
        try:  # the API's check: restrict(..., "manage")
            account_selectors.project_get(user=request.user, key=key, action="manage")
        except ApplicationError as exc:
            return error_page(request, exc)
        rows = []
        for stage in sla.STAGES:
            for priority in sla.PRIORITIES:
                raw = request.POST.get(f"{stage}__{priority}")
                if raw is None or raw.strip() == "":
                    rows.append(
                        {"stage": stage, "priority": priority, "hours": table[stage][priority]}
                    )
                    continue
                try:
                    hours = int(raw)
                except ValueError:
                    hours = -1
                rows.append({"stage": stage, "priority": priority, "hours": hours})
        try:
            sla.sla_targets_set(user=request.user, project=project, rows=rows)
        except ApplicationError as exc:
            error, status = exc.message, exc.status
        else:
            messages.success(request, _("The service levels were saved."))
            return redirect("comms-sla", key=project.key)
    from changeflow.changes.workflow import State

    labels = dict(State.choices)
    grid = [
        {
            "stage": s,
            "label": labels[s],
            "cells": [(p, f"{s}__{p}", table[s][p]) for p in sla.PRIORITIES],
        }
        for s in sla.STAGES
    ]
    breaches = list(sla.breach_list(user=request.user, project=project)[:300])
    return render(
        request, "comms/sla.html",
        {
            "project": project, "grid": grid, "priorities": sla.PRIORITIES,
            "current": [b for b in breaches if b.current],
            "past": [b for b in breaches if not b.current],
            "can_manage": can_manage, "error": error, "stage_labels": labels,
        },
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_page(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    try:
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
    except ApplicationError as exc:
        return error_page(request, exc)
    mailbox = selectors.mailbox_get(user=request.user, project=project)
    initial = (
        {f: getattr(mailbox, f) for f in services.MAILBOX_FIELDS}
        | {"trusted_certificate": mailbox.trusted_certificate}
        if mailbox
        else {"port": 993, "security": "ssl", "folder": "INBOX", "poll_minutes": 5, "enabled": True}
    )
    form = MailboxForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.mailbox_set(user=request.user, project=project, data=form.cleaned_data)
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The mailbox was saved."))
                return redirect("comms-mailbox", key=project.key)
        status = status if status != 200 else form_status(form)
    quarantine = selectors.quarantine_list(user=request.user, project=project)[:200]
    return render(
        request, "comms/mailbox.html",
        {"project": project, "mailbox": mailbox, "form": form, "quarantine": quarantine},
        status=status,
    )  # fmt: skip


@login_required
@require_POST
def quarantine_action(
    request: AuthenticatedHttpRequest, key: str, pk: int, action: str
) -> HttpResponse:
    try:
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        item = selectors.quarantine_get(user=request.user, pk=pk)
        if item.project_id != project.pk or action not in ("resolve", "retry"):
            raise Http404()
        if action == "resolve":
            services.quarantine_resolve(user=request.user, item=item)
            messages.success(request, _("Marked as dealt with."))
        else:
            record = services.quarantine_retry(user=request.user, item=item)
            messages.success(
                request,
                _("Taken in: %s") % (record.change_request.key if record.change_request else "—"),
            )
    except ApplicationError as exc:
        return error_page(request, exc)
    return redirect("comms-mailbox", key=key)


@require_safe
@login_required
def quarantine_raw(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    try:
        project = account_selectors.project_get(user=request.user, key=key, action="manage")
        item = selectors.quarantine_get(user=request.user, pk=pk)
    except ApplicationError as exc:
        return error_page(request, exc)
    if item.project_id != project.pk:
        raise Http404()
    response = HttpResponse(bytes(item.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="quarantine-{item.pk}.eml"'
    return response
