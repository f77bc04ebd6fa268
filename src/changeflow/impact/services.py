"""Writes for impact estimation: expert estimates, Delphi rounds, calibration records.

Each function is keyword-only, runs in one transaction and writes its audit event last. The
events are ``internal`` (customer roles do not see estimates in the history).
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import User
from changeflow.changes.models import ChangeRequest, ImpactAssessment
from changeflow.changes.workflow import State
from changeflow.core import audit
from changeflow.core.errors import InvalidTransition, PermissionDenied, PreconditionFailed

from . import calibration, estimation, history, selectors
from .models import (
    DIMENSIONS,
    POINTS,
    CalibrationRecord,
    CalibrationSource,
    EstimationRound,
    ExpertEstimate,
    RoundStatus,
)

logger = logging.getLogger(__name__)
# How the CR page's history names this app's events.
EVENT_LABELS = {
    "estimate.submitted": gettext_lazy("gave an expert estimate"),
    "estimate.revised": gettext_lazy("revised their expert estimate"),
    "estimation.round_closed": gettext_lazy("closed an estimation round"),
    "calibration.recorded": gettext_lazy("compared the estimates with the actuals"),
    "cr.change_plan_set": gettext_lazy("set the implementation tasks for the simulation"),
}
MAX_VALUE = Decimal("999999999999")


def delphi_threshold() -> float:
    """The relative spread above which a new Delphi round opens (settings, else 0.25)."""
    value = getattr(settings, "CHANGEFLOW_DELPHI_THRESHOLD", estimation.DEFAULT_DELPHI_THRESHOLD)
    return float(value)


class InvalidEstimate(PreconditionFailed):
    """A three-point estimate that is not o ≤ m ≤ p, negative or not a number (422)."""

    code = "invalid_estimate"


def _bad(field: str, message: str) -> InvalidEstimate:
    return InvalidEstimate(
        _("%(field)s: %(message)s") % {"field": field, "message": message},
        fields={field: [message]},
    )


def _number(field: str, value: Any) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise _bad(field, _("a number is required"))
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _bad(field, _("not a number: %s") % str(value)[:40]) from None
    if not d.is_finite():
        raise _bad(field, _("not a finite number"))
    if d < 0:
        raise _bad(field, _("cannot be negative"))
    if d > MAX_VALUE:
        raise _bad(field, _("too large"))
    return d.quantize(Decimal("0.01"))


def clean_triple(dimension: str, value: Any, *, required: bool) -> tuple[Decimal, ...] | None:
    """``value`` as (o, m, p): a dict with optimistic/most_likely/pessimistic or a 3-list."""
    if value in (None, "", [], {}):
        if required:
            raise _bad(dimension, _("a three-point estimate is required"))
        return None
    if isinstance(value, dict):
        unknown = set(value) - set(POINTS)
        if unknown:
            raise _bad(dimension, _("unknown keys: %s") % ", ".join(sorted(map(str, unknown))))
        items = [value.get(p) for p in POINTS]
        names = [f"{dimension}.{p}" for p in POINTS]
    elif isinstance(value, list | tuple) and len(value) == 3:
        items = list(value)
        names = [f"{dimension}.{p}" for p in POINTS]
    else:
        raise _bad(dimension, _("give optimistic, most_likely and pessimistic"))
    o, m, p = (_number(n, v) for n, v in zip(names, items, strict=True))
    if not o <= m:
        raise _bad(f"{dimension}.most_likely", _("must not be below the optimistic figure"))
    if not m <= p:
        raise _bad(f"{dimension}.pessimistic", _("must not be below the most likely figure"))
    return o, m, p


def _open_round(cr: ChangeRequest) -> EstimationRound:
    """The CR's open round, opening the next one if none is open (call inside a transaction)."""
    last = (
        EstimationRound.objects.select_for_update()
        .filter(change_request=cr)
        .order_by("-number")
        .first()
    )
    if last is not None and last.status == RoundStatus.OPEN:
        return last
    return EstimationRound.objects.create(
        change_request=cr, number=(last.number + 1) if last else 1, threshold=delphi_threshold()
    )


