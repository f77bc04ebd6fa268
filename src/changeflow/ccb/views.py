"""Browser pages of the Change Control Board: its settings (members, roles, weights, chair,
policy, delegation, freeze windows), each member's pending votes, the emergency approvals
awaiting ratification and the supervision of approved changes. Thin: parse, one service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Role
from changeflow.core.access import manages
from changeflow.core.errors import ApplicationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import error_page, or_404

from . import decisions, selectors, services
from .models import BOARD_ROLES, FreezeWindow, Rule

ROLE_LABELS = dict(Role.choices)


class DelegationForm(forms.Form):
    max_effort_hours = forms.DecimalField(
        label=gettext_lazy("Max effort (hours)"), required=False, min_value=0, max_digits=10,
        decimal_places=2,
    )  # fmt: skip
    max_cost = forms.DecimalField(
        label=gettext_lazy("Max cost"), required=False, min_value=0, max_digits=14,
        decimal_places=2,
    )  # fmt: skip
    max_schedule_days = forms.DecimalField(
        label=gettext_lazy("Max schedule (days)"), required=False, min_value=0, max_digits=8,
        decimal_places=2,
    )  # fmt: skip
    max_risk_exposure = forms.DecimalField(
        label=gettext_lazy("Max risk exposure"), required=False, min_value=0, max_value=5,
        max_digits=5, decimal_places=2,
        help_text=gettext_lazy("The largest single risk's probability × impact (0–5)."),
    )  # fmt: skip


class FreezeWindowForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Starts at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=gettext_lazy("In the site's time zone; inclusive."),
    )
    ends_at = forms.DateTimeField(
        label=gettext_lazy("Ends at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=gettext_lazy("Exclusive."),
    )
    reason = forms.CharField(
        label=pgettext_lazy("change freeze", "Reason"), max_length=2000, required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


def _project(request: HttpRequest, key: str):
    return or_404(account_selectors.project_get, user=request.user, key=key)


def _board_rows(request: AuthenticatedHttpRequest, project, spec, posted: dict[str, Any] | None):
    """One row per project member (viewers cannot sit on a board): whether they sit on the
    board, in which role, with which weight — as stored or as just posted."""
    seats = {m["username"]: m for m in spec.members} if spec.configured else {}
    rows = []
    for m in account_selectors.member_list(user=request.user, project=project):
        if m.role == Role.VIEWER:
            continue
        name = m.user.username
        seat = seats.get(name)
        if posted is not None:
            on = name in posted["on"]
            role = posted["roles"].get(name) or m.role
            weight = posted["weights"].get(name) or "1"
        else:
            on = seat is not None if spec.configured else m.role in policy_default_roles()
            role = seat["role"] if seat else m.role
            weight = seat["weight"] if seat else 1
        rows.append(
            {"username": name, "display": str(m.user), "project_role": m.get_role_display(),
             "on": on, "role": role, "weight": weight}
        )  # fmt: skip
    # Seats of people who are no longer members: shown, they do not vote.
    current = {r["username"] for r in rows}
    gone = [m for m in spec.members if m["username"] not in current] if spec.configured else []
    return rows, gone


def policy_default_roles():
    from .policy import DEFAULT_BOARD_ROLES

    return DEFAULT_BOARD_ROLES


def _parse_board(post) -> tuple[dict[str, Any], dict[str, Any]]:
    on = set(post.getlist("member"))
    roles = {k[5:]: v for k, v in post.items() if k.startswith("role:")}
    weights = {k[7:]: v for k, v in post.items() if k.startswith("weight:")}

    def number(name):
        value = (post.get(name) or "").strip()
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            return value  # the service names the problem

    data = {
        "members": [
            {"username": u, "role": roles.get(u) or None, "weight": weights.get(u) or "1"}
            for u in sorted(on)
        ],
        "rule": post.get("rule") or Rule.MAJORITY,
        "threshold": (post.get("threshold") or "").strip() or None,
        "quorum": number("quorum"),
        "required_roles": post.getlist("required_roles"),
        "veto_roles": post.getlist("veto_roles"),
        "chair": post.get("chair") or None,
        "name": (post.get("name") or "").strip(),
        "ratification_days": number("ratification_days"),
    }
    for item in data["members"]:
        if item["role"] is None:
            del item["role"]
    return data, {"on": on, "roles": roles, "weights": weights}


@login_required
@require_http_methods(["GET", "POST"])
def board_settings(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """The board of a project: every member sees it; its managers change it."""
    project = _project(request, key)
    status, error, problems, posted, data = 200, None, {}, None, None
    if request.method == "POST":
        try:  # before the form is read
            services.require_board_manager(request.user, project)
        except ApplicationError as exc:
            return error_page(request, exc)
        if request.POST.get("reset"):
            services.board_remove(user=request.user, project=project)
            messages.success(request, _("The project uses the default board again."))
            return redirect("ccb-board", key=project.key)
        data, posted = _parse_board(request.POST)
        try:
            services.board_set(user=request.user, project=project, data=data)
        except ApplicationError as exc:
            status, error, problems = exc.status, exc.message, exc.fields
        else:
            messages.success(request, _("The board was saved."))
            return redirect("ccb-board", key=project.key)
    return _board_page(
        request, project, status=status, error=error, problems=problems, posted=posted,
        data=data,
    )  # fmt: skip


def _board_page(request, project, *, status=200, error=None, problems=None, posted=None,
                data=None, delegation_form=None, freeze_form=None) -> HttpResponse:  # fmt: skip
    project.__dict__.pop("_ccb_board", None)
    spec = selectors.board_get(user=request.user, project=project)
    rows, gone = _board_rows(request, project, spec, posted)
    shown = data or spec.as_dict()
    windows = selectors.freeze_window_list(user=request.user, project=project)
    context = {
        "project": project,
        "spec": spec,
        "rows": rows,
        "gone": gone,
        "shown": shown,
        "manage": manages(request.user, project),
        "role_choices": [(r, ROLE_LABELS[r]) for r in BOARD_ROLES],
        "rule_choices": Rule.choices,
        "error": error,
        "problems": [(k, m) for k, ms in (problems or {}).items() for m in ms],
        "delegation_form": delegation_form
        or DelegationForm(initial=selectors.delegation_of(project)),
        "freeze_form": freeze_form or FreezeWindowForm(),
        "windows": list(windows),
        "ratification_default": selectors.ratification_days(project),
    }
    return render(request, "ccb/board.html", context, status=status)


@login_required
@require_POST
def delegation(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:  # who may set them, before the form is read
        or_404(services.require_board_manager, user=request.user, project=project)
    except ApplicationError as exc:
        return _board_page(request, project, status=exc.status, error=exc.message)
    form = DelegationForm(request.POST)
    if not form.is_valid():
        return _board_page(request, project, status=400, delegation_form=form)
    try:
        or_404(
            services.delegation_set, user=request.user, project=project, limits=form.cleaned_data
        )
    except ApplicationError as exc:
        return _board_page(
            request, project, status=exc.status, error=exc.message, delegation_form=form
        )
    messages.success(request, _("The delegation thresholds were saved."))
    return redirect("ccb-board", key=project.key)


@login_required
@require_POST
def freeze_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:  # who may add one, before the window is read
        or_404(services.require_freeze_manager, user=request.user, project=project)
    except ApplicationError as exc:
        return _board_page(request, project, status=exc.status, error=exc.message)
    form = FreezeWindowForm(request.POST)
    if not form.is_valid():
        return _board_page(request, project, status=400, freeze_form=form)
    try:
        services.freeze_window_create(user=request.user, project=project, **form.cleaned_data)
    except ApplicationError as exc:
        for name, msgs in (exc.fields or {}).items():
            for message in msgs:
                form.add_error(name if name in form.fields else None, str(message))
        if not exc.fields:
            form.add_error(None, str(exc.message))
        return _board_page(request, project, status=exc.status, freeze_form=form)
    messages.success(request, _("The freeze window was added."))
    return redirect("ccb-board", key=project.key)


@login_required
@require_POST
def freeze_delete(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    project = _project(request, key)
    window = FreezeWindow.objects.filter(project=project, pk=pk).first()
    if window is None:
        from django.http import Http404

        raise Http404()
    try:
        services.freeze_window_delete(user=request.user, window=window)
    except ApplicationError as exc:
        return error_page(request, exc)
    messages.success(request, _("The freeze window was removed."))
    return redirect("ccb-board", key=project.key)


@login_required
@require_GET
def pending_votes(request: AuthenticatedHttpRequest) -> HttpResponse:
    rows = decisions.pending_votes(user=request.user)
    return render(request, "ccb/pending_votes.html", {"rows": rows})


@login_required
@require_GET
def emergencies(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    rows = decisions.unratified(user=request.user, project=project)
    return render(
        request,
        "ccb/emergencies.html",
        {"project": project, "rows": rows, "days": selectors.ratification_days(project)},
    )


@login_required
@require_GET
def supervision(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    closed = request.GET.get("closed") == "1"
    rows = decisions.supervision(user=request.user, project=project, include_closed=closed)
    return render(
        request,
        "ccb/supervision.html",
        {"project": project, "rows": rows, "closed": closed,
         "overdue": sum(1 for r in rows if r["overdue"])},
    )  # fmt: skip
