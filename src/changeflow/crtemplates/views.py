"""Pages of CR form templates under the project settings: the list (archive, restore,
reorder), the new-template and edit forms. Project managers only (others of the project: 403;
outsiders: 404).

Thin: selectors read, ``services.require_manager`` runs before a form is read, one service
writes, and an ``ApplicationError`` is shown on the page with its own status.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, or_404

from . import selectors, services
from .forms import FieldFormSet, TemplateForm, definitions_of, formset_initial
from .models import CRTemplate


def _managed(request, key: str):
    """The project, or the refusal page for a member who does not manage it (404 outsiders)."""
    project = or_404(selectors.project_get, user=request.user, key=key)
    try:
        services.require_manager(request.user, project)
    except ApplicationError as exc:
        return project, error_page(request, exc)
    return project, None


def _template(request, project, pk: int) -> CRTemplate:
    return or_404(selectors.template_get, user=request.user, project=project, pk=pk)


def _managed_template(request, key: str, pk: int):
    """The template, or the refusal page (the role is checked before the template is read)."""
    project, denied = _managed(request, key)
    return (None, denied) if denied else (_template(request, project, pk), None)


@login_required
@require_GET
def template_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project, denied = _managed(request, key)
    if denied:
        return denied
    templates = list(
        selectors.template_list(user=request.user, project=project, include_archived=True)
    )
    return render(
        request, "crtemplates/template_list.html",
        {"project": project, "active": [t for t in templates if not t.archived],
         "archived": [t for t in templates if t.archived]},
    )  # fmt: skip


def _form_page(request, project, template: CRTemplate | None) -> HttpResponse:
    if template is None:
        initial: dict = {}
        fields: list = []
    else:
        initial = {
            name: getattr(template, name)
            for name in ("name", "description", "type", "priority", "urgency", "labels", "scaffold")
        }
        fields = formset_initial(template.fields)
    post = request.POST if request.method == "POST" else None
    form = TemplateForm(post, initial=initial)
    formset = FieldFormSet(post, initial=fields, prefix="field")
    status = 200
    if post is not None:
        if form.is_valid() and formset.is_valid():
            data = {**form.cleaned_data, "fields": definitions_of(formset)}
            try:
                if template is None:
                    template = services.template_create(
                        user=request.user, project=project, data=data
                    )
                else:
                    version = request.POST.get("version", "")
                    services.template_update(
                        user=request.user, template=template, data=data,
                        expected_version=int(version) if version.isdigit() else None,
                    )  # fmt: skip
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(
                    request, _("The template %(name)s is saved.") % {"name": data["name"]}
                )
                return redirect("crtemplate-list", key=template.project.key)
        else:
            status = 400
    return render(
        request, "crtemplates/template_form.html",
        {"project": project, "form": form, "formset": formset, "template": template},
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project, denied = _managed(request, key)
    return denied or _form_page(request, project, None)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    project, denied = _managed(request, key)
    return denied or _form_page(request, project, _template(request, project, pk))


@login_required
@require_POST
def template_archive(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    """Archive (``archived=1``) or restore (``archived=0``) a template."""
    template, denied = _managed_template(request, key, pk)
    if denied:
        return denied
    archive = request.POST.get("archived") == "1"
    try:
        services.template_update(user=request.user, template=template, data={"archived": archive})
    except ApplicationError as exc:
        return error_page(request, exc)
    messages.success(
        request,
        (_("%(name)s is archived.") if archive else _("%(name)s is restored."))
        % {"name": template.name},
    )
    return redirect("crtemplate-list", key=template.project.key)


@login_required
@require_POST
def template_move(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    """Move a template one place up (``direction=up``) or down in the list."""
    template, denied = _managed_template(request, key, pk)
    if denied:
        return denied
    services.template_move(
        user=request.user, template=template, up=request.POST.get("direction") == "up"
    )
    return redirect("crtemplate-list", key=template.project.key)
