"""Pages for estimation: estimate / close a Delphi round (from the CR page), the intake
duplicate check (HTMX partial) and the project's calibration page. Thin: selector, service,
render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeType
from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import error_page, or_404

from . import selectors, services
from .forms import ExpertEstimateForm
from .models import Dimension


def _back(cr) -> HttpResponse:
    return redirect(reverse("cr-detail", args=[cr.key]) + "#estimates")


@login_required
@require_POST
def estimate_submit(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = or_404(change_selectors.change_request_get, user=request.user, key=key)
    try:  # who may estimate, before the figures are read
        selectors.require_estimator(request.user, cr.project)
    except ApplicationError as exc:
        return _not_saved(request, cr, exc)
    form = ExpertEstimateForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form[n].label}: {' '.join(str(m) for m in e)}"
            for n, e in form.errors.items()
            if n in form.fields
        )
        messages.error(request, _("The estimate was not saved: %s") % errors)
        return _back(cr)
    try:
        services.expert_estimate_submit(
            user=request.user, cr=cr, effort=form.triple("effort"),
            schedule=form.triple("schedule"), cost=form.triple("cost"),
            comment=form.cleaned_data["comment"],
        )  # fmt: skip
    except ApplicationError as exc:
        return _not_saved(request, cr, exc)
    messages.success(request, _("Your estimate was saved."))
    return _back(cr)


def _not_saved(request: AuthenticatedHttpRequest, cr, exc: ApplicationError) -> HttpResponse:
    """A refusal is a 403 page; any other error goes back to the CR, said in a message."""
    if exc.status == 403:
        return error_page(request, exc)
    messages.error(request, _("The estimate was not saved: %s") % exc.message)
    return _back(cr)


@login_required
@require_POST
def round_close(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = or_404(change_selectors.change_request_get, user=request.user, key=key)
    try:
        rnd = services.estimation_round_close(user=request.user, cr=cr)
    except ApplicationError as exc:
        if exc.status == 403:
            return error_page(request, exc)
        messages.error(request, str(exc.message))
        return _back(cr)
    if rnd.status == "disagreed":
        messages.warning(
            request,
            _("The estimators disagree beyond %(t)d %%: round %(n)d is open for revision.")
            % {"t": round(rnd.threshold * 100), "n": rnd.number + 1},
        )
    else:
        messages.success(request, _("Round %d closed: the estimators agree.") % rnd.number)
    return _back(cr)


@login_required
@require_GET
def intake_similar(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Likely duplicates of what is being typed in the new-CR form (an HTMX partial)."""
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    title = request.GET.get("title", "").strip()[:500]
    body = request.GET.get("description", "").strip()[:4000]
    hits = []
    if len(title) >= 2 or len(body) >= 8:
        hits = selectors.similar_to(user=request.user, project=project, text=title, body=body)
    response = render(request, "impact/_similar_list.html", {"hits": hits, "intake": True})
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def calibration(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    try:
        data = selectors.calibration_summary(user=request.user, project=project)
    except ApplicationError as exc:
        return error_page(request, exc)
    # The page names the dimension and the CR type in the reader's language; the API keeps
    # the codes.
    for group in data["groups"]:
        dim, cr_type = group["dimension"], group["cr_type"]
        group["dimension_label"] = Dimension(dim).label if dim in Dimension.values else dim
        group["cr_type_label"] = (
            ChangeType(cr_type).label if cr_type in ChangeType.values else cr_type
        )
    return render(request, "impact/calibration.html", {"project": project, **data})
