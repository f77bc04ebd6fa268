"""Pages of process templates: a project's process (summary, apply a template, preset or
uploaded document after a preview, save it as a template), and the site-wide list of templates
(presets and saved ones), each saved one's page (edit, archive, restore) and the new-template
form.

Thin: selectors read and check who may (a project's process: its managers; other members 403,
outsiders 404), one service writes, and an ``ApplicationError`` is shown with its own status.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, or_404

from . import definitions, presets, selectors, services
from .forms import (
    PART_LABELS,
    SaveForm,
    SourceForm,
    TemplateForm,
    UploadForm,
    change_rows,
    document_text,
    part_rows,
    source_arguments,
)
from .models import ProcessTemplate

MAX_UPLOAD = 1024 * 1024


def _project(request, key: str):
    """The project whose process the user manages, or the refusal page (404 outsiders)."""
    try:
        return selectors.project_get(user=request.user, key=key), None
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404() from None
        return None, error_page(request, exc)


def _page(request, project, *, save_form=None, source_form=None, upload_form=None, status=200):
    current = services.process_of(project)
    return render(
        request, "processes/project_process.html",
        {"project": project, "rows": part_rows(current),
         "save_form": save_form or SaveForm(),
         "source_form": source_form or SourceForm(user=request.user),
         "upload_form": upload_form or UploadForm()},
        status=status,
    )  # fmt: skip


@login_required
@require_GET
def project_process(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project, denied = _project(request, key)
    return denied or _page(request, project)


def _preview_page(request, project, source, *, chosen=None, status=200, error=None):
    try:
        result = services.process_apply(
            user=request.user, project=project, source=source, parts=chosen, dry_run=True
        )
    except ApplicationError as exc:
        return error_page(request, exc)
    for part in result["parts"]:
        part["label"] = PART_LABELS[part["part"]]
        part["rows"] = change_rows(part["part"], part["changes"])
    return render(
        request, "processes/apply_preview.html",
        {"project": project, "result": result, "source": source,
         "source_value": request.GET.get("source") or request.POST.get("source", ""),
         "document": json.dumps(source.document, ensure_ascii=False), "error": error},
        status=status,
    )  # fmt: skip


def _source_from_post(request):
    """The source a preview or apply form names: ``source`` (preset or template) or the
    ``document`` JSON carried from an upload."""
    raw = request.POST.get("document_json", "")
    if raw:
        try:
            return services.source_of(user=request.user, document=json.loads(raw))
        except ValueError:
            return services.source_of(user=request.user, document=raw)
    return services.source_of(user=request.user, **source_arguments(request.POST.get("source")))


@login_required
@require_http_methods(["GET", "POST"])
def process_apply(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """GET ``?source=preset:<slug>|template:<id>``, or POST an uploaded ``document``: the
    preview. POST ``confirm`` with the parts chosen: apply them."""
    project, denied = _project(request, key)
    if denied:
        return denied
    try:
        if request.method == "GET":
            if "source" not in request.GET:  # nothing chosen yet: choose on the process page
                return redirect("process-settings", key=project.key)
            form = SourceForm(request.GET, user=request.user)
            if not form.is_valid():
                return _page(request, project, source_form=form, status=400)
            source = services.source_of(
                user=request.user, **source_arguments(form.cleaned_data["source"])
            )
            return _preview_page(request, project, source)
        if "confirm" not in request.POST:
            upload = UploadForm(request.POST, request.FILES)
            if not upload.is_valid():
                return _page(request, project, upload_form=upload, status=400)
            file = upload.cleaned_data["document"]
            if file.size > MAX_UPLOAD:
                upload.add_error("document", _("At most 1 MB."))
                return _page(request, project, upload_form=upload, status=413)
            try:
                document = json.loads(file.read().decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                upload.add_error("document", _("The file is not JSON."))
                return _page(request, project, upload_form=upload, status=400)
            source = services.source_of(user=request.user, document=document)
            return _preview_page(request, project, source)
        source = _source_from_post(request)
    except ApplicationError as exc:
        return error_page(request, exc)
    chosen = request.POST.getlist("parts")
    if not chosen:
        return _preview_page(
            request, project, source, status=400, error=_("Choose at least one part to apply.")
        )
    try:
        result = services.process_apply(
            user=request.user, project=project, source=source, parts=chosen
        )
    except ApplicationError as exc:
        return _preview_page(request, project, source, chosen=chosen, status=exc.status,
                             error=exc.message)  # fmt: skip
    messages.success(
        request,
        _("Applied: %(parts)s.")
        % {"parts": ", ".join(str(PART_LABELS[p]) for p in result["applied_parts"])},
    )
    return redirect("process-settings", key=project.key)


@login_required
@require_POST
def process_save(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Save the project's process as a new site-wide template."""
    project, denied = _project(request, key)
    if denied:
        return denied
    form = SaveForm(request.POST)
    if not form.is_valid():
        return _page(request, project, save_form=form, status=400)
    try:
        template = services.template_create(
            user=request.user, name=form.cleaned_data["name"],
            description=form.cleaned_data["description"], project=project,
        )  # fmt: skip
    except ApplicationError as exc:
        add_errors(form, exc)
        return _page(request, project, save_form=form, status=exc.status)
    messages.success(request, _("The process is saved as %(name)s.") % {"name": template.name})
    return redirect("process-template-detail", pk=template.pk)


# ---------------------------------------------------------------- site-wide templates


@login_required
@require_GET
def template_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        selectors.require_viewer(request.user)
    except ApplicationError as exc:
        return error_page(request, exc)
    saved = list(selectors.template_list(user=request.user, include_archived=True))
    return render(
        request, "processes/template_list.html",
        {"presets": [{"preset": p, "rows": part_rows(p.document)} for p in presets.PRESETS],
         "active": [t for t in saved if not t.archived],
         "archived": [t for t in saved if t.archived],
         "may_create": selectors.may_create(request.user)},
    )  # fmt: skip


def _form_page(request, template: ProcessTemplate | None) -> HttpResponse:
    editable = template is None or selectors.may_edit(request.user, template)
    initial = (
        {"document": document_text({"version": definitions.VERSION})}
        if template is None
        else {"name": template.name, "description": template.description,
              "document": document_text(template.document)}
    )  # fmt: skip
    form = TemplateForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                if template is None:
                    template = services.template_create(user=request.user, **data)
                else:
                    version = request.POST.get("version", "")
                    template = services.template_update(
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
                return redirect("process-template-detail", pk=template.pk)
        else:
            status = 400
    return render(
        request, "processes/template_form.html",
        {"form": form, "template": template, "editable": editable,
         "rows": part_rows(template.document) if template else []},
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        selectors.require_creator(request.user)
    except ApplicationError as exc:
        return error_page(request, exc)
    return _form_page(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def template_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    template = or_404(selectors.template_get, user=request.user, pk=pk)
    if request.method == "POST":
        try:
            selectors.require_editor(request.user, template)
        except ApplicationError as exc:
            return error_page(request, exc)
    return _form_page(request, template)


@login_required
@require_POST
def template_archive(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Archive (``archived=1``) or restore (``archived=0``) a saved template."""
    template = or_404(selectors.template_get, user=request.user, pk=pk)
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
    return redirect("process-template-list")
