"""Project plans and simulation runs: the ORM side of the Monte Carlo simulation.

Selectors read (permission-filtered through ``core.access``); services write, each in one
transaction with its audit event last. The maths is :mod:`changeflow.impact.simulation`; this
module turns stored plans into its plain data and its results into stored, chartable figures.

**Days and dates.** The simulation counts days from the plan's start. With the *working days*
calendar (the default) only Monday to Friday count (public holidays are not modelled); with
*calendar days* every day counts. Day 1 is the start date: work that ends after 12.3 days ends
on the 13th (working) day. A milestone is met when its task ends on or before the end of its
target date.

**Risks.** Each risk of the change request's current assessment (probability, impact 1-5)
enters as a probabilistic delay of the change's last task: with its probability, the task is
late by a PERT-distributed delay whose three points (days) come from the impact —
:data:`DEFAULT_RISK_DELAYS` unless the change plan gives its own ``risk_delays``.

**Background runs.** A run of more than ``SIMULATION_SYNC_LIMIT`` (iterations × tasks) cells
runs as a ``django.tasks`` task; the run row shows its status and progress. Smaller runs answer
at once. More than ``SIMULATION_MAX_ITERATIONS`` iterations are refused (422).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, Role, User
from changeflow.changes.models import ChangeRequest, ImpactAssessment, Risk
from changeflow.core import audit
from changeflow.core.access import restrict, role_in, sees_internal
from changeflow.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationError

from . import plan_io
from . import simulation as sim
from .models import (
    Calendar,
    ChangePlan,
    PlanDependency,
    PlanMilestone,
    PlanTask,
    ProjectPlan,
    RunStatus,
    SimulationRun,
)

log = logging.getLogger(__name__)
_UNREAD: Any = object()  # "not read yet", as distinct from "there is none" (None)

PLANNERS = (Role.PROJECT_MANAGER, Role.TECH_LEAD)
# Delay in days (optimistic, most likely, pessimistic) of a risk of each impact, 1 to 5.
DEFAULT_RISK_DELAYS: dict[int, tuple[float, float, float]] = {
    1: (0.5, 1, 2),
    2: (1, 2, 5),
    3: (2, 5, 10),
    4: (5, 10, 20),
    5: (10, 20, 40),
}
QUANTILE_LEVELS = np.linspace(0, 100, 201)  # every half percent, for the S-curve
HISTOGRAM_BINS = 40


def max_iterations() -> int:
    return int(getattr(settings, "SIMULATION_MAX_ITERATIONS", 100_000))


def sync_limit() -> int:
    return int(getattr(settings, "SIMULATION_SYNC_LIMIT", 2_000_000))


class Unprocessable(ApplicationError):
    """A well-formed request that cannot be carried out (422)."""

    status = 422
    code = "unprocessable"


# ---------------------------------------------------------------------------------------------
# Permissions


def sees_plans(user: User, project: Project) -> bool:
    """Plans and simulations are internal (task rates, costs, simulated figures): members who
    are not customers (``core.access.sees_internal``, as for internal comments); site admins."""
    return bool(
        user.is_superuser or (role_in(user, project) is not None and sees_internal(user, project))
    )


def require_plans(user: User, project: Project) -> None:
    """The one check before any plan or simulation is read or written: for those who may not
    see them they do not exist (404, as for other projects' objects)."""
    if not sees_plans(user, project):
        raise NotFound(_("No such plan or simulation."))


def may_plan(user: User, project: Project) -> bool:
    """Project managers, tech leads and site admins edit plans and run simulations."""
    return bool(user.is_superuser or role_in(user, project) in PLANNERS)


def require_planner(user: User, project: Project) -> None:
    """The check of ``may_plan`` before a plan is written or a simulation run: 404 for those
    who may not see plans (``require_plans``), 403 for the other members who are not planners.
    The services call it, and the views too, before they read the body."""
    if user.is_superuser:
        return
    require_plans(user, project)
    role = role_in(user, project)
    if role is None:
        raise NotFound(_("No such project."))
    if role not in PLANNERS:
        raise PermissionDenied(_("Only project managers and tech leads may do this."))


# ---------------------------------------------------------------------------------------------
# Days and dates


def _working(calendar: str) -> bool:
    return calendar == Calendar.WORKING


def day_of(start: dt.date, calendar: str, date: dt.date) -> float:
    """The day number at the end of ``date`` (the start date is day 1; 0 before the start)."""
    if date < start:
        return 0.0
    if _working(calendar):
        return float(np.busday_count(start, date + dt.timedelta(days=1)))
    return float((date - start).days + 1)


def date_of(start: dt.date, calendar: str, day: float) -> dt.date:
    """The date on which work ending after ``day`` days ends."""
    index = max(math.ceil(day - 1e-9) - 1, 0)
    if _working(calendar):
        return np.busday_offset(start, index, roll="forward").astype(dt.date)
    return start + dt.timedelta(days=index)


# ---------------------------------------------------------------------------------------------
# Selectors


def plan_of(project: Project) -> ProjectPlan | None:
    return ProjectPlan.objects.filter(project=project).first()


def plan_get(*, user: User, project: Project) -> ProjectPlan:
    require_plans(user, project)
    plan = restrict(ProjectPlan.objects, user).filter(project=project).first()
    if plan is None:
        raise NotFound(_("The project has no plan yet."))
    return plan


def _dec(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def task_data(task: PlanTask, deps: list[PlanDependency], keys: dict[int, str]) -> dict:
    return {
        "key": task.key,
        "name": task.name,
        "optimistic": _dec(task.optimistic),
        "most_likely": _dec(task.most_likely),
        "pessimistic": _dec(task.pessimistic),
        "rate": _dec(task.rate),
        "fixed_cost": _dec(task.fixed_cost),
        "depends_on": [{"task": keys[d.predecessor_id], "lag": _dec(d.lag)} for d in deps],
    }


def plan_data(plan: ProjectPlan) -> dict[str, Any]:
    """The whole plan as plain data (three queries)."""
    tasks = list(plan.tasks.all())
    keys = {t.pk: t.key for t in tasks}
    deps = list(plan.dependencies.all())
    by_succ: dict[int, list[PlanDependency]] = {}
    for d in deps:
        by_succ.setdefault(d.successor_id, []).append(d)
    return {
        "project": plan.project.key,
        "start_date": plan.start_date,
        "calendar": plan.calendar,
        "currency": plan.currency,
        "version": plan.version,
        "tasks": [task_data(t, by_succ.get(t.pk, []), keys) for t in tasks],
        "dependencies": [
            {
                "id": d.pk,
                "predecessor": keys[d.predecessor_id],
                "successor": keys[d.successor_id],
                "lag": _dec(d.lag),
            }
            for d in deps
        ],  # fmt: skip
        "milestones": [
            {"id": m.pk, "name": m.name, "task": keys[m.task_id], "target_date": m.target_date}
            for m in plan.milestones.all()
        ],
    }


def change_plan_of(cr: ChangeRequest) -> ChangePlan | None:
    return ChangePlan.objects.filter(change_request=cr).first()


def change_plan_data(cr: ChangeRequest) -> dict[str, Any]:
    cp = change_plan_of(cr)
    return {
        "change_request": cr.key,
        "tasks": cp.tasks if cp else [],
        "after": cp.after if cp else [],
        "before": cp.before if cp else [],
        "include_risks": cp.include_risks if cp else True,
        "risk_delays": cp.risk_delays if cp and cp.risk_delays else {},
        "default_risk_delays": {str(k): list(v) for k, v in DEFAULT_RISK_DELAYS.items()},
    }


def run_list(*, user: User, cr: ChangeRequest) -> QuerySet[SimulationRun]:
    require_plans(user, cr.project)
    return restrict(SimulationRun.objects, user).filter(change_request=cr)


def run_get(*, user: User, cr: ChangeRequest, pk: int) -> SimulationRun:
    run = run_list(user=user, cr=cr).filter(pk=pk).first()
    if run is None:
        raise NotFound(_("No such simulation run."))
    return run


def plan_run_list(*, user: User, project: Project) -> QuerySet[SimulationRun]:
    """The runs of the project's plan alone (its baseline forecast, no change request)."""
    require_plans(user, project)
    return restrict(SimulationRun.objects, user).filter(
        project=project, change_request__isnull=True
    )


def plan_run_get(*, user: User, project: Project, pk: int) -> SimulationRun:
    run = plan_run_list(user=user, project=project).filter(pk=pk).first()
    if run is None:
        raise NotFound(_("No such simulation run."))
    return run


def latest_run(cr: ChangeRequest, *, done: bool = False) -> SimulationRun | None:
    qs = SimulationRun.objects.filter(change_request=cr)
    if done:
        qs = qs.filter(status=RunStatus.DONE)
    return qs.order_by("-created_at", "-id").first()


def simulation_summary(cr: ChangeRequest, *, run: Any = _UNREAD) -> dict[str, Any] | None:
    """P50/P80/P95 of the finish (days and dates) and cost, without and with the change, and
    their shifts, from the change request's latest finished run; None when there is none.
    A caller that has read that run (``latest_run(cr, done=True)``) passes it as ``run``.

    The assessment form shows this beside the other methods (caller checks visibility)."""
    if run is _UNREAD:
        run = latest_run(cr, done=True)
    if run is None or not run.result:
        return None
    r = run.result
    rows = []
    for q in ("P50", "P80", "P95"):
        base, with_change = r["baseline"], r.get("with_change") or r["baseline"]
        rows.append({
            "level": q,
            "finish_days": base["finish_days"][q],
            "finish_date": base["finish_dates"][q],
            "finish_days_with_change": with_change["finish_days"][q],
            "finish_date_with_change": with_change["finish_dates"][q],
            "shift_days": (r.get("finish_shift_days") or {}).get(q, 0.0),
            "cost": base["cost"][q],
            "cost_with_change": with_change["cost"][q],
            "cost_shift": (r.get("cost_shift") or {}).get(q, 0.0),
        })  # fmt: skip
    return {
        "run": run.pk,
        "iterations": run.iterations,
        "seed": run.seed,
        "created_at": run.created_at,
        "calendar": r["calendar"],
        "currency": r["currency"],
        "has_change": r.get("with_change") is not None,
        "percentiles": rows,
        "milestones": r.get("milestones", []),
        "critical_path_changed": r.get("critical_path_changed"),
    }


# ---------------------------------------------------------------------------------------------
# Plan services


def _problems(exc: plan_io.PlanProblems, field: str = "plan") -> ApplicationError:
    if len(exc.problems) == 1 and exc.problems[0].startswith(_("dependency cycle")):
        return Unprocessable(exc.problems[0], code="dependency_cycle", fields={field: exc.problems})
    head = exc.problems[0]
    more = len(exc.problems) - 1
    message = head if not more else _("%(first)s (and %(n)d more problems)") % {
        "first": head, "n": more}  # fmt: skip
    return ValidationError(message, code="invalid_plan", fields={field: exc.problems})


def _header(data: dict[str, Any], plan: ProjectPlan | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields: dict[str, list[str]] = {}
    if "start_date" in data and data["start_date"] is not None:
        try:
            out["start_date"] = plan_io.date_value(data["start_date"], _("start date"))
        except ValueError as exc:
            fields["start_date"] = [str(exc)]
    elif plan is None:
        fields["start_date"] = [_("A new plan needs a start date.")]
    if data.get("calendar") is not None:
        if data["calendar"] not in Calendar.values:
            fields["calendar"] = [_("One of: %s") % ", ".join(Calendar.values)]
        else:
            out["calendar"] = data["calendar"]
    if data.get("currency") is not None:
        cur = str(data["currency"]).upper()
        if len(cur) != 3 or not cur.isalpha() or not cur.isascii():
            fields["currency"] = [_("A three-letter ISO 4217 code, e.g. CNY.")]
        else:
            out["currency"] = cur
    if fields:
        raise ValidationError(_("Some fields are invalid."), fields=fields)
    return out


def plan_replace(
    *, user: User, project: Project, header: dict[str, Any], clean: plan_io.CleanPlan,
    source: str = "api",
) -> ProjectPlan:  # fmt: skip
    """Replace the project's whole plan (all or nothing): tasks, dependencies, milestones."""
    require_planner(user, project)
    with transaction.atomic():
        plan = ProjectPlan.objects.select_for_update().filter(project=project).first()
        values = _header(header, plan)
        if plan is None:
            plan = ProjectPlan(project=project, **values)
            plan.save()
            before: dict[str, Any] = {}
        else:
            before = {"version": plan.version, "tasks": plan.tasks.count()}
            for k, v in values.items():
                setattr(plan, k, v)
            plan.version += 1
            plan.save()
            plan.milestones.all().delete()
            plan.dependencies.all().delete()
            plan.tasks.all().delete()
        rows = PlanTask.objects.bulk_create(
            PlanTask(plan=plan, key=t.key, name=t.name, optimistic=t.optimistic,
                     most_likely=t.most_likely, pessimistic=t.pessimistic, rate=t.rate,
                     fixed_cost=t.fixed_cost, position=i)
            for i, t in enumerate(clean.tasks)
        )  # fmt: skip
        if any(r.pk is None for r in rows):  # backends that do not return ids
            rows = list(plan.tasks.all())
        ids = {r.key: r.pk for r in rows}
        PlanDependency.objects.bulk_create(
            PlanDependency(plan=plan, predecessor_id=ids[d], successor_id=ids[t.key], lag=lag)
            for t in clean.tasks
            for d, lag in t.depends_on
        )
        PlanMilestone.objects.bulk_create(
            PlanMilestone(plan=plan, name=m.name, task_id=ids[m.task], target_date=m.target_date)
            for m in clean.milestones
        )
        audit.record(
            actor=user, action="plan.replaced", object_type="plan", object_key=project.key,
            project=project.key, before=before,
            after={"version": plan.version, "tasks": len(clean.tasks), "source": source,
                   "dependencies": sum(len(t.depends_on) for t in clean.tasks),
                   "milestones": len(clean.milestones), "start_date": plan.start_date,
                   "calendar": plan.calendar},
            internal=True,  # plans are internal (customer roles do not see them)
        )  # fmt: skip
    return plan


def plan_set(*, user: User, project: Project, data: dict[str, Any]) -> ProjectPlan:
    """Replace the plan from JSON: ``tasks`` with ``depends_on`` [{task, lag}], ``milestones``."""
    require_planner(user, project)
    tasks = data.get("tasks") or []
    rows = []
    for t in tasks:
        t = dict(t)
        deps = []
        for d in t.get("depends_on") or []:
            if isinstance(d, str):
                deps.append((d, 0))
            else:
                deps.append((d.get("task"), d.get("lag", 0)))
        t["depends_on"] = deps
        rows.append(t)
    try:
        clean = plan_io.clean_plan(rows, list(data.get("milestones") or []))
    except plan_io.PlanProblems as exc:
        raise _problems(exc, "tasks") from None
    return plan_replace(user=user, project=project, header=data, clean=clean)


def plan_import(
    *, user: User, project: Project, name: str, content: bytes, header: dict[str, Any],
    dry_run: bool = False,
) -> tuple[ProjectPlan | None, plan_io.CleanPlan]:  # fmt: skip
    """Import a CSV/XLSX plan file (see :mod:`plan_io` for the columns): all or nothing."""
    require_planner(user, project)
    try:
        clean = plan_io.rows_to_plan(plan_io.read_rows(name, content))
    except plan_io.PlanProblems as exc:
        raise _problems(exc, "file") from None
    if dry_run:
        _header(header, plan_of(project))
        return None, clean
    return plan_replace(user=user, project=project, header=header, clean=clean, source=name), clean


def plan_update(*, user: User, project: Project, data: dict[str, Any]) -> ProjectPlan:
    """Change the plan's start date, calendar or currency (creating an empty plan header is not
    possible: a plan starts with its tasks)."""
    require_planner(user, project)
    with transaction.atomic():
        plan = ProjectPlan.objects.select_for_update().filter(project=project).first()
        if plan is None:
            raise NotFound(_("The project has no plan yet."))
        values = _header(data, plan)
        before = {k: getattr(plan, k) for k in values}
        for k, v in values.items():
            setattr(plan, k, v)
        plan.version += 1
        plan.save()
        _audit_plan(user, plan, "plan.updated", before, values)
    return plan


def _audit_plan(user: User, plan: ProjectPlan, action: str, before: dict, after: dict) -> None:
    key = plan.project.key
    audit.record(
        actor=user, action=action, object_type="plan", object_key=key, project=key,
        before=before, after=after, internal=True,
    )  # fmt: skip


def _locked(user: User, project: Project) -> ProjectPlan:
    require_planner(user, project)
    plan = ProjectPlan.objects.select_for_update().filter(project=project).first()
    if plan is None:
        raise NotFound(_("The project has no plan yet."))
    return plan


def _clean_task_fields(data: dict[str, Any], current: PlanTask | None) -> plan_io.CleanTask:
    row = {
        "key": data.get("key", current.key if current else None),
        "name": data.get("name", current.name if current else ""),
    }
    for f in ("optimistic", "most_likely", "pessimistic", "rate", "fixed_cost"):
        row[f] = data.get(f, getattr(current, f) if current else None)
    try:
        return plan_io.clean_plan([row], []).tasks[0]
    except plan_io.PlanProblems as exc:
        raise _problems(exc, "task") from None


def task_save(
    *, user: User, project: Project, data: dict[str, Any], task: PlanTask | None = None
) -> PlanTask:
    """Create a task (``task`` None) or change one; dependencies are edited on their own."""
    with transaction.atomic():
        plan = _locked(user, project)
        clean = _clean_task_fields(data, task)
        clash = plan.tasks.filter(key=clean.key)
        if task is not None:
            clash = clash.exclude(pk=task.pk)
        if clash.exists():
            raise ValidationError(
                _("A task with the id %(key)s already exists.") % {"key": clean.key},
                fields={"key": [_("Already used.")]},
            )
        before = {}
        if task is None:
            task = PlanTask(plan=plan, position=plan.tasks.count())
        else:
            before = {f: str(getattr(task, f)) for f in data if hasattr(task, f)}
        for f in ("key", "name", "optimistic", "most_likely", "pessimistic", "rate", "fixed_cost"):
            setattr(task, f, getattr(clean, f))
        task.save()
        plan.version += 1
        plan.save(update_fields=["version", "updated_at"])
        after = {f: str(getattr(task, f)) for f in (data if before else {"key": 1, "name": 1})}
        _audit_plan(user, plan, "plan.task_saved", before, {"task": task.key, **after})
    return task


def task_delete(*, user: User, project: Project, task: PlanTask) -> None:
    with transaction.atomic():
        plan = _locked(user, project)
        key = task.key
        PlanMilestone.objects.filter(task=task).delete()
        PlanDependency.objects.filter(predecessor=task).delete()
        PlanDependency.objects.filter(successor=task).delete()
        task.delete()
        plan.version += 1
        plan.save(update_fields=["version", "updated_at"])
        _audit_plan(user, plan, "plan.task_deleted", {"task": key}, {})


def task_get(*, plan: ProjectPlan, key: str) -> PlanTask:
    task = plan.tasks.filter(key=key).first()
    if task is None:
        raise NotFound(_("No such task in the plan."))
    return task


def dependency_create(
    *, user: User, project: Project, predecessor: str, successor: str, lag: Any = 0
) -> PlanDependency:
    """Add a finish-to-start link; refused (422) when it would close a cycle, naming it."""
    with transaction.atomic():
        plan = _locked(user, project)
        tasks = {t.key: t for t in plan.tasks.all()}
        fields = {}
        for name, key in (("predecessor", predecessor), ("successor", successor)):
            if key not in tasks:
                fields[name] = [_("No task %(key)r in the plan.") % {"key": key}]
        try:
            lag_value = plan_io.number(lag if lag is not None else 0, _("lag"))
        except ValueError as exc:
            fields["lag"] = [str(exc)]
        if fields:
            raise ValidationError(_("Some fields are invalid."), fields=fields)
        pred, succ = tasks[predecessor], tasks[successor]
        if pred.pk == succ.pk:
            raise Unprocessable(
                _("dependency cycle: %(t)s → %(t)s") % {"t": pred.key}, code="dependency_cycle"
            )
        if plan.dependencies.filter(predecessor=pred, successor=succ).exists():
            raise ValidationError(
                _("%(a)s → %(b)s already exists.") % {"a": pred.key, "b": succ.key},
                fields={"successor": [_("Already linked.")]},
            )
        keys = {t.pk: t.key for t in tasks.values()}
        graph: dict[str, list[str]] = {k: [] for k in tasks}
        for d in plan.dependencies.all():
            graph[keys[d.successor_id]].append(keys[d.predecessor_id])
        graph[succ.key].append(pred.key)
        cycle = plan_io.find_cycle(list(graph.items()))
        if cycle:
            raise Unprocessable(
                _("dependency cycle: %(path)s") % {"path": " → ".join([*cycle, cycle[0]])},
                code="dependency_cycle",
            )
        dep = PlanDependency.objects.create(
            plan=plan, predecessor=pred, successor=succ, lag=lag_value
        )
        plan.version += 1
        plan.save(update_fields=["version", "updated_at"])
        after = {"predecessor": pred.key, "successor": succ.key, "lag": str(lag_value)}
        _audit_plan(user, plan, "plan.dependency_added", {}, after)
    return dep


def dependency_delete(*, user: User, project: Project, pk: int) -> None:
    with transaction.atomic():
        plan = _locked(user, project)
        dep = plan.dependencies.select_related("predecessor", "successor").filter(pk=pk).first()
        if dep is None:
            raise NotFound(_("No such dependency."))
        before = {"predecessor": dep.predecessor.key, "successor": dep.successor.key}
        dep.delete()
        plan.version += 1
        plan.save(update_fields=["version", "updated_at"])
        _audit_plan(user, plan, "plan.dependency_removed", before, {})


def milestone_create(
    *, user: User, project: Project, name: Any, task: Any, target_date: Any
) -> PlanMilestone:
    with transaction.atomic():
        plan = _locked(user, project)
        fields: dict[str, list[str]] = {}
        name = str(name or "").strip()[:200]
        if not name:
            fields["name"] = [_("A name is required.")]
        elif plan.milestones.filter(name=name).exists():
            fields["name"] = [_("Already used.")]
        row = plan.tasks.filter(key=str(task or "")).first()
        if row is None:
            fields["task"] = [_("No task %(key)r in the plan.") % {"key": task}]
        try:
            target = plan_io.date_value(target_date, _("target date"))
        except ValueError as exc:
            fields["target_date"] = [str(exc)]
        if fields:
            raise ValidationError(_("Some fields are invalid."), fields=fields)
        assert row is not None  # else fields["task"] was set and raised above
        ms = PlanMilestone.objects.create(plan=plan, name=name, task=row, target_date=target)
        plan.version += 1
        plan.save(update_fields=["version", "updated_at"])
        _audit_plan(user, plan, "plan.milestone_added", {},
                    {"name": name, "task": row.key, "target_date": target})  # fmt: skip
    return ms


def milestone_delete(*, user: User, project: Project, pk: int) -> None:
    with transaction.atomic():
        plan = _locked(user, project)
        ms = plan.milestones.filter(pk=pk).first()
        if ms is None:
            raise NotFound(_("No such milestone."))
        before = {"name": ms.name}
        ms.delete()
        plan.version += 1
        plan.save(update_fields=["version", "updated_at"])
        _audit_plan(user, plan, "plan.milestone_removed", before, {})


# ---------------------------------------------------------------------------------------------
# A change request's implementation tasks


def _clean_delays(value: Any) -> dict[str, list[float]]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"risk_delays": [_("An object from impact 1-5 to [o, m, p] days.")]},
        )
    out = {}
    for k, v in value.items():
        if str(k) not in {"1", "2", "3", "4", "5"}:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"risk_delays": [_("Impacts are 1 to 5 (got %(k)s).") % {"k": k}]},
            )
        try:
            if not isinstance(v, list | tuple) or len(v) != 3:
                raise ValueError(_("impact %(k)s: three numbers [o, m, p]") % {"k": k})
            o, m, p = (plan_io.number(x, _("impact %(k)s") % {"k": k}) for x in v)
            if not o <= m <= p:
                raise ValueError(
                    _("impact %(k)s: inverted estimate, o ≤ m ≤ p is required") % {"k": k}
                )
        except ValueError as exc:
            raise ValidationError(str(exc), fields={"risk_delays": [str(exc)]}) from None
        out[str(k)] = [float(o), float(m), float(p)]
    return out


