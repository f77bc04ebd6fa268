"""Pages of process review: improvement actions (the list, the form, one action with its history)
and the metrics page with its charts.

Thin: selectors read (404 for what the user may not see: outsiders and customer roles), the
services' role checks run before the form is read, one service writes, and an
``ApplicationError`` is shown on the page with its own status. The figures come from
``metrics``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.core.errors import ApplicationError, ValidationError
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, form_status, or_404, paged

from . import actions, charts, exports, metrics, reviews, selectors
from .forms import (
    FilterForm,
    GenerateForm,
    ImprovementForm,
    PeriodForm,
    ProgressForm,
    ScheduleForm,
    TransitionForm,
)
from .models import ActionStatus, ImprovementAction, ReviewFrequency

FIELD_LABELS: dict[str, Any] = {
    f.name: capfirst(f.verbose_name)
    for f in ImprovementAction._meta.get_fields()
    if hasattr(f, "verbose_name")
}
EVENT_LABELS: dict[str, Any] = {
    "improvement.created": gettext_lazy("created the improvement action"),
    "improvement.updated": gettext_lazy("edited"),
    "improvement.start": gettext_lazy("started it"),
    "improvement.complete": gettext_lazy("marked it done"),
    "improvement.cancel": gettext_lazy("cancelled it"),
    "improvement.reopen": gettext_lazy("reopened"),
    "improvement.overdue": gettext_lazy("was past its due date"),
    "improvement.due_soon": gettext_lazy("reminded the owner of the due date"),
}
_SHOWN = ("status", "owner", "due_date", "progress", "title", "change_requests")


def _project(request, key):
    return or_404(selectors.project_get, user=request.user, key=key)


def _action(request, key, akey) -> ImprovementAction:
    project = _project(request, key)
    return or_404(selectors.improvement_get, user=request.user, project=project, key=akey)


def _value(name: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if name == "status" and value in ActionStatus.values:
        return str(ActionStatus(value).label)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def timeline(events) -> list[dict]:
    """The audit events of an action as the page shows them: who, what, the changed fields."""
    out = []
    for event in events:
        before = event.before if isinstance(event.before, dict) else {}
        after = event.after if isinstance(event.after, dict) else {}
        changes = []
        for name in after:
            if event.action == "improvement.updated" or name in _SHOWN:
                if name in ("notify", "version", "comment", "resolution"):
                    continue
                changes.append(
                    {
                        "label": FIELD_LABELS.get(name, name),
                        "old": _value(name, before[name]) if name in before else None,
                        "new": _value(name, after[name]),
                    }
                )
        out.append(
            {
                "event": event,
                "actor": event.actor,
                "label": EVENT_LABELS.get(event.action, event.action),
                "changes": [] if event.action == "improvement.created" else changes,
                "text": after.get("resolution") or after.get("comment") or "",
            }
        )
    return out


@login_required
@require_GET
def improvement_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    members = list(selectors.team(user=request.user, project=project))
    form = FilterForm(request.GET or None, members=members)
    filters = form.filters() if request.GET else {}
    rows = list(selectors.improvement_list(user=request.user, project=project, filters=filters))
    today = selectors.today()
    return render(
        request,
        "reports/improvement_list.html",
        {
            "project": project,
            "form": form,
            "rows": [{"action": a, "overdue": selectors.is_overdue(a, today)} for a in rows],
            "filtered": any(v not in (None, "") for v in filters.values()),
            "can_create": selectors.may_manage(request.user, project),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def improvement_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        actions.require_manager(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    members = list(selectors.team(user=request.user, project=project))
    initial = {"change_requests": request.GET.get("cr", "")[:40]}
    form = ImprovementForm(request.POST or None, members=members, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            action = actions.improvement_create(
                user=request.user, project=project, **form.service_data()
            )
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("%(key)s was created.") % {"key": action.key})
            return redirect("improvement-detail", key=project.key, akey=action.key)
    return render(
        request, "reports/improvement_form.html", {"project": project, "form": form},
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def improvement_edit(request: AuthenticatedHttpRequest, key: str, akey: str) -> HttpResponse:
    action = _action(request, key, akey)
    project = action.project
    try:
        actions.require_manager(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    members = list(selectors.team(user=request.user, project=project))
    initial = {
        "title": action.title, "owner": action.owner.username, "due_date": action.due_date,
        "problem": action.problem, "description": action.description,
        "change_requests": ", ".join(c.key for c in selectors.linked_change_requests(action)),
    }  # fmt: skip
    form = ImprovementForm(request.POST or None, members=members, initial=initial)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            actions.improvement_update(
                user=request.user, action=action, data=form.service_data(),
                expected_version=_posted_version(request),
            )  # fmt: skip
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("The improvement action was saved."))
            return redirect("improvement-detail", key=project.key, akey=action.key)
    return render(
        request, "reports/improvement_form.html",
        {"project": project, "form": form, "action": action}, status=status,
    )  # fmt: skip


def _posted_version(request) -> int | None:
    """The version the form was read at (a hidden field): someone else's save in between is a
    409 with the form kept, not a silent overwrite."""
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


def _detail(request, action: ImprovementAction, status: int = 200, **forms) -> HttpResponse:
    user = request.user
    project = action.project
    available = actions.available_transitions(user=user, action=action)
    return render(
        request,
        "reports/improvement_detail.html",
        {
            "project": project,
            "action": action,
            "overdue": selectors.is_overdue(action),
            "change_requests": selectors.linked_change_requests(action),
            "history": timeline(selectors.history(user=user, action=action)),
            "transitions": [{"value": t, "label": actions.TRANSITION_LABELS[t]} for t in available],
            "can_edit": selectors.may_manage(user, project),
            "can_progress": action.status in ("open", "in_progress")
            and (action.owner_id == user.pk or selectors.may_manage(user, project)),
            "progress_form": forms.get("progress_form")
            or ProgressForm(initial={"progress": action.progress}),
            "transition_form": forms.get("transition_form") or TransitionForm(),
        },
        status=status,
    )


@login_required
@require_GET
def improvement_detail(request: AuthenticatedHttpRequest, key: str, akey: str) -> HttpResponse:
    return _detail(request, _action(request, key, akey))


def _post(request, key: str, akey: str, form_class, form_name: str, write) -> HttpResponse:
    """A write from the detail page: the role first (the owner or a manager), then the form,
    then ``write(action, cleaned_data, version)``; a refusal is shown on the page with its
    status, success redirects back with ``write``'s message."""
    action = _action(request, key, akey)
    try:
        actions.require_mover(request.user, action)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = form_class(request.POST)
    if not form.is_valid():
        return _detail(request, action, 400, **{form_name: form})
    try:
        message = write(action, dict(form.cleaned_data), _posted_version(request))
    except ApplicationError as exc:
        add_errors(form, exc)
        return _detail(request, action, exc.status, **{form_name: form})
    messages.success(request, message)
    return redirect("improvement-detail", key=action.project.key, akey=action.key)


