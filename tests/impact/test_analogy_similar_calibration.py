"""Analogy, similar-change search and calibration with a database: API, pages, permissions."""

import math

import pytest
from django.utils import translation

from changeflow.changes import services as change_services
from changeflow.changes.models import ChangeType
from changeflow.impact import services
from changeflow.impact.models import CalibrationRecord, Dimension
from tests.api.conftest import error_of
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db

HISTORY = [
    ("登录页面支持短信验证码", "用户希望通过短信验证码登录", "20"),
    ("找回密码支持短信验证", "忘记密码时通过短信验证码重置", "30"),
    ("Export the sales report to Excel", "Weekly sales report per shop as Excel", "12"),
    ("Two-factor sign-in for the console", "One-time codes from an authenticator app", "40"),
]


def close_with_actuals(p, title, description, effort, *, estimate=None):
    cr = make_cr(p.project, by=p.customer, title=title, description=description)
    cr = advance(cr, p, "assessing")
    if estimate:
        services.expert_estimate_submit(
            user=p.developer, cr=fresh(cr, p.developer),
            effort={"optimistic": estimate * 0.8, "most_likely": estimate,
                    "pessimistic": estimate * 1.5},
        )  # fmt: skip
    complete_assessment(cr, by=p.tech_lead)
    cr = change_services.change_request_transition(
        user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
    )
    for voter in (p.pm, p.qa, p.customer_rep):
        change_services.vote_cast(
            user=voter, cr=fresh(cr, voter), decision="approve", password=PASSWORD
        )
    for action, actor in (
        ("start_implementation", p.tech_lead),
        ("submit_verification", p.developer),
    ):
        cr = change_services.change_request_transition(
            user=actor, cr=fresh(cr, actor), action=action
        )
    cr = change_services.change_request_update(
        user=p.developer, cr=fresh(cr, p.developer),
        data={"actual_effort_hours": effort, "actual_schedule_days": "3"},
    )  # fmt: skip
    return change_services.change_request_transition(user=p.qa, cr=fresh(cr, p.qa), action="verify")


@pytest.fixture
def closed(personas, django_capture_on_commit_callbacks):
    out = []
    for h in HISTORY:  # each close commits on its own, as in production
        with django_capture_on_commit_callbacks(execute=True):
            out.append(close_with_actuals(personas, *h, estimate=10.0))
    return out


@pytest.fixture
def target(personas):
    cr = make_cr(personas.project, by=personas.customer, title="短信验证码登录",
                 description="老年用户不记得密码，希望用短信验证码登录")  # fmt: skip
    return advance(cr, personas, "assessing")


