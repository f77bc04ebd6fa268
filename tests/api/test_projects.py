"""Projects and members: allowed / forbidden / outsider for every endpoint."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.accounts import services
from changeflow.accounts.models import Membership
from tests.api.conftest import error_of, names
from tests.factories import make_project, make_user


def test_project_list_shows_only_my_projects(personas, api):
    r = api(personas.viewer).get("/api/v1/projects/")
    assert r.status_code == 200
    assert [p["key"] for p in r.json()["results"]] == ["ACME"]
    r = api(personas.outsider).get("/api/v1/projects/")
    assert [p["key"] for p in r.json()["results"]] == ["OTHER"]
    r = api(personas.admin).get("/api/v1/projects/")
    assert [p["key"] for p in r.json()["results"]] == ["ACME", "OTHER"]


def test_project_create_by_site_admin(personas, api):
    body = {"key": "NEW1", "name": "新项目", "customer": "Globex", "description": "x"}
    r = api(personas.admin).post("/api/v1/projects/", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["key"] == "NEW1"
    assert r.json()["customer"] == "Globex"
    assert Membership.objects.get(project__key="NEW1").user == personas.admin


def test_project_create_forbidden_for_non_admin(personas, api):
    r = api(personas.pm).post("/api/v1/projects/", {"key": "NEW2", "name": "n"}, format="json")
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"key": "acme2", "name": "n"}, "key"),
        ({"key": "A", "name": "n"}, "key"),
        ({"key": "ABCDEFGHIJK", "name": "n"}, "key"),
        ({"key": "ACME", "name": "n"}, "key"),  # taken
        ({"key": "OK1"}, "name"),
        ({"key": "OK1", "name": "x" * 201}, "name"),
        ({"key": "OK1", "name": None}, "name"),
        ({"key": "OK1", "name": "n", "bogus": 1}, "bogus"),
    ],
)
def test_project_create_bad_input(personas, api, body, field):
    r = api(personas.admin).post("/api/v1/projects/", body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


def test_project_detail(personas, api):
    assert api(personas.viewer).get("/api/v1/projects/ACME/").json()["key"] == "ACME"
    r = api(personas.outsider).get("/api/v1/projects/ACME/")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    assert api(personas.pm).get("/api/v1/projects/NOPE/").status_code == 404


def test_project_patch_thresholds_by_manager(personas, api):
    body = {
        "delegate_max_effort_hours": "80",
        "delegate_max_cost": "20000.50",
        "delegate_max_schedule_days": 10,
        "currency": "USD",
        "name": "Renamed",
    }
    r = api(personas.pm).patch("/api/v1/projects/ACME/", body, format="json")
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["delegate_max_cost"] == "20000.50"
    assert data["delegate_max_effort_hours"] == "80.00"
    assert data["currency"] == "USD"
    assert data["name"] == "Renamed"
    r = api(personas.pm).patch("/api/v1/projects/ACME/", {"delegate_max_cost": None}, format="json")
    assert r.json()["delegate_max_cost"] is None


def test_project_patch_by_admin_who_is_no_member(personas, api):
    r = api(personas.admin).patch("/api/v1/projects/ACME/", {"name": "By admin"}, format="json")
    assert r.status_code == 200


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer", "viewer"])
def test_project_patch_forbidden_for_members(personas, api, who):
    r = api(getattr(personas, who)).patch("/api/v1/projects/ACME/", {"name": "x"}, format="json")
    assert r.status_code == 403


def test_project_patch_outsider_404(personas, api):
    r = api(personas.outsider).patch("/api/v1/projects/ACME/", {"name": "x"}, format="json")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"delegate_max_cost": "-1"}, "delegate_max_cost"),
        ({"delegate_max_cost": "abc"}, "delegate_max_cost"),
        ({"delegate_max_effort_hours": "NaN"}, "delegate_max_effort_hours"),
        ({"delegate_max_effort_hours": "1e400"}, "delegate_max_effort_hours"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"key": "NEWKEY"}, "key"),
        ({"description": "x" * 100_001}, "description"),
    ],
)
def test_project_patch_bad_input(personas, api, body, field):
    r = api(personas.pm).patch("/api/v1/projects/ACME/", body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


def test_members_list(personas, api):
    r = api(personas.customer).get("/api/v1/projects/ACME/members/")
    assert r.status_code == 200
    roles = {m["username"]: m["role"] for m in r.json()["results"]}
    assert roles[personas.qa.username] == "qa"
    assert len(roles) == 7
    assert api(personas.outsider).get("/api/v1/projects/ACME/members/").status_code == 404


def test_members_add_change_and_remove(personas, api):
    newbie = make_user("newbie")
    client = api(personas.pm)
    r = client.post(
        "/api/v1/projects/ACME/members/",
        {"username": "newbie", "role": "developer"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["role"] == "developer"
    r = client.post(
        "/api/v1/projects/ACME/members/", {"username": "newbie", "role": "qa"}, format="json"
    )
    assert r.status_code == 200
    assert Membership.objects.get(user=newbie).role == "qa"
    r = client.delete("/api/v1/projects/ACME/members/newbie/")
    assert r.status_code == 204
    assert not Membership.objects.filter(user=newbie).exists()
    assert client.delete("/api/v1/projects/ACME/members/newbie/").status_code == 404


def test_members_write_forbidden_and_outsider(personas, api):
    body = {"username": personas.outsider.username, "role": "viewer"}
    assert (
        api(personas.qa).post("/api/v1/projects/ACME/members/", body, format="json").status_code
        == 403
    )
    assert (
        api(personas.outsider)
        .post("/api/v1/projects/ACME/members/", body, format="json")
        .status_code
        == 404
    )
    url = f"/api/v1/projects/ACME/members/{personas.viewer.username}/"
    assert api(personas.tech_lead).delete(url).status_code == 403
    assert api(personas.outsider).delete(url).status_code == 404
    assert Membership.objects.filter(user=personas.viewer).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "viewer_acme", "role": "boss"}, "role"),
        ({"username": "nobody-here", "role": "qa"}, "username"),
        ({"role": "qa"}, "username"),
        ({"username": "viewer_acme"}, "role"),
    ],
)
def test_members_bad_input(personas, api, body, field):
    r = api(personas.pm).post("/api/v1/projects/ACME/members/", body, format="json")
    assert r.status_code == 400
    assert names(error_of(r), field)


def test_removing_the_last_manager_is_422(personas, api):
    r = api(personas.pm).delete(f"/api/v1/projects/ACME/members/{personas.pm.username}/")
    assert r.status_code == 422
    assert error_of(r)["code"] == "last_manager"


def test_customer_roles_read_no_change_budget_or_contingency(personas, api):
    """The budget and contingency the metrics measure approved changes against are the team's:
    the metrics leave out costs for customer roles, and so does the project's API."""
    services.project_update(
        user=personas.pm, project=personas.project,
        data={"change_budget": "250000", "schedule_contingency_days": "15"},
    )  # fmt: skip
    url = f"/api/v1/projects/{personas.project.key}/"
    for who in (personas.pm, personas.qa, personas.viewer, personas.admin):
        body = api(who).get(url).json()
        assert (body["change_budget"], body["schedule_contingency_days"]) == ("250000.00", "15.00")
    for who in (personas.customer, personas.customer_rep):
        body = api(who).get(url).json()
        assert (body["change_budget"], body["schedule_contingency_days"]) == (None, None)
        assert body["key"] == personas.project.key  # the rest is there
        (listed,) = api(who).get("/api/v1/projects/").json()["results"]
        assert (listed["change_budget"], listed["schedule_contingency_days"]) == (None, None)
    listed = {p["key"]: p for p in api(personas.pm).get("/api/v1/projects/").json()["results"]}
    assert listed[personas.project.key]["change_budget"] == "250000.00"


def test_the_project_list_reads_the_callers_roles_once(personas, api):
    """What each project shows depends on the caller's role in it: one query for all roles,
    however many projects (no query per project)."""
    client = api(personas.customer)

    def listed():
        client.get("/api/v1/projects/")  # a token's first use in a while writes its last use
        with CaptureQueriesContext(connection) as captured:
            body = client.get("/api/v1/projects/").json()
        return len(captured), {p["key"]: p["change_budget"] for p in body["results"]}

    before, shown = listed()
    assert shown == {"ACME": None}
    for i, role in enumerate(("qa", "customer", "developer", "customer_rep")):
        project = make_project(f"P{i}", manager=personas.admin)
        services.project_update(user=personas.admin, project=project, data={"change_budget": "9"})
        services.membership_set(
            user=personas.admin, project=project, username=personas.customer.username, role=role
        )
    after, shown = listed()
    assert shown == {"ACME": None, "P0": "9.00", "P1": None, "P2": "9.00", "P3": None}
    assert after == before
