"""The traceability matrix: content, filters, no N+1, export; allowed / outsider."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from changeflow.requirements import matrix, services
from tests.api.conftest import error_of
from tests.requirements.helpers import make_req

READERS = ["pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin"]


@pytest.fixture
def trace(personas):
    p = personas
    r1 = make_req(p.project, by=p.pm, title="登录", kind="user")
    r2 = make_req(p.project, by=p.pm, title="Export", kind="functional")
    r3 = make_req(p.project, by=p.pm, title="Lonely", kind="constraint")
    t1 = services.artifact_create(user=p.pm, project=p.project, kind="test", title="T1")
    d1 = services.artifact_create(user=p.pm, project=p.project, kind="design", title="D1")
    services.link_create(user=p.pm, project=p.project, source=t1.key, target=r1.key,
                         kind="verifies")  # fmt: skip
    services.link_create(user=p.pm, project=p.project, source=d1.key, target=r2.key,
                         kind="implements")  # fmt: skip
    services.link_create(user=p.pm, project=p.project, source=r2.key, target=r1.key,
                         kind="derives")  # fmt: skip
    services.requirement_update(user=p.pm, requirement=r1, data={"title": "登录 v2"})
    return r1, r2, r3, t1, d1


def url(**params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return "/api/v1/projects/ACME/matrix/" + (f"?{query}" if query else "")


@pytest.mark.parametrize("who", READERS)
def test_matrix_allowed(personas, api, trace, who):
    r1, r2, r3, t1, d1 = trace
    body = api(getattr(personas, who)).get(url()).json()
    assert body["count"] == 3
    assert [c["key"] for c in body["columns"]] == [t1.key, d1.key]
    rows = {r["key"]: r for r in body["results"]}
    assert rows[r1.key]["cells"][0] == [
        {"id": rows[r1.key]["cells"][0][0]["id"], "kind": "verifies", "suspect": True,
         "direction": "in"}
    ]  # fmt: skip
    assert rows[r1.key]["cells"][1] == [] and rows[r1.key]["suspect"]
    assert rows[r2.key]["requirements"][0]["key"] == r1.key
    assert rows[r2.key]["requirements"][0]["suspect"]  # r1 (upstream) changed
    assert rows[r3.key]["cells"] == [[], []] and not rows[r3.key]["suspect"]


def test_matrix_outsider(personas, api, trace):
    assert api(personas.outsider).get(url()).status_code == 404
    assert api(personas.outsider).get(url().replace("matrix/", "matrix/export/")).status_code == 404


def test_matrix_filters(personas, api, trace):
    r1, r2, r3, t1, d1 = trace
    client = api(personas.qa)

    def keys(**params):
        body = client.get(url(**params)).json()
        return [r["key"] for r in body["results"]], [c["key"] for c in body["columns"]]

    assert keys(kind="user") == ([r1.key], [t1.key])
    assert keys(suspect="true") == ([r1.key, r2.key], [t1.key])
    assert keys(link_kind="implements") == ([r2.key], [d1.key])
    assert keys(artifact_kind="design")[1] == [d1.key]
    assert keys(q="Lonely")[0] == [r3.key]
    assert keys(q="登录")[0] == [r1.key]
    assert keys(status="approved")[0] == []
    r = client.get(url(kind="poem"))
    assert r.status_code == 400 and "kind" in error_of(r)["fields"]
    assert client.get(url(suspect="maybe")).status_code == 400


def test_matrix_pages_without_n_plus_one(personas, api, django_assert_max_num_queries):
    p = personas
    arts = [services.artifact_create(user=p.pm, project=p.project, kind="test", title=f"T{i}")
            for i in range(5)]  # fmt: skip
    for i in range(60):
        req = make_req(p.project, by=p.pm, title=f"R{i}")
        services.link_create(user=p.pm, project=p.project, source=arts[i % 5].key,
                             target=req.key, kind="verifies")  # fmt: skip
    client = api(p.viewer)
    client.get(url())  # warm the token cache
    with django_assert_max_num_queries(12):
        body = client.get(url(page_size=50)).json()
    assert len(body["results"]) == 50 and body["count"] == 60 and body["next"]
    qs = matrix.rows(user=p.viewer, project=p.project, filters=matrix.Filters())
    with django_assert_max_num_queries(3):
        data = matrix.page_of(project=p.project, filters=matrix.Filters(), requirements=list(qs))
    assert len(data["rows"]) == 60 and len(data["columns"]) == 5


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_matrix_export(personas, api, trace, fmt):
    r1, _r2, _r3, t1, _d1 = trace
    r = api(personas.customer).get(f"/api/v1/projects/ACME/matrix/export/?format={fmt}&kind=user")
    assert r.status_code == 200 and r["Content-Disposition"].endswith(f'.{fmt}"')
    if fmt == "csv":
        lines = r.content.decode("utf-8-sig").splitlines()
        assert lines[0].endswith(t1.key) and lines[1].startswith(f"{r1.key},登录 v2")
        assert "verifies ⚠" in lines[1]
    else:
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet["A2"].value == r1.key and sheet["F2"].value == "verifies ⚠"
    bad = api(personas.pm).get("/api/v1/projects/ACME/matrix/export/?format=pdf")
    assert bad.status_code == 400