def change_plan_set(*, user: User, cr: ChangeRequest, data: dict[str, Any]) -> ChangePlan:
    """Set the change request's implementation tasks and where they attach in the plan."""
    project = cr.project
    require_planner(user, project)
    rows = []
    for t in data.get("tasks") or []:
        t = dict(t)
        t["depends_on"] = [(d, 0) if isinstance(d, str) else (d.get("task"), d.get("lag", 0))
                           for d in t.get("depends_on") or []]  # fmt: skip
        rows.append(t)
    try:
        clean = plan_io.clean_plan(rows, [])
    except plan_io.PlanProblems as exc:
        raise _problems(exc, "tasks") from None
    plan = plan_of(project)
    plan_keys = set(plan.tasks.values_list("key", flat=True)) if plan else set()
    after: list[dict[str, Any]] = []
    before: list[str] = []
    fields: dict[str, list[str]] = {}
    for item in data.get("after") or []:
        key, lag = (item, 0) if isinstance(item, str) else (item.get("task"), item.get("lag", 0))
        if key not in plan_keys:
            fields.setdefault("after", []).append(
                _("No task %(key)r in the project's plan.") % {"key": key}
            )
            continue
        try:
            after.append({"task": key, "lag": float(plan_io.number(lag, _("lag")))})
        except ValueError as exc:
            fields.setdefault("after", []).append(str(exc))
    for key in data.get("before") or []:
        if key not in plan_keys:
            fields.setdefault("before", []).append(
                _("No task %(key)r in the project's plan.") % {"key": key}
            )
        else:
            before.append(key)
    if fields:
        raise ValidationError(_("Some fields are invalid."), fields=fields)
    delays = _clean_delays(data.get("risk_delays"))
    tasks = [
        {"key": t.key, "name": t.name, "optimistic": float(t.optimistic),
         "most_likely": float(t.most_likely), "pessimistic": float(t.pessimistic),
         "rate": float(t.rate), "fixed_cost": float(t.fixed_cost),
         "depends_on": [{"task": d, "lag": float(lag)} for d, lag in t.depends_on]}
        for t in clean.tasks
    ]  # fmt: skip
    with transaction.atomic():
        cp, _created = ChangePlan.objects.select_for_update().get_or_create(change_request=cr)
        previous = {"tasks": len(cp.tasks), "after": cp.after, "before": cp.before}
        cp.tasks, cp.after, cp.before = tasks, after, before
        cp.include_risks = bool(data.get("include_risks", True))
        cp.risk_delays = delays
        cp.save()
        audit.record(
            actor=user, action="cr.change_plan_set", object_type="change_request",
            object_key=cr.key, project=project.key, before=previous,
            after={"tasks": len(tasks), "after": after, "before": before,
                   "include_risks": cp.include_risks},
            internal=True,
        )  # fmt: skip
    return cp


