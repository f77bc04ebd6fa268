"""Hand-built process data with known answers (``metrics_world``), for the metrics tests."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from types import SimpleNamespace

from django.utils import timezone

from changeflow.accounts import services as accounts
from changeflow.changes.models import ChangeRequest, ImpactAssessment, StateChange
from changeflow.changes.workflow import State
from changeflow.comms.models import SlaBreach
from changeflow.impact.models import CalibrationRecord
from changeflow.reports.metrics import Period
from changeflow.requirements import services as requirements
from changeflow.requirements.models import Requirement, RequirementVersion
from tests.factories import make_cr

PERIOD = Period(start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 1))
S = State


def at(day: str, hour: int = 0) -> dt.datetime:
    """A time in the site's zone: ``at("03-02", 10)`` is 2026-03-02 10:00."""
    return timezone.make_aware(dt.datetime.fromisoformat(f"2026-{day}T{hour:02d}:00"))


def history(cr: ChangeRequest, moves: list[tuple[str, str, dt.datetime]]) -> None:
    """Replace ``cr``'s stage history by ``moves`` (from, to, at)."""
    StateChange.objects.filter(change_request=cr).delete()
    StateChange.objects.bulk_create(
        StateChange(project_id=cr.project_id, change_request=cr, from_state=f, to_state=t, at=w)
        for f, t, w in moves
    )
    ChangeRequest.objects.filter(pk=cr.pk).update(state=moves[-1][1], state_changed_at=moves[-1][2])


def assessment(cr: ChangeRequest, by, version: int, cost: str, days: str, currency="CNY"):
    ImpactAssessment.objects.create(
        change_request=cr,
        version=version,
        author=by,
        cost=Decimal(cost),
        schedule_days=Decimal(days),
        effort_hours=Decimal("10"),
        currency=currency,
    )


