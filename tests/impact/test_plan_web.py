"""The plan page, the simulation panel of the CR page, charts served with permission checks,
HTMX polling of a background run, and an assessment recorded from a run."""

from __future__ import annotations

import io
import re

import pytest
from django.test import override_settings
from django.utils import translation

from changeflow.changes.models import ImpactAssessment
from changeflow.impact import plan_io, plans
from changeflow.impact.models import PlanTask, SimulationRun
from changeflow.impact.plan_views import ChangePlanForm
from tests.factories import advance, complete_assessment, make_cr

pytestmark = pytest.mark.django_db

CSV = (
    "id,name,optimistic,most_likely,pessimistic,depends_on,rate,milestone,target_date\n"
    "A,需求分析,2,3,5,,1000,,\n"
    "B,开发,5,8,14,A,2000,,\n"
    "C,测试,2,3,6,B,1000,上线,2027-01-25\n"
)


def setup_plan(p, *, cr=None):
    clean = plan_io.rows_to_plan(plan_io.read_rows("p.csv", CSV.encode()))
    plans.plan_replace(user=p.pm, project=p.project, clean=clean,
                       header={"start_date": "2027-01-04"})  # fmt: skip
    if cr is not None:
        plans.change_plan_set(user=p.tech_lead, cr=cr, data={
            "tasks": [{"key": "X", "name": "积分抵扣", "optimistic": 2, "most_likely": 3,
                       "pessimistic": 5, "rate": 800}],
            "after": ["B"], "before": ["C"]})  # fmt: skip


def test_the_plan_page_shows_tasks_and_forms_to_planners_only(client, personas):
    p = personas
    setup_plan(p)
    client.force_login(p.pm)
    html = client.get("/projects/ACME/plan/").content.decode()
    assert "需求分析" in html and "上线" in html and 'action="/projects/ACME/plan/import/"' in html
    client.force_login(p.developer)
    r = client.get("/projects/ACME/plan/")
    assert r.status_code == 200 and "需求分析" in r.content.decode()
    assert "/plan/import/" not in r.content.decode()
    # Refused before the form is read: 403 for a whole form as for an incomplete one.
    full = {"key": "D", "name": "d", "optimistic": "1", "most_likely": "2", "pessimistic": "3"}
    for what, data in (("task", full), ("task", {"key": "D"}), ("dependency", {})):
        assert client.post(f"/projects/ACME/plan/{what}/", data).status_code == 403, what
    assert not PlanTask.objects.filter(key="D").exists()
    client.force_login(p.outsider)
    assert client.get("/projects/ACME/plan/").status_code == 404


def test_the_forms_of_the_plan_page_have_ids_of_their_own(client, personas):
    """Import, header, task and milestone forms all have a name, a start date or a calendar;
    with one id each for all of them, every label but the first pointed at another form."""
    setup_plan(personas)
    client.force_login(personas.pm)
    html = client.get("/projects/ACME/plan/").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    for form, field in (("import", "calendar"), ("header", "calendar"), ("task", "name"),
                        ("milestone", "name"), ("dependency", "lag")):  # fmt: skip
        assert f'<label for="id_{form}_{field}">' in html, (form, field)
        assert f'id="id_{form}_{field}"' in html, (form, field)


def test_the_plan_is_imported_and_edited_in_the_ui(client, personas):
    p = personas
    client.force_login(p.tech_lead)
    f = io.BytesIO(CSV.encode())
    f.name = "plan.csv"
    r = client.post("/projects/ACME/plan/import/",
                    {"file": f, "start_date": "2027-01-04", "calendar": "working"})  # fmt: skip
    assert r.status_code == 302, r.content.decode()[:2000]
    r = client.post(
        "/projects/ACME/plan/task/",
        {"key": "D", "name": "文档", "optimistic": "1", "most_likely": "2", "pessimistic": "3"},
    )
    assert r.status_code == 302
    r = client.post("/projects/ACME/plan/dependency/", {"predecessor": "D", "successor": "A"})
    assert r.status_code == 302
    r = client.post("/projects/ACME/plan/dependency/", {"predecessor": "C", "successor": "D"})
    assert r.status_code == 422 and "dependency cycle: A → B → C → D → A" in r.content.decode()
    r = client.post(
        "/projects/ACME/plan/task/",
        {"key": "E", "optimistic": "5", "most_likely": "2", "pessimistic": "3"},
    )
    assert r.status_code == 400 and "inverted estimate" in r.content.decode()
    r = client.post("/projects/ACME/plan/task/D/delete/")
    assert r.status_code == 302
    assert [t["key"] for t in plans.plan_data(plans.plan_of(p.project))["tasks"]] == ["A", "B", "C"]
    bad = io.BytesIO(b"id,optimistic,most_likely,pessimistic,depends_on\nA,1,2,3,Z\n")
    bad.name = "bad.csv"
    r = client.post("/projects/ACME/plan/import/", {"file": bad, "calendar": "working"})
    assert r.status_code == 400 and "depends on unknown task" in r.content.decode()