# ---------------------------------------------------------------------------------------------
# Simulation


def _current_risks(cr: ChangeRequest) -> list[Risk]:
    current = (
        ImpactAssessment.objects.filter(change_request=cr).order_by("-version").only("pk").first()
    )
    return list(Risk.objects.filter(assessment=current).order_by("id")) if current else []


def _spec_from_clean(
    clean: plan_io.CleanPlan, start: dt.date, calendar: str, currency: str, version: Any
) -> dict[str, Any]:
    return {
        "start_date": start.isoformat(),
        "calendar": calendar,
        "currency": currency,
        "plan_version": version,
        "tasks": [
            [
                t.key,
                t.name,
                float(t.optimistic),
                float(t.most_likely),
                float(t.pessimistic),
                float(t.rate),
                float(t.fixed_cost),
                [[d, float(lag)] for d, lag in t.depends_on],
            ]
            for t in clean.tasks
        ],  # fmt: skip
        "milestones": [
            [m.name, m.task, m.target_date.isoformat(), day_of(start, calendar, m.target_date)]
            for m in clean.milestones
        ],
        "change": None,
    }


def build_spec(
    project: Project,
    cr: ChangeRequest | None,
    *,
    plan_file: plan_io.CleanPlan | None = None,
    start_date: dt.date | None = None,
) -> dict[str, Any]:
    """Everything one run needs, as JSON, read now: the result matches what was asked even if
    the plan is edited while a background run waits. ``plan_file`` replaces the stored plan
    (the CLI's ``--plan``)."""
    plan = plan_of(project)
    if plan_file is not None:
        spec = _spec_from_clean(
            plan_file,
            start_date or (plan.start_date if plan else timezone.localdate()),
            plan.calendar if plan else Calendar.WORKING,
            plan.currency if plan else (getattr(project, "currency", "") or "CNY"),
            "file",
        )
    elif plan is None:
        raise Unprocessable(_("The project has no plan: import or create one first."),
                            code="no_plan")  # fmt: skip
    else:
        data = plan_data(plan)
        spec = {
            "start_date": plan.start_date.isoformat(),
            "calendar": plan.calendar,
            "currency": plan.currency,
            "plan_version": plan.version,
            "tasks": [
                [
                    t["key"],
                    t["name"],
                    t["optimistic"],
                    t["most_likely"],
                    t["pessimistic"],
                    t["rate"],
                    t["fixed_cost"],
                    [[d["task"], d["lag"]] for d in t["depends_on"]],
                ]
                for t in data["tasks"]
            ],  # fmt: skip
            "milestones": [
                [
                    m["name"],
                    m["task"],
                    m["target_date"].isoformat(),
                    day_of(plan.start_date, plan.calendar, m["target_date"]),
                ]
                for m in data["milestones"]
            ],  # fmt: skip
            "change": None,
        }
    if not spec["tasks"]:
        raise Unprocessable(_("The project's plan has no tasks."), code="no_plan")
    if cr is None:
        return spec
    cp = change_plan_of(cr)
    if cp is None or not cp.tasks:
        raise Unprocessable(
            _("%(key)s has no implementation tasks to simulate: add them to its change plan.")
            % {"key": cr.key},
            code="no_change_tasks",
        )
    prefix = f"{cr.key}/"
    tasks = [
        [prefix + t["key"], t["name"], t["optimistic"], t["most_likely"], t["pessimistic"],
         t["rate"], t["fixed_cost"], [[prefix + d["task"], d["lag"]] for d in t["depends_on"]]]
        for t in cp.tasks
    ]  # fmt: skip
    used = {d[0] for t in tasks for d in t[7]}
    last = [t[0] for t in tasks if t[0] not in used][-1]
    risks = []
    if cp.include_risks:
        delays = {int(k): tuple(v) for k, v in (cp.risk_delays or {}).items()}
        for r in _current_risks(cr):
            o, m, p = delays.get(r.impact) or DEFAULT_RISK_DELAYS.get(r.impact, (0, 0, 0))
            risks.append([r.description[:80], last, float(r.probability), o, m, p, r.impact])
    spec["change"] = {
        "key": cr.key,
        "tasks": tasks,
        "after": [[a["task"], a["lag"]] for a in cp.after],
        "before": list(cp.before),
        "risks": risks,
    }
    return spec