@login_required
@require_POST
def improvement_progress(request: AuthenticatedHttpRequest, key: str, akey: str) -> HttpResponse:
    def write(action, data, version) -> str:
        actions.improvement_update(
            user=request.user, action=action, data=data, expected_version=version
        )
        return _("The progress was saved.")

    return _post(request, key, akey, ProgressForm, "progress_form", write)


@login_required
@require_POST
def improvement_transition(request: AuthenticatedHttpRequest, key: str, akey: str) -> HttpResponse:
    def write(action, data, version) -> str:
        done = actions.improvement_transition(
            user=request.user, action=action, name=data.pop("action"), **data,
            expected_version=version,
        )  # fmt: skip
        status = ActionStatus(done.status).label
        return _("The improvement action is now %(status)s.") % {"status": status}

    return _post(request, key, akey, TransitionForm, "transition_form", write)


@login_required
@require_GET
def metrics_page(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    form = PeriodForm(request.GET if request.GET else None)
    period = metrics.default_period()
    if form.is_bound:
        if not form.is_valid():
            context = {"project": project, "form": form, "data": None}
            return render(request, "reports/metrics.html", context, status=400)
        assert form.period is not None  # a valid form has its period
        period = form.period
    else:
        form = PeriodForm(initial={"from": period.start, "to": period.end})
    data = metrics.project_metrics(user=request.user, project=project, period=period)
    query = f"from={period.start.isoformat()}&to={period.end.isoformat()}"
    context = {"project": project, "form": form, "query": query,
               **exports.page_context(data)}  # fmt: skip
    return render(request, "reports/metrics.html", context)


@login_required
@require_GET
def metrics_chart(request: AuthenticatedHttpRequest, key: str, fmt: str) -> HttpResponse:
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    kind = request.GET.get("kind") or "trend"
    try:
        fields = {}
        if fmt not in charts.FORMATS:
            fields["format"] = [_("png or svg.")]
        if kind not in charts.KINDS:
            fields["kind"] = [_("One of: %s") % ", ".join(charts.KINDS)]
        if fields:
            raise ValidationError(_("Some fields are invalid."), fields=fields)
        period = metrics.parse_period(request.GET.get("from"), request.GET.get("to"))
    except ApplicationError as exc:
        return error_page(request, exc)
    data = metrics.project_metrics(user=request.user, project=project, period=period)
    response = HttpResponse(
        charts.render(data, kind=kind, fmt=fmt), content_type=charts.FORMATS[fmt]
    )
    response["Cache-Control"] = "private, max-age=300"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))  # labels are translated
    response["Content-Disposition"] = f'inline; filename="{project.key}-metrics-{kind}.{fmt}"'
    return response


