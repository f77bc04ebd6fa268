"""Pages of a change request's change set: propose, change, remove, rebase and apply edits.

The panel itself is part of the CR page (``requirements/_cr_panel.html``, context from
``cr_selectors.cr_panel``); these views only take the posts and show the forms, then go back
to the CR page (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from changeflow.changes import selectors as change_selectors
from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, or_404

from . import changesets, cr_selectors
from .forms import lf_line_ends
from .models import TEXT_MAX, TITLE_MAX, ChangeSetEdit, EditOp, Kind, Requirement
from .models import RequirementPriority as Priority
from .models import RequirementStatus as Status

if TYPE_CHECKING:
    from changeflow.changes.models import ChangeRequest
    from changeflow.core.errors import PermissionDenied


class EditForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=TITLE_MAX)
    text = forms.CharField(
        label=gettext_lazy("Text"),
        max_length=TEXT_MAX,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Kind.choices)
    priority = forms.ChoiceField(label=gettext_lazy("Priority"), choices=Priority.choices)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=Status.choices)
    parent = forms.CharField(
        label=gettext_lazy("Parent"),
        max_length=32,
        required=False,
        help_text=gettext_lazy("Key of the parent requirement, e.g. ACME-R-1; empty for none."),
    )

    def clean_text(self) -> str:
        return lf_line_ends(self.cleaned_data["text"])

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["parent"] = (data.get("parent") or "").strip() or None
        return data


def _cr(request: AuthenticatedHttpRequest, key: str) -> ChangeRequest:
    return or_404(change_selectors.change_request_get, user=request.user, key=key)


def _back(cr: ChangeRequest) -> HttpResponse:
    return redirect(reverse("cr-detail", args=[cr.key]) + "#change-set")


def _form_page(
    request: AuthenticatedHttpRequest,
    cr: ChangeRequest,
    form: forms.Form,
    *,
    title: str,
    requirement: Requirement | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "requirements/change_set_edit.html",
        {"cr": cr, "form": form, "heading": title, "requirement": requirement},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit_new(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Propose a new requirement (``?op=add``) or a change to one (``?op=modify&requirement=``)."""
    cr = _cr(request, key)
    if not changesets.may_draft(request.user, cr):
        return error_page(request, _denied())
    op = request.GET.get("op") or request.POST.get("op") or EditOp.ADD
    target = None
    initial: dict[str, Any] = dict(changesets.ADD_DEFAULTS)
    if op == EditOp.MODIFY:
        key_ = request.GET.get("requirement") or request.POST.get("requirement") or ""
        target = (
            Requirement.objects.filter(project_id=cr.project_id, key=key_.strip())
            .select_related("parent")
            .first()
        )
        if target is None:
            messages.error(request, _("Choose a requirement of this project to change."))
            return _back(cr)
        initial = changesets.version_values(target)
    elif op != EditOp.ADD:
        op = EditOp.ADD
    heading = _("Propose a change to %s") % target.key if target else _("Propose a new requirement")
    form = EditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            changesets.edit_create(
                user=request.user,
                cr=cr,
                op=op,
                requirement=target.key if target else None,
                fields=form.values(),
            )
        except ApplicationError as exc:
            add_errors(form, exc)
            return _form_page(
                request, cr, form, title=heading, requirement=target, status=exc.status
            )
        messages.success(request, _("The edit was added to the change set."))
        return _back(cr)
    status = 400 if request.method == "POST" else 200
    return _form_page(request, cr, form, title=heading, requirement=target, status=status)


def _denied() -> PermissionDenied:
    from changeflow.core.errors import PermissionDenied

    return PermissionDenied(
        _("Only project managers and tech leads change the change set, while the change "
          "request is assessed.")
    )  # fmt: skip


def _edit(cr: ChangeRequest, edit_id: int) -> ChangeSetEdit:
    from django.http import Http404

    edit = (
        ChangeSetEdit.objects.filter(change_request=cr, pk=edit_id)
        .select_related("requirement__parent")
        .first()
    )
    if edit is None:
        raise Http404()
    return edit