def metrics_world(p: SimpleNamespace) -> SimpleNamespace:
    """In March 2026 (``PERIOD``): A submitted, approved and closed; B submitted and rejected;
    C (submitted in February) deferred; D submitted and withdrawn; E approved in February."""
    project = accounts.project_update(
        user=p.pm,
        project=p.project,
        data={"change_budget": "100000", "schedule_contingency_days": "20"},
    )
    mk = lambda **kw: make_cr(project, by=p.customer, **kw)  # noqa: E731
    a = mk(type="feature", priority="P1", channel="web")
    b = mk(type="modification", priority="P2", channel="email")
    c = mk(type="feature", priority="P2", channel="email")
    d = mk(type="feature", priority="P3", channel="portal")
    e = mk(type="removal", priority="P4", channel="phone")
    history(
        a,
        [
            ("", S.DRAFT, at("02-20")),
            (S.DRAFT, S.SUBMITTED, at("03-02", 10)),
            (S.SUBMITTED, S.TRIAGED, at("03-02", 14)),
            (S.TRIAGED, S.ASSESSING, at("03-03", 14)),
            (S.ASSESSING, S.IN_REVIEW, at("03-05", 14)),
            (S.IN_REVIEW, S.APPROVED, at("03-06", 2)),
            (S.APPROVED, S.IMPLEMENTING, at("03-07")),
            (S.IMPLEMENTING, S.VERIFYING, at("03-09")),
            (S.VERIFYING, S.CLOSED, at("03-10", 10)),
        ],
    )
    ChangeRequest.objects.filter(pk=a.pk).update(
        closed_at=at("03-10", 10),
        actual_cost=Decimal("21000"),
        actual_effort_hours=Decimal("70"),
        actual_schedule_days=Decimal("5"),
    )
    history(
        b,
        [
            ("", S.DRAFT, at("03-01")),
            (S.DRAFT, S.SUBMITTED, at("03-01")),
            (S.SUBMITTED, S.TRIAGED, at("03-01", 8)),
            (S.TRIAGED, S.ASSESSING, at("03-02", 8)),
            (S.ASSESSING, S.IN_REVIEW, at("03-04", 8)),
            (S.IN_REVIEW, S.REJECTED, at("03-05", 8)),
        ],
    )
    history(
        c,
        [
            ("", S.DRAFT, at("02-25")),
            (S.DRAFT, S.SUBMITTED, at("02-25")),
            (S.SUBMITTED, S.TRIAGED, at("02-26")),
            (S.TRIAGED, S.ASSESSING, at("02-27")),
            (S.ASSESSING, S.IN_REVIEW, at("03-10")),
            (S.IN_REVIEW, S.DEFERRED, at("03-12")),
        ],
    )
    history(
        d,
        [
            ("", S.DRAFT, at("03-20")),
            (S.DRAFT, S.SUBMITTED, at("03-20")),
            (S.SUBMITTED, S.WITHDRAWN, at("03-21")),
        ],
    )
    history(
        e,
        [
            ("", S.DRAFT, at("02-01")),
            (S.DRAFT, S.SUBMITTED, at("02-01")),
            (S.SUBMITTED, S.TRIAGED, at("02-02")),
            (S.TRIAGED, S.ASSESSING, at("02-03")),
            (S.ASSESSING, S.APPROVED, at("02-10")),
        ],
    )
    # Costs: A's current assessment is its second; E was approved before the period.
    assessment(a, p.tech_lead, 1, "50000", "9")
    assessment(a, p.tech_lead, 2, "20000", "4")
    assessment(e, p.tech_lead, 1, "30000", "6")
    # SLA: two breaches in March, one in February.
    for level, when in ((1, at("03-03")), (2, at("03-04")), (1, at("02-26"))):
        SlaBreach.objects.create(
            project=project,
            change_request=b,
            stage=S.TRIAGED,
            priority="P2",
            stage_entered_at=when - dt.timedelta(days=1),
            target_hours=24,
            level=level,
            breached_at=when,
        )
    # Requirements: R1–R4 before March, R4 retired in February (3 at the start); in March R5
    # added, R1 changed, R2 changed twice, R3 retired.
    reqs = [
        requirements.requirement_create(user=p.pm, project=project, title=f"R{i}")
        for i in range(1, 6)
    ]
    r1, r2, r3, r4, r5 = reqs
    Requirement.objects.filter(pk__in=[r.pk for r in reqs[:4]]).update(created_at=at("02-01"))
    RequirementVersion.objects.filter(requirement__in=reqs[:4]).update(created_at=at("02-01"))
    RequirementVersion.objects.filter(requirement=r5).update(created_at=at("03-05"))

    def edit(req, day, **data):
        req = Requirement.objects.get(pk=req.pk)
        requirements.requirement_update(user=p.pm, requirement=req, data=data)
        latest = RequirementVersion.objects.filter(requirement=req).order_by("-version").first()
        RequirementVersion.objects.filter(pk=latest.pk).update(created_at=at(day))

    edit(r4, "02-15", status="retired")
    edit(r1, "03-06", title="R1 changed")
    edit(r2, "03-07", title="R2 changed")
    edit(r2, "03-08", title="R2 changed again")
    edit(r3, "03-09", status="retired")
    # Calibration: expert effort estimates 10 and 30 against 20 and 20; analogy 20 against 21;
    # one record of February, outside the period.
    for source, estimate, actual, when in (
        ("expert", 10, 20, at("03-10")),
        ("expert", 30, 20, at("03-10")),
        ("analogy", 20, 21, at("03-10")),
        ("analogy", 50, 10, at("02-10")),
    ):
        row = CalibrationRecord.objects.create(
            project=project,
            change_request=a,
            source=source,
            dimension="effort",
            estimate=Decimal(estimate),
            actual=Decimal(actual),
            log_ratio=math.log(actual / estimate),
        )
        CalibrationRecord.objects.filter(pk=row.pk).update(recorded_at=when)
    return SimpleNamespace(project=project, a=a, b=b, c=c, d=d, e=e)
