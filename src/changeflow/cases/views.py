"""Pages of the case library: the project's and the organisation's libraries, the comparison
of 2–4 cases, marking or editing a CR's case, and rating a closed CR's outcome.

Thin: selectors read (404 for what the user may not see), one service writes, and an
``ApplicationError`` is shown on the page with its own status.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import selectors as change_selectors
from changeflow.changes.workflow import FINAL_STATES
from changeflow.core.errors import ApplicationError, ValidationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, form_status, or_404, paged, render_results

from . import selectors, services
from .forms import CaseFilterForm, CaseForm, RatingForm

PAGE_SIZE = 50


@login_required
@require_GET
def case_library(request: AuthenticatedHttpRequest, key: str | None = None) -> HttpResponse:
    """The cases of one project, or of every project the user sees; searched and filtered.
    An HTMX request gets only the results partial; the same URL works without JS."""
    project = or_404(account_selectors.project_get, user=request.user, key=key) if key else None
    form = CaseFilterForm(
        request.GET or None, tags=selectors.tags_in_use(user=request.user, project=project)
    )
    filters = {}
    if form.is_bound and form.is_valid():
        filters = selectors.clean_filters(form.cleaned_data)
    qs = selectors.case_list(user=request.user, project=project, filters=filters)
    page, query = paged(request, qs, PAGE_SIZE)
    context = {
        "project": project,
        "form": form,
        "page": page,
        "rows": [(case, selectors.figures_of(case)) for case in page.object_list],
        "query": query,
        "filtered": bool(filters),
        "rating": selectors.project_rating_summary(project=project) if project else None,
    }
    return render_results(request, "cases/case_list.html", context, invalid=bool(form.errors))


@login_required
@require_GET
def case_compare(request: AuthenticatedHttpRequest) -> HttpResponse:
    """2–4 cases side by side: their figures and their qualitative notes. Without a choice,
    the page says how to make one (the library's form sends none when nothing is ticked)."""
    keys = [k for k in request.GET.getlist("cases") if k.strip()]
    if not keys:
        return render(request, "cases/case_compare.html", {"columns": []})
    try:
        cases = or_404(selectors.cases_to_compare, user=request.user, keys=keys)
    except ValidationError as exc:
        return error_page(request, exc)
    columns = [(case, selectors.figures_of(case)) for case in cases]
    return render(request, "cases/case_compare.html", {"columns": columns})


@login_required
@require_http_methods(["GET", "POST"])
def case_edit(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Mark a CR in a final state as a case, or edit its case."""
    cr = or_404(change_selectors.change_request_get, user=request.user, key=key)
    try:
        services.require_case_editor(request.user, cr.project)
    except ApplicationError as exc:
        return error_page(request, exc)
    case = selectors.case_of(user=request.user, cr=cr)
    if case is None and cr.state not in FINAL_STATES:
        return render(
            request, "error.html",
            {"message": _("Only a closed, rejected or withdrawn change request can be a case.")},
            status=409,
        )  # fmt: skip
    initial = {}
    if case is not None:
        initial = {
            "outcome": case.outcome, "root_causes": case.root_causes, "lessons": case.lessons,
            "tags": ", ".join(case.tags), "archived": case.archived, "version": case.version,
        }  # fmt: skip
    form = CaseForm(request.POST or None, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            if case is None:
                data.pop("archived")
                services.case_mark(user=request.user, cr=cr, **data)
            else:
                services.case_update(
                    user=request.user, case=case, data=data, expected_version=version
                )
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("The case was saved."))
            return redirect("cr-detail", key=cr.key)
    return render(
        request, "cases/case_form.html", {"cr": cr, "case": case, "form": form}, status=status
    )


@login_required
@require_POST
def cr_rate(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Rate a closed CR's outcome (or change one's rating)."""
    cr = or_404(change_selectors.change_request_get, user=request.user, key=key)
    try:
        services.require_rater(request.user, cr)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = RatingForm(request.POST)
    if not form.is_valid():
        return render(
            request, "cases/rating_form.html", {"cr": cr, "form": form}, status=form_status(form)
        )
    try:
        services.rating_set(user=request.user, cr=cr, **form.cleaned_data)
    except ApplicationError as exc:
        add_errors(form, exc)
        return render(request, "cases/rating_form.html", {"cr": cr, "form": form},
                      status=exc.status)  # fmt: skip
    messages.success(request, _("Thank you: your rating was saved."))
    return redirect("cr-detail", key=cr.key)
