"""Artifact edits (versions, suspect links downstream) and link deletion, through the API."""

from __future__ import annotations

import pytest

from changeflow.core.models import AuditEvent
from changeflow.requirements import services
from changeflow.requirements.models import ArtifactVersion, TraceLink
from tests.api.conftest import error_of
from tests.requirements.helpers import make_req

WRITERS = ["pm", "tech_lead", "admin"]
NON_WRITERS = ["qa", "developer", "customer_rep", "customer", "viewer"]


@pytest.fixture
def graph(personas):
    """A requirement, a design item implementing it, a test depending on the design item."""
    p = personas
    req = make_req(p.project, by=p.pm, title="Sign in")
    design = services.artifact_create(user=p.pm, project=p.project, kind="design", title="D")
    test = services.artifact_create(user=p.pm, project=p.project, kind="test", title="T")
    down = services.link_create(user=p.pm, project=p.project, source=test.key, target=design.key,
                                kind="depends_on")  # fmt: skip
    up = services.link_create(user=p.pm, project=p.project, source=design.key, target=req.key,
                              kind="implements")  # fmt: skip
    return req, design, test, down, up


def test_create_makes_version_one(graph):
    _req, design, *_ = graph
    assert list(design.versions.values_list("version", "title")) == [(1, "D")]


@pytest.mark.parametrize("who", WRITERS)
def test_patch_makes_a_version_and_suspects_downstream(personas, api, graph, who):
    _req, design, _test, down, up = graph
    client = api(getattr(personas, who))
    r = client.get(f"/api/v1/artifacts/{design.key}/")
    assert r.status_code == 200 and r["ETag"] == '"1"'
    r = client.patch(f"/api/v1/artifacts/{design.key}/", {"title": "Design v2"}, format="json",
                     HTTP_IF_MATCH='"1"')  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2 and r["ETag"] == '"2"'
    down.refresh_from_db()
    up.refresh_from_db()
    assert down.suspect and not up.suspect  # only links whose upstream end changed
    versions = client.get(f"/api/v1/artifacts/{design.key}/versions/").json()["results"]
    assert [(v["version"], v["title"]) for v in versions] == [(2, "Design v2"), (1, "D")]
    assert AuditEvent.objects.filter(action="artifact.updated", object_key=design.key).exists()
    # Nothing changed: no version.
    r = client.patch(f"/api/v1/artifacts/{design.key}/", {"title": "Design v2"}, format="json")
    assert r.json()["version"] == 2
    # A stale If-Match.
    r = client.patch(f"/api/v1/artifacts/{design.key}/", {"title": "x"}, format="json",
                     HTTP_IF_MATCH='"1"')  # fmt: skip
    assert r.status_code == 412


@pytest.mark.parametrize("who", NON_WRITERS)
def test_patch_forbidden_but_readable(personas, api, graph, who):
    design = graph[1]
    client = api(getattr(personas, who))
    assert client.get(f"/api/v1/artifacts/{design.key}/").status_code == 200
    assert client.get(f"/api/v1/artifacts/{design.key}/versions/").status_code == 200
    r = client.patch(f"/api/v1/artifacts/{design.key}/", {"title": "x"}, format="json")
    assert r.status_code == 403
    assert ArtifactVersion.objects.filter(artifact=design).count() == 1


def test_outsider_and_bad_input(personas, api, graph):
    design = graph[1]
    out = api(personas.outsider)
    assert out.get(f"/api/v1/artifacts/{design.key}/").status_code == 404
    assert out.get(f"/api/v1/artifacts/{design.key}/versions/").status_code == 404
    assert out.patch(f"/api/v1/artifacts/{design.key}/", {"title": "x"},
                     format="json").status_code == 404  # fmt: skip
    pm = api(personas.pm)
    for body in ({"kind": "poem"}, {"title": ""}, {"version": 3}, {"change_request": "ACME-99"}):
        r = pm.patch(f"/api/v1/artifacts/{design.key}/", body, format="json")
        assert r.status_code == 400, body
        error_of(r)
    assert pm.get("/api/v1/artifacts/ACME-A-99/").status_code == 404


@pytest.mark.parametrize("who", WRITERS)
def test_link_delete(personas, api, graph, who):
    down = graph[3]
    client = api(getattr(personas, who))
    url = f"/api/v1/projects/ACME/links/{down.pk}/"
    assert client.get(url).json()["kind"] == "depends_on"
    assert client.delete(url).status_code == 204
    assert not TraceLink.objects.filter(pk=down.pk).exists()
    event = AuditEvent.objects.get(action="trace_link.deleted")
    assert event.before["source"] == graph[2].key and event.before["kind"] == "depends_on"
    assert client.delete(url).status_code == 404


@pytest.mark.parametrize("who", NON_WRITERS)
def test_link_delete_forbidden(personas, api, graph, who):
    down = graph[3]
    r = api(getattr(personas, who)).delete(f"/api/v1/projects/ACME/links/{down.pk}/")
    assert r.status_code == 403
    assert TraceLink.objects.filter(pk=down.pk).exists()


def test_link_delete_outsider(personas, api, graph):
    down = graph[3]
    assert (
        api(personas.outsider).delete(f"/api/v1/projects/ACME/links/{down.pk}/").status_code == 404
    )
    assert (
        api(personas.outsider).delete(f"/api/v1/projects/OTHER/links/{down.pk}/").status_code == 404
    )
    assert TraceLink.objects.filter(pk=down.pk).exists()
