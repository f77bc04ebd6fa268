"""Cases and ratings through the services: who may, in which states, versions, the audit."""

import pytest

from changeflow.cases import selectors, services
from changeflow.cases.models import Case, OutcomeRating
from changeflow.core import audit
from changeflow.core.access import restrict
from changeflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from changeflow.core.models import AuditEvent
from tests.factories import advance, make_cr

from .helpers import closed_cr

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["pm", "tech_lead", "qa", "admin"])
def test_editors_mark_a_closed_cr(personas, role):
    p = personas
    cr = closed_cr(p)
    user = getattr(p, role)
    case = services.case_mark(
        user=user, cr=cr, outcome="failure", root_causes="估算偏低", lessons="**spike** first",
        tags=[" Estimation ", "estimation", "第三方  接口", ""],
    )  # fmt: skip
    assert case.tags == ["estimation", "第三方 接口"]
    assert case.version == 1 and case.created_by == user
    event = AuditEvent.objects.filter(action="case.created").get()
    assert (event.object_key, event.actor, event.internal) == (cr.key, user.username, True)
    assert event.after["case_outcome"] == "failure"
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("role", "error"),
    [("developer", PermissionDenied), ("viewer", PermissionDenied), ("customer", NotFound),
     ("customer_rep", NotFound), ("outsider", NotFound)],
)  # fmt: skip
def test_others_may_not_mark(personas, role, error):
    p = personas
    cr = closed_cr(p)
    with pytest.raises(error):
        services.case_mark(user=getattr(p, role), cr=cr, outcome="success")
    assert not Case.objects.exists()


def test_only_a_final_cr_is_a_case(personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "in_review")
    with pytest.raises(Conflict) as exc:
        services.case_mark(user=p.pm, cr=cr, outcome="success")
    assert exc.value.code == "not_final"
    assert not Case.objects.exists() and not AuditEvent.objects.filter(action="case.created")


def test_one_case_per_cr(personas):
    p = personas
    cr = closed_cr(p)
    services.case_mark(user=p.pm, cr=cr, outcome="success")
    with pytest.raises(Conflict):
        services.case_mark(user=p.qa, cr=cr, outcome="failure")
    assert Case.objects.get().outcome == "success"


@pytest.mark.parametrize(
    ("data", "field"),
    [({"outcome": "great"}, "outcome"), ({"tags": "x" * 41}, "tags"),
     ({"tags": [str(i) for i in range(21)]}, "tags"), ({"tags": ["a|b"]}, "tags"),
     ({"tags": [1]}, "tags"), ({"archived": "yes"}, "archived"), ({"version": 3}, "version"),
     ({"lessons": 5}, "lessons")],
)  # fmt: skip
def test_bad_input_names_the_field(personas, data, field):
    p = personas
    case = services.case_mark(user=p.pm, cr=closed_cr(p), outcome="success")
    with pytest.raises(ValidationError) as exc:
        services.case_update(user=p.pm, case=case, data=data)
    assert field in exc.value.fields
    assert Case.objects.get().version == 1


def test_update_is_compare_and_set_and_audited(personas):
    p = personas
    case = services.case_mark(user=p.pm, cr=closed_cr(p), outcome="success", tags=["a"])
    case = services.case_update(
        user=p.tech_lead, case=case, data={"outcome": "partial", "tags": ["b", "B"]},
        expected_version=1,
    )  # fmt: skip
    assert (case.version, case.outcome, case.tags) == (2, "partial", ["b"])
    event = AuditEvent.objects.filter(action="case.updated").get()
    assert event.before == {"case_outcome": "success", "tags": ["a"]}
    assert event.after == {"case_outcome": "partial", "tags": ["b"]}
    with pytest.raises(Conflict):  # someone read version 1 and writes now
        services.case_update(user=p.pm, case=case, data={"outcome": "failure"}, expected_version=1)
    assert Case.objects.get().outcome == "partial"
    # Nothing changed: no new version, no event.
    services.case_update(user=p.pm, case=case, data={"outcome": "partial"}, expected_version=2)
    assert Case.objects.get().version == 2
    assert AuditEvent.objects.filter(action="case.updated").count() == 1