def _task(row: list) -> sim.Task:
    key, _name, o, m, p, rate, fixed, deps = row
    return sim.Task(key, o, m, p, depends_on=tuple(sim.Dependency(d, lag) for d, lag in deps),
                    rate=rate, fixed_cost=fixed)  # fmt: skip


def spec_to_simulation(spec: dict[str, Any]) -> tuple[sim.Plan, sim.Change | None]:
    plan = sim.Plan(
        tuple(_task(t) for t in spec["tasks"]),
        milestones=tuple(
            sim.Milestone(task, day, name) for name, task, _date, day in spec["milestones"]
        ),
    )
    ch = spec.get("change")
    change = None
    if ch:
        change = sim.Change(
            tuple(_task(t) for t in ch["tasks"]),
            after=tuple(sim.Dependency(t, lag) for t, lag in ch["after"]),
            before=tuple(ch["before"]),
            risks=tuple(
                sim.Risk(task, prob, o, m, p, name=name)
                for name, task, prob, o, m, p, _impact in ch["risks"]
            ),  # fmt: skip
        )
    return plan, change


def _check_iterations(iterations: Any) -> int:
    if iterations is None:
        return sim.DEFAULT_ITERATIONS
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"iterations": [_("A whole number of at least 1.")]},
        )
    if iterations > max_iterations():
        raise Unprocessable(
            _("%(n)d iterations is over the maximum of %(max)d.")
            % {"n": iterations, "max": max_iterations()},
            code="too_many_iterations",
            fields={"iterations": [_("At most %(max)d.") % {"max": max_iterations()}]},
        )
    return iterations