def expert_estimate_submit(
    *,
    user: User,
    cr: ChangeRequest,
    effort: Any,
    schedule: Any = None,
    cost: Any = None,
    comment: str = "",
) -> ExpertEstimate:
    """Give (or, while the round is open, revise) one's three-point estimates for the CR."""
    selectors.require_estimator(user, cr.project)
    if cr.state not in selectors.ASSESSABLE:
        raise InvalidTransition(_("Estimates are given between submission and the decision."))
    triples = {
        "effort": clean_triple("effort", effort, required=True),
        "schedule": clean_triple("schedule", schedule, required=False),
        "cost": clean_triple("cost", cost, required=False),
    }
    comment = (comment or "").strip()
    if len(comment) > 10_000:
        raise _bad("comment", _("at most 10,000 characters"))
    with transaction.atomic():
        rnd = _open_round(cr)
        values = {
            f"{dim}_{point}": (t[i] if t else None)
            for dim, t in triples.items()
            for i, point in enumerate(POINTS)
        }
        estimate, created = ExpertEstimate.objects.update_or_create(
            round=rnd, estimator=user,
            defaults={"change_request": cr, "comment": comment, **values},
        )  # fmt: skip
        audit.record(
            actor=user, action="estimate.submitted" if created else "estimate.revised",
            object_type="change_request", object_key=cr.key, project=cr.project.key,
            after={"round": rnd.number, **{d: [str(v) for v in t] if t else None
                                            for d, t in triples.items()}},
            internal=True,
        )  # fmt: skip
    return estimate


def estimation_round_close(*, user: User, cr: ChangeRequest) -> EstimationRound:
    """Close the open round. If the estimators disagree beyond the round's threshold on any
    dimension, the next round opens and the estimators are told to revise."""
    if not selectors.sees_estimates(user, cr.project) or not selectors.may_moderate(
        user, cr.project
    ):
        raise PermissionDenied(_("Only project managers and tech leads close estimation rounds."))
    with transaction.atomic():
        rnd = (
            EstimationRound.objects.select_for_update()
            .filter(change_request=cr, status=RoundStatus.OPEN)
            .first()
        )
        if rnd is None:
            raise InvalidTransition(_("There is no open estimation round."))
        estimates = list(rnd.estimates.select_related("estimator"))
        if not estimates:
            raise PreconditionFailed(_("Nobody has estimated in this round yet."))
        summary = selectors.round_aggregate(estimates)
        disagree = [
            dim
            for dim, agg in summary.items()
            if agg and agg["n"] > 1 and agg["relative_spread"] > rnd.threshold
        ]
        rnd.status = RoundStatus.DISAGREED if disagree else RoundStatus.AGREED
        rnd.summary = {"aggregate": summary, "disagree": disagree}
        rnd.closed_at = timezone.now()
        rnd.closed_by = user
        rnd.save(update_fields=["status", "summary", "closed_at", "closed_by"])
        nxt = None
        if disagree:
            nxt = EstimationRound.objects.create(
                change_request=cr, number=rnd.number + 1, threshold=rnd.threshold
            )
        audit.record(
            actor=user, action="estimation.round_closed", object_type="change_request",
            object_key=cr.key, project=cr.project.key,
            after={
                "round": rnd.number, "outcome": rnd.status, "disagree": disagree,
                "spread": {d: round(a["relative_spread"], 4) for d, a in summary.items() if a},
                "next_round": nxt.number if nxt else None,
                # Wideband Delphi: every estimator of the round is asked to revise.
                "notify": sorted({e.estimator.username for e in estimates}) if disagree else [],
                "reason": "delphi_round_opened" if disagree else "",
            },
            internal=True,
        )  # fmt: skip
    return rnd


# ---------------------------------------------------------------- calibration at close

ACTUAL_FIELDS = {
    "effort": "actual_effort_hours",
    "schedule": "actual_schedule_days",
    "cost": "actual_cost",
}
ASSESSMENT_FIELDS = {"effort": "effort_hours", "schedule": "schedule_days", "cost": "cost"}


