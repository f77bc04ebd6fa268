"""Process metrics of a project over a period [start, end) (PRODUCT §9). Read-only selectors.

The stage history (``changes.StateChange``) is the source of every time: a CR *enters* a state
at a row's ``at`` and *leaves* it at the next row's. Definitions:

- **Submitted**: CRs whose first submission (the move draft → submitted, made once per CR) falls
  in the period; by type, channel (source), priority and the project's customer.
- **Decisions**: moves in the period to approved, rejected, deferred (by the board or under
  delegation) and to implementing by emergency approval (counted as approved); withdrawals
  counted apart. Approval rate = approved / (approved + rejected + deferred); the rejection
  rate likewise. No decision: no rate (None).
- **Cycle time per stage**: for every stay in a state that *ended* in the period, its length;
  median and 85th percentile per state, in hours. **Lead time**: first submission → closed, for
  CRs closed in the period. **CCB decision latency**: entering in_review → the decision
  (approved, rejected, deferred, emergency approval) for decisions taken in the period.
- **SLA breaches**: ``comms.SlaBreach`` detected in the period, by stage and by level.
- **Requirement volatility**: requirement versions made in the period — added (version 1),
  removed (a later version with status "retired") and changed (any other later version) —
  divided by the number of requirements in the project at the start of the period (made
  before it and not retired then). Each version counts: a requirement edited three times is
  three changes.
- **Cost and schedule of approved change**: the current (latest) impact assessment's cost and
  schedule days of the CRs approved in the period and of all approved up to its end
  (cumulative), in the project's currency (assessments in another currency are counted apart,
  never added), against the project's change budget and schedule contingency; the share used
  is cumulative / budget. **Actuals**: recorded cost, effort and schedule of CRs closed in the
  period and up to its end.
- **Estimation accuracy**: for each method (calibration source) and dimension, over the
  calibration records made in the period (one per closed CR and source): MMRE, PRED(25)
  (``impact.metrics``) and the bias, the median miss in per cent (``impact.calibration``).
- **Trend**: per week (periods up to 120 days) or per month: submitted, approved, rejected,
  closed.

Cost, budget, actuals and estimation accuracy are internal: ``core.access.sees_internal``
decides; for a customer they are None. A constant number of queries whatever the number of CRs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest, ImpactAssessment, StateChange
from changeflow.changes.workflow import State
from changeflow.core.access import sees_internal
from changeflow.core.errors import ValidationError

MAX_PERIOD_DAYS = 5 * 366
WEEKLY_UP_TO_DAYS = 120
DECIDED = (State.APPROVED, State.REJECTED, State.DEFERRED)
# Emergency approval moves a CR from one of these straight to implementing.
EMERGENCY_FROM = (State.TRIAGED, State.ASSESSING, State.IN_REVIEW)
HOUR = 3600.0


@dataclass(frozen=True)
class Period:
    """[start, end) in days; the times are midnight in the site's time zone."""

    start: dt.date
    end: dt.date

    @property
    def start_at(self) -> dt.datetime:
        return _midnight(self.start)

    @property
    def end_at(self) -> dt.datetime:
        return _midnight(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def bucket(self) -> str:
        return "week" if self.days <= WEEKLY_UP_TO_DAYS else "month"


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def default_period(today: dt.date | None = None) -> Period:
    """The last three months up to and including today."""
    today = today or timezone.localdate()
    month = today.month - 3
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    start = dt.date(year, month, min(today.day, 28))
    return Period(start=start, end=today + dt.timedelta(days=1))


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError(_("The period is invalid."), fields={name: [message]})


def parse_period(start: str | dt.date | None, end: str | dt.date | None) -> Period:
    """The period from two ISO dates (either missing: the default's); a ValidationError naming
    ``from`` or ``to`` when a date is malformed, ``from`` is not before ``to`` or the period is
    longer than five years."""
    default = default_period()
    days = {}
    for name, value, fallback in (("from", start, default.start), ("to", end, default.end)):
        if value in (None, ""):
            days[name] = fallback
        elif isinstance(value, dt.date):
            days[name] = value
        else:
            try:
                days[name] = dt.date.fromisoformat(str(value).strip())
            except ValueError:
                raise _field_error(name, _("A date such as 2026-01-31 is required.")) from None
    if days["from"] >= days["to"]:
        raise _field_error("to", _("The end must be after the start."))
    if (days["to"] - days["from"]).days > MAX_PERIOD_DAYS:
        raise _field_error("to", _("The period may be at most five years long."))
    return Period(start=days["from"], end=days["to"])


def percentiles(values: list[float]) -> dict[str, Any]:
    """n, median and 85th percentile (linear interpolation) of ``values``, rounded; None
    without values."""
    if not values:
        return {"n": 0, "median": None, "p85": None}
    a = np.asarray(values, dtype=float)
    return {
        "n": int(a.size),
        "median": round(float(np.median(a)), 2),
        "p85": round(float(np.percentile(a, 85)), 2),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _share(used: Decimal | None, budget: Decimal | None) -> float | None:
    if budget is None or not budget:
        return None
    return round(float((used or Decimal(0)) / budget), 4)


def project_metrics(*, user: User | None, project: Project, period: Period) -> dict[str, Any]:
    """Every figure of ``project`` over ``period`` (the caller fetched ``project`` through
    ``accounts.selectors.project_get``, i.e. ``user`` may see it). ``user`` None: the figures
    for the delivery team (internal ones included), as a scheduled review report keeps them."""
    internal = user is None or sees_internal(user, project)
    history = _history(project, period)
    result: dict[str, Any] = {
        "project": project.key,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "currency": project.currency,
        "internal": internal,
        "submitted": _submitted(project, period),
        "decisions": _decisions(project, period),
        "cycle_time": history,
        "sla_breaches": _sla_breaches(project, period),
        "volatility": _volatility(project, period),
        "cost": _cost(project, period) if internal else None,
        "estimation": _estimation(project, period) if internal else None,
        "trend": _trend(project, period),
    }
    return result


# ---------------------------------------------------------------- volume and decisions


def _moves(project: Project, period: Period):
    return StateChange.objects.filter(
        project=project, at__gte=period.start_at, at__lt=period.end_at
    )


def _submitted(project: Project, period: Period) -> dict[str, Any]:
    rows = (
        _moves(project, period)
        .filter(to_state=State.SUBMITTED, from_state=State.DRAFT)
        .values(
            "change_request__type",
            "change_request__channel",
            "change_request__priority",
            "project__customer__name",
        )  # fmt: skip
        .annotate(n=Count("id"))
        .order_by()
    )
    by: dict[str, Counter] = {k: Counter() for k in ("type", "channel", "priority", "customer")}
    for row in rows:
        by["type"][row["change_request__type"]] += row["n"]
        by["channel"][row["change_request__channel"]] += row["n"]
        by["priority"][row["change_request__priority"]] += row["n"]
        by["customer"][row["project__customer__name"] or ""] += row["n"]
    return {
        "total": sum(by["type"].values()),
        **{f"by_{k}": dict(sorted(c.items())) for k, c in by.items()},
    }


def _decisions(project: Project, period: Period) -> dict[str, Any]:
    rows = (
        _moves(project, period)
        .filter(
            Q(to_state__in=(*DECIDED, State.WITHDRAWN))
            | Q(to_state=State.IMPLEMENTING, from_state__in=EMERGENCY_FROM)
        )
        .values("to_state")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = Counter({row["to_state"]: row["n"] for row in rows})
    approved = counts[State.APPROVED] + counts[State.IMPLEMENTING]
    rejected, deferred = counts[State.REJECTED], counts[State.DEFERRED]
    decided = approved + rejected + deferred
    return {
        "approved": approved,
        "emergency_approved": counts[State.IMPLEMENTING],
        "rejected": rejected,
        "deferred": deferred,
        "withdrawn": counts[State.WITHDRAWN],
        "approval_rate": _rate(approved, decided),
        "rejection_rate": _rate(rejected, decided),
    }


# ---------------------------------------------------------------- times from the stage history


def _is_decision(from_state: str, to_state: str) -> bool:
    return to_state in DECIDED or (to_state == State.IMPLEMENTING and from_state in EMERGENCY_FROM)


def stage_times(
    rows: list[tuple[int, str, str, dt.datetime]], start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """Durations (hours) from stage-history rows (cr id, from, to, at), ordered by CR and time:
    per state the stays that ended in [start, end), the lead times of CRs closed then and the
    in_review → decision latencies. Pure: the tests feed it rows."""
    stages: dict[str, list[float]] = defaultdict(list)
    lead: list[float] = []
    latency: list[float] = []
    previous: tuple[int, dt.datetime] | None = None
    submitted_at: dict[int, dt.datetime] = {}
    for cr_id, from_state, to_state, at in rows:
        if to_state == State.SUBMITTED:
            submitted_at.setdefault(cr_id, at)
        if previous is not None and previous[0] == cr_id and from_state and start <= at < end:
            hours = (at - previous[1]).total_seconds() / HOUR
            stages[from_state].append(hours)
            if from_state == State.IN_REVIEW and _is_decision(from_state, to_state):
                latency.append(hours)
        if to_state == State.CLOSED and start <= at < end and cr_id in submitted_at:
            lead.append((at - submitted_at[cr_id]).total_seconds() / HOUR)
        previous = (cr_id, at)
    order = {s: i for i, s in enumerate(State.values)}
    return {
        "unit": "hours",
        "stages": {s: percentiles(stages[s]) for s in sorted(stages, key=order.__getitem__)},
        "lead_time": percentiles(lead),
        "decision_latency": percentiles(latency),
    }


def _history(project: Project, period: Period) -> dict[str, Any]:
    # Every row up to the end of the CRs that moved in the period: a stay that ended in it may
    # have begun long before.
    moved = _moves(project, period).values("change_request_id")
    rows = list(
        StateChange.objects.filter(
            project=project, change_request_id__in=moved, at__lt=period.end_at
        )
        .order_by("change_request_id", "at", "id")
        .values_list("change_request_id", "from_state", "to_state", "at")
    )
    return stage_times(rows, period.start_at, period.end_at)


# ---------------------------------------------------------------- SLA and volatility


def _sla_breaches(project: Project, period: Period) -> dict[str, Any]:
    from changeflow.comms.models import SlaBreach

    rows = (
        SlaBreach.objects.filter(
            project=project, breached_at__gte=period.start_at, breached_at__lt=period.end_at
        )
        .values("stage", "level")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_stage: Counter = Counter()
    by_level: Counter = Counter()
    for row in rows:
        by_stage[row["stage"]] += row["n"]
        by_level[str(row["level"])] += row["n"]
    return {
        "total": sum(by_stage.values()),
        "by_stage": dict(sorted(by_stage.items())),
        "by_level": dict(sorted(by_level.items())),
    }


def _volatility(project: Project, period: Period) -> dict[str, Any]:
    from changeflow.requirements.models import (
        Requirement,
        RequirementStatus,
        RequirementVersion,
    )

    status_then = (
        RequirementVersion.objects.filter(
            requirement=OuterRef("pk"), created_at__lt=period.start_at
        )
        .order_by("-version")
        .values("status")[:1]
    )
    at_start = (
        Requirement.objects.filter(project=project, created_at__lt=period.start_at)
        .annotate(status_then=Subquery(status_then))
        .exclude(status_then=RequirementStatus.RETIRED)
        .count()
    )
    later = Q(version__gt=1)
    retired = Q(status=RequirementStatus.RETIRED)
    counts = RequirementVersion.objects.filter(
        requirement__project=project,
        created_at__gte=period.start_at,
        created_at__lt=period.end_at,
    ).aggregate(
        added=Count("id", filter=Q(version=1)),
        changed=Count("id", filter=later & ~retired),
        removed=Count("id", filter=later & retired),
    )
    total = counts["added"] + counts["changed"] + counts["removed"]
    return {
        "requirements_at_start": at_start,
        **counts,
        "volatility": _rate(total, at_start),
    }


# ---------------------------------------------------------------- cost, schedule, accuracy


def _approvals(project: Project):
    return StateChange.objects.filter(project=project).filter(
        Q(to_state=State.APPROVED) | Q(to_state=State.IMPLEMENTING, from_state__in=EMERGENCY_FROM)
    )


def _approved_figures(project: Project, approvals) -> dict[str, Any]:
    latest = ImpactAssessment.objects.filter(change_request=OuterRef("pk")).order_by("-version")
    crs = (
        ChangeRequest.objects.filter(pk__in=approvals.values("change_request_id"))
        .annotate(
            a_cost=Subquery(latest.values("cost")[:1]),
            a_days=Subquery(latest.values("schedule_days")[:1]),
            a_currency=Subquery(latest.values("currency")[:1]),
        )
        .aggregate(
            n=Count("id"),
            cost=Sum("a_cost", filter=Q(a_currency=project.currency)),
            days=Sum("a_days"),
            other_currency=Count("id", filter=~Q(a_currency=project.currency)),
        )
    )
    return {
        "change_requests": crs["n"],
        "cost": _money(crs["cost"]),
        "schedule_days": _money(crs["days"]),
        "other_currency": crs["other_currency"],
    }


def _cost(project: Project, period: Period) -> dict[str, Any]:
    approvals = _approvals(project)
    in_period = _approved_figures(
        project, approvals.filter(at__gte=period.start_at, at__lt=period.end_at)
    )
    cumulative = _approved_figures(project, approvals.filter(at__lt=period.end_at))
    closed = Q(closed_at__gte=period.start_at, closed_at__lt=period.end_at)
    upto = Q(closed_at__lt=period.end_at)
    actuals = ChangeRequest.objects.filter(
        project=project, state=State.CLOSED, closed_at__isnull=False
    ).aggregate(
        n=Count("id", filter=closed),
        cost=Sum("actual_cost", filter=closed),
        effort=Sum("actual_effort_hours", filter=closed),
        days=Sum("actual_schedule_days", filter=closed),
        n_all=Count("id", filter=upto),
        cost_all=Sum("actual_cost", filter=upto),
        effort_all=Sum("actual_effort_hours", filter=upto),
        days_all=Sum("actual_schedule_days", filter=upto),
    )
    budget, contingency = project.change_budget, project.schedule_contingency_days
    cum_cost = Decimal(cumulative["cost"]) if cumulative["cost"] else None
    cum_days = Decimal(cumulative["schedule_days"]) if cumulative["schedule_days"] else None
    return {
        "budget": _money(budget),
        "schedule_contingency_days": _money(contingency),
        "approved_in_period": in_period,
        "approved_cumulative": cumulative,
        "budget_used_share": _share(cum_cost, budget),
        "contingency_used_share": _share(cum_days, contingency),
        "actuals_in_period": {
            "change_requests": actuals["n"], "cost": _money(actuals["cost"]),
            "effort_hours": _money(actuals["effort"]), "schedule_days": _money(actuals["days"]),
        },
        "actuals_cumulative": {
            "change_requests": actuals["n_all"], "cost": _money(actuals["cost_all"]),
            "effort_hours": _money(actuals["effort_all"]),
            "schedule_days": _money(actuals["days_all"]),
        },
    }  # fmt: skip


def accuracy(records: Iterable[tuple[str, str, Any, Any, float]]) -> list[dict[str, Any]]:
    """MMRE, PRED(25) and bias per (method, dimension) from calibration records (source,
    dimension, estimate, actual, log ratio): the formulas of ``impact.metrics`` and
    ``impact.calibration``."""
    from changeflow.impact import calibration
    from changeflow.impact import metrics as accuracy_metrics

    groups: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for source, dimension, estimate, actual, log_ratio in records:
        groups[(source, dimension)].append((float(estimate), float(actual), float(log_ratio)))
    out = []
    for (source, dimension), rows in sorted(groups.items()):
        estimates, actuals, ratios = (list(col) for col in zip(*rows, strict=True))
        bias = calibration.summarise(ratios)
        out.append({
            "method": source, "dimension": dimension, "n": len(rows),
            "mmre": round(accuracy_metrics.mmre(actuals, estimates), 4),
            "pred25": round(accuracy_metrics.pred(actuals, estimates, 0.25), 4),
            "bias_percent": round(bias.percent, 2),
        })  # fmt: skip
    return out


def _estimation(project: Project, period: Period) -> list[dict[str, Any]]:
    from changeflow.impact.models import CalibrationRecord

    records = CalibrationRecord.objects.filter(
        project=project,
        recorded_at__gte=period.start_at,
        recorded_at__lt=period.end_at,
        actual__gt=0,
        estimate__gt=0,
    ).values_list("source", "dimension", "estimate", "actual", "log_ratio")
    return accuracy(records)


# ---------------------------------------------------------------- trend


def buckets(period: Period) -> list[dt.date]:
    """The first day of each week (Monday) or month that meets the period."""
    out: list[dt.date] = []
    if period.bucket == "week":
        day = period.start - dt.timedelta(days=period.start.weekday())
        while day < period.end:
            out.append(day)
            day += dt.timedelta(days=7)
    else:
        day = period.start.replace(day=1)
        while day < period.end:
            out.append(day)
            day = (day + dt.timedelta(days=32)).replace(day=1)
    return out


def _trend(project: Project, period: Period) -> dict[str, Any]:
    trunc = TruncWeek if period.bucket == "week" else TruncMonth
    tz = timezone.get_current_timezone()
    rows = (
        _moves(project, period)
        .filter(
            Q(to_state=State.SUBMITTED, from_state=State.DRAFT)
            | Q(to_state__in=(State.APPROVED, State.REJECTED, State.CLOSED))
            | Q(to_state=State.IMPLEMENTING, from_state__in=EMERGENCY_FROM)
        )
        .annotate(bucket=trunc("at", tzinfo=tz), state=F("to_state"))
        .values("bucket", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    series = {"submitted": "submitted", "approved": "approved", "implementing": "approved",
              "rejected": "rejected", "closed": "closed"}  # fmt: skip
    counts: dict[tuple[dt.date, str], int] = Counter()
    for row in rows:
        day = row["bucket"]
        day = timezone.localtime(day, tz).date() if isinstance(day, dt.datetime) else day
        counts[(day, series[row["state"]])] += row["n"]
    return {
        "bucket": period.bucket,
        "points": [
            {"start": day.isoformat(), **{k: counts[(day, k)] for k in
                                           ("submitted", "approved", "rejected", "closed")}}
            for day in buckets(period)
        ],
    }  # fmt: skip
