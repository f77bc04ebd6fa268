"""The figures of a case: pure arithmetic, then against hand-built change requests."""

import datetime as dt
from decimal import Decimal

import pytest

from changeflow.cases import selectors, services
from changeflow.cases.figures import Figures, cycle_days, relative_error
from changeflow.changes import services as changes
from tests.factories import make_cr

from .helpers import closed_cr

D = Decimal
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("estimate", "actual", "error"),
    [
        (D("40"), D("50"), D("0.2500")),
        (D("40"), D("30"), D("-0.2500")),
        (D("3"), D("4"), D("0.3333")),
        (D("40"), D("40"), D("0.0000")),
        (D("0"), D("5"), None),
        (None, D("5"), None),
        (D("5"), None, None),
    ],
)
def test_relative_error(estimate, actual, error):
    assert relative_error(estimate, actual) == error


def test_cycle_days():
    assert cycle_days(T0, T0 + dt.timedelta(days=2, hours=12)) == D("2.5")
    assert cycle_days(T0, T0 + dt.timedelta(hours=1)) == D("0.0")
    assert cycle_days(None, T0) is None
    assert cycle_days(T0, None) is None
    assert cycle_days(T0, T0 - dt.timedelta(days=1)) is None


def test_figures_overrun_and_its_sign():
    f = Figures(
        estimated_effort_hours=D("40"), actual_effort_hours=D("38"),
        estimated_schedule_days=None, actual_schedule_days=D("3"),
        estimated_cost=D("12000"), actual_cost=D("9000"), currency="CNY",
        submitted_at=T0, ended_at=T0 + dt.timedelta(days=10), rating_average=None,
        rating_count=0,
    )  # fmt: skip
    assert f.effort_error == D("-0.0500")
    assert f.schedule_error is None
    assert f.cost_overrun == D("-3000")
    assert f.cost_error == D("-0.2500")
    assert f.cycle_time_days == D("10.0")


def test_figures_of_a_hand_built_case(personas):
    p = personas
    cr = closed_cr(p, days=3.5)
    services.case_mark(user=p.qa, cr=cr, outcome="partial")
    services.rating_set(user=p.customer, cr=cr, score=4)
    services.rating_set(user=p.customer_rep, cr=cr, score=1)
    f = selectors.figures_of(selectors.case_get(user=p.pm, cr=cr))
    assert (f.estimated_effort_hours, f.actual_effort_hours) == (D("40"), D("50"))
    assert f.effort_error == D("0.2500")
    assert f.schedule_error == D("-0.2000")  # 4 days against 5
    assert f.cost_error == D("0.2500")
    assert f.cost_overrun == D("3000")
    assert f.currency == "CNY"
    assert f.cycle_time_days == D("3.5")
    assert (f.rating_average, f.rating_count) == (D("2.50"), 2)


def test_the_current_assessment_is_the_estimate(personas):
    """A revised assessment replaces the first as the estimate the actuals are held against."""
    p = personas
    cr = closed_cr(p)
    services.case_mark(user=p.qa, cr=cr, outcome="success")
    from changeflow.changes.models import ImpactAssessment

    # The latest version counts: a second assessment made before closing (here added directly
    # to the table, as the service refuses a closed CR's assessment).
    first = ImpactAssessment.objects.get(change_request=cr)
    ImpactAssessment.objects.create(
        change_request=cr, version=2, author=p.tech_lead, effort_hours=D("25"),
        schedule_days=D("4"), cost=D("10000"), currency="CNY",
    )  # fmt: skip
    assert first.version == 1
    f = selectors.figures_of(selectors.case_get(user=p.pm, cr=cr))
    assert f.effort_error == D("1.0000")  # 50 h against 25
    assert f.cost_overrun == D("5000")


def test_a_withdrawn_case_has_its_cycle_time_and_no_actuals(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    cr = changes.change_request_transition(user=p.customer, cr=cr, action="withdraw")
    case = services.case_mark(user=p.pm, cr=cr, outcome="failure", root_causes="out of scope")
    f = selectors.figures_of(selectors.case_get(user=p.pm, cr=case.change_request))
    assert f.effort_error is None and f.cost_overrun is None
    assert f.submitted_at is not None and f.ended_at == cr.state_changed_at
    assert f.cycle_time_days == D("0.0")