def _record(rows: list, cr: ChangeRequest, source: str, estimator_id, dim: str, estimate) -> None:
    actual = getattr(cr, ACTUAL_FIELDS[dim])
    if estimate is None or actual is None:
        return
    e, a = float(estimate), float(actual)
    if not (e > 0 and a > 0 and math.isfinite(e)):
        return
    rows.append(
        CalibrationRecord(
            project_id=cr.project_id, change_request=cr, source=source,
            estimator_id=estimator_id, cr_type=cr.type, dimension=dim,
            estimate=Decimal(str(round(e, 2))), actual=Decimal(str(a)),
            log_ratio=calibration.log_ratio(round(e, 2) or e, a),
        )
    )  # fmt: skip


def calibration_record(*, cr: ChangeRequest, actor: Any = None) -> list[CalibrationRecord]:
    """Set the CR's estimates against its actuals (replacing earlier records of the CR).

    Sources: the expert PERT aggregate and each estimator's PERT mean (their last round), the
    analogy estimate from the history without this CR, and the recorded assessment (with its
    author as the estimator).
    """
    cr = ChangeRequest.objects.select_related("project").get(pk=cr.pk)
    rows: list[CalibrationRecord] = []
    last_round = (
        EstimationRound.objects.filter(change_request=cr, estimates__isnull=False)
        .order_by("-number")
        .first()
    )
    if last_round is not None:
        estimates = list(last_round.estimates.all())
        aggregate = selectors.round_aggregate(estimates)
        for dim in DIMENSIONS:
            pert = aggregate.get(dim)
            if pert:
                _record(rows, cr, CalibrationSource.EXPERT, None, dim, pert["mean"])
        # Each estimator's figure from the last round they took part in.
        latest_by_estimator: dict[int, ExpertEstimate] = {}
        for e in ExpertEstimate.objects.filter(change_request=cr).order_by("round__number", "id"):
            latest_by_estimator[e.estimator_id] = e
        for e in latest_by_estimator.values():
            for dim in DIMENSIONS:
                t = e.triple(dim)
                if t:
                    _record(rows, cr, CalibrationSource.EXPERT, e.estimator_id, dim,
                            estimation.ThreePoint(*t).mean)  # fmt: skip
    assessment = ImpactAssessment.objects.filter(change_request=cr).order_by("-version").first()
    if assessment is not None:
        for name, field in ASSESSMENT_FIELDS.items():
            _record(rows, cr, CalibrationSource.ASSESSMENT, assessment.author_id, name,
                    getattr(assessment, field))  # fmt: skip
    try:
        scope = selectors.scope_pool((cr.project_id,))
        result = history.estimate(
            scope.pool, title=cr.title, description=cr.description[: selectors.DESCRIPTION_CHARS],
            type=cr.type, priority=cr.priority,
            estimated_effort=float(assessment.effort_hours)
            if assessment and assessment.effort_hours is not None else None,
            exclude_id=cr.pk,
        )  # fmt: skip
        for dim in DIMENSIONS:
            est = result.estimates.get(dim)
            if est:
                _record(rows, cr, CalibrationSource.ANALOGY, None, dim, est["value"])
    except history.EmptyHistory:
        pass  # the first closed CR has nothing to be compared with
    with transaction.atomic():
        CalibrationRecord.objects.filter(change_request=cr).delete()
        CalibrationRecord.objects.bulk_create(rows)
        audit.record(
            actor=actor, action="calibration.recorded", object_type="change_request",
            object_key=cr.key, project=cr.project.key,
            after={"records": len(rows),
                   "sources": sorted({f"{r.source}/{r.dimension}" for r in rows})},
            internal=True,
        )  # fmt: skip
    return rows


def on_audit_recorded(sender, event, **kwargs) -> None:
    """At close (``cr.verify``), keep the CR's estimates against its actuals."""
    if event.action != "cr.verify" or event.object_type != "change_request":
        return
    cr = ChangeRequest.objects.filter(key=event.object_key, state=State.CLOSED).first()
    if cr is None:
        return
    try:
        calibration_record(cr=cr, actor=event.actor)
    except Exception:  # never let a derived record break the close; it can be rebuilt
        logger.exception("calibration for %s failed", cr.key)
