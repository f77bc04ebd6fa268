"""Pages of project plans and the simulation panel of a change request. Thin: parse, select,
one service, render. The panel is a fragment: HTMX swaps it after a run and polls it while a
background run works."""

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
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.changes import selectors as change_selectors
from changeflow.changes import services as change_services
from changeflow.changes.models import ChangeRequest
from changeflow.core.errors import ApplicationError, NotFound
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.web import add_errors, error_page, or_404

from . import plan_io, plans
from .models import Calendar, RunStatus
from .plan_api import chart_response
from .simulation import DEFAULT_ITERATIONS

# ---------------------------------------------------------------- forms


class SimulateForm(forms.Form):
    iterations = forms.IntegerField(
        label=gettext_lazy("Iterations"), min_value=1, initial=DEFAULT_ITERATIONS
    )
    seed = forms.IntegerField(
        label=gettext_lazy("Seed"), min_value=0, required=False,
        help_text=gettext_lazy("The same seed repeats a run exactly; empty: a fresh one."),
    )  # fmt: skip


class AssessFromRunForm(forms.Form):
    level = forms.ChoiceField(
        label=gettext_lazy("Percentile"),
        choices=[("P50", "P50"), ("P80", "P80"), ("P95", "P95")],
        initial="P80",
    )


class _PlanPageForm(forms.Form):
    """The plan page holds five of these forms, and several have a name, a start date or a
    calendar: each form's fields get ids of their own (``id_task_name``, ``id_milestone_name``),
    so that no two fields share an id and every label names its own field."""

    ids = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"id_{self.ids}_%s")
        super().__init__(*args, **kwargs)


class PlanImportForm(_PlanPageForm):
    ids = "import"
    file = forms.FileField(
        label=gettext_lazy("Plan file (CSV or XLSX)"),
        help_text=gettext_lazy(
            "Columns: id, name, optimistic, most_likely, pessimistic, depends_on (e.g. "
            "T1; T2+3), rate, fixed_cost, milestone, target_date. It replaces the whole plan."
        ),
    )
    start_date = forms.DateField(label=gettext_lazy("Start date"), required=False)
    calendar = forms.ChoiceField(label=gettext_lazy("Calendar"), choices=Calendar.choices)


class PlanHeaderForm(_PlanPageForm):
    ids = "header"
    start_date = forms.DateField(label=gettext_lazy("Start date"))
    calendar = forms.ChoiceField(label=gettext_lazy("Calendar"), choices=Calendar.choices)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3)


class TaskForm(_PlanPageForm):
    ids = "task"
    key = forms.CharField(label=gettext_lazy("Id"), max_length=40)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)
    optimistic = forms.DecimalField(label=gettext_lazy("Optimistic (days)"), min_value=0)
    most_likely = forms.DecimalField(label=gettext_lazy("Most likely (days)"), min_value=0)
    pessimistic = forms.DecimalField(label=gettext_lazy("Pessimistic (days)"), min_value=0)
    rate = forms.DecimalField(label=gettext_lazy("Cost per day"), min_value=0, required=False)


class DependencyForm(_PlanPageForm):
    ids = "dependency"
    predecessor = forms.CharField(label=gettext_lazy("Predecessor"), max_length=40)
    successor = forms.CharField(label=gettext_lazy("Successor"), max_length=40)
    lag = forms.DecimalField(label=gettext_lazy("Lag (days)"), min_value=0, required=False)


class MilestoneForm(_PlanPageForm):
    ids = "milestone"
    name = forms.CharField(label=gettext_lazy("Milestone"), max_length=200)
    task = forms.CharField(label=gettext_lazy("Task"), max_length=40)
    target_date = forms.DateField(label=gettext_lazy("Target date"))