def test_the_cr_page_panel_runs_a_simulation_and_shows_charts(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    setup_plan(p, cr=cr)
    client.force_login(p.tech_lead)
    html = client.get(f"/changes/{cr.key}/").content.decode()
    assert 'id="simulation"' in html and "Not simulated yet" in html
    r = client.post(f"/changes/{cr.key}/simulate/", {"iterations": "2000", "seed": "5"},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert r.status_code == 200
    panel = r.content.decode()
    assert panel.lstrip().startswith("<section") and "P80" in panel and "hx-trigger" not in panel
    run = SimulationRun.objects.get()
    assert f"/changes/{cr.key}/simulations/{run.pk}/chart.svg?kind=histogram" in panel
    for who in ("viewer", "qa"):
        client.force_login(getattr(p, who))
        r = client.get(f"/changes/{cr.key}/simulations/{run.pk}/chart.png?kind=scurve")
        assert r.status_code == 200 and r["Content-Type"] == "image/png"
        # Members without the role see the results but no button.
        assert (
            'action="/changes/' + cr.key + '/simulate/"'
            not in client.get(f"/changes/{cr.key}/").content.decode()
        )
        assert client.post(f"/changes/{cr.key}/simulate/", {"iterations": "10"}).status_code == 403
        assert client.post(f"/changes/{cr.key}/simulate/", {}).status_code == 403  # unread
    client.force_login(p.outsider)
    assert client.get(f"/changes/{cr.key}/simulations/{run.pk}/chart.png").status_code == 404
    assert client.get(f"/changes/{cr.key}/simulation/").status_code == 404
    assert SimulationRun.objects.count() == 1


def test_too_many_iterations_in_the_panel_is_named(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    setup_plan(p, cr=cr)
    client.force_login(p.pm)
    r = client.post(f"/changes/{cr.key}/simulate/", {"iterations": "1000000"},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert r.status_code == 422 and "over the maximum of 100000" in r.content.decode()


@override_settings(
    SIMULATION_SYNC_LIMIT=10,
    TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}},
)
def test_a_background_run_is_polled_until_done(
    client, personas, django_capture_on_commit_callbacks
):
    p = personas
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    setup_plan(p, cr=cr)
    client.force_login(p.pm)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/changes/{cr.key}/simulate/", {"iterations": "500"},
                        headers={"HX-Request": "true"})  # fmt: skip
    html = r.content.decode()
    assert 'hx-trigger="every 1s"' in html and "<progress" in html
    plans.simulation_execute(SimulationRun.objects.get().pk)
    html = client.get(f"/changes/{cr.key}/simulation/").content.decode()
    assert "hx-trigger" not in html and "P95" in html


def test_an_assessment_is_recorded_from_a_run(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    setup_plan(p, cr=cr)
    run = plans.simulation_start(user=p.tech_lead, project=p.project, cr=cr, iterations=500,
                                 seed=1)  # fmt: skip
    client.force_login(p.developer)
    r = client.post(f"/changes/{cr.key}/simulations/{run.pk}/assess/", {"level": "P80"})
    assert r.status_code == 403
    assert ImpactAssessment.objects.filter(change_request=cr).count() == 1  # refused
    client.force_login(p.tech_lead)
    r = client.post(f"/changes/{cr.key}/simulations/{run.pk}/assess/", {"level": "P80"})
    assert r.status_code == 302
    latest = ImpactAssessment.objects.filter(change_request=cr).order_by("-version").first()
    assert latest.version == 2 and latest.method == "simulation"
    shift = run.result["finish_shift_days"]["P80"]
    assert float(latest.schedule_days) == pytest.approx(shift, abs=0.01)
    assert latest.effort_hours == 40 and latest.risks.count() == 1  # carried over
    assert f"#{run.pk}" in latest.notes


def test_the_change_plan_page(client, personas):
    p = personas
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    setup_plan(p, cr=cr)
    client.force_login(p.tech_lead)
    r = client.get(f"/changes/{cr.key}/change-plan/")
    assert r.status_code == 200 and "X,&quot;积分抵扣&quot;,2,3,5" in r.content.decode()
    r = client.post(f"/changes/{cr.key}/change-plan/", {
        "tasks": "id,name,optimistic,most_likely,pessimistic,depends_on\nY,新任务,1,2,3,\n"
                 "Z,收尾,1,1,2,Y\n",
        "after": "A+1", "before": "C", "include_risks": "on"})  # fmt: skip
    assert r.status_code == 302
    data = plans.change_plan_data(cr)
    assert [t["key"] for t in data["tasks"]] == ["Y", "Z"]
    assert data["after"] == [{"task": "A", "lag": 1.0}]
    r = client.post(
        f"/changes/{cr.key}/change-plan/",
        {"tasks": "id,optimistic,most_likely,pessimistic\nY,3,2,1\n", "after": "NOPE"},
    )
    assert r.status_code == 400 and "inverted estimate" in r.content.decode()
    client.force_login(p.qa)
    assert client.get(f"/changes/{cr.key}/change-plan/").status_code == 403
    client.force_login(p.outsider)
    assert client.get(f"/changes/{cr.key}/change-plan/").status_code == 404


# ---------------------------------------------------------------- customer roles: internal


def _plan_pages(p, cr, run):
    """Every plan and simulation page: (method, url, data)."""
    task = f"/changes/{cr.key}/simulations/{run.pk}"
    dep = plans.plan_of(p.project).dependencies.first()
    milestone = plans.plan_of(p.project).milestones.first()
    return [
        ("get", "/projects/ACME/plan/", None),
        ("get", f"/changes/{cr.key}/simulation/", None),
        ("get", f"/changes/{cr.key}/change-plan/", None),
        ("get", f"{task}/chart.png?kind=scurve", None),
        ("get", f"{task}/chart.svg?metric=cost", None),
        ("post", "/projects/ACME/plan/task/",
         {"key": "D", "name": "d", "optimistic": "1", "most_likely": "2", "pessimistic": "3"}),
        ("post", "/projects/ACME/plan/header/", {"start_date": "2027-02-01",
                                                 "calendar": "working", "currency": "USD"}),
        ("post", "/projects/ACME/plan/task/A/delete/", {}),
        ("post", f"/projects/ACME/plan/dependency/{dep.pk}/delete/", {}),
        ("post", f"/projects/ACME/plan/milestone/{milestone.pk}/delete/", {}),
        ("post", f"/changes/{cr.key}/change-plan/", {"tasks": "id,optimistic,most_likely,"
                                                     "pessimistic\nY,1,2,3\n"}),
        ("post", f"/changes/{cr.key}/simulate/", {"iterations": "100"}),
        ("post", f"{task}/assess/", {"level": "P80"}),
    ]  # fmt: skip


@pytest.mark.parametrize("who", ["customer", "customer_rep", "outsider"])
def test_plan_and_simulation_pages_do_not_exist_for_customer_roles(client, personas, who):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    setup_plan(p, cr=cr)
    run = plans.simulation_start(user=p.pm, project=p.project, cr=cr, iterations=300, seed=2)
    pages = _plan_pages(p, cr, run)
    client.force_login(p.pm)  # allowed: every read page answers
    for method, url, _data in pages:
        if method == "get":
            assert client.get(url).status_code == 200, url
    client.force_login(getattr(p, who))
    for method, url, data in pages:
        r = getattr(client, method)(url, data) if data is not None else client.get(url)
        assert r.status_code == 404, (method, url, r.status_code)
    # Nothing was written on their behalf.
    assert SimulationRun.objects.count() == 1
    assert ImpactAssessment.objects.filter(change_request=cr).count() == 1
    plan = plans.plan_of(p.project)
    assert plan.currency == "CNY" and plan.tasks.count() == 3 and plan.dependencies.count() == 2
    assert plan.milestones.count() == 1
    assert [t["key"] for t in plans.change_plan_data(cr)["tasks"]] == ["X"]


@pytest.mark.parametrize("who", ["customer", "customer_rep"])
def test_the_cr_page_shows_customer_roles_no_simulated_figures(client, personas, who):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    setup_plan(p, cr=cr)
    run = plans.simulation_start(user=p.pm, project=p.project, cr=cr, iterations=300, seed=2)
    summary = plans.simulation_summary(cr)
    p80 = summary["percentiles"][1]
    finish = str(p80["finish_date_with_change"])
    client.force_login(p.pm)
    html = client.get(f"/changes/{cr.key}/").content.decode()
    assert 'id="simulation"' in html and "P80" in html and finish in html
    assert f"/simulations/{run.pk}/chart" in html and "/projects/ACME/plan/" in html
    assert "/projects/ACME/plan/" in client.get("/projects/ACME/").content.decode()
    client.force_login(getattr(p, who))
    r = client.get(f"/changes/{cr.key}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="simulation"' not in html and "Monte Carlo" not in html
    assert "P80" not in html and "P95" not in html and finish not in html
    assert "/simulations/" not in html and "/plan/" not in html and "change-plan" not in html
    assert "/projects/ACME/plan/" not in client.get("/projects/ACME/").content.decode()


def test_the_cr_history_names_the_change_plan_in_words(client, personas):
    p = personas
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    setup_plan(p, cr=cr)
    client.force_login(p.pm)
    html = client.get(f"/changes/{cr.key}/", headers={"Accept-Language": "en"}).content.decode()
    assert "set the implementation tasks for the simulation" in html
    assert "cr.change_plan_set" not in html
    html = client.get(
        f"/changes/{cr.key}/", headers={"Accept-Language": "zh-hans"}
    ).content.decode()
    assert "设置了用于模拟的实施任务" in html
    # Its fields by their labels, not their keys; "after" as the form writes it, not a dict.
    changes = dict(re.findall(r'<span class="tl-field">([^<]+)</span>[^<]*(?:<del>[^<]*</del>'
                              r'[^<]*)?<ins>([^<]+)</ins>', html))  # fmt: skip
    with translation.override("zh-hans"):
        after, before = (str(ChangePlanForm.base_fields[f].label) for f in ("after", "before"))
    assert changes[after] == "B" and changes[before] == "C"
    assert '<span class="tl-field">after</span>' not in html and "&#x27;task&#x27;" not in html