# ------------------------------------------------------------------ review reports

REPORTS_PER_PAGE = 20


def _reports_page(
    request, project, status: int = 200, generate_form: GenerateForm | None = None
) -> HttpResponse:
    user = request.user
    page, query = paged(
        request, selectors.review_report_list(user=user, project=project), REPORTS_PER_PAGE
    )
    can_generate = reviews.may_generate(user, project)
    frequency = reviews.schedule_of(project)
    return render(
        request,
        "reports/review_list.html",
        {
            "project": project,
            "page": page,
            "query": query,
            "schedule": ReviewFrequency(frequency).label,
            "can_generate": can_generate,
            "generate_form": (generate_form or GenerateForm(initial={"kind": "on_demand"}))
            if can_generate
            else None,
        },
        status=status,
    )


@login_required
@require_GET
def review_report_list(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    return _reports_page(request, _project(request, key))


@login_required
@require_POST
def review_report_generate(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        reviews.require_project_manager(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = GenerateForm(request.POST)
    if not form.is_valid():
        return _reports_page(request, project, 400, form)
    data = form.cleaned_data
    try:
        report = reviews.review_report_request(
            user=request.user, project=project, kind=data["kind"], date=data.get("date"),
            start=data.get("from"), end=data.get("to"),
        )  # fmt: skip
    except ApplicationError as exc:
        add_errors(form, exc)
        return _reports_page(request, project, exc.status, form)
    messages.success(request, _("Review report %(key)s was generated.") % {"key": report.key})
    return redirect("review-report-detail", key=project.key, number=report.number)


@login_required
@require_GET
def review_report_detail(request: AuthenticatedHttpRequest, key: str, number: int) -> HttpResponse:
    project = _project(request, key)
    report = or_404(selectors.review_report_get, user=request.user, project=project, number=number)
    same_language = report.language == translation.get_language()
    try:
        # The stored file is the record: checked against its hash, as a download is.
        selectors.review_report_file(report, "html")
    except ApplicationError as exc:
        return error_page(request, exc)
    # Its figures as they were generated; the charts as images (the file's inline SVG would
    # meet the page's Content Security Policy).
    body = exports.review_page_body(report)
    return render(
        request,
        "reports/review_detail.html",
        {"project": project, "report": report, "body": body, "same_language": same_language},
    )


@login_required
@require_GET
def review_report_download(
    request: AuthenticatedHttpRequest, key: str, number: int, fmt: str
) -> HttpResponseBase:
    project = _project(request, key)
    report = or_404(selectors.review_report_get, user=request.user, project=project, number=number)
    try:
        content = selectors.review_report_file(report, fmt)
    except ApplicationError as exc:
        return error_page(request, exc)
    return selectors.review_report_response(report, fmt, content)


@login_required
@require_http_methods(["GET", "POST"])
def review_schedule(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    try:
        reviews.require_project_manager(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = ScheduleForm(
        request.POST if request.method == "POST" else None,
        initial={"frequency": reviews.schedule_of(project)},
    )
    if form.is_bound and form.is_valid():
        try:
            reviews.schedule_set(
                user=request.user, project=project, frequency=form.cleaned_data["frequency"]
            )
        except ApplicationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("The review schedule was saved."))
            return redirect("review-report-list", key=project.key)
    context = {"project": project, "form": form}
    return render(request, "reports/review_schedule.html", context, status=form_status(form))