@login_required
@require_http_methods(["GET", "POST"])
def edit_change(request: AuthenticatedHttpRequest, key: str, edit_id: int) -> HttpResponse:
    cr = _cr(request, key)
    edit = _edit(cr, edit_id)
    if not changesets.may_draft(request.user, cr):
        return error_page(request, _denied())
    if edit.op == EditOp.REMOVE:
        return _back(cr)
    base = changesets.ADD_DEFAULTS if edit.op == EditOp.ADD else changesets._base_values(edit)
    form = EditForm(request.POST or None, initial={**base, **edit.proposed})
    heading = _("Change the proposed edit of %s") % (edit.requirement.key if edit.requirement else
                                                     edit.proposed.get("title", ""))  # fmt: skip
    if request.method == "POST" and form.is_valid():
        try:
            changesets.edit_update(user=request.user, cr=cr, edit_id=edit.pk, fields=form.values())
        except ApplicationError as exc:
            add_errors(form, exc)
            return _form_page(request, cr, form, title=heading, requirement=edit.requirement,
                              status=exc.status)  # fmt: skip
        messages.success(request, _("The edit was changed."))
        return _back(cr)
    status = 400 if request.method == "POST" else 200
    return _form_page(request, cr, form, title=heading, requirement=edit.requirement, status=status)


def _post(
    request: AuthenticatedHttpRequest, cr: ChangeRequest, call: Callable[[], object], done: str
) -> HttpResponse:
    try:
        call()
    except ApplicationError as exc:
        if exc.status in (403, 404):
            return error_page(request, exc)
        messages.error(request, str(exc.message))
        for items in (exc.fields or {}).values():
            for item in items if isinstance(items, list) else [items]:
                messages.error(request, str(item))
        return _back(cr)
    messages.success(request, done)
    return _back(cr)


@login_required
@require_POST
def edit_delete(request: AuthenticatedHttpRequest, key: str, edit_id: int) -> HttpResponse:
    cr = _cr(request, key)
    return _post(
        request, cr,
        lambda: changesets.edit_delete(user=request.user, cr=cr, edit_id=edit_id),
        _("The edit was taken out of the change set."),
    )  # fmt: skip


@login_required
@require_POST
def edit_remove(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    target = (request.POST.get("requirement") or "").strip()
    return _post(
        request, cr,
        lambda: changesets.edit_create(user=request.user, cr=cr, op=EditOp.REMOVE,
                                       requirement=target),
        _("Retiring %s was added to the change set.") % target,
    )  # fmt: skip


@login_required
@require_POST
def apply(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    result: dict[str, Any] = {}

    def call() -> None:
        result.update(changesets.change_set_apply(user=request.user, cr=cr))

    response = _post(request, cr, call, _("The change set was applied."))
    if result and not result["applied"]:
        messages.info(request, _("The change set had already been applied; nothing changed."))
    return response


class RebaseForm(forms.Form):
    def __init__(self, *args: Any, conflicts: list[str], **kw: Any) -> None:
        super().__init__(*args, **kw)
        for f in conflicts:
            self.fields[f] = forms.ChoiceField(
                label=str(cr_selectors.FIELD_LABELS[f]),
                choices=[("mine", _("Keep mine")), ("theirs", _("Take theirs"))],
                widget=forms.RadioSelect,
            )


@login_required
@require_http_methods(["GET", "POST"])
def rebase(request: AuthenticatedHttpRequest, key: str, edit_id: int) -> HttpResponse:
    """The 3-way view of a stale edit and, for fields changed on both sides, mine or theirs."""
    cr = _cr(request, key)
    edit = _edit(cr, edit_id)
    if not (request.user.is_superuser or cr_selectors._is_editor(request.user, cr)):
        return error_page(request, _denied())
    if edit.op == EditOp.ADD:
        return _back(cr)
    view = changesets.three_way(edit)
    form = RebaseForm(request.POST or None, conflicts=view["conflicts"])
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                kept = changesets.edit_rebase(
                    user=request.user, cr=cr, edit_id=edit.pk, resolutions=form.cleaned_data
                )
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(
                    request,
                    _("The edit now starts from the current version.")
                    if kept
                    else _(
                        "The current version already says everything the edit proposed: "
                        "the edit was dropped."
                    ),  # fmt: skip
                )
                return _back(cr)
        else:
            status = 400
    for row in view["fields"]:
        row["label"] = cr_selectors.FIELD_LABELS[row["field"]]
        row["choice"] = form[row["field"]] if row["conflict"] else None
    return render(
        request,
        "requirements/change_set_rebase.html",
        {"cr": cr, "edit": edit, "view": view, "form": form},
        status=status,
    )
