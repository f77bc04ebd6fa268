"""Pages of the requirements area: requirements (tree, page, forms), baselines and their diff,
artifacts, trace links, the traceability matrix, import and export.

Thin, like the change-request pages: read through selectors (which apply the permission
filter: objects of other projects are 404), call one service, render. Readers are every
member; project managers and tech leads (and site admins) write — others get a 403 page
saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project, User
from changeflow.core.access import role_in
from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import (
    add_errors,
    error_page,
    form_status,
    or_404,
    render_results,
    stage_upload,
    staged_upload,
    unstage_upload,
)

from . import io as req_io
from . import matrix as trace_matrix
from . import selectors, services
from .forms import (
    ArtifactEditForm,
    ArtifactForm,
    BaselineForm,
    ImportForm,
    LinkForm,
    MatrixFilterForm,
    RequirementEditForm,
    RequirementFilterForm,
    RequirementForm,
)
from .models import Artifact, LinkKind, Requirement

PAGE_SIZE = 50


def _project(request: AuthenticatedHttpRequest, key: str) -> Project:
    return or_404(account_selectors.project_get, user=request.user, key=key)


def can_edit(user: User, project: Project) -> bool:
    return user.is_superuser or role_in(user, project) in services.EDITOR_ROLES


def _forbidden(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(
        request,
        "error.html",
        {"message": _("Only project managers and tech leads change requirements.")},
        status=403,
    )


def _ctx(
    request: AuthenticatedHttpRequest, project: Project, section: str, **extra: Any
) -> dict[str, Any]:
    return {"project": project, "section": section,
            "can_edit": can_edit(request.user, project), **extra}  # fmt: skip


def _next_url(request: AuthenticatedHttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _submit(form: forms.BaseForm, save: Callable[[], HttpResponse]) -> HttpResponse | int:
    """Handle a posted ``form``: when it is valid, ``save()`` (the service call, then the
    message and the redirect) and answer what it answers. Otherwise the status of the page that
    shows the form again: 400 for an invalid form, or the service's error status (its messages
    put on the form)."""
    if not form.is_valid():
        return form_status(form)
    try:
        return save()
    except ApplicationError as exc:
        add_errors(form, exc)
        return exc.status


def _edit(
    request: AuthenticatedHttpRequest,
    form: forms.BaseForm,
    update: Callable[..., object],
    to: str,
    key: str,
) -> HttpResponse | int:
    """An item's edit form: on POST, ``update(data, change_request=, expected_version=)`` with
    what the form changes (its changed fields but the version and change request, which say how
    to save, not what), then back to the item's page (saying so when anything changed).
    Otherwise, or when the form or the service refuses, the status of the page to show."""
    if request.method != "POST":
        return 200

    def save() -> HttpResponse:
        data = {n: form.cleaned_data[n] for n in form.changed_data
                if n not in ("version", "change_request")}  # fmt: skip
        update(
            data,
            change_request=form.cleaned_data["change_request"].strip() or None,
            expected_version=form.cleaned_data["version"],
        )
        if data:
            messages.success(request, _("Your changes were saved."))
        return redirect(to, key=key)

    return _submit(form, save)


# ---------------------------------------------------------------- requirements


@login_required
@require_GET
def requirement_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """The tree of requirements (by parent), or a flat list when filtered or searched."""
    project = _project(request, key)
    form = RequirementFilterForm(request.GET or None)
    filters: dict[str, str] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    base = selectors.requirement_list(user=request.user, project=project)
    # The page of requirements (filtered) or of (pk, depth) pairs (tree); rows is what shows.
    page: Page[Requirement] | Page[tuple[int, int]]
    rows: list[tuple[Requirement, int]]
    if filters:
        qs = base
        if filters.get("kind"):
            qs = qs.filter(kind=filters["kind"])
        if filters.get("status"):
            qs = qs.filter(status=filters["status"])
        if filters.get("q"):
            from django.db.models import Q

            q = filters["q"]
            qs = qs.filter(Q(key__icontains=q) | Q(title__icontains=q) | Q(text__icontains=q))
        req_page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [(r, 0) for r in req_page.object_list]
        page = req_page
    else:
        order = selectors.requirement_tree(user=request.user, project=project)
        tree_page = Paginator(order, PAGE_SIZE).get_page(request.GET.get("page"))
        found = base.in_bulk([pk for pk, _depth in tree_page.object_list])
        rows = [(found[pk], depth) for pk, depth in tree_page.object_list if pk in found]
        page = tree_page
    query = request.GET.copy()
    query.pop("page", None)
    context = _ctx(
        request, project, "requirements", form=form, page=page, rows=rows,
        filtered=bool(filters), query=query.urlencode(),
    )  # fmt: skip
    return render_results(
        request, "requirements/requirement_list.html", context, invalid=bool(form.errors)
    )


@login_required
@require_http_methods(["GET", "POST"])
def requirement_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    if not can_edit(request.user, project):
        return _forbidden(request)
    form = RequirementForm(request.POST or None, initial={"parent": request.GET.get("parent")})
    status = 200
    if request.method == "POST":

        def save() -> HttpResponse:
            data = dict(form.cleaned_data)
            data["parent"] = data["parent"].strip() or None
            req = services.requirement_create(user=request.user, project=project, **data)
            messages.success(request, _("%(key)s was created.") % {"key": req.key})
            return redirect("requirement-detail", key=req.key)

        outcome = _submit(form, save)
        if isinstance(outcome, HttpResponse):
            return outcome
        status = outcome
    return render(
        request,
        "requirements/requirement_form.html",
        _ctx(request, project, "requirements", form=form),
        status=status,
    )


def _requirement(request: AuthenticatedHttpRequest, key: str) -> Requirement:
    return or_404(selectors.requirement_get, user=request.user, key=key)


@login_required
@require_GET
def requirement_detail(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    req = _requirement(request, key)
    incoming, outgoing = selectors.links_of(user=request.user, item=req)
    children = selectors.requirement_list(user=request.user, project=req.project).filter(parent=req)
    baselined = services.is_baselined(req)
    return render(
        request,
        "requirements/requirement_detail.html",
        _ctx(
            request, req.project, "requirements", req=req, incoming=incoming,
            outgoing=outgoing, children=children, baselined=baselined,
            versions=selectors.version_list(user=request.user, requirement=req),
            link_form=LinkForm(initial={"target": req.key, "next": request.path}),
        ),
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def requirement_edit(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    req = _requirement(request, key)
    if not can_edit(request.user, req.project):
        return _forbidden(request)
    initial = {
        "title": req.title, "text": req.text, "kind": req.kind, "priority": req.priority,
        "status": req.status, "parent": req.parent.key if req.parent else "",
        "version": req.version,
    }  # fmt: skip
    form = RequirementEditForm(request.POST or None, initial=initial)
    baselined = services.is_baselined(req)

    def update(data: dict[str, Any], **how: Any) -> None:
        if "parent" in data:
            data["parent"] = data["parent"].strip() or None
        services.requirement_update(user=request.user, requirement=req, data=data, **how)

    status = _edit(request, form, update, "requirement-detail", req.key)
    if isinstance(status, HttpResponse):
        return status
    return render(
        request,
        "requirements/requirement_form.html",
        _ctx(request, req.project, "requirements", form=form, req=req, baselined=baselined),
        status=status,
    )


# ---------------------------------------------------------------- baselines


@login_required
@require_http_methods(["GET", "POST"])
def baseline_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    form = BaselineForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_edit(request.user, project):
            return _forbidden(request)

        def save() -> HttpResponse:
            baseline = services.baseline_create(
                user=request.user, project=project, **form.cleaned_data
            )
            messages.success(request, _("Baseline %(name)s was created.") % {"name": baseline.name})
            return redirect("baseline-list", key=project.key)

        outcome = _submit(form, save)
        if isinstance(outcome, HttpResponse):
            return outcome
        status = outcome
    baselines = list(selectors.baseline_list(user=request.user, project=project)[:200])
    return render(
        request,
        "requirements/baseline_list.html",
        _ctx(
            request,
            project,
            "baselines",
            form=form,
            baselines=baselines,
            pairs=list(zip(baselines, [*baselines[1:], None], strict=True)),
        ),  # fmt: skip
        status=status,
    )


@login_required
@require_GET
def baseline_diff(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """What changed from baseline ``against`` to baseline ``name`` (any two)."""
    project = _project(request, key)
    baselines = list(selectors.baseline_list(user=request.user, project=project)[:200])
    name, against = request.GET.get("name", ""), request.GET.get("against", "")
    diff = None
    if name and against:
        new = or_404(selectors.baseline_get, user=request.user, project=project, name=name)
        old = or_404(selectors.baseline_get, user=request.user, project=project, name=against)
        diff = services.baseline_diff(baseline=new, against=old)
    elif len(baselines) >= 2 and not (name or against):
        query = urlencode({"name": baselines[0].name, "against": baselines[1].name})
        return redirect(f"{request.path}?{query}")
    return render(
        request,
        "requirements/baseline_diff.html",
        _ctx(
            request,
            project,
            "baselines",
            baselines=baselines,
            diff=diff,
            name=name,
            against=against,
        ),  # fmt: skip
    )


# ---------------------------------------------------------------- artifacts


@login_required
@require_http_methods(["GET", "POST"])
def artifact_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    form = ArtifactForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_edit(request.user, project):
            return _forbidden(request)

        def save() -> HttpResponse:
            art = services.artifact_create(user=request.user, project=project, **form.cleaned_data)
            messages.success(request, _("%(key)s was created.") % {"key": art.key})
            return redirect("artifact-detail", key=art.key)

        outcome = _submit(form, save)
        if isinstance(outcome, HttpResponse):
            return outcome
        status = outcome
    qs = selectors.artifact_list(user=request.user, project=project)
    kind = request.GET.get("kind", "")
    if kind:
        qs = qs.filter(kind=kind)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "requirements/artifact_list.html",
        _ctx(request, project, "artifacts", form=form, page=page, kind=kind),
        status=status,
    )


def _artifact(request: AuthenticatedHttpRequest, key: str) -> Artifact:
    return or_404(selectors.artifact_get, user=request.user, key=key)


@login_required
@require_GET
def artifact_detail(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    art = _artifact(request, key)
    incoming, outgoing = selectors.links_of(user=request.user, item=art)
    return render(
        request,
        "requirements/artifact_detail.html",
        _ctx(
            request, art.project, "artifacts", art=art, incoming=incoming, outgoing=outgoing,
            versions=selectors.artifact_version_list(user=request.user, artifact=art),
            link_form=LinkForm(initial={"source": art.key, "next": request.path}),
        ),
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def artifact_edit(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    art = _artifact(request, key)
    if not can_edit(request.user, art.project):
        return _forbidden(request)
    initial = {"kind": art.kind, "title": art.title, "description": art.description,
               "version": art.version}  # fmt: skip
    form = ArtifactEditForm(request.POST or None, initial=initial)
    status = _edit(
        request, form,
        lambda data, **how: services.artifact_update(
            user=request.user, artifact=art, data=data, **how),
        "artifact-detail", art.key,
    )  # fmt: skip
    if isinstance(status, HttpResponse):
        return status
    return render(
        request,
        "requirements/artifact_form.html",
        _ctx(request, art.project, "artifacts", form=form, art=art),
        status=status,
    )


# ---------------------------------------------------------------- links


@login_required
@require_POST
def link_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    if not can_edit(request.user, project):
        return _forbidden(request)
    form = LinkForm(request.POST)
    back = _next_url(request, reverse("matrix", args=[project.key]))
    if not form.is_valid():
        messages.error(request, _("The link was not created: fill in source, kind and target."))
        return redirect(back)
    data = {k: form.cleaned_data[k].strip() for k in ("source", "target", "kind")}
    try:
        services.link_create(user=request.user, project=project, **data)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404() from None
        problems = "; ".join(str(m) for ms in exc.fields.values() for m in ms)
        messages.error(request, f"{exc.message} {problems}".strip())
        return redirect(back)
    messages.success(
        request,
        _("Linked: %(source)s %(kind)s %(target)s.")
        % {"source": data["source"], "kind": data["kind"], "target": data["target"]},
    )
    return redirect(back)


def _link_action(request: AuthenticatedHttpRequest, key: str, pk: int, action: str) -> HttpResponse:
    project = _project(request, key)
    link = or_404(selectors.link_get, user=request.user, project=project, pk=pk)
    if not can_edit(request.user, project):
        return _forbidden(request)
    try:
        if action == "review":
            services.link_review(user=request.user, link=link)
            messages.success(request, _("The link was reviewed: it is no longer suspect."))
        else:
            services.link_delete(user=request.user, link=link)
            messages.success(request, _("The link was deleted."))
    except ApplicationError as exc:
        return error_page(request, exc)
    return redirect(_next_url(request, reverse("matrix", args=[project.key])))


@login_required
@require_POST
def link_review(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    return _link_action(request, key, pk, "review")


@login_required
@require_POST
def link_delete(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    return _link_action(request, key, pk, "delete")


# ---------------------------------------------------------------- matrix


@login_required
@require_GET
def matrix(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    form = MatrixFilterForm(request.GET or None)
    try:
        filters = trace_matrix.Filters.parse(request.GET)
    except ApplicationError:
        form.is_valid()
        filters = trace_matrix.Filters()
    qs = trace_matrix.rows(user=request.user, project=project, filters=filters)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    data = trace_matrix.page_of(project=project, filters=filters, requirements=list(page))
    # The page names each link's kind in the reader's language ("细化", not "refines"); the
    # API and the export keep the codes.
    for row in data["rows"]:
        for link in [*row["requirements"], *(link for cell in row["cells"] for link in cell)]:
            link["label"] = LinkKind(link["kind"]).label
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "requirements/matrix.html",
        _ctx(
            request,
            project,
            "matrix",
            form=form,
            page=page,
            data=data,
            query=query.urlencode(),
            filtered=filters.active,
        ),  # fmt: skip
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def matrix_export(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        filters = trace_matrix.Filters.parse(request.GET)
        content, content_type, name = trace_matrix.export(
            user=request.user, project=project, filters=filters,
            fmt=request.GET.get("format", "csv"),
        )  # fmt: skip
    except ApplicationError as exc:
        return error_page(request, exc)
    return _download(content, content_type, name)


# ---------------------------------------------------------------- import / export


def _download(content: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def requirement_export(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        content, content_type, name = req_io.requirements_export(
            user=request.user, project=project, fmt=request.GET.get("format", "csv")
        )
    except ApplicationError as exc:
        return error_page(request, exc)
    return _download(content, content_type, name)


_STAGED = "requirements_import"  # the session's key of the file between preview and confirm


@login_required
@require_http_methods(["GET", "POST"])
def requirement_import(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Upload → dry-run preview (nothing written) → confirm (the same file, imported).

    Between the two steps the file waits in the default storage under a random token kept in
    the user's session, so nobody else can confirm (or read) it."""
    project = _project(request, key)
    if not can_edit(request.user, project):
        return _forbidden(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    context = _ctx(request, project, "requirements", form=form)
    if request.method == "POST" and request.POST.get("confirm"):
        found = staged_upload(request, _STAGED, request.POST.get("token", ""), project.key)
        if found is None:
            messages.error(request, _("That preview has expired; upload the file again."))
            return redirect("requirement-import", key=project.key)
        raw, staged = found
        try:
            parsed = req_io.parse(raw, filename=staged["filename"])
            report = req_io.requirements_import(
                user=request.user, project=project, parsed=parsed,
                change_request=staged.get("change_request") or None,
                filename=staged["filename"],
            )  # fmt: skip
        except ApplicationError as exc:
            context["error"] = exc
            return render(request, "requirements/import.html", context, status=exc.status)
        unstage_upload(request, _STAGED)
        messages.success(
            request,
            _("Imported: %(added)d added, %(modified)d modified, %(unchanged)d unchanged.")
            % report,
        )
        return redirect("requirement-list", key=project.key)
    status = 200
    if request.method == "POST":
        status = form_status(form)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            cr = form.cleaned_data["change_request"].strip()
            try:
                raw = req_io.upload_bytes(upload)
                parsed = req_io.parse(raw, filename=upload.name)
                report = req_io.requirements_import(
                    user=request.user, project=project, parsed=parsed,
                    change_request=cr or None, dry_run=True, filename=upload.name,
                )  # fmt: skip
            except ApplicationError as exc:
                context["error"] = exc
                status = exc.status
            else:
                token = stage_upload(
                    request, _STAGED, raw, project=project.key, filename=upload.name,
                    change_request=cr,
                )  # fmt: skip
                changes = [i for i in report["items"] if i["action"] != "unchanged"]
                context.update(
                    report=report, token=token, filename=upload.name, changes=changes[:500]
                )
    return render(request, "requirements/import.html", context, status=status)
