"""Plans, change plans and simulations through the API: allowed / forbidden / outsider, bad
input named, small runs answered at once, large ones queued with progress, charts."""

from __future__ import annotations

import io

import pytest
from django.test import override_settings
from openpyxl import Workbook

from changeflow.core.models import AuditEvent
from changeflow.impact.models import PlanTask, ProjectPlan, SimulationRun
from tests.api.conftest import error_of
from tests.factories import complete_assessment, make_cr

pytestmark = pytest.mark.django_db

PLAN = "/api/v1/projects/{}/plan/"
IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
DUMMY = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def plan_body(**overrides):
    body = {
        "start_date": "2027-01-04",
        "calendar": "working",
        "currency": "CNY",
        "tasks": [
            {"key": "A", "name": "需求分析", "optimistic": 2, "most_likely": 3,
             "pessimistic": 5, "rate": 1000},
            {"key": "B", "name": "开发", "optimistic": 5, "most_likely": 8, "pessimistic": 14,
             "rate": 2000, "depends_on": [{"task": "A", "lag": 1}]},
            {"key": "C", "name": "测试", "optimistic": 2, "most_likely": 3, "pessimistic": 6,
             "depends_on": ["B"]},
        ],
        "milestones": [{"name": "上线", "task": "C", "target_date": "2027-01-25"}],
    }  # fmt: skip
    body.update(overrides)
    return body


def make_plan(api, p):
    r = api(p.pm).put(PLAN.format("ACME"), plan_body(), format="json")
    assert r.status_code == 200, r.content
    return r.json()


def change_plan(api, p, cr):
    r = api(p.tech_lead).put(
        f"/api/v1/change-requests/{cr.key}/change-plan/",
        {"tasks": [{"key": "X", "name": "积分抵扣", "optimistic": 2, "most_likely": 3,
                    "pessimistic": 6, "rate": 1500}],
         "after": [{"task": "B"}], "before": ["C"]},
        format="json",
    )  # fmt: skip
    assert r.status_code == 200, r.content
    return r.json()


# ---------------------------------------------------------------- plan CRUD


def test_the_project_manager_replaces_the_plan_and_members_read_it(personas, api):
    p = personas
    data = make_plan(api, p)
    assert [t["key"] for t in data["tasks"]] == ["A", "B", "C"]
    assert data["tasks"][1]["depends_on"] == [{"task": "A", "lag": 1}]
    assert data["milestones"][0]["name"] == "上线"
    for who in ("qa", "developer", "viewer", "admin", "tech_lead"):
        r = api(getattr(p, who)).get(PLAN.format("ACME"))
        assert r.status_code == 200, (who, r.content)
        assert r.json()["version"] == 1
    assert AuditEvent.objects.filter(action="plan.replaced", object_key="ACME").exists()


@pytest.mark.parametrize("who", ["qa", "developer", "viewer"])
def test_other_roles_may_not_edit_the_plan(personas, api, who):
    p = personas
    r = api(getattr(p, who)).put(PLAN.format("ACME"), plan_body(), format="json")
    assert r.status_code == 403, r.content
    assert not ProjectPlan.objects.exists()


def test_outsiders_do_not_see_the_plan(personas, api):
    p = personas
    make_plan(api, p)
    assert api(p.outsider).get(PLAN.format("ACME")).status_code == 404
    assert api(p.outsider).put(PLAN.format("ACME"), plan_body(), format="json").status_code == 404
    assert api(p.outsider).get(PLAN.format("ACME") + "tasks/").status_code == 404
    assert api(None).get(PLAN.format("ACME")).status_code == 401


def test_a_project_without_a_plan_answers_404_naming_it(personas, api):
    r = api(personas.pm).get(PLAN.format("ACME"))
    assert r.status_code == 404
    assert "no plan" in error_of(r)["message"]


@pytest.mark.parametrize(
    ("tasks", "status", "words"),
    [
        ([{"key": "A", "optimistic": 5, "most_likely": 3, "pessimistic": 8}], 400,
         "optimistic 5.00 is greater than most likely 3.00"),
        ([{"key": "A", "optimistic": 1, "most_likely": 9, "pessimistic": 8}], 400,
         "most likely 9.00 is greater than pessimistic 8.00"),
        ([{"key": "A", "optimistic": -1, "most_likely": 2, "pessimistic": 3}], 400, "negative"),
        ([{"key": "A", "optimistic": "abc", "most_likely": 2, "pessimistic": 3}], 400,
         "not a number"),
        ([{"key": "A", "optimistic": 1, "most_likely": 2, "pessimistic": 3,
           "depends_on": ["Z"]}], 400, "depends on unknown task 'Z'"),
        ([{"key": "A", "optimistic": 1, "most_likely": 2, "pessimistic": 3, "depends_on": ["B"]},
          {"key": "B", "optimistic": 1, "most_likely": 2, "pessimistic": 3, "depends_on": ["A"]}],
         422, "dependency cycle: "),
    ],
)  # fmt: skip
def test_bad_plans_are_refused_naming_the_problem_and_nothing_is_written(
    personas, api, tasks, status, words
):
    r = api(personas.pm).put(PLAN.format("ACME"), plan_body(tasks=tasks, milestones=[]),
                             format="json")  # fmt: skip
    assert r.status_code == status, r.content
    err = error_of(r)
    # A wrong type is the serializer's: named at its path (tasks.0.optimistic).
    assert words in err["message"] or words in str(err["fields"].get("tasks.0.optimistic")), err
    assert not ProjectPlan.objects.exists() and not PlanTask.objects.exists()