def simulation_start(
    *, user: User, project: Project, cr: ChangeRequest | None = None,
    iterations: Any = None, seed: Any = None,
) -> SimulationRun:  # fmt: skip
    """Check and record a run; small runs are computed at once, large ones are queued."""
    require_planner(user, project)
    n = _check_iterations(iterations)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0
                             or seed >= 2**63):  # fmt: skip
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"seed": [_("A whole number from 0 to 2^63 - 1.")]},
        )
    if seed is None:
        seed = sim.fresh_entropy() % (2**63)
    spec = build_spec(project, cr)
    try:
        plan, change = spec_to_simulation(spec)
        sim.validate(plan, change)
    except sim.PlanError as exc:
        code = "dependency_cycle" if isinstance(exc, sim.DependencyCycle) else "invalid_plan"
        raise Unprocessable(str(exc), code=code) from None
    tasks = len(spec["tasks"]) + (len(spec["change"]["tasks"]) if spec["change"] else 0)
    background = n * tasks * (2 if spec["change"] else 1) > sync_limit()
    with transaction.atomic():
        run = SimulationRun.objects.create(
            project=project, change_request=cr, created_by=user, iterations=n, seed=seed,
            background=background, inputs=spec,
        )  # fmt: skip
        audit.record(
            actor=user, action="simulation.started", object_type="simulation",
            object_key=cr.key if cr else project.key, project=project.key,
            after={"run": run.pk, "iterations": n, "seed": seed, "background": background,
                   "plan_version": spec["plan_version"]},
            internal=True,
        )  # fmt: skip
        if background:
            from .tasks import run_simulation

            transaction.on_commit(lambda: run_simulation.enqueue(run.pk))
    if not background:
        simulation_execute(run.pk)
        run.refresh_from_db()
    return run


