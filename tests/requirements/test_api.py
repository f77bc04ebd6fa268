"""The requirements API: allowed / forbidden / outsider for every endpoint, and bad input."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.requirements.models import AffectedRequirement, Baseline, Requirement
from tests.api.conftest import error_of, names
from tests.factories import advance, make_cr
from tests.requirements.helpers import make_baseline, make_req

READERS = ["pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin"]
WRITERS = ["pm", "tech_lead", "admin"]
NON_WRITERS = ["qa", "developer", "customer_rep", "customer", "viewer"]


def reqs_url(project="ACME"):
    return f"/api/v1/projects/{project}/requirements/"


def baselines_url(project="ACME"):
    return f"/api/v1/projects/{project}/baselines/"


@pytest.fixture
def data(personas):
    """Two requirements (the second a child of the first) and a baseline R1 of them."""
    p = personas
    a = make_req(p.project, by=p.pm, title="登录", text="登录页面需要支持短信验证码")
    b = make_req(p.project, by=p.pm, title="Export", parent=a.key)
    base = make_baseline(p.project, by=p.pm, name="R1")
    return a, b, base


# ---------------------------------------------------------------- requirements


@pytest.mark.parametrize("who", WRITERS)
def test_create_allowed(personas, api, who):
    body = {"title": "短信验证码登录", "text": "支持短信", "kind": "user", "priority": "must"}
    r = api(getattr(personas, who)).post(reqs_url(), body, format="json")
    assert r.status_code == 201, r.content
    got = r.json()
    assert got["key"] == "ACME-R-1" and got["version"] == 1 and got["parent"] is None
    assert (got["title"], got["kind"], got["priority"], got["status"]) == (
        "短信验证码登录", "user", "must", "draft",
    )  # fmt: skip
    assert r["ETag"] == '"1"'


@pytest.mark.parametrize("who", NON_WRITERS)
def test_create_forbidden(personas, api, who):
    r = api(getattr(personas, who)).post(reqs_url(), {"title": "x"}, format="json")
    assert r.status_code == 403
    assert error_of(r)["code"] == "forbidden"
    assert not Requirement.objects.exists()


@pytest.mark.parametrize("who", NON_WRITERS)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "projects/ACME/requirements/", {}),
        ("post", "projects/ACME/requirements/", {"kind": "story", "extra": 1}),
        ("patch", "requirements/{req}/", {"kind": "story"}),
        ("post", "projects/ACME/baselines/", {}),
        ("post", "projects/ACME/artifacts/", {"kind": "?"}),
        ("patch", "artifacts/{art}/", {"kind": "?"}),
        ("post", "projects/ACME/links/", {}),
        ("post", "projects/ACME/requirements/import/", {}),  # JSON, not multipart: not a 415
    ],
)  # fmt: skip
def test_a_refused_role_gets_403_whatever_the_body(personas, api, who, method, path, body):
    """The role is checked before the body is read (services.require_editor, called by the
    view): an invalid or empty body changes nothing to the refusal."""
    from changeflow.requirements import services

    p = personas
    req = make_req(p.project, by=p.pm)
    art = services.artifact_create(user=p.pm, project=p.project, kind="test", title="t")
    url = "/api/v1/" + path.format(req=req.key, art=art.key)
    r = getattr(api(getattr(p, who)), method)(url, body, format="json")
    assert r.status_code == 403, r.content
    assert error_of(r)["message"] == "Only project managers and tech leads change requirements."
    assert Requirement.objects.get().version == 1 and not Baseline.objects.exists()


def test_create_outsider_and_anonymous(personas, api):
    r = api(personas.outsider).post(reqs_url(), {"title": "x"}, format="json")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert api(None).post(reqs_url(), {"title": "x"}, format="json").status_code == 401
    assert api(personas.outsider).get(reqs_url()).status_code == 404
    assert not Requirement.objects.exists()


def test_create_with_parent(personas, api, data):
    a, _b, _base = data
    r = api(personas.pm).post(reqs_url(), {"title": "child", "parent": a.key}, format="json")
    assert r.status_code == 201 and r.json()["parent"] == a.key


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "x", "text": "x" * 100_001}, "text"),
        ({"title": "x", "kind": "epic"}, "kind"),
        ({"title": "x", "priority": "P9"}, "priority"),
        ({"title": "x", "status": "deleted"}, "status"),
        ({"title": "x", "parent": "OTHER-R-1"}, "parent"),
        ({"title": "x", "parent": "ACME-R-99"}, "parent"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"title": ["x"]}, "title"),
    ],
)
def test_create_bad_input(personas, api, body, field):
    make_req(personas.other_project, by=personas.outsider)
    r = api(personas.pm).post(reqs_url(), body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)
    assert not Requirement.objects.filter(project=personas.project).exists()


def test_create_malformed_json_is_400(personas, api):
    r = api(personas.pm).post(reqs_url(), "{", content_type="application/json")
    assert r.status_code == 400


def test_create_is_idempotent(personas, api):
    client = api(personas.pm)
    first = client.post(reqs_url(), {"title": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post(reqs_url(), {"title": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Requirement.objects.count() == 1


@pytest.mark.parametrize("who", READERS)
def test_list_and_detail_for_every_member(personas, api, data, who):
    a, b, _base = data
    client = api(getattr(personas, who))
    r = client.get(reqs_url())
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2 and [x["key"] for x in body["results"]] == [a.key, b.key]
    assert body["results"][1]["parent"] == a.key
    r = client.get(f"/api/v1/requirements/{a.key}/")
    assert r.status_code == 200 and r["ETag"] == '"1"'
    assert r.json()["text"] == "登录页面需要支持短信验证码"
    r = client.get(f"/api/v1/requirements/{a.key}/versions/")
    assert r.status_code == 200 and r.json()["count"] == 1


def test_outsider_sees_no_requirement(personas, api, data):
    a, _b, _base = data
    client = api(personas.outsider)
    for url in (f"/api/v1/requirements/{a.key}/", f"/api/v1/requirements/{a.key}/versions/"):
        r = client.get(url)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.patch(f"/api/v1/requirements/{a.key}/", {"title": "x"}, format="json")
    assert r.status_code == 404
    assert api(personas.pm).get("/api/v1/requirements/ACME-R-99/").status_code == 404


def test_list_query_count_does_not_grow(personas, api, django_assert_max_num_queries):
    client = api(personas.pm)
    make_req(personas.project, by=personas.pm)
    with django_assert_max_num_queries(8) as few:
        client.get(reqs_url())
    for _ in range(5):
        parent = make_req(personas.project, by=personas.pm)
        make_req(personas.project, by=personas.pm, parent=parent.key)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reqs_url()).json()["count"] == 11


@pytest.mark.parametrize("who", WRITERS)
def test_patch_allowed_makes_a_version(personas, api, who):
    req = make_req(personas.project, by=personas.pm, title="Sign in")
    client = api(getattr(personas, who))
    r = client.patch(f"/api/v1/requirements/{req.key}/", {"title": "Sign in by SMS"},
                     format="json", HTTP_IF_MATCH='"1"')  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2 and r["ETag"] == '"2"'
    versions = client.get(f"/api/v1/requirements/{req.key}/versions/").json()["results"]
    assert [(v["version"], v["title"]) for v in versions] == [(2, "Sign in by SMS"), (1, "Sign in")]
    assert versions[0]["author"] == getattr(personas, who).username
    assert versions[0]["change_request"] is None
    # Nothing changed: no new version.
    r = client.patch(f"/api/v1/requirements/{req.key}/", {"title": "Sign in by SMS"}, format="json")
    assert r.status_code == 200 and r.json()["version"] == 2


@pytest.mark.parametrize("who", NON_WRITERS)
def test_patch_forbidden(personas, api, who):
    req = make_req(personas.project, by=personas.pm)
    r = api(getattr(personas, who)).patch(
        f"/api/v1/requirements/{req.key}/", {"title": "x"}, format="json"
    )
    assert r.status_code == 403
    assert Requirement.objects.get(pk=req.pk).version == 1


def test_patch_stale_if_match_is_412(personas, api):
    req = make_req(personas.project, by=personas.pm)
    client = api(personas.pm)
    client.patch(f"/api/v1/requirements/{req.key}/", {"text": "v2"}, format="json")
    r = client.patch(f"/api/v1/requirements/{req.key}/", {"text": "v3"}, format="json",
                     HTTP_IF_MATCH='"1"')  # fmt: skip
    assert r.status_code == 412 and error_of(r)["code"] == "precondition_failed"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"kind": "story"}, "kind"),
        ({"parent": "OTHER-R-1"}, "parent"),
        ({"parent": "ACME-R-1"}, "parent"),  # itself
        ({"key": "ACME-R-9"}, "key"),
        ({"version": 7}, "version"),
    ],
)
def test_patch_bad_input(personas, api, body, field):
    req = make_req(personas.project, by=personas.pm)
    make_req(personas.other_project, by=personas.outsider)
    r = api(personas.pm).patch(f"/api/v1/requirements/{req.key}/", body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)


def test_patch_cycle_is_400(personas, api, data):
    a, b, _base = data
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "implementing")
    r = api(personas.pm).patch(
        f"/api/v1/requirements/{a.key}/", {"parent": b.key, "change_request": cr.key},
        format="json",
    )  # fmt: skip
    assert r.status_code == 400 and names(error_of(r), "parent")


def test_baselined_requirement_needs_an_implementing_cr(personas, api, data):
    a, _b, _base = data
    client = api(personas.pm)
    url = f"/api/v1/requirements/{a.key}/"
    r = client.patch(url, {"title": "登录（新）"}, format="json")
    assert r.status_code == 422, r.content
    assert names(error_of(r), "change_request")
    draft = make_cr(personas.project, by=personas.customer)
    r = client.patch(url, {"title": "登录（新）", "change_request": draft.key}, format="json")
    assert r.status_code == 422
    foreign = make_cr(personas.other_project, by=personas.outsider)
    r = client.patch(url, {"title": "登录（新）", "change_request": foreign.key}, format="json")
    assert r.status_code == 422
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "implementing")
    r = client.patch(url, {"title": "登录（新）", "change_request": cr.key}, format="json")
    assert r.status_code == 200 and r.json()["version"] == 2
    versions = client.get(url + "versions/").json()["results"]
    assert versions[0]["change_request"] == cr.key
    detail = client.get(f"/api/v1/change-requests/{cr.key}/").json()
    assert detail["affected_requirements"] == [a.key]


# ---------------------------------------------------------------- baselines


@pytest.mark.parametrize("who", WRITERS)
def test_baseline_create_allowed(personas, api, data, who):
    r = api(getattr(personas, who)).post(
        baselines_url(), {"name": "R2", "description": "第二版"}, format="json"
    )
    assert r.status_code == 201, r.content
    got = r.json()
    assert (got["name"], got["requirement_count"], got["description"]) == ("R2", 2, "第二版")
    assert got["created_by"] == getattr(personas, who).username


@pytest.mark.parametrize("who", NON_WRITERS)
def test_baseline_create_forbidden(personas, api, data, who):
    r = api(getattr(personas, who)).post(baselines_url(), {"name": "R2"}, format="json")
    assert r.status_code == 403
    assert Baseline.objects.count() == 1


def test_baseline_outsider(personas, api, data):
    client = api(personas.outsider)
    assert client.post(baselines_url(), {"name": "R2"}, format="json").status_code == 404
    assert client.get(baselines_url()).status_code == 404
    assert client.get(baselines_url() + "R1/").status_code == 404
    assert client.get(baselines_url() + "R1/diff/?against=R1").status_code == 404
    assert Baseline.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "R1"}, "name"),  # taken
        ({"name": "R3", "description": "x" * 10_001}, "description"),
        ({"name": "R3", "items": []}, "items"),
    ],
)
def test_baseline_bad_input(personas, api, data, body, field):
    r = api(personas.pm).post(baselines_url(), body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field)
    assert Baseline.objects.count() == 1


def test_baselines_cannot_be_changed_or_deleted(personas, api, data):
    client = api(personas.pm)
    assert client.patch(baselines_url() + "R1/", {"name": "x"}, format="json").status_code == 405
    assert client.delete(baselines_url() + "R1/").status_code == 405


@pytest.mark.parametrize("who", READERS)
def test_baseline_list_detail_and_diff_for_every_member(personas, api, data, who):
    a, b, _base = data
    cr = advance(make_cr(personas.project, by=personas.customer), personas, "implementing")
    api(personas.pm).patch(
        f"/api/v1/requirements/{a.key}/",
        {"text": "登录页面需要支持邮件验证码", "change_request": cr.key}, format="json",
    )  # fmt: skip
    c = make_req(personas.project, by=personas.pm, title="New")
    make_baseline(personas.project, by=personas.pm, name="R2")
    client = api(getattr(personas, who))
    r = client.get(baselines_url())
    assert r.status_code == 200
    assert [x["name"] for x in r.json()["results"]] == ["R2", "R1"]
    r = client.get(baselines_url() + "R1/")
    assert r.status_code == 200 and r.json()["requirement_count"] == 2
    r = client.get(baselines_url() + "R2/diff/", {"against": "R1"})
    assert r.status_code == 200, r.content
    diff = r.json()
    assert diff["added"] == [{"key": c.key, "version": 1, "title": "New"}]
    assert diff["removed"] == [] and diff["unchanged"] == 1
    [mod] = diff["modified"]
    assert (mod["key"], mod["fields"], mod["from_version"], mod["to_version"]) == (
        a.key, ["text"], 1, 2,
    )  # fmt: skip
    assert mod["changes"]["text"]["from"] == "登录页面需要支持短信验证码"
    assert {"op": "delete", "text": "短信"} in mod["changes"]["text"]["diff"]
    assert {"op": "insert", "text": "邮件"} in mod["changes"]["text"]["diff"]


def test_diff_bad_input(personas, api, data):
    client = api(personas.pm)
    r = client.get(baselines_url() + "R1/diff/")
    assert r.status_code == 400 and names(error_of(r), "against")
    r = client.get(baselines_url() + "R1/diff/", {"against": "nope"})
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.get(baselines_url() + "nope/diff/", {"against": "R1"})
    assert r.status_code == 404
    assert client.get(baselines_url() + "nope/").status_code == 404
    # Another project's baseline of the same name is not reachable from here.
    make_baseline(personas.other_project, by=personas.outsider, name="X")
    assert client.get(baselines_url() + "R1/diff/", {"against": "X"}).status_code == 404


# ---------------------------------------------------------------- CRs naming requirements


def test_cr_created_with_affected_requirements(personas, api, data):
    a, b, _base = data
    client = api(personas.customer)
    body = {"project": "ACME", "title": "短信", "description": "改为邮件",
            "affected_requirements": [b.key, a.key]}  # fmt: skip
    r = client.post("/api/v1/change-requests/", body, format="json")
    assert r.status_code == 201, r.content
    key = r.json()["key"]
    assert r.json()["affected_requirements"] == [a.key, b.key]
    assert client.get(f"/api/v1/change-requests/{key}/").json()["affected_requirements"] == [
        a.key, b.key,
    ]  # fmt: skip
    # The detail costs one query for the keys, however many there are.
    plain = client.post(
        "/api/v1/change-requests/",
        {"project": "ACME", "title": "t", "description": "d"},
        format="json",
    ).json()["key"]
    client.get(f"/api/v1/change-requests/{plain}/")  # warm up: the token's "last used" touch
    with CaptureQueriesContext(connection) as one:
        client.get(f"/api/v1/change-requests/{plain}/")
    for _ in range(5):
        make_req(personas.project, by=personas.pm)
    many = client.post(
        "/api/v1/change-requests/",
        {"project": "ACME", "title": "t", "description": "d",
         "affected_requirements": [f"ACME-R-{n}" for n in range(1, 8)]},
        format="json",
    ).json()["key"]  # fmt: skip
    with CaptureQueriesContext(connection) as other:
        r = client.get(f"/api/v1/change-requests/{many}/")
    assert len(other.captured_queries) == len(one.captured_queries) > 0
    assert len(r.json()["affected_requirements"]) == 7


@pytest.mark.parametrize(
    "keys, bad",
    [
        (["ACME-R-1", "ACME-R-9"], ["ACME-R-9"]),
        (["OTHER-R-1"], ["OTHER-R-1"]),
        (["nope", "ACME-R-2", "OTHER-R-1"], ["nope", "OTHER-R-1"]),
    ],
)
def test_cr_with_unknown_or_foreign_requirements_is_400(personas, api, data, keys, bad):
    make_req(personas.other_project, by=personas.outsider)
    body = {"project": "ACME", "title": "refused", "description": "d",
            "affected_requirements": keys}  # fmt: skip
    r = api(personas.pm).post("/api/v1/change-requests/", body, format="json")
    assert r.status_code == 400, r.content
    err = error_of(r)
    message = " ".join(err["fields"]["affected_requirements"])
    assert all(k in message for k in bad)
    assert not any(k in message for k in keys if k not in bad)
    assert not AffectedRequirement.objects.exists()
    assert api(personas.pm).get("/api/v1/change-requests/", {"q": "refused"}).json()["count"] == 0