def test_archived_cases_leave_the_library_but_stay(personas):
    p = personas
    cr = closed_cr(p)
    case = services.case_mark(user=p.pm, cr=cr, outcome="success")
    services.case_update(user=p.pm, case=case, data={"archived": True})
    assert not selectors.case_list(user=p.pm, project=p.project).exists()
    assert selectors.case_get(user=p.pm, cr=cr).archived


def test_customers_do_not_see_cases(personas):
    p = personas
    cr = closed_cr(p)
    services.case_mark(user=p.pm, cr=cr, outcome="success")
    for user in (p.developer, p.viewer, p.qa):
        assert selectors.case_list(user=user).count() == 1
    for user in (p.customer, p.customer_rep, p.outsider):
        assert selectors.case_list(user=user).count() == 0
        assert selectors.case_of(user=user, cr=cr) is None
    # The case's audit events are internal: not in a customer's view of the CR's history.
    assert not restrict(AuditEvent.objects, p.customer).filter(action="case.created").exists()


# ------------------------------------------------------------------------------------ ratings


@pytest.mark.parametrize("role", ["customer", "customer_rep"])
def test_customers_rate_and_change_their_rating(personas, role):
    p = personas
    cr = closed_cr(p)
    user = getattr(p, role)
    services.rating_set(user=user, cr=cr, score=2, comment="slow")
    services.rating_set(user=user, cr=cr, score="4", comment=" better now ")
    rating = OutcomeRating.objects.get()
    assert (rating.score, rating.comment) == (4, "better now")
    events = AuditEvent.objects.filter(action__startswith="rating.").order_by("seq")
    assert [(e.action, e.before, e.after) for e in events] == [
        ("rating.created", {}, {"score": 2, "comment": "slow"}),
        ("rating.changed", {"score": 2, "comment": "slow"}, {"score": 4, "comment": "better now"}),
    ]
    summary = selectors.rating_summary(cr=cr)
    assert (summary.average, summary.count) == (4, 1)


def test_the_requester_rates_whatever_their_role(personas):
    p = personas
    cr = make_cr(p.project, by=p.developer, submit=True)  # the developer asked for it
    with pytest.raises(Conflict):  # not closed yet
        services.rating_set(user=p.developer, cr=cr, score=5)
    assert services.may_rate(p.developer, cr)
    assert not services.may_rate(p.qa, cr)


@pytest.mark.parametrize(
    ("role", "error"),
    [("pm", PermissionDenied), ("qa", PermissionDenied), ("viewer", PermissionDenied),
     ("admin", PermissionDenied), ("outsider", NotFound)],
)  # fmt: skip
def test_others_may_not_rate(personas, role, error):
    p = personas
    cr = closed_cr(p)
    with pytest.raises(error):
        services.rating_set(user=getattr(p, role), cr=cr, score=5)
    assert not OutcomeRating.objects.exists()


@pytest.mark.parametrize("score", [0, 6, -1, "x", None, True, 4.5, "3.0"])
def test_a_score_outside_1_to_5_is_refused(personas, score):
    p = personas
    cr = closed_cr(p)
    with pytest.raises(ValidationError) as exc:
        services.rating_set(user=p.customer, cr=cr, score=score)
    assert "score" in exc.value.fields
    assert not OutcomeRating.objects.exists()


def test_the_project_average(personas):
    p = personas
    a, b = closed_cr(p, title="A"), closed_cr(p, title="B")
    services.rating_set(user=p.customer, cr=a, score=5)
    services.rating_set(user=p.customer_rep, cr=a, score=4)
    services.rating_set(user=p.customer, cr=b, score=2)
    summary = selectors.project_rating_summary(project=p.project)
    assert (str(summary.average), summary.count) == ("3.67", 3)
