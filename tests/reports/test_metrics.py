"""Process metrics (``reports.metrics``) against hand-built data with known answers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.changes import services
from changeflow.changes.models import StateChange
from changeflow.changes.workflow import State
from changeflow.core.errors import ValidationError
from changeflow.reports import metrics
from changeflow.reports.metrics import Period, parse_period, percentiles, stage_times
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

from .helpers import PERIOD, at, metrics_world

S = State


# ---------------------------------------------------------------- pure parts


def test_percentiles_are_the_median_and_the_interpolated_85th():
    assert percentiles([12, 24, 48]) == {"n": 3, "median": 24.0, "p85": 40.8}
    assert percentiles([4, 8, 24]) == {"n": 3, "median": 8.0, "p85": 19.2}
    assert percentiles([5]) == {"n": 1, "median": 5.0, "p85": 5.0}
    assert percentiles([]) == {"n": 0, "median": None, "p85": None}


def test_stage_times_count_the_stays_that_ended_in_the_period():
    start, end = at("03-01"), at("04-01")
    rows = [
        # CR 1: in review from Feb 27 to Mar 2 (ended in the period: 72 h), then approved.
        (1, "", S.DRAFT, at("02-20")),
        (1, S.DRAFT, S.SUBMITTED, at("02-20", 6)),
        (1, S.SUBMITTED, S.IN_REVIEW, at("02-27")),
        (1, S.IN_REVIEW, S.APPROVED, at("03-02")),
        # CR 2: returned from review (no decision), closed after resubmission: lead time from
        # its first submission.
        (2, "", S.SUBMITTED, at("03-03")),
        (2, S.SUBMITTED, S.IN_REVIEW, at("03-03", 10)),
        (2, S.IN_REVIEW, S.RETURNED, at("03-04", 10)),
        (2, S.RETURNED, S.SUBMITTED, at("03-05")),
        (2, S.SUBMITTED, S.CLOSED, at("03-06", 10)),
        # CR 3: its stay in submitted ends after the period.
        (3, "", S.SUBMITTED, at("03-31")),
        (3, S.SUBMITTED, S.TRIAGED, at("04-02")),
    ]
    times = stage_times(rows, start, end)
    assert times["stages"][S.IN_REVIEW] == {"n": 2, "median": 48.0, "p85": 64.8}
    assert times["stages"][S.SUBMITTED] == {"n": 2, "median": 22.0, "p85": 30.4}  # 10 h, 34 h
    assert times["stages"][S.RETURNED]["median"] == 14.0
    assert S.DRAFT not in times["stages"]  # CR 1 left draft in February
    assert times["decision_latency"] == {"n": 1, "median": 72.0, "p85": 72.0}
    assert times["lead_time"] == {"n": 1, "median": 82.0, "p85": 82.0}
    assert list(times["stages"]) == [S.SUBMITTED, S.IN_REVIEW, S.RETURNED]  # workflow order


@pytest.mark.parametrize(
    "start,end,field",
    [
        ("2026-13-01", "2026-12-01", "from"),
        ("2026-01-01", "soon", "to"),
        ("2026-03-01", "2026-03-01", "to"),
        ("2026-03-02", "2026-03-01", "to"),
        ("2020-01-01", "2026-01-02", "to"),
    ],
)
def test_bad_periods_name_the_parameter(start, end, field):
    with pytest.raises(ValidationError) as caught:
        parse_period(start, end)
    assert set(caught.value.fields) == {field}


def test_the_default_period_is_the_last_three_months():
    period = metrics.default_period(dt.date(2026, 5, 31))
    assert (period.start, period.end) == (dt.date(2026, 2, 28), dt.date(2026, 6, 1))
    assert parse_period(None, None) == metrics.default_period()
    assert parse_period("2021-01-01", "2026-01-01").days == 1826  # five years is allowed


def test_buckets_start_on_mondays_or_first_days():
    assert metrics.buckets(PERIOD) == [
        dt.date(2026, 2, 23) + dt.timedelta(weeks=i) for i in range(6)
    ]
    year = Period(dt.date(2026, 1, 15), dt.date(2027, 1, 1))
    assert metrics.buckets(year) == [dt.date(2026, m, 1) for m in range(1, 13)]


# ---------------------------------------------------------------- the stage history


@pytest.mark.django_db
def test_every_state_change_is_recorded_with_its_actor(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, type="feature", priority="P2")
    cr = advance(cr, p, "in_review")
    for voter in (p.pm, p.qa, p.customer_rep):  # the board's verdict: no single actor
        services.vote_cast(user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD)
    rows = list(
        StateChange.objects.filter(change_request=cr).values_list(
            "from_state", "to_state", "actor__username", "project_id"
        )
    )
    assert rows == [
        ("", S.DRAFT, p.customer.username, p.project.pk),
        (S.DRAFT, S.SUBMITTED, p.customer.username, p.project.pk),
        (S.SUBMITTED, S.TRIAGED, p.tech_lead.username, p.project.pk),
        (S.TRIAGED, S.ASSESSING, p.tech_lead.username, p.project.pk),
        (S.ASSESSING, S.IN_REVIEW, p.tech_lead.username, p.project.pk),
        (S.IN_REVIEW, S.APPROVED, None, p.project.pk),
    ]
    last = StateChange.objects.filter(change_request=cr).last()
    assert last.at == fresh(cr, p.pm).state_changed_at


@pytest.mark.django_db
def test_a_refused_transition_records_nothing(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True)
    before = StateChange.objects.count()
    with pytest.raises(services.ApplicationError):
        services.change_request_transition(user=p.customer, cr=cr, action="triage")
    assert StateChange.objects.count() == before


@pytest.mark.django_db
def test_the_backfill_rebuilds_the_history_from_the_audit_log(personas):
    from changeflow.accounts.models import User
    from changeflow.changes.models import ChangeRequest
    from changeflow.changes.stage_history import backfill
    from changeflow.core.models import AuditEvent

    p = personas
    a = advance(make_cr(p.project, by=p.customer), p, "closed")
    b = make_cr(p.project, by=p.customer, submit=True)
    services.change_request_transition(user=p.tech_lead, cr=b, action="return", comment="more")
    make_cr(p.project, by=p.customer)  # a draft
    cr = make_cr(p.project, by=p.customer, type="feature", priority="P2")
    cr = advance(cr, p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    from changeflow.accounts import services as accounts

    limits = {
        "delegate_max_effort_hours": "100",
        "delegate_max_cost": "100000",
        "delegate_max_schedule_days": "30",
        "delegate_max_risk_exposure": "5",
    }
    accounts.project_update(user=p.pm, project=p.project, data=limits)
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve")
    fields = ("change_request_id", "from_state", "to_state", "at", "actor_id", "project_id")
    written = list(
        StateChange.objects.order_by("change_request_id", "at", "id").values_list(*fields)
    )
    StateChange.objects.all().delete()

    made = backfill(
        audit_event=AuditEvent, change_request=ChangeRequest, state_change=StateChange, user=User
    )
    rebuilt = StateChange.objects.order_by("change_request_id", "at", "id").values_list(*fields)
    assert made == len(written) == 9 + 3 + 1 + 5
    # The audit event is written a moment after the row: same moves, same order, same people.
    strip = lambda rows: [(r[0], r[1], r[2], r[4], r[5]) for r in rows]  # noqa: E731
    assert strip(rebuilt) == strip(written)
    assert {r[0] for r in written} >= {a.pk, b.pk}
    # Run again: the CRs have their history now, nothing is added twice.
    assert (
        backfill(
            audit_event=AuditEvent,
            change_request=ChangeRequest,
            state_change=StateChange,
            user=User,
        )
        == 0
    )


def test_moves_read_from_audit_events():
    from changeflow.changes.stage_history import moves

    def ev(action, before, after):
        return {"action": action, "before": before, "after": after}

    assert moves(ev("cr.created", {}, {"state": "draft"})) == [("", "draft")]
    assert moves(ev("cr.created", {}, {"state": "submitted"})) == [
        ("", "draft"),
        ("draft", "submitted"),
    ]
    assert moves(ev("cr.decided", {"state": "in_review"}, {"state": "deferred"})) == [
        ("in_review", "deferred")
    ]
    assert moves(ev("cr.updated", {"title": "a"}, {"title": "b"})) == []
    assert moves(ev("cr.ratified", {"ratification": "pending"}, {"ratification": "ok"})) == []
    assert moves(ev("comment.created", {}, {"state": "draft"})) == []
    assert moves(ev("cr.submit", {"state": "bogus"}, {"state": "submitted"})) == []


# ---------------------------------------------------------------- the figures


@pytest.mark.django_db
def test_the_metrics_of_a_hand_built_month(personas):
    world = metrics_world(personas)
    m = metrics.project_metrics(user=personas.pm, project=world.project, period=PERIOD)
    assert (m["from"], m["to"], m["currency"], m["internal"]) == (
        "2026-03-01",
        "2026-04-01",
        "CNY",
        True,
    )
    assert m["submitted"] == {
        "total": 3,
        "by_type": {"feature": 2, "modification": 1},
        "by_channel": {"email": 1, "portal": 1, "web": 1},
        "by_priority": {"P1": 1, "P2": 1, "P3": 1},
        "by_customer": {"ACME Corp": 3},
    }
    assert m["decisions"] == {
        "approved": 1,
        "emergency_approved": 0,
        "rejected": 1,
        "deferred": 1,
        "withdrawn": 1,
        "approval_rate": 0.3333,
        "rejection_rate": 0.3333,
    }
    cycle = m["cycle_time"]
    assert cycle["stages"][S.IN_REVIEW] == {"n": 3, "median": 24.0, "p85": 40.8}
    assert cycle["stages"][S.SUBMITTED] == {"n": 3, "median": 8.0, "p85": 19.2}
    assert cycle["decision_latency"] == {"n": 3, "median": 24.0, "p85": 40.8}
    assert cycle["lead_time"] == {"n": 1, "median": 192.0, "p85": 192.0}
    assert m["sla_breaches"] == {
        "total": 2,
        "by_stage": {"triaged": 2},
        "by_level": {"1": 1, "2": 1},
    }
    assert m["volatility"] == {
        "requirements_at_start": 3,
        "added": 1,
        "changed": 3,
        "removed": 1,
        "volatility": 1.6667,
    }
    cost = m["cost"]
    assert cost["approved_in_period"] == {
        "change_requests": 1,
        "cost": "20000.00",
        "schedule_days": "4.00",
        "other_currency": 0,
    }
    assert cost["approved_cumulative"] == {
        "change_requests": 2,
        "cost": "50000.00",
        "schedule_days": "10.00",
        "other_currency": 0,
    }
    assert (cost["budget"], cost["schedule_contingency_days"]) == ("100000.00", "20.00")
    assert (cost["budget_used_share"], cost["contingency_used_share"]) == (0.5, 0.5)
    assert cost["actuals_in_period"] == {
        "change_requests": 1,
        "cost": "21000.00",
        "effort_hours": "70.00",
        "schedule_days": "5.00",
    }
    assert m["estimation"] == [
        {
            "method": "analogy",
            "dimension": "effort",
            "n": 1,
            "mmre": 0.0476,
            "pred25": 1.0,
            "bias_percent": 5.0,
        },
        {
            "method": "expert",
            "dimension": "effort",
            "n": 2,
            "mmre": 0.5,
            "pred25": 0.0,
            "bias_percent": 15.47,
        },
    ]
    assert m["trend"]["bucket"] == "week"
    points = {pt["start"]: pt for pt in m["trend"]["points"]}
    assert len(points) == 6
    assert points["2026-02-23"] == {
        "start": "2026-02-23",
        "submitted": 1,
        "approved": 0,
        "rejected": 0,
        "closed": 0,
    }
    assert points["2026-03-02"] == {
        "start": "2026-03-02",
        "submitted": 1,
        "approved": 1,
        "rejected": 1,
        "closed": 0,
    }
    assert points["2026-03-09"]["closed"] == 1 and points["2026-03-16"]["submitted"] == 1


@pytest.mark.django_db
def test_assessments_in_another_currency_are_counted_apart(personas):
    world = metrics_world(personas)
    from changeflow.changes.models import ImpactAssessment

    ImpactAssessment.objects.filter(change_request=world.a, version=2).update(currency="USD")
    cost = metrics.project_metrics(user=personas.pm, project=world.project, period=PERIOD)["cost"]
    assert cost["approved_in_period"]["cost"] is None
    assert cost["approved_in_period"]["other_currency"] == 1
    assert cost["approved_cumulative"]["cost"] == "30000.00"


@pytest.mark.django_db
def test_an_emergency_approval_counts_as_an_approval(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, emergency=True, type="defect", priority="P1")
    cr = advance(cr, p, "triaged")
    services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="approve_emergency")
    m = metrics.project_metrics(user=p.pm, project=p.project, period=metrics.default_period())
    assert (m["decisions"]["approved"], m["decisions"]["emergency_approved"]) == (1, 1)
    assert m["decisions"]["approval_rate"] == 1.0


@pytest.mark.django_db
def test_customers_get_no_internal_figures(personas):
    world = metrics_world(personas)
    for who in (personas.customer, personas.customer_rep):
        m = metrics.project_metrics(user=who, project=world.project, period=PERIOD)
        assert (m["internal"], m["cost"], m["estimation"]) == (False, None, None)
        assert m["decisions"]["approved"] == 1  # the process figures are theirs too
    for who in (personas.viewer, personas.developer, personas.admin):
        m = metrics.project_metrics(user=who, project=world.project, period=PERIOD)
        assert m["internal"] and m["cost"] is not None


@pytest.mark.django_db
def test_an_empty_project_has_empty_figures(personas):
    m = metrics.project_metrics(user=personas.pm, project=personas.project, period=PERIOD)
    assert m["submitted"]["total"] == 0 and m["decisions"]["approval_rate"] is None
    assert m["cycle_time"]["lead_time"] == {"n": 0, "median": None, "p85": None}
    assert m["volatility"]["volatility"] is None
    assert m["cost"]["budget_used_share"] is None and m["estimation"] == []


@pytest.mark.django_db
def test_a_constant_number_of_queries_whatever_the_number_of_crs(personas):
    p = personas
    period = metrics.default_period()

    def count() -> int:
        p.pm.__dict__.pop("_role_cache", None)
        with CaptureQueriesContext(connection) as ctx:
            metrics.project_metrics(user=p.pm, project=p.project, period=period)
        return len(ctx.captured_queries)

    advance(make_cr(p.project, by=p.customer), p, "closed")
    few = count()
    for to in ("closed", "in_review", "assessing", "submitted", "closed"):
        advance(make_cr(p.project, by=p.customer), p, to)
    assert count() == few == 12
