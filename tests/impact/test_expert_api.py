"""Expert estimates and Wideband-Delphi rounds through the API: maths, rounds, permissions."""

import pytest

from changeflow.core.models import AuditEvent
from changeflow.impact.models import EstimationRound, ExpertEstimate
from tests.api.conftest import error_of
from tests.factories import advance, make_cr

pytestmark = pytest.mark.django_db


def url(cr, tail=""):
    return f"/api/v1/change-requests/{cr.key}/estimates/{tail}"


def tp(o, m, p):
    return {"optimistic": o, "most_likely": m, "pessimistic": p}


@pytest.fixture
def cr(personas):
    return advance(make_cr(personas.project, by=personas.customer), personas, "assessing")


def test_an_estimator_posts_and_sees_pert_per_estimator_and_aggregated(personas, api, cr):
    p = personas
    r = api(p.developer).post(
        url(cr), {"effort": tp(10, 20, 36), "schedule": [2, 3, 5], "comment": "why"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    rnd = r.json()["rounds"][0]
    assert rnd["number"] == 1 and rnd["status"] == "open" and rnd["submitted"] == 1
    mine = rnd["estimates"][0]
    assert mine["mine"] and mine["effort"]["mean"] == pytest.approx((10 + 80 + 36) / 6)
    assert mine["effort"]["sd"] == pytest.approx(26 / 6)
    assert mine["schedule"]["mean"] == pytest.approx((2 + 12 + 5) / 6)
    assert mine["cost"] is None
    api(p.tech_lead).post(url(cr), {"effort": tp(12, 22, 40)}, format="json")
    # The moderator sees both, named, and the aggregate (mixture: mean of means).
    body = api(p.pm).get(url(cr)).json()
    agg = body["rounds"][0]["aggregate"]["effort"]
    assert agg["n"] == 2
    assert agg["mean"] == pytest.approx(((10 + 80 + 36) / 6 + (12 + 88 + 40) / 6) / 2)
    assert {e["estimator"] for e in body["rounds"][0]["estimates"]} == {
        p.developer.username, p.tech_lead.username}  # fmt: skip
    assert body["can_close"] is True


def test_during_an_open_round_an_estimator_sees_only_their_own(personas, api, cr):
    p = personas
    api(p.developer).post(url(cr), {"effort": tp(10, 20, 30)}, format="json")
    api(p.qa).post(url(cr), {"effort": tp(30, 40, 60)}, format="json")
    body = api(p.qa).get(url(cr)).json()
    rnd = body["rounds"][0]
    assert rnd["submitted"] == 2
    assert len(rnd["estimates"]) == 1 and rnd["estimates"][0]["mine"]
    assert rnd["aggregate"] is None
    assert body["can_close"] is False


def test_revising_within_a_round_replaces_the_estimate(personas, api, cr):
    p = personas
    api(p.developer).post(url(cr), {"effort": tp(10, 20, 30)}, format="json")
    api(p.developer).post(url(cr), {"effort": tp(11, 21, 31)}, format="json")
    assert ExpertEstimate.objects.filter(change_request=cr).count() == 1
    assert AuditEvent.objects.filter(action="estimate.revised", internal=True).exists()


def test_disagreement_opens_a_delphi_round_with_the_anonymised_spread(personas, api, cr):
    p = personas
    api(p.developer).post(url(cr), {"effort": tp(8, 10, 14)}, format="json")
    api(p.qa).post(url(cr), {"effort": tp(30, 40, 60)}, format="json")
    r = api(p.tech_lead).post(url(cr, "close-round/"))
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "disagreed"
    event = AuditEvent.objects.get(action="estimation.round_closed")
    assert sorted(event.after["notify"]) == sorted([p.developer.username, p.qa.username])
    assert event.internal and event.after["next_round"] == 2
    # Round 1 is now shown to the estimators, anonymised (A, B), with its spread.
    body = api(p.developer).get(url(cr)).json()
    first, second = body["rounds"]
    assert second["status"] == "open" and second["submitted"] == 0
    assert [e["label"] for e in first["estimates"]] == ["A", "B"]
    others = [e for e in first["estimates"] if not e["mine"]]
    assert others[0]["estimator"] is None and others[0]["comment"] == ""
    assert first["aggregate"]["effort"]["relative_spread"] > first["threshold"]
    # Each revises; now they agree and the round closes agreed, no third round.
    api(p.developer).post(url(cr), {"effort": tp(20, 28, 40)}, format="json")
    api(p.qa).post(url(cr), {"effort": tp(22, 30, 44)}, format="json")
    r = api(p.pm).post(url(cr, "close-round/"))
    assert r.json()["status"] == "agreed"
    assert EstimationRound.objects.filter(change_request=cr).count() == 2
    assert api(p.pm).post(url(cr, "close-round/")).status_code == 409  # nothing open


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"effort": tp(10, 5, 20)}, "effort.most_likely"),
        ({"effort": tp(1, 5, 4)}, "effort.pessimistic"),
        ({"effort": tp(-1, 5, 6)}, "effort.optimistic"),
        ({"effort": tp("x", 5, 6)}, "effort.optimistic"),
        ({"effort": tp(1, 2, 3), "cost": [5, 4, 3]}, "cost.most_likely"),
        ({"effort": [1, 2]}, "effort"),
    ],
)
def test_bad_three_point_estimates_are_422_naming_the_field(personas, api, cr, body, field):
    r = api(personas.developer).post(url(cr), body, format="json")
    assert r.status_code == 422, r.content
    assert field in error_of(r)["fields"]
    assert not ExpertEstimate.objects.exists()


def test_unknown_fields_and_a_missing_effort_are_400(personas, api, cr):
    r = api(personas.developer).post(url(cr), {"effort": tp(1, 2, 3), "nope": 1}, format="json")
    assert r.status_code == 400 and "nope" in error_of(r)["fields"]
    r = api(personas.developer).post(url(cr), {"schedule": [1, 2, 3]}, format="json")
    assert r.status_code == 400 and "effort" in error_of(r)["fields"]


@pytest.mark.parametrize("who", ["customer", "customer_rep"])
def test_customers_do_not_see_internal_estimates(personas, api, cr, who):
    user = getattr(personas, who)
    assert api(user).get(url(cr)).status_code == 403
    assert api(user).post(url(cr), {"effort": tp(1, 2, 3)}, format="json").status_code == 403
    assert api(user).post(url(cr), {}, format="json").status_code == 403  # before the body


def test_viewer_sees_but_does_not_estimate_nor_close(personas, api, cr):
    p = personas
    assert api(p.viewer).get(url(cr)).status_code == 200
    assert api(p.viewer).post(url(cr), {"effort": tp(1, 2, 3)}, format="json").status_code == 403
    r = api(p.viewer).post(url(cr), {"effort": "x", "nope": 1}, format="json")
    assert r.status_code == 403 and "expert estimates" in error_of(r)["message"]
    api(p.developer).post(url(cr), {"effort": tp(1, 2, 3)}, format="json")
    assert api(p.developer).post(url(cr, "close-round/")).status_code == 403


def test_outsider_gets_404(personas, api, cr):
    assert api(personas.outsider).get(url(cr)).status_code == 404
    r = api(personas.outsider).post(url(cr), {"effort": tp(1, 2, 3)}, format="json")
    assert r.status_code == 404


def test_no_estimates_after_the_decision(personas, api):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "approved")
    r = api(p.developer).post(url(cr), {"effort": tp(1, 2, 3)}, format="json")
    assert r.status_code == 409
