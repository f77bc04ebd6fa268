"""The CR page's "Links" panel: add a link, remove one, mark the CR as a duplicate.

Thin, like the other panels: the CR through its selector (404 for outsiders), the service's own
role check before the form is read (403), one service call. HTMX posts get the panel back
(``#links``); plain posts are redirected to the CR page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from changeflow.core.errors import ApplicationError, NotFound, ValidationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import error_page

from . import links, selectors, services
from .models import LINK_NOTE_MAX, ChangeRequest, LinkKind
from .workflow import Action


class LinkForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=LinkKind.choices)
    target = forms.CharField(
        label=gettext_lazy("Change request"), max_length=24,
        widget=forms.TextInput(attrs={"placeholder": "ACME-7", "size": 10}),
    )  # fmt: skip
    note = forms.CharField(label=gettext_lazy("Note"), max_length=LINK_NOTE_MAX, required=False)


class MarkDuplicateForm(forms.Form):
    original = forms.CharField(label=gettext_lazy("Original"), max_length=24)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=LINK_NOTE_MAX, required=False)


def links_panel(
    *, user, cr: ChangeRequest, can_withdraw: bool | None = None, form: LinkForm | None = None,
    error: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """What ``changes/_cr_links.html`` shows; ``can_withdraw``: whether the user may withdraw
    the CR now (the page knows it from its actions; read here when not given)."""
    rows = links.link_list(user=user, cr=cr)
    can_link = links.may_link(user, cr)
    if can_withdraw is None:
        can_withdraw = can_link and Action.WITHDRAW in services.available_actions(cr=cr, user=user)
    duplicates = any(r.kind == LinkKind.DUPLICATES and r.direction == "out" for r in rows)
    return {
        "cr": cr,
        "groups": links.grouped(rows),
        "linked_keys": {r.other_key for r in rows},
        "can_link": can_link,
        "can_mark_duplicate": bool(can_link and can_withdraw and not duplicates),
        "form": form or LinkForm(initial={"kind": LinkKind.RELATES_TO}),
        "error": error,
    }


def _cr(request: AuthenticatedHttpRequest, key: str) -> ChangeRequest:
    try:
        return selectors.change_request_get(user=request.user, key=key)
    except NotFound:
        raise Http404() from None


def _refused(request, cr: ChangeRequest, exc: ApplicationError, form=None) -> HttpResponse:
    """A refusal or a mistake: the panel with the message (HTMX), else a 403/404 page for a
    refusal and the CR page with the message for the rest."""
    if isinstance(exc, NotFound) and not request.htmx:
        raise Http404()
    if request.htmx:
        panel = links_panel(user=request.user, cr=cr, form=form, error=exc.message)
        return render(request, "changes/_cr_links.html", {"links": panel}, status=exc.status)
    if exc.status == 403:
        return error_page(request, exc)
    messages.error(request, str(exc.message))
    return redirect(reverse("cr-detail", args=[cr.key]) + "#links")


def _done(request, cr: ChangeRequest, message: str) -> HttpResponse:
    if request.htmx:
        panel = links_panel(user=request.user, cr=cr)
        return render(request, "changes/_cr_links.html", {"links": panel})
    messages.success(request, message)
    return redirect(reverse("cr-detail", args=[cr.key]) + "#links")


@login_required
@require_POST
def link_add(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    try:
        links.require_linker(request.user, cr)
    except ApplicationError as exc:
        return _refused(request, cr, exc)
    form = LinkForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Choose a kind and name the other change request."))
        link = links.link_create(user=request.user, cr=cr, **form.cleaned_data)
    except ApplicationError as exc:
        return _refused(request, cr, exc, form)
    return _done(
        request, cr, _("%(a)s %(label)s %(b)s.")
        % {"a": cr.key, "label": links.label(link.kind, "out"), "b": link.to_cr.key},
    )  # fmt: skip


@login_required
@require_POST
def link_remove(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    cr = _cr(request, key)
    try:
        link = links.link_get(user=request.user, cr=cr, pk=pk)
        links.link_delete(user=request.user, link=link)
    except ApplicationError as exc:
        return _refused(request, cr, exc)
    return _done(request, cr, _("The link was removed."))


@login_required
@require_POST
def mark_duplicate(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Always a whole page: the CR's state changes, not only its links."""
    cr = _cr(request, key)
    try:
        links.require_marker(request.user, cr)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = MarkDuplicateForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Name the change request this one duplicates."))
        cr = links.mark_duplicate(user=request.user, cr=cr, **form.cleaned_data)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            return error_page(request, exc)
        messages.error(request, str(exc.message))
        return redirect(reverse("cr-detail", args=[cr.key]) + "#links")
    messages.success(
        request, _("%(key)s was withdrawn as a duplicate of %(original)s.")
        % {"key": cr.key, "original": form.cleaned_data["original"].strip().upper()},
    )  # fmt: skip
    return redirect("cr-detail", key=cr.key)