def test_a_cycle_names_its_tasks(personas, api):
    tasks = [
        {"key": k, "optimistic": 1, "most_likely": 2, "pessimistic": 3, "depends_on": [d]}
        for k, d in (("A", "C"), ("B", "A"), ("C", "B"))
    ]
    r = api(personas.pm).put(PLAN.format("ACME"), plan_body(tasks=tasks, milestones=[]),
                             format="json")  # fmt: skip
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "dependency_cycle"
    assert all(k in err["message"] for k in "ABC")


def test_tasks_dependencies_and_milestones_are_edited_one_by_one(personas, api):
    p = personas
    make_plan(api, p)
    client = api(p.tech_lead)
    url = PLAN.format("ACME")
    r = client.post(
        url + "tasks/",
        {"key": "D", "name": "文档", "optimistic": 1, "most_likely": 2, "pessimistic": 4},
        format="json",
    )
    assert r.status_code == 201, r.content
    r = client.patch(url + "tasks/D/", {"pessimistic": 5}, format="json")
    assert r.status_code == 200 and r.json()["pessimistic"] == 5
    r = client.patch(url + "tasks/D/", {"optimistic": 9}, format="json")
    assert r.status_code == 400 and "optimistic 9.00" in error_of(r)["message"]
    r = client.post(url + "dependencies/", {"predecessor": "C", "successor": "D", "lag": 2},
                    format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    dep_id = r.json()["id"]
    # Closing a cycle is refused, naming it.
    r = client.post(url + "dependencies/", {"predecessor": "D", "successor": "A"}, format="json")
    assert r.status_code == 422
    assert error_of(r)["message"] == "dependency cycle: A → B → C → D → A"
    r = client.post(url + "dependencies/", {"predecessor": "D", "successor": "NOPE"},
                    format="json")  # fmt: skip
    assert r.status_code == 400 and "successor" in error_of(r)["fields"]
    r = client.post(url + "milestones/", {"name": "文档交付", "task": "D",
                                          "target_date": "2027-02-01"}, format="json")  # fmt: skip
    assert r.status_code == 201, r.content
    ms_id = r.json()["id"]
    assert client.delete(url + f"milestones/{ms_id}/").status_code == 204
    assert client.delete(url + f"dependencies/{dep_id}/").status_code == 204
    assert client.delete(url + "tasks/D/").status_code == 204
    assert client.get(url + "tasks/D/").status_code == 404
    data = client.get(url).json()
    assert [t["key"] for t in data["tasks"]] == ["A", "B", "C"]
    assert data["version"] == 8  # the replace and seven edits
    # A developer may read but not edit.
    dev = api(p.developer)
    assert dev.get(url + "tasks/").status_code == 200
    assert (
        dev.post(
            url + "tasks/",
            {"key": "E", "optimistic": 1, "most_likely": 1, "pessimistic": 1},
            format="json",
        ).status_code
        == 403
    )
    assert dev.delete(url + "tasks/A/").status_code == 403


# ---------------------------------------------------------------- import


CSV = (
    "id,name,optimistic,most_likely,pessimistic,depends_on,rate,fixed_cost,milestone,target_date\n"
    "A,需求分析,2,3,5,,1000,,,\n"
    "B,开发,5,8,14,A+1,2000,500,,\n"
    "C,测试,2,3,6,B,,,上线,2027-01-25\n"
)


def upload(client, name, content, **fields):
    f = io.BytesIO(content)
    f.name = name
    return client.post(PLAN.format("ACME") + "import/", {"file": f, **fields}, format="multipart")


def test_a_csv_plan_is_imported(personas, api):
    r = upload(api(personas.pm), "plan.csv", CSV.encode(), start_date="2027-01-04")
    assert r.status_code == 200, r.content
    assert r.json() == {"dry_run": False, "tasks": 3, "dependencies": 2, "milestones": 1,
                        "version": 1}  # fmt: skip
    data = api(personas.pm).get(PLAN.format("ACME")).json()
    assert data["tasks"][1]["depends_on"] == [{"task": "A", "lag": 1}]
    assert data["tasks"][1]["fixed_cost"] == 500
    assert data["milestones"][0]["target_date"] == "2027-01-25"


def test_an_xlsx_plan_is_imported(personas, api):
    wb = Workbook()
    ws = wb.active
    for row in CSV.strip().splitlines():
        ws.append([None if v == "" else v for v in row.split(",")])
    ws["C2"] = 2  # numbers as numbers
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(api(personas.tech_lead), "计划.xlsx", buf.getvalue(), start_date="2027-01-04")
    assert r.status_code == 200, r.content
    assert r.json()["tasks"] == 3


def test_a_bad_file_is_refused_whole_with_every_bad_row_named(personas, api):
    make_plan(api, personas)
    bad = (
        "id,name,optimistic,most_likely,pessimistic,depends_on\n"
        "A,ok,1,2,3,\n"
        "B,inverted,5,3,8,A\n"
        "C,bad number,x,2,3,A\n"
        "D,unknown,1,2,3,Z\n"
    )
    r = upload(api(personas.pm), "plan.csv", bad.encode())
    assert r.status_code == 400
    problems = error_of(r)["fields"]["file"]
    assert any(s.startswith("row 3 (B): inverted estimate") for s in problems), problems
    assert any(s.startswith("row 4 (C): optimistic: 'x' is not a number") for s in problems)
    assert any("row 5 (D): depends on unknown task 'Z'" in s for s in problems)
    # Nothing changed.
    assert api(personas.pm).get(PLAN.format("ACME")).json()["version"] == 1
    cycle = "id,optimistic,most_likely,pessimistic,depends_on\nA,1,2,3,B\nB,1,2,3,A\n"
    r = upload(api(personas.pm), "plan.csv", cycle.encode())
    assert r.status_code == 422 and "dependency cycle: " in error_of(r)["message"]
    r = upload(api(personas.pm), "plan.pdf", b"%PDF")
    assert r.status_code == 400 and ".csv or .xlsx" in error_of(r)["message"]
    r = upload(api(personas.pm), "plan.xlsx", b"not a zip")
    assert r.status_code == 400 and "XLSX" in error_of(r)["message"]
    r = upload(api(personas.pm), "plan.csv", b"name,foo\nx,1\n")
    assert r.status_code == 400 and "Missing columns" in error_of(r)["message"]


def test_import_of_a_new_plan_needs_a_start_date_and_a_dry_run_writes_nothing(personas, api):
    r = upload(api(personas.pm), "plan.csv", CSV.encode())
    assert r.status_code == 400 and "start_date" in error_of(r)["fields"]
    r = upload(api(personas.pm), "plan.csv", CSV.encode(), start_date="2027-01-04", dry_run=True)
    assert r.status_code == 200 and r.json()["version"] is None
    assert not ProjectPlan.objects.exists()


def test_import_permissions(personas, api):
    assert upload(api(personas.qa), "plan.csv", CSV.encode()).status_code == 403
    assert upload(api(personas.outsider), "plan.csv", CSV.encode()).status_code == 404


# ---------------------------------------------------------------- simulate


def sim_url(cr):
    return f"/api/v1/change-requests/{cr.key}/simulate/"


def test_a_small_simulation_answers_at_once_with_percentiles_shift_and_charts(personas, api):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    complete_assessment(cr, by=p.tech_lead)
    change_plan(api, p, cr)
    r = api(p.tech_lead).post(sim_url(cr), {"iterations": 2000, "seed": 7}, format="json")
    assert r.status_code == 200, r.content
    run = r.json()
    assert run["status"] == "done" and run["progress"] == 100 and run["background"] is False
    res = run["result"]
    assert set(res["baseline"]["finish_days"]) == {"P50", "P80", "P95", "mean"}
    assert res["baseline"]["finish_dates"]["P50"] >= "2027-01-04"
    assert res["finish_shift_days"]["P50"] > 0  # the change lies on the only path
    assert res["cost_shift"]["P50"] > 0
    assert res["milestones"][0]["name"] == "上线"
    assert (
        res["milestones"][0]["miss_probability_with_change"]
        >= (res["milestones"][0]["miss_probability"])
    )
    crit = {c["task"]: c for c in res["criticality"]}
    assert crit["A"]["criticality"] == 1.0 and crit[f"{cr.key}/X"]["criticality_with_change"] == 1
    # The same seed repeats the run exactly.
    again = api(p.pm).post(sim_url(cr), {"iterations": 2000, "seed": 7}, format="json").json()
    assert again["result"]["baseline"] == res["baseline"]
    assert again["result"]["with_change"] == res["with_change"]
    # Detail, list and charts.
    client = api(p.qa)
    detail = client.get(run["url"])
    assert detail.status_code == 200 and detail.json()["id"] == run["id"]
    assert client.get(f"/api/v1/change-requests/{cr.key}/simulations/").json()["count"] == 2
    png = client.get(run["charts"]["histogram_png"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get(run["url"] + "chart.svg?kind=scurve&metric=cost")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    bad = client.get(run["url"] + "chart.svg?kind=pie")
    assert bad.status_code == 400 and "kind" in error_of(bad)["fields"]
    assert client.get(run["url"] + "chart.gif").status_code == 400
    assert AuditEvent.objects.filter(action="simulation.started", object_key=cr.key).count() == 2


def test_risks_of_the_assessment_enter_as_delays(personas, api):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    complete_assessment(
        cr, by=p.tech_lead,
        risks=[{"description": "接口变更", "probability": "1", "impact": 5}],
    )  # fmt: skip
    change_plan(api, p, cr)
    with_risks = api(p.pm).post(sim_url(cr), {"iterations": 1000, "seed": 1}, format="json")
    shift_with = with_risks.json()["result"]["finish_shift_days"]["P50"]
    r = api(p.pm).put(
        f"/api/v1/change-requests/{cr.key}/change-plan/",
        {
            "tasks": [
                {"key": "X", "optimistic": 2, "most_likely": 3, "pessimistic": 6, "rate": 1500}
            ],
            "after": [{"task": "B"}],
            "before": ["C"],
            "include_risks": False,
        },
        format="json",
    )
    assert r.status_code == 200
    without = api(p.pm).post(sim_url(cr), {"iterations": 1000, "seed": 1}, format="json")
    # A certain impact-5 risk delays the change by 10-40 days (default mapping).
    assert shift_with - without.json()["result"]["finish_shift_days"]["P50"] > 9


# A simulation's bad parameters (of a change request's run or of the plan's own), each with
# its status and the field the error names.
BAD_SIMULATION_PARAMETERS = [
    ({"iterations": 100_001}, 422, "iterations"),
    ({"iterations": 0}, 400, "iterations"),
    ({"iterations": "many"}, 400, "iterations"),
    ({"seed": -1}, 400, "seed"),
    ({"nonsense": 1}, 400, "nonsense"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_SIMULATION_PARAMETERS)
def test_bad_simulation_parameters_are_named(personas, api, body, status, field):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    r = api(p.pm).post(sim_url(cr), body, format="json")
    assert r.status_code == status, r.content
    assert field in error_of(r)["fields"]
    assert not SimulationRun.objects.exists()


def test_simulating_without_a_plan_or_change_tasks_is_422(personas, api):
    p = personas
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    r = api(p.pm).post(sim_url(cr), {}, format="json")
    assert r.status_code == 422 and error_of(r)["code"] == "no_plan"
    make_plan(api, p)
    r = api(p.pm).post(sim_url(cr), {}, format="json")
    assert r.status_code == 422 and error_of(r)["code"] == "no_change_tasks"


def test_a_change_plan_naming_unknown_plan_tasks_is_refused(personas, api):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    r = api(p.pm).put(f"/api/v1/change-requests/{cr.key}/change-plan/", {
        "tasks": [{"key": "X", "optimistic": 3, "most_likely": 2, "pessimistic": 6}],
        "after": ["A"]}, format="json")  # fmt: skip
    assert r.status_code == 400 and "inverted estimate" in error_of(r)["message"]
    r = api(p.pm).put(f"/api/v1/change-requests/{cr.key}/change-plan/", {
        "tasks": [{"key": "X", "optimistic": 1, "most_likely": 2, "pessimistic": 6}],
        "after": ["NOPE"], "before": ["ALSO"]}, format="json")  # fmt: skip
    assert r.status_code == 400
    assert "NOPE" in error_of(r)["fields"]["after"][0]
    assert "ALSO" in error_of(r)["fields"]["before"][0]


@pytest.mark.parametrize("who", ["qa", "developer", "viewer"])
def test_other_roles_may_not_simulate_or_set_change_plans_but_see_runs(personas, api, who):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    run = api(p.pm).post(sim_url(cr), {"iterations": 100}, format="json").json()
    client = api(getattr(p, who))
    assert client.post(sim_url(cr), {}, format="json").status_code == 403
    r = client.put(f"/api/v1/change-requests/{cr.key}/change-plan/", {"tasks": []}, format="json")
    assert r.status_code == 403
    assert client.get(run["url"]).status_code == 200
    assert client.get(f"/api/v1/change-requests/{cr.key}/change-plan/").status_code == 200


@pytest.mark.parametrize("who", ["qa", "developer", "viewer"])
def test_a_refused_role_gets_403_whatever_the_body(personas, api, who):
    """plans.require_planner, called by the views before they read the body: an empty or
    invalid body (or a JSON one where a file is expected: not a 415) is refused the same."""
    from changeflow.core.errors import PermissionDenied
    from changeflow.impact import plans

    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    with pytest.raises(PermissionDenied) as refused:
        plans.require_planner(getattr(p, who), p.project)
    message = refused.value.message
    assert message == "Only project managers and tech leads may do this."
    client, plan = api(getattr(p, who)), PLAN.format("ACME")
    for method, url, body in [
        ("put", plan, {}),
        ("put", plan, {"tasks": "A"}),
        ("patch", plan, {"calendar": "lunar"}),
        ("post", plan + "import/", {}),
        ("post", plan + "tasks/", {}),
        ("patch", plan + "tasks/A/", {"optimistic": "many"}),
        ("post", plan + "dependencies/", {}),
        ("post", plan + "milestones/", {"target_date": 5}),
        ("post", plan + "simulate/", {"iterations": "many"}),
        ("put", f"/api/v1/change-requests/{cr.key}/change-plan/", {"tasks": 5}),
        ("post", sim_url(cr), {"seed": "x", "extra": 1}),
    ]:
        r = getattr(client, method)(url, body, format="json")
        assert r.status_code == 403, (method, url, r.content)
        assert error_of(r)["message"] == message
    assert ProjectPlan.objects.get().version == 1 and not SimulationRun.objects.exists()


def test_outsiders_see_no_simulations(personas, api):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    run = api(p.pm).post(sim_url(cr), {"iterations": 100}, format="json").json()
    client = api(p.outsider)
    assert client.post(sim_url(cr), {}, format="json").status_code == 404
    assert client.get(run["url"]).status_code == 404
    assert client.get(run["url"] + "chart.png").status_code == 404
    assert client.get(f"/api/v1/change-requests/{cr.key}/simulations/").status_code == 404
    assert client.get(f"/api/v1/change-requests/{cr.key}/change-plan/").status_code == 404


# ---------------------------------------------------------------- background runs


@override_settings(SIMULATION_SYNC_LIMIT=100, TASKS=DUMMY)
def test_a_large_run_is_queued_with_202_and_polled(
    personas, api, django_capture_on_commit_callbacks
):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    with django_capture_on_commit_callbacks(execute=True):
        r = api(p.pm).post(sim_url(cr), {"iterations": 5000, "seed": 3}, format="json")
    assert r.status_code == 202, r.content
    body = r.json()
    assert r["Location"] == body["url"]
    assert body["status"] == "queued" and body["background"] is True and body["result"] is None
    assert body["charts"] is None
    # Not finished yet: no chart (409).
    assert api(p.pm).get(body["url"] + "chart.png").status_code == 409
    # What the worker does with the queued task:
    from changeflow.impact.tasks import run_simulation

    run_simulation.call(body["id"])
    done = api(p.pm).get(body["url"]).json()
    assert done["status"] == "done" and done["progress"] == 100
    assert done["result"]["finish_shift_days"]["P50"] > 0


@override_settings(SIMULATION_SYNC_LIMIT=100, TASKS=IMMEDIATE)
def test_the_immediate_backend_runs_the_queued_task(
    personas, api, django_capture_on_commit_callbacks
):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    with django_capture_on_commit_callbacks(execute=True):
        r = api(p.pm).post(sim_url(cr), {"iterations": 3000}, format="json")
    assert r.status_code == 202
    run = SimulationRun.objects.get(pk=r.json()["id"])
    assert run.status == "done" and run.result["iterations"] == 3000


def test_an_assessment_is_recorded_from_a_run_through_the_api(personas, api):
    from tests.factories import advance

    p = personas
    make_plan(api, p)
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    change_plan(api, p, cr)
    run = api(p.pm).post(sim_url(cr), {"iterations": 500, "seed": 2}, format="json").json()
    url = run["url"] + "assessment/"
    assert api(p.qa).post(url, {"level": "P95"}, format="json").status_code == 403
    assert api(p.outsider).post(url, {}, format="json").status_code == 404
    assert api(p.pm).post(url, {"level": "P99"}, format="json").status_code == 400
    r = api(p.tech_lead).post(url, {"level": "P95"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["method"] == "simulation" and body["version"] == 2
    shift = run["result"]["finish_shift_days"]["P95"]
    assert float(body["schedule_days"]) == pytest.approx(shift, abs=0.01)


def test_the_assessment_form_shows_the_simulation_beside_the_other_methods(personas, api, client):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    complete_assessment(cr, by=p.tech_lead)
    change_plan(api, p, cr)
    client.force_login(p.tech_lead)
    before = client.get(f"/changes/{cr.key}/assessment/", headers={"Accept-Language": "en"})
    assert "No simulation has been run for this change request yet." in before.content.decode()
    # The simulation panel is on the CR page, not on this one: the link goes there.
    assert f'href="/changes/{cr.key}/#simulation"' in before.content.decode()
    assert 'id="simulation"' in client.get(f"/changes/{cr.key}/").content.decode()
    r = api(p.tech_lead).post(sim_url(cr), {"iterations": 2000, "seed": 7}, format="json")
    shift = r.json()["result"]["finish_shift_days"]["P80"]
    html = client.get(f"/changes/{cr.key}/assessment/", headers={"Accept-Language": "en"})
    html = html.content.decode()
    assert "Delivery with the change" in html and f"+{shift:.1f}" in html


# ---------------------------------------------------------------- customer roles: internal


@pytest.mark.parametrize("who", ["customer", "customer_rep"])
def test_plans_and_simulations_do_not_exist_for_customer_roles(personas, api, who):
    """Task rates, costs and simulated figures are internal (API.md: customer roles see no
    internal cost notes): every plan and simulation endpoint answers 404, reads and writes,
    while the project manager is served and the CR itself stays visible to the customer."""
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    pm = api(p.pm)
    run = pm.post(sim_url(cr), {"iterations": 200, "seed": 3}, format="json").json()
    base = f"/api/v1/change-requests/{cr.key}/"
    task = PlanTask.objects.get(key="A")
    dep = task.plan.dependencies.first()
    milestone = task.plan.milestones.first()
    reads = [
        PLAN.format("ACME"),
        PLAN.format("ACME") + "tasks/",
        PLAN.format("ACME") + "tasks/A/",
        PLAN.format("ACME") + "dependencies/",
        PLAN.format("ACME") + "milestones/",
        base + "change-plan/",
        base + "simulations/",
        run["url"],
        run["url"] + "chart.png",
        run["url"] + "chart.svg?kind=scurve&metric=cost",
    ]
    for url in reads:
        assert pm.get(url).status_code == 200, url
    client = api(getattr(p, who))
    for url in reads:
        r = client.get(url)
        assert r.status_code == 404, (url, r.content)
        assert b"P80" not in r.content and b"rate" not in r.content
    writes = [
        ("put", PLAN.format("ACME"), plan_body()),
        ("patch", PLAN.format("ACME"), {"currency": "USD"}),
        ("post", PLAN.format("ACME") + "tasks/", {"key": "Z", "name": "z", "optimistic": 1,
                                                 "most_likely": 2, "pessimistic": 3}),
        ("patch", PLAN.format("ACME") + "tasks/A/", {"name": "x"}),
        ("delete", PLAN.format("ACME") + "tasks/A/", None),
        ("post", PLAN.format("ACME") + "dependencies/", {"predecessor": "A", "successor": "C"}),
        ("delete", PLAN.format("ACME") + f"dependencies/{dep.pk}/", None),
        ("post", PLAN.format("ACME") + "milestones/", {"name": "m", "task": "A"}),
        ("delete", PLAN.format("ACME") + f"milestones/{milestone.pk}/", None),
        ("put", base + "change-plan/", {"tasks": []}),
        ("post", sim_url(cr), {"iterations": 100}),
        ("post", run["url"] + "assessment/", {"level": "P80"}),
    ]  # fmt: skip
    for method, url, body in writes:
        r = getattr(client, method)(url, body, format="json")
        assert r.status_code == 404, (method, url, r.content)
    upload = io.BytesIO(b"id,optimistic,most_likely,pessimistic\nQ,1,2,3\n")
    upload.name = "plan.csv"
    r = client.post(PLAN.format("ACME") + "import/", {"file": upload}, format="multipart")
    assert r.status_code == 404, r.content
    assert SimulationRun.objects.count() == 1
    assert PlanTask.objects.filter(plan__project=p.project).count() == 3
    assert client.get(base).status_code == 200  # the CR itself is theirs to see

    # Nor does the CR's history tell them of the plan or the runs (internal audit events).
    def actions(c):
        return {e["action"] for e in c.get(base + "history/").json()["results"]}

    assert "cr.change_plan_set" in actions(pm)
    assert not {a for a in actions(client) if a.startswith(("cr.change_plan", "simulation"))}


# ---------------------------------------------------------------- the plan alone

PLAN_SIM = PLAN.format("ACME") + "simulate/"


def test_the_plan_alone_is_simulated_with_percentiles_milestones_and_criticality(personas, api):
    p = personas
    make_plan(api, p)
    r = api(p.tech_lead).post(PLAN_SIM, {"iterations": 3000, "seed": 11}, format="json")
    assert r.status_code == 200, r.content
    run = r.json()
    assert run["change_request"] is None and run["project"] == "ACME"
    assert run["status"] == "done" and run["background"] is False
    assert run["url"].endswith(f"/api/v1/projects/ACME/plan/simulations/{run['id']}/")
    res = run["result"]
    base = res["baseline"]
    assert base["finish_days"]["P50"] <= base["finish_days"]["P80"] <= base["finish_days"]["P95"]
    # The only path A → (lag 1) → B → C: its PERT means 3.17 + 1 + 8.5 + 3.33 ≈ 16 days.
    assert 14 < base["finish_days"]["mean"] < 18
    assert set(base["cost"]) == {"P50", "P80", "P95", "mean"}
    assert base["cost"]["P50"] > 0
    assert res["with_change"] is None and res["finish_shift_days"] is None
    milestone = res["milestones"][0]
    assert milestone["name"] == "上线" and 0 <= milestone["miss_probability"] <= 1
    assert milestone["miss_probability_with_change"] is None
    assert {c["task"]: c["criticality"] for c in res["criticality"]} == {
        "A": 1.0,
        "B": 1.0,
        "C": 1.0,
    }
    # Same seed, same forecast; listed, detailed and charted under the plan.
    again = api(p.pm).post(PLAN_SIM, {"iterations": 3000, "seed": 11}, format="json").json()
    assert again["result"]["baseline"] == base
    client = api(p.qa)  # an internal role that may not run it sees the runs
    listed = client.get(PLAN.format("ACME") + "simulations/").json()
    assert listed["count"] == 2 and {r["id"] for r in listed["results"]} == {run["id"], again["id"]}
    assert client.get(run["url"]).json()["result"]["baseline"] == base
    png = client.get(run["charts"]["scurve_png"])
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(run["url"] + "chart.svg?metric=cost").status_code == 200
    assert client.get(run["url"] + "chart.svg?metric=time").status_code == 400
    assert AuditEvent.objects.filter(action="simulation.started", object_key="ACME").count() == 2


def test_plan_runs_and_change_request_runs_stay_apart(personas, api):
    p = personas
    make_plan(api, p)
    cr = make_cr(p.project, by=p.customer_rep, submit=True)
    change_plan(api, p, cr)
    cr_run = api(p.pm).post(sim_url(cr), {"iterations": 200}, format="json").json()
    plan_run = api(p.pm).post(PLAN_SIM, {"iterations": 200}, format="json").json()
    client = api(p.pm)
    assert client.get(PLAN.format("ACME") + f"simulations/{cr_run['id']}/").status_code == 404
    assert (
        client.get(f"/api/v1/change-requests/{cr.key}/simulations/{plan_run['id']}/").status_code
        == 404
    )
    assert client.get(PLAN.format("ACME") + "simulations/").json()["count"] == 1


@pytest.mark.parametrize(
    "who, status", [("qa", 403), ("developer", 403), ("viewer", 403), ("customer", 404),
                    ("customer_rep", 404), ("outsider", 404)],
)  # fmt: skip
def test_who_may_simulate_the_plan(personas, api, who, status):
    p = personas
    make_plan(api, p)
    run = api(p.pm).post(PLAN_SIM, {"iterations": 100}, format="json").json()
    client = api(getattr(p, who))
    assert client.post(PLAN_SIM, {"iterations": 100}, format="json").status_code == status
    seen = 200 if status == 403 else 404  # internal roles see the runs; others not at all
    assert client.get(run["url"]).status_code == seen
    assert client.get(run["url"] + "chart.png").status_code == seen
    assert client.get(PLAN.format("ACME") + "simulations/").status_code == seen
    assert SimulationRun.objects.count() == 1


@pytest.mark.parametrize(("body", "status", "field"), BAD_SIMULATION_PARAMETERS)
def test_bad_plan_simulation_parameters_are_named(personas, api, body, status, field):
    p = personas
    make_plan(api, p)
    r = api(p.pm).post(PLAN_SIM, body, format="json")
    assert r.status_code == status, r.content
    assert field in error_of(r)["fields"]
    assert not SimulationRun.objects.exists()


def test_simulating_a_project_without_a_plan_is_422(personas, api):
    r = api(personas.pm).post(PLAN_SIM, {}, format="json")
    assert r.status_code == 422 and error_of(r)["code"] == "no_plan"
    assert not SimulationRun.objects.exists()


@override_settings(SIMULATION_SYNC_LIMIT=100, TASKS=DUMMY)
def test_a_large_plan_run_is_queued_with_202_and_polled(
    personas, api, django_capture_on_commit_callbacks
):
    p = personas
    make_plan(api, p)
    with django_capture_on_commit_callbacks(execute=True):
        r = api(p.pm).post(PLAN_SIM, {"iterations": 5000, "seed": 3}, format="json")
    assert r.status_code == 202, r.content
    body = r.json()
    assert r["Location"] == body["url"] and body["status"] == "queued"
    assert api(p.pm).get(body["url"] + "chart.png").status_code == 409
    from changeflow.impact.tasks import run_simulation

    run_simulation.call(body["id"])
    done = api(p.pm).get(body["url"]).json()
    assert done["status"] == "done" and done["progress"] == 100
    assert done["result"]["baseline"]["finish_days"]["P95"] > 0


def test_the_plan_simulation_is_in_the_openapi_schema(personas, api):
    schema = api(personas.pm).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/v1/projects/{key}/plan/simulate/"]
    assert "get" in paths["/api/v1/projects/{key}/plan/simulations/"]
    assert "get" in paths["/api/v1/projects/{key}/plan/simulations/{id}/"]
    assert "/api/v1/projects/{key}/plan/simulations/{id}/chart.{fmt}" in paths


# ---------------------------------------------------------------- typed, closed plan bodies


def _change_plan_url(p):
    cr = make_cr(p.project, by=p.customer)
    return f"/api/v1/change-requests/{cr.key}/change-plan/"


TASK = {"key": "X", "optimistic": 1, "most_likely": 2, "pessimistic": 3}


@pytest.mark.parametrize(
    ("where", "body", "field"),
    [
        # A misspelt key, named with its path.
        ("plan", plan_body(tasks=[*plan_body()["tasks"], {**TASK, "optimistc": 1}]),
         "tasks.3.optimistc"),
        ("plan", plan_body(tasks=[{**TASK, "depends_on": [{"task": "A", "lagg": 2}]},
                                  {**TASK, "key": "A"}], milestones=[]),
         "tasks.0.depends_on.0.lagg"),
        ("plan", plan_body(milestones=[{"name": "M", "task": "A", "targetdate": "2027-02-01"}]),
         "milestones.0.targetdate"),
        ("change", {"tasks": [{**TASK, "pesimistic": 3}]}, "tasks.0.pesimistic"),
        ("change", {"tasks": [TASK], "after": [{"task": "A", "lagg": 1}]}, "after.0.lagg"),
        # A wrong type, named by the field.
        ("plan", plan_body(tasks=[{**TASK, "most_likely": [2]}], milestones=[]),
         "tasks.0.most_likely"),
        ("plan", plan_body(tasks=[{**TASK, "rate": True}], milestones=[]), "tasks.0.rate"),
        # Was a 500 (``d.get`` of a number).
        ("plan", plan_body(tasks=[{**TASK, "depends_on": [7]}], milestones=[]),
         "tasks.0.depends_on.0"),
        ("plan", plan_body(tasks=[TASK], milestones=[
            {"name": "M", "task": "X", "target_date": "soon"}]), "milestones.0.target_date"),
        ("plan", plan_body(tasks=[TASK], milestones=["M"]), "milestones.0.non_field_errors"),
        ("change", {"tasks": [{**TASK, "fixed_cost": {"a": 1}}]}, "tasks.0.fixed_cost"),
        # Were 500s (``item.get`` of a list; a dict looked up in a set).
        ("change", {"tasks": [TASK], "after": [["A"]]}, "after.0"),
        ("change", {"tasks": [TASK], "before": [{"task": "A"}]}, "before.0"),
    ],
)  # fmt: skip
def test_a_bad_key_or_type_in_a_plan_item_is_named_with_its_path(personas, api, where, body, field):
    """A misspelt key was ignored (the items were free-form maps read with ``row.get``), a
    wrong type named the whole list or was a 500: each is now a 400 naming its path."""
    p = personas
    url = PLAN.format("ACME") if where == "plan" else _change_plan_url(p)
    r = api(p.pm).put(url, body, format="json")
    assert r.status_code == 400, r.content
    assert field in error_of(r)["fields"], error_of(r)
    assert not ProjectPlan.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("tasks/", {**TASK, "pessimistic": {"days": 3}}, "pessimistic"),
        ("tasks/A/", {"optimistic": [1]}, "optimistic"),
        ("dependencies/", {"predecessor": "A", "successor": "C", "lag": "soon"}, "lag"),
    ],
)  # fmt: skip
def test_a_wrong_type_in_a_plan_edit_is_named(personas, api, path, body, field):
    p = personas
    make_plan(api, p)
    client = api(p.pm)
    method = client.patch if path.endswith("A/") else client.post
    r = method(PLAN.format("ACME") + path, body, format="json")
    assert r.status_code == 400, r.content
    assert set(error_of(r)["fields"]) == {field}, error_of(r)


def test_the_published_plan_items_are_typed_and_closed(api, personas):
    schema = api(personas.pm).get("/api/v1/schema/", {"format": "json"}).json()
    comps = schema["components"]["schemas"]
    task = comps["PlanTaskWriteRequest"]
    assert task["additionalProperties"] is False
    assert task["properties"]["optimistic"] == {"type": "number", "minimum": 0,
                                                "maximum": 9999999.99,
                                                "description": "Days, ≥ 0."}  # fmt: skip
    link = task["properties"]["depends_on"]["items"]["oneOf"][1]
    assert link["additionalProperties"] is False and set(link["properties"]) == {"task", "lag"}
    milestone = comps["PlanMilestoneWriteRequest"]
    assert milestone["additionalProperties"] is False
    assert milestone["properties"]["target_date"]["format"] == "date"
    plan = comps["PlanWriteRequest"]["properties"]
    assert plan["tasks"]["items"]["$ref"].endswith("/PlanTaskWriteRequest")
    change = comps["ChangePlanWriteRequest"]["properties"]
    assert change["tasks"]["items"]["$ref"].endswith("/PlanTaskWriteRequest")
    assert change["after"]["items"]["oneOf"][1]["additionalProperties"] is False
    resolutions = comps["ResolutionsRequest"]
    assert resolutions["additionalProperties"] is False
    assert resolutions["properties"]["title"]["$ref"].endswith("/ResolutionEnum")
    assert comps["ResolutionEnum"]["enum"] == ["mine", "theirs"]


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


def test_the_demo_plan_put_back_through_the_api_is_the_same_plan_and_forecast(personas, api):
    """A valid body behaves as before: the demo plan (stored by the service, as the demo does)
    read and put back whole is stored the same and simulates to the same forecast."""
    import datetime as dt

    from changeflow.impact import demo, plan_io, plans

    p = personas
    start = dt.date(2027, 1, 4)
    milestones = [{"name": n, "task": t, "target_date": plans.date_of(start, "working", d)}
                  for n, t, d in demo.MILESTONES]  # fmt: skip
    plans.plan_replace(
        user=p.pm, project=p.project, clean=plan_io.clean_plan(demo._rows(demo.TASKS), milestones),
        header={"start_date": start, "calendar": "working", "currency": "CNY"},
    )  # fmt: skip
    client = api(p.pm)
    before = client.get(PLAN.format("ACME")).json()
    first = client.post(PLAN_SIM, {"iterations": 2000, "seed": 2026}, format="json").json()
    body = {k: before[k] for k in ("start_date", "calendar", "currency")}
    body["tasks"] = before["tasks"]
    body["milestones"] = [{k: m[k] for k in ("name", "task", "target_date")}
                          for m in before["milestones"]]  # fmt: skip
    r = client.put(PLAN.format("ACME"), body, format="json")
    assert r.status_code == 200, r.content
    after = r.json()
    assert after["version"] == before["version"] + 1
    assert _without(after, "version", "dependencies", "milestones") == _without(
        before, "version", "dependencies", "milestones"
    )
    for part in ("dependencies", "milestones"):
        assert [_without(x, "id") for x in after[part]] == [_without(x, "id") for x in before[part]]
    assert len(after["dependencies"]) > 20 and len(after["milestones"]) == len(demo.MILESTONES)
    again = client.post(PLAN_SIM, {"iterations": 2000, "seed": 2026}, format="json").json()
    assert _without(again["result"], "plan_version") == _without(first["result"], "plan_version")