def simulation_execute(run_id: int) -> None:
    """Compute a queued run and store its result (the background task's body)."""
    claimed = SimulationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, progress=1
    )
    if not claimed:
        return  # already taken or gone
    run = SimulationRun.objects.get(pk=run_id)
    last = [0]

    def progress(share: float) -> None:
        percent = min(99, int(share * 100))
        if percent > last[0]:
            last[0] = percent
            SimulationRun.objects.filter(pk=run_id).update(progress=percent)

    try:
        plan, change = spec_to_simulation(run.inputs)
        outcome = sim.simulate(
            plan, change=change, iterations=run.iterations, seed=run.seed, progress=progress
        )
        result = build_result(run.inputs, outcome)
    except sim.PlanError as exc:
        SimulationRun.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED, error=str(exc), finished_at=timezone.now()
        )
        return
    except Exception:  # a worker must record the failure, not leave the run 'running'
        log.exception("simulation run %s failed", run_id)
        SimulationRun.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED, error=_("The simulation failed unexpectedly."),
            finished_at=timezone.now(),
        )  # fmt: skip
        raise
    SimulationRun.objects.filter(pk=run_id).update(
        status=RunStatus.DONE, progress=100, result=result, finished_at=timezone.now()
    )


def _distribution(values: np.ndarray) -> dict[str, Any]:
    return {f"P{q}": float(np.percentile(values, q)) for q in sim.PERCENTILES} | {
        "mean": float(values.mean())
    }