def test_analogy_shows_the_most_similar_closed_crs_with_actuals(personas, api, closed, target):
    r = api(personas.tech_lead).get(f"/api/v1/change-requests/{target.key}/analogy/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["history"] == 4
    first = body["analogues"][0]
    assert first["title"] in ("登录页面支持短信验证码", "找回密码支持短信验证")
    assert first["actual_effort_hours"] in (20.0, 30.0)
    assert first["text_similarity"] > 0
    effort = body["estimates"]["effort"]
    assert effort["low"] <= effort["value"] <= effort["high"]
    assert set(body["corrected"]) == {"effort", "schedule", "cost"}


def test_empty_history_is_422_naming_it(personas, api, target):
    r = api(personas.pm).get(f"/api/v1/change-requests/{target.key}/analogy/")
    assert r.status_code == 422
    assert error_of(r)["code"] == "empty_history"
    assert "history" in error_of(r)["message"].lower()


def test_analogy_permissions(personas, api, closed, target):
    path = f"/api/v1/change-requests/{target.key}/analogy/"
    assert api(personas.customer).get(path).status_code == 403
    assert api(personas.outsider).get(path).status_code == 404
    assert api(personas.viewer).get(path).status_code == 200
    assert api(personas.pm).get(path + "?scope=galaxy").status_code == 400


def test_similar_finds_chinese_and_english_neighbours(personas, api, closed, target):
    r = api(personas.customer).get(f"/api/v1/change-requests/{target.key}/similar/")
    assert r.status_code == 200
    keys = [h["key"] for h in r.json()]
    assert target.key not in keys and keys
    assert r.json()[0]["title"].endswith("短信验证码")
    r = api(personas.customer).get(
        f"/api/v1/projects/{personas.project.key}/similar/", {"q": "export sales report"}
    )
    assert r.json()[0]["title"] == "Export the sales report to Excel"
    exact = (
        api(personas.pm)
        .get(f"/api/v1/projects/{personas.project.key}/similar/", {"q": "登录页面支持短信验证码"})
        .json()[0]
    )
    assert exact["duplicate"] is True and exact["similarity"] > 0.65


def test_similar_bad_input_and_outsider(personas, api, closed):
    base = f"/api/v1/projects/{personas.project.key}/similar/"
    assert api(personas.pm).get(base).status_code == 400
    assert api(personas.pm).get(base, {"q": "x", "limit": "0"}).status_code == 400
    assert api(personas.outsider).get(base, {"q": "登录"}).status_code == 404


def test_calibration_is_recorded_at_close_and_shown(personas, api, closed):
    records = CalibrationRecord.objects.filter(dimension="effort")
    expert = records.filter(source="expert", estimator=None)
    assert expert.count() == 4
    # The developer's most likely 10, o 8, p 15: PERT mean (8 + 40 + 15) / 6 = 10.5.
    r = expert.get(change_request=closed[0])
    assert float(r.estimate) == pytest.approx(10.5)
    assert r.log_ratio == pytest.approx(math.log(20 / 10.5))
    assert records.filter(source="expert", estimator=personas.developer).count() == 4
    assert records.filter(source="assessment", estimator=personas.tech_lead).count() == 4
    assert records.filter(source="analogy").count() == 3  # the first had no history
    body = api(personas.pm).get(f"/api/v1/projects/{personas.project.key}/calibration/").json()
    group = next(g for g in body["groups"] if g["source"] == "expert" and g["estimator"] is None
                 and g["cr_type"] == "" and g["dimension"] == "effort")  # fmt: skip
    logs = sorted(math.log(float(a) / 10.5) for a in ("20", "30", "12", "40"))
    assert group["n"] == 4 and group["applied"]
    assert group["median_log_ratio"] == pytest.approx((logs[1] + logs[2]) / 2, abs=1e-5)
    path = f"/api/v1/projects/{personas.project.key}/calibration/"
    assert api(personas.customer_rep).get(path).status_code == 403
    assert api(personas.outsider).get(path).status_code == 404


def test_corrected_and_uncorrected_figures_side_by_side(personas, closed, target):
    from changeflow.impact import selectors

    services.expert_estimate_submit(
        user=personas.developer, cr=fresh(target, personas.developer),
        effort={"optimistic": 8, "most_likely": 10, "pessimistic": 15},
    )  # fmt: skip
    data = selectors.methods_side_by_side(user=personas.pm, cr=fresh(target, personas.pm))
    effort = next(r for r in data["rows"] if r["dimension"] == "effort")
    assert effort["expert"]["mean"] == pytest.approx(10.5)
    corr = effort["expert_corrected"]
    assert corr["uncorrected"] == pytest.approx(10.5)
    assert corr["corrected"] == pytest.approx(10.5 * corr["bias"]["factor"])
    assert corr["corrected"] > 10.5  # the actuals ran over
    assert selectors.methods_side_by_side(user=personas.customer, cr=target) == {"visible": False}


def test_pages_show_the_panels_to_the_team_and_not_to_customers(client, personas, closed, target):
    client.login(username=personas.tech_lead.username, password=PASSWORD)
    page = client.get(f"/changes/{target.key}/").content.decode()
    assert 'id="estimates"' in page and 'id="similar"' in page
    assert "登录页面支持短信验证码" in page
    form = client.get(f"/changes/{target.key}/assessment/").content.decode()
    assert 'id="methods-h"' in form
    client.logout()
    client.login(username=personas.customer.username, password=PASSWORD)
    page = client.get(f"/changes/{target.key}/").content.decode()
    assert 'id="estimates"' not in page and 'id="similar"' in page
    assert client.get(f"/projects/{personas.project.key}/calibration/").status_code == 403


def test_intake_partial_and_calibration_page(client, personas, closed):
    client.login(username=personas.customer.username, password=PASSWORD)
    r = client.get(f"/projects/{personas.project.key}/similar/", {"title": "短信验证码登录"},
                   HTTP_HX_REQUEST="true")  # fmt: skip
    assert r.status_code == 200 and "短信" in r.content.decode()
    assert 'hx-get="/projects/ACME/similar/"' in client.get(
        f"/projects/{personas.project.key}/changes/new/").content.decode()  # fmt: skip
    client.logout()
    client.login(username=personas.outsider.username, password=PASSWORD)
    assert (
        client.get(f"/projects/{personas.project.key}/similar/", {"title": "x"}).status_code == 404
    )
    client.logout()
    client.login(username=personas.pm.username, password=PASSWORD)
    page = client.get(f"/projects/{personas.project.key}/calibration/")
    assert page.status_code == 200 and "×" in page.content.decode()


def test_the_calibration_page_names_dimensions_and_types_in_the_readers_language(
    client, personas, closed
):
    """The page showed the codes (effort, cost, enhancement...) on the Chinese page too; the
    API keeps them."""
    client.force_login(personas.pm)
    page = client.get(f"/projects/{personas.project.key}/calibration/",
                      headers={"Accept-Language": "zh-hans"}).content.decode()  # fmt: skip
    cr_types = set(CalibrationRecord.objects.values_list("cr_type", flat=True)) - {""}
    with translation.override("zh-hans"):
        labels = [str(Dimension.EFFORT.label), *(str(ChangeType(t).label) for t in cr_types)]
    assert cr_types and labels[0] != "Effort (hours)"
    for label in labels:
        assert f"<td>{label}</td>" in page, label
    for code in ("effort", *cr_types):
        assert f"<td>{code}</td>" not in page, code


def test_estimate_form_and_round_close_on_the_page(client, personas, target):
    client.login(username=personas.developer.username, password=PASSWORD)
    data = {"effort_optimistic": "10", "effort_most_likely": "20", "effort_pessimistic": "30"}
    r = client.post(f"/changes/{target.key}/estimates/", data)
    assert r.status_code == 302
    bad = {**data, "effort_pessimistic": "5"}
    client.post(f"/changes/{target.key}/estimates/", bad)
    assert float(services.ExpertEstimate.objects.get().effort_pessimistic) == 30
    assert client.post(f"/changes/{target.key}/estimates/close-round/").status_code == 403
    client.logout()
    client.login(username=personas.tech_lead.username, password=PASSWORD)
    assert client.post(f"/changes/{target.key}/estimates/close-round/").status_code == 302
    client.logout()
    client.login(username=personas.customer.username, password=PASSWORD)
    assert client.post(f"/changes/{target.key}/estimates/", data).status_code == 403
    # Refused before the figures are read (it was a redirect saying they were missing).
    assert client.post(f"/changes/{target.key}/estimates/", {}).status_code == 403