class ChangePlanForm(forms.Form):
    tasks = forms.CharField(
        label=gettext_lazy("Implementation tasks"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy(
            "One task a line, CSV with a header: id,name,optimistic,most_likely,pessimistic,"
            "depends_on,rate,fixed_cost (depends_on names other tasks of the change)."
        ),
    )
    after = forms.CharField(
        label=gettext_lazy("Starts after (plan tasks)"), required=False,
        help_text=gettext_lazy("Plan task ids, separated by ';' (a lag after '+')."),
    )  # fmt: skip
    before = forms.CharField(
        label=gettext_lazy("Comes before (plan tasks)"), required=False,
        help_text=gettext_lazy("Plan task ids that cannot start until the change is done."),
    )  # fmt: skip
    include_risks = forms.BooleanField(
        label=gettext_lazy("Include the risks of the current assessment"), required=False,
        initial=True,
    )  # fmt: skip


# ---------------------------------------------------------------- the CR panel


def simulation_panel(
    request: AuthenticatedHttpRequest, cr: ChangeRequest, **extra: Any
) -> dict[str, Any] | None:
    """The context of ``impact/_cr_simulation.html`` (called from the CR page's view); None
    for those who do not see plans and simulations (customer roles: internal figures)."""
    user = request.user
    if not plans.sees_plans(user, cr.project):
        return None
    plan = plans.plan_of(cr.project)
    run = plans.latest_run(cr)
    # No run at all: no finished one either (no second query).
    done = run if run is None or run.status == RunStatus.DONE else plans.latest_run(cr, done=True)
    change_plan = plans.change_plan_of(cr)
    may = plans.may_plan(user, cr.project)
    crit = (done.result or {}).get("criticality", []) if done else []
    return {
        "cr": cr,
        "plan": plan,
        "change_plan": change_plan,
        "run": run,
        "done_run": done,
        "summary": plans.simulation_summary(cr, run=done),
        "top_critical": [c for c in crit if not c["change_task"]][:8],
        "change_critical": [c for c in crit if c["change_task"]],
        "may_simulate": may,
        "may_assess": may and cr.state in change_services.ASSESSABLE_STATES,
        "form": extra.get("form") or SimulateForm(),
        "assess_form": AssessFromRunForm(),
        "error": extra.get("error"),
        "polling": bool(run and run.status in (RunStatus.QUEUED, RunStatus.RUNNING)),
    }


def _cr(request: AuthenticatedHttpRequest, key: str) -> ChangeRequest:
    cr = or_404(change_selectors.change_request_get, user=request.user, key=key)
    or_404(plans.require_plans, user=request.user, project=cr.project)
    return cr


def _panel(
    request: AuthenticatedHttpRequest, cr: ChangeRequest, status: int = 200, **extra: Any
) -> HttpResponse:
    return render(
        request, "impact/_cr_simulation.html",
        {"simulation": simulation_panel(request, cr, **extra)}, status=status,
    )  # fmt: skip


@login_required
@require_POST
def cr_simulate(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    try:  # who may simulate, before the figures are read
        plans.require_planner(request.user, cr.project)
    except ApplicationError as exc:
        return _not_simulated(request, cr, exc)
    form = SimulateForm(request.POST)
    if not form.is_valid():
        return _panel(request, cr, status=400, form=form, error=_("Check the figures."))
    try:
        plans.simulation_start(
            user=request.user, project=cr.project, cr=cr,
            iterations=form.cleaned_data["iterations"], seed=form.cleaned_data["seed"],
        )  # fmt: skip
    except ApplicationError as exc:
        return _not_simulated(request, cr, exc, form)
    if request.htmx:
        return _panel(request, cr)
    return redirect(reverse("cr-detail", args=[cr.key]) + "#simulation")


def _not_simulated(
    request: AuthenticatedHttpRequest, cr: ChangeRequest, exc: ApplicationError,
    form: SimulateForm | None = None,
) -> HttpResponse:  # fmt: skip
    """Why the run was not started: on the panel (HTMX), else a 403 page for a refusal and a
    message on the CR page for the rest; a 404 for NotFound."""
    add_errors(form, exc)
    if exc.status == 403 and not request.htmx:
        return error_page(request, exc)  # a refusal is a 403, as on every page
    if not request.htmx:
        messages.error(request, str(exc.message))
        return redirect(reverse("cr-detail", args=[cr.key]) + "#simulation")
    return _panel(request, cr, status=exc.status, form=form, error=exc.message)


@login_required
@require_GET
def cr_simulation_panel(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """The panel alone (polled while a background run works)."""
    return _panel(request, _cr(request, key))


@login_required
@require_GET
def run_chart(request: AuthenticatedHttpRequest, key: str, pk: int, fmt: str) -> HttpResponse:
    cr = _cr(request, key)
    run = or_404(plans.run_get, user=request.user, cr=cr, pk=pk)
    try:
        return chart_response(run, fmt, request.GET)
    except ApplicationError as exc:
        return error_page(request, exc)


@login_required
@require_POST
def run_assess(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponse:
    """Record an assessment (method: simulation) from a finished run's shift at a percentile."""
    cr = _cr(request, key)
    run = or_404(plans.run_get, user=request.user, cr=cr, pk=pk)
    form = AssessFromRunForm(request.POST)
    level = form.cleaned_data["level"] if form.is_valid() else "P80"
    try:
        assessment = plans.assessment_from_run(user=request.user, cr=cr, run=run, level=level)
    except ApplicationError as exc:
        if exc.status == 403:
            return error_page(request, exc)  # a refusal is a 403, as on every page
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("Assessment version %(v)d recorded from the simulation (%(level)s).")
            % {"v": assessment.version, "level": level},
        )
    return redirect(reverse("cr-detail", args=[cr.key]) + "#simulation")


@login_required
@require_http_methods(["GET", "POST"])
def change_plan_edit(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    try:  # the services' own rule, before the page or the form
        or_404(plans.require_planner, user=request.user, project=cr.project)
    except ApplicationError as exc:
        return error_page(request, exc)
    data = plans.change_plan_data(cr)
    status = 200
    if request.method == "POST":
        form = ChangePlanForm(request.POST)
        if form.is_valid():
            try:
                rows = plan_io.read_rows("tasks.csv", form.cleaned_data["tasks"].encode())
                tasks = [
                    {"key": r.get("id"), "name": r.get("name"), "optimistic": r.get("optimistic"),
                     "most_likely": r.get("most_likely"), "pessimistic": r.get("pessimistic"),
                     "rate": r.get("rate"), "fixed_cost": r.get("fixed_cost"),
                     "depends_on": [{"task": d, "lag": lag}
                                    for d, lag in plan_io.parse_depends(r.get("depends_on"))]}
                    for r in rows
                ]  # fmt: skip
                after_keys = plan_io.parse_depends(form.cleaned_data["after"])
                after = [{"task": d, "lag": lag} for d, lag in after_keys]
                before = [d for d, _lag in plan_io.parse_depends(form.cleaned_data["before"])]
                plans.change_plan_set(
                    user=request.user, cr=cr,
                    data={"tasks": tasks, "after": after, "before": before,
                          "include_risks": form.cleaned_data["include_risks"],
                          "risk_delays": data["risk_delays"]},
                )  # fmt: skip
            except plan_io.PlanProblems as exc:
                for problem in exc.problems:
                    form.add_error("tasks", problem)
                status = 400
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The implementation tasks were saved."))
                return redirect(reverse("cr-detail", args=[cr.key]) + "#simulation")
        else:
            status = 400
    else:
        lines = ["id,name,optimistic,most_likely,pessimistic,depends_on,rate,fixed_cost"]
        for t in data["tasks"]:
            deps = "; ".join(
                d["task"] + (f"+{d['lag']:g}" if d["lag"] else "") for d in t["depends_on"]
            )
            name = '"' + t["name"].replace('"', '""') + '"'
            lines.append(",".join([t["key"], name, f"{t['optimistic']:g}",
                                   f"{t['most_likely']:g}", f"{t['pessimistic']:g}", deps,
                                   f"{t['rate']:g}", f"{t['fixed_cost']:g}"]))  # fmt: skip
        form = ChangePlanForm(initial={
            "tasks": "\n".join(lines),
            "after": "; ".join(a["task"] + (f"+{a['lag']:g}" if a["lag"] else "")
                               for a in data["after"]),
            "before": "; ".join(data["before"]),
            "include_risks": data["include_risks"],
        })  # fmt: skip
    return render(request, "impact/change_plan_form.html",
                  {"cr": cr, "form": form, "data": data,
                   "risk_delays": sorted(data["default_risk_delays"].items())},
                  status=status)  # fmt: skip


# ---------------------------------------------------------------- the plan page


def _plan_context(request: AuthenticatedHttpRequest, project, **forms_: Any) -> dict[str, Any]:
    plan = plans.plan_of(project)
    data = plans.plan_data(plan) if plan else None
    return {
        "project": project,
        "plan": plan,
        "data": data,
        "may_edit": plans.may_plan(request.user, project),
        "import_form": forms_.get("import_form")
        or PlanImportForm(
            initial={
                "calendar": plan.calendar if plan else Calendar.WORKING,
                "start_date": plan.start_date if plan else None,
            }
        ),  # fmt: skip
        "header_form": forms_.get("header_form")
        or (
            PlanHeaderForm(
                initial={
                    "start_date": plan.start_date,
                    "calendar": plan.calendar,
                    "currency": plan.currency,
                }
            )
            if plan
            else None
        ),  # fmt: skip
        "task_form": forms_.get("task_form") or TaskForm(),
        "dependency_form": forms_.get("dependency_form") or DependencyForm(),
        "milestone_form": forms_.get("milestone_form") or MilestoneForm(),
    }


def _project(request: AuthenticatedHttpRequest, key: str):
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    or_404(plans.require_plans, user=request.user, project=project)
    return project


@login_required
@require_GET
def plan_page(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = _project(request, key)
    return render(request, "impact/plan.html", _plan_context(request, project))


_FORMS = {
    "import": ("import_form", PlanImportForm),
    "header": ("header_form", PlanHeaderForm),
    "task": ("task_form", TaskForm),
    "dependency": ("dependency_form", DependencyForm),
    "milestone": ("milestone_form", MilestoneForm),
}


@login_required
@require_POST
def plan_edit(request: AuthenticatedHttpRequest, key: str, what: str) -> HttpResponse:
    """One of the plan page's forms: import, header, task, dependency, milestone."""
    project = _project(request, key)
    if what not in _FORMS:
        raise Http404()
    name, form_class = _FORMS[what]
    try:  # the role before the body: a refusal is the same whatever was sent
        or_404(plans.require_planner, user=request.user, project=project)
    except ApplicationError as exc:  # as a refusal by the service below (no forms to show)
        return render(request, "impact/plan.html", _plan_context(request, project),
                      status=exc.status)  # fmt: skip
    form = form_class(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        d = form.cleaned_data
        try:
            if what == "import":
                header = {"calendar": d["calendar"]}
                if d["start_date"]:
                    header["start_date"] = d["start_date"]
                upload = d["file"]
                plans.plan_import(user=request.user, project=project, name=upload.name,
                                  content=upload.read(), header=header)  # fmt: skip
                done = _("The plan was imported.")
            elif what == "header":
                plans.plan_update(user=request.user, project=project, data=d)
                done = _("The plan was saved.")
            elif what == "task":
                plans.task_save(user=request.user, project=project,
                                data={k: v for k, v in d.items() if v is not None})  # fmt: skip
                done = _("The task was added.")
            elif what == "dependency":
                plans.dependency_create(user=request.user, project=project, **d)
                done = _("The dependency was added.")
            else:
                plans.milestone_create(user=request.user, project=project, **d)
                done = _("The milestone was added.")
        except ApplicationError as exc:
            if isinstance(exc, NotFound) and what != "header":
                raise Http404() from None
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, done)
            return redirect("plan", key=project.key)
    context = _plan_context(request, project, **{name: form})
    return render(request, "impact/plan.html", context, status=status)


@login_required
@require_POST
def plan_delete(request: AuthenticatedHttpRequest, key: str, what: str, ref: str) -> HttpResponse:
    project = _project(request, key)
    try:
        if what == "task":
            plan = plans.plan_get(user=request.user, project=project)
            plans.task_delete(user=request.user, project=project,
                              task=plans.task_get(plan=plan, key=ref))  # fmt: skip
        elif what == "dependency" and ref.isdigit():
            plans.dependency_delete(user=request.user, project=project, pk=int(ref))
        elif what == "milestone" and ref.isdigit():
            plans.milestone_delete(user=request.user, project=project, pk=int(ref))
        else:
            raise Http404()
    except ApplicationError as exc:
        return error_page(request, exc)
    messages.success(request, _("Deleted."))
    return redirect("plan", key=project.key)