def build_result(spec: dict[str, Any], outcome: sim.Simulation) -> dict[str, Any]:
    """The stored result: percentiles in days and dates, shifts, milestones, criticality and the
    compact distributions the charts are drawn from."""
    start = dt.date.fromisoformat(spec["start_date"])
    calendar = spec["calendar"]
    names = {t[0]: t[1] for t in spec["tasks"]}
    change_keys: set[str] = set()
    if spec.get("change"):
        names |= {t[0]: t[1] for t in spec["change"]["tasks"]}
        change_keys = {t[0] for t in spec["change"]["tasks"]}

    def side(o: sim.Outcome) -> dict[str, Any]:
        finish = _distribution(o.finish)
        return {
            "finish_days": finish,
            "finish_dates": {k: date_of(start, calendar, v).isoformat() for k, v in finish.items()},
            "cost": _distribution(o.cost),
        }

    base, with_change = outcome.baseline, outcome.with_change
    result: dict[str, Any] = {
        "iterations": outcome.iterations,
        "seed": outcome.seed,
        "start_date": spec["start_date"],
        "calendar": calendar,
        "currency": spec["currency"],
        "plan_version": spec.get("plan_version"),
        "baseline": side(base),
        "with_change": side(with_change) if with_change else None,
        "finish_shift_days": None,
        "cost_shift": None,
        "critical_path_changed": outcome.critical_path_changed,
        "critical_path_change_probability": outcome.critical_path_change_probability,
    }
    finish_shift, cost_shift = outcome.finish_shift, outcome.cost_shift
    if finish_shift is not None and cost_shift is not None:  # None without a change
        result["finish_shift_days"] = {f"P{q}": v for q, v in finish_shift.items()}
        result["cost_shift"] = {f"P{q}": v for q, v in cost_shift.items()}
    result["milestones"] = [
        {"name": name, "task": task, "target_date": date,
         "miss_probability": base.milestone_miss[name],
         "miss_probability_with_change": with_change.milestone_miss[name] if with_change else None}
        for name, task, date, _day in spec["milestones"]
    ]  # fmt: skip
    crit = []
    for key, share in base.criticality.items():
        crit.append({"task": key, "name": names.get(key, ""), "change_task": False,
                     "criticality": share,
                     "criticality_with_change": with_change.criticality[key] if with_change
                     else None})  # fmt: skip
    if with_change is not None:  # change tasks come only with a change
        for key in change_keys:
            crit.append({"task": key, "name": names.get(key, ""), "change_task": True,
                         "criticality": None,
                         "criticality_with_change": with_change.criticality[key]})  # fmt: skip
    crit.sort(key=lambda c: -max(c["criticality"] or 0, c["criticality_with_change"] or 0))
    result["criticality"] = crit
    charts: dict[str, Any] = {}
    for metric in ("finish", "cost"):
        a = base.finish if metric == "finish" else base.cost
        b = (
            (with_change.finish if metric == "finish" else with_change.cost)
            if with_change
            else None
        )
        both = a if b is None else np.concatenate([a, b])
        lo, hi = float(both.min()), float(both.max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
        charts[metric] = {
            "edges": edges.tolist(),
            "baseline_counts": np.histogram(a, edges)[0].tolist(),
            "with_change_counts": np.histogram(b, edges)[0].tolist() if b is not None else None,
            "baseline_quantiles": np.percentile(a, QUANTILE_LEVELS).tolist(),
            "with_change_quantiles": (
                np.percentile(b, QUANTILE_LEVELS).tolist() if b is not None else None
            ),
        }
    result["charts"] = charts
    return result


def run_data(run: SimulationRun) -> dict[str, Any]:
    """A run for the API: status, progress and (when done) the result without chart data."""
    result = dict(run.result or {})
    result.pop("charts", None)
    return {
        "id": run.pk,
        "project": run.project.key,
        "change_request": run.change_request.key if run.change_request else None,
        "status": run.status,
        "progress": run.progress,
        "background": run.background,
        "iterations": run.iterations,
        "seed": run.seed,
        "created_by": run.created_by.username,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "result": result or None,
    }


def assessment_from_run(
    *, user: User, cr: ChangeRequest, run: SimulationRun, level: str = "P80"
) -> ImpactAssessment:
    """Record the next assessment version with method "simulation": the schedule and cost are
    the run's shifts at ``level``; effort, resources and risks carry over from the current
    assessment (a simulation does not estimate them), so the new version is no less complete."""
    from changeflow.changes import services as change_services

    if level not in ("P50", "P80", "P95"):
        raise ValidationError(_("Some fields are invalid."), fields={"level": ["P50, P80, P95"]})
    r = run.result or {}
    if run.status != RunStatus.DONE or not r.get("with_change"):
        raise Unprocessable(_("Only a finished run with the change can be recorded."))
    current = ImpactAssessment.objects.filter(change_request=cr).order_by("-version").first()
    risks = []
    if current is not None:
        risks = [
            {"description": k.description, "probability": k.probability, "impact": k.impact,
             "mitigation": k.mitigation, "owner": k.owner}
            for k in current.risks.all()
        ]  # fmt: skip
    shift = r["finish_shift_days"][level]
    cost = r["cost_shift"][level]
    unit = _("working days") if r["calendar"] == Calendar.WORKING else _("calendar days")
    notes = _(
        "Monte Carlo simulation #%(run)d (%(n)s iterations, seed %(seed)d): at %(level)s the "
        "finish moves from %(before)s to %(after)s (%(shift).1f %(unit)s) and the cost by "
        "%(cost).2f %(currency)s."
    ) % {
        "run": run.pk, "n": f"{run.iterations:,}", "seed": run.seed, "level": level,
        "before": r["baseline"]["finish_dates"][level],
        "after": r["with_change"]["finish_dates"][level], "shift": shift, "unit": unit,
        "cost": cost, "currency": r["currency"],
    }  # fmt: skip
    return change_services.assessment_create(
        user=user, cr=cr,
        effort_hours=current.effort_hours if current else None,
        schedule_days=Decimal(str(round(max(shift, 0.0), 2))),
        cost=Decimal(str(round(max(cost, 0.0), 2))),
        currency=r["currency"],
        resources=current.resources if current else None,
        risks=risks, method="simulation", notes=notes,
    )  # fmt: skip
