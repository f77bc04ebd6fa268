"""Artifacts, trace links (suspect after an upstream edit, cleared by review) and impact.

Convention: a link ``source --kind--> target`` has its target upstream.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.core.errors import NotFound, PermissionDenied, ValidationError
from changeflow.core.models import AuditEvent
from changeflow.requirements import impact, selectors, services
from changeflow.requirements.models import Artifact, TraceLink
from tests.api.conftest import error_of, names
from tests.factories import make_cr
from tests.requirements.helpers import make_req

READERS = ["pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin"]
WRITERS = ["pm", "tech_lead", "admin"]
NON_WRITERS = ["qa", "developer", "customer_rep", "customer", "viewer"]


def art(p, kind="test", by=None, **kw):
    kw.setdefault("title", "Login test")
    return services.artifact_create(user=by or p.pm, project=p.project, kind=kind, **kw)


def link(p, source, target, kind="verifies", by=None):
    return services.link_create(
        user=by or p.pm, project=p.project, source=source.key, target=target.key, kind=kind
    )


# ---------------------------------------------------------------- services


def test_artifact_keys_count_per_project(personas):
    p = personas
    a1, a2 = art(p), art(p, kind="design")
    other = services.artifact_create(
        user=p.outsider, project=p.other_project, kind="code", title="x"
    )
    assert (a1.key, a2.key, other.key) == ("ACME-A-1", "ACME-A-2", "OTHER-A-1")
    assert AuditEvent.objects.filter(action="artifact.created", object_key="ACME-A-1").exists()


def test_link_across_projects_is_refused(personas):
    p = personas
    r = make_req(p.project, by=p.pm)
    foreign = services.artifact_create(
        user=p.outsider, project=p.other_project, kind="test", title="x"
    )
    with pytest.raises(ValidationError) as e:
        services.link_create(
            user=p.pm, project=p.project, source=foreign.key, target=r.key, kind="verifies"
        )
    assert "source" in e.value.fields
    assert not TraceLink.objects.exists()


def test_self_link_duplicate_and_bad_kind(personas):
    p = personas
    r = make_req(p.project, by=p.pm)
    with pytest.raises(ValidationError) as e:
        link(p, r, r, kind="depends_on")
    assert "target" in e.value.fields
    a = art(p)
    link(p, a, r)
    with pytest.raises(ValidationError) as e:
        link(p, a, r)
    assert "kind" in e.value.fields
    with pytest.raises(ValidationError) as e:
        link(p, a, r, kind="blesses")
    assert "kind" in e.value.fields
    assert TraceLink.objects.count() == 1


def test_suspect_after_upstream_edit_and_cleared_by_review(personas):
    p = personas
    r = make_req(p.project, by=p.pm)
    t = art(p)
    down = make_req(p.project, by=p.pm)
    l1 = link(p, t, r)  # the test verifies r: r is upstream
    l2 = link(p, down, r, kind="derives")
    l3 = link(p, r, make_req(p.project, by=p.pm), kind="depends_on")  # r is downstream here
    services.requirement_update(user=p.pm, requirement=r, data={"text": "changed"})
    state = dict(TraceLink.objects.values_list("id", "suspect"))
    assert state == {l1.pk: True, l2.pk: True, l3.pk: False}
    l1.refresh_from_db()
    assert l1.suspect_since is not None
    with pytest.raises(PermissionDenied):
        services.link_review(user=p.qa, link=l1)
    services.link_review(user=p.tech_lead, link=l1)
    l1.refresh_from_db()
    assert not l1.suspect and l1.reviewed_by == p.tech_lead and l1.reviewed_at
    ev = AuditEvent.objects.get(action="trace_link.reviewed")
    assert ev.object_key == str(l1.pk) and ev.actor == p.tech_lead.username
    assert ev.before == {"suspect": True}


def test_downstream_edit_does_not_make_suspect(personas):
    p = personas
    r = make_req(p.project, by=p.pm)
    t = art(p)
    child = make_req(p.project, by=p.pm)
    link(p, t, r)
    link(p, child, r, kind="refines")
    services.requirement_update(user=p.pm, requirement=child, data={"title": "new"})
    assert not TraceLink.objects.filter(suspect=True).exists()


def test_impact_paths_through_children_and_links_with_a_cycle(personas):
    p = personas
    r1 = make_req(p.project, by=p.pm)
    r2 = make_req(p.project, by=p.pm, parent=r1.key)
    r3 = make_req(p.project, by=p.pm)
    unrelated = make_req(p.project, by=p.pm)
    design, test = art(p, kind="design"), art(p, kind="test")
    link(p, design, r2, kind="derives")  # r2 -> design
    link(p, test, design, kind="verifies")  # design -> test
    link(p, r3, test, kind="depends_on")  # test -> r3
    link(p, design, r3, kind="depends_on")  # r3 -> design: a cycle design -> test -> r3 -> design
    link(p, r1, unrelated, kind="refines")  # upstream of r1: not impacted
    cr = make_cr(p.project, by=p.pm, affected_requirements=[r1.key])
    got = selectors.impact_of(user=p.pm, cr=cr)
    assert got["affected"] == [r1.key] and not got["truncated"]
    paths = {i["key"]: i["path"] for i in got["items"]}
    assert paths == {
        r1.key: [r1.key],
        r2.key: [r1.key, r2.key],
        design.key: [r1.key, r2.key, design.key],
        test.key: [r1.key, r2.key, design.key, test.key],
        r3.key: [r1.key, r2.key, design.key, test.key, r3.key],
    }
    by_key = {i["key"]: i for i in got["items"]}
    assert by_key[r2.key]["via"] == "child" and by_key[test.key]["via"] == "verifies"
    assert by_key[design.key]["type"] == "artifact" and by_key[design.key]["kind"] == "design"
    # Bounded.
    small = selectors.impact_of(user=p.pm, cr=cr, limit=2)
    assert small["truncated"] and len(small["items"]) == 2


def test_impact_query_count_does_not_grow_with_the_project(personas):
    """The walk reads what it reaches (through indexes), never the project's whole graph:
    unrelated requirements and links add no query (and no time), depth adds none either."""
    p = personas
    r = make_req(p.project, by=p.pm)
    prev = r
    for _ in range(15):
        child = make_req(p.project, by=p.pm, parent=prev.key)
        link(p, art(p), child)
        prev = child
    cr = make_cr(p.project, by=p.pm, affected_requirements=[r.key])
    with CaptureQueriesContext(connection) as small:
        got = selectors.impact_of(user=p.qa, cr=cr)
    assert len(got["items"]) == 31
    for _ in range(10):  # unrelated: reached by nothing the CR touches
        other = make_req(p.project, by=p.pm)
        link(p, art(p), other)
    with CaptureQueriesContext(connection) as large:
        assert len(selectors.impact_of(user=p.qa, cr=cr)["items"]) == 31
    assert len(large.captured_queries) == len(small.captured_queries)
    # However deep the walk (16 levels here), one query reads what is reachable: a recursive
    # CTE. Around it: the CR's requirements and change set, the keys, and on PostgreSQL the
    # planner settings (and a savepoint) of that query's transaction.
    graph = [q for q in small.captured_queries if "RECURSIVE" in q["sql"]]
    assert len(graph) == 1
    assert len(small.captured_queries) <= 8


# ---------------------------------------------------------------- API


def url(what, project="ACME"):
    return f"/api/v1/projects/{project}/{what}/"


@pytest.mark.parametrize("who", WRITERS)
def test_api_create_allowed(personas, api, who):
    client = api(getattr(personas, who))
    r = client.post(url("artifacts"), {"kind": "design", "title": "设计"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["key"] == "ACME-A-1" and r.json()["kind"] == "design"
    req = make_req(personas.project, by=personas.pm)
    body = {"source": "ACME-A-1", "target": req.key, "kind": "derives"}
    r = client.post(url("links"), body, format="json")
    assert r.status_code == 201, r.content
    got = r.json()
    assert (got["source"], got["target"], got["kind"], got["suspect"]) == (
        "ACME-A-1", req.key, "derives", False,
    )  # fmt: skip


@pytest.mark.parametrize("who", NON_WRITERS)
def test_api_create_forbidden(personas, api, who):
    p = personas
    req, a = make_req(p.project, by=p.pm), art(p)
    client = api(getattr(p, who))
    r = client.post(url("artifacts"), {"kind": "test", "title": "x"}, format="json")
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    body = {"source": a.key, "target": req.key, "kind": "verifies"}
    assert client.post(url("links"), body, format="json").status_code == 403
    lk = link(p, a, req)
    assert client.post(url(f"links/{lk.pk}/review")).status_code == 403
    assert Artifact.objects.count() == 1 and TraceLink.objects.count() == 1


def test_api_outsider_and_anonymous(personas, api):
    p = personas
    req, a = make_req(p.project, by=p.pm), art(p)
    lk = link(p, a, req)
    cr = make_cr(p.project, by=p.pm, affected_requirements=[req.key])
    out = api(p.outsider)
    for path in (url("artifacts"), url("links"), f"/api/v1/change-requests/{cr.key}/impact/"):
        r = out.get(path)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found", path
        assert api(None).get(path).status_code == 401
    assert (
        out.post(url("artifacts"), {"kind": "test", "title": "x"}, format="json").status_code == 404
    )
    body = {"source": a.key, "target": req.key, "kind": "documents"}
    assert out.post(url("links"), body, format="json").status_code == 404
    assert out.post(url(f"links/{lk.pk}/review")).status_code == 404
    # The outsider's own project does not reach ACME's links either.
    assert out.post(url(f"links/{lk.pk}/review", "OTHER")).status_code == 404


@pytest.mark.parametrize("who", READERS)
def test_api_reads_allowed(personas, api, who):
    p = personas
    req, a = make_req(p.project, by=p.pm), art(p)
    link(p, a, req)
    cr = make_cr(p.project, by=p.pm, affected_requirements=[req.key])
    client = api(getattr(p, who))
    r = client.get(url("artifacts"))
    assert r.status_code == 200 and [x["key"] for x in r.json()["results"]] == [a.key]
    r = client.get(url("links"))
    assert r.status_code == 200 and r.json()["results"][0]["source"] == a.key
    r = client.get(f"/api/v1/change-requests/{cr.key}/impact/")
    assert r.status_code == 200, r.content
    assert [i["path"] for i in r.json()["items"]] == [[req.key], [req.key, a.key]]


def test_api_suspect_and_review(personas, api):
    p = personas
    req, a = make_req(p.project, by=p.pm), art(p)
    lk = link(p, a, req)
    r = api(p.pm).patch(f"/api/v1/requirements/{req.key}/", {"text": "v2"}, format="json")
    assert r.status_code == 200, r.content
    r = api(p.qa).get(url("links") + "?suspect=true")
    assert [x["id"] for x in r.json()["results"]] == [lk.pk]
    r = api(p.tech_lead).post(url(f"links/{lk.pk}/review"))
    assert r.status_code == 200, r.content
    assert r.json()["suspect"] is False and r.json()["reviewed_by"] == p.tech_lead.username
    assert api(p.qa).get(url("links") + "?suspect=true").json()["results"] == []
    r = api(p.qa).get(url("links") + "?suspect=maybe")
    assert r.status_code == 400 and names(error_of(r), "suspect")
    assert api(p.pm).post(url("links/999999/review")).status_code == 404


@pytest.mark.parametrize(
    "what, body, field",
    [
        ("artifacts", {"title": "x"}, "kind"),
        ("artifacts", {"kind": "poem", "title": "x"}, "kind"),
        ("artifacts", {"kind": "test", "title": ""}, "title"),
        ("artifacts", {"kind": "test", "title": "x" * 201}, "title"),
        ("artifacts", {"kind": "test", "title": "x", "colour": 1}, "colour"),
        ("links", {"target": "ACME-R-1", "kind": "verifies"}, "source"),
        ("links", {"source": "ACME-A-1", "target": "ACME-R-99", "kind": "verifies"}, "target"),
        ("links", {"source": "OTHER-A-1", "target": "ACME-R-1", "kind": "verifies"}, "source"),
        ("links", {"source": "ACME-A-1", "target": "ACME-A-1", "kind": "verifies"}, "target"),
        ("links", {"source": "ACME-A-1", "target": "ACME-R-1", "kind": "likes"}, "kind"),
        ("links", {"source": "ACME-A-1\x00", "target": "ACME-R-1", "kind": "verifies"}, "source"),
    ],
)
def test_api_bad_input_names_the_field(personas, api, what, body, field):
    p = personas
    make_req(p.project, by=p.pm)
    art(p)
    services.artifact_create(user=p.outsider, project=p.other_project, kind="test", title="x")
    before = (Artifact.objects.count(), TraceLink.objects.count())
    r = api(p.pm).post(url(what), body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field), error_of(r)
    assert (Artifact.objects.count(), TraceLink.objects.count()) == before


def test_impact_of_unknown_cr_is_404(personas, api):
    r = api(personas.pm).get("/api/v1/change-requests/ACME-999/impact/")
    assert r.status_code == 404


def test_service_outsider_gets_not_found(personas):
    p = personas
    with pytest.raises(NotFound):
        services.artifact_create(user=p.outsider, project=p.project, kind="test", title="x")


def test_impact_from_thousands_of_requirements_is_one_statement(personas):
    """An import under a CR may declare tens of thousands of requirements: the start ids go as
    one parameter (an array; JSON on SQLite), never past a database's bound on placeholders."""
    p = personas
    r = make_req(p.project, by=p.pm)
    child = make_req(p.project, by=p.pm, parent=r.key)
    ids = [r.pk, *range(10_000_000, 10_040_000)]  # 40,000 more ids, none of them a requirement
    graph = impact.Subgraph(ids)
    assert graph.edges == {("R", r.pk): [(("R", child.pk), "child", False)]}
    assert set(graph.requirements) == {r.pk, child.pk} and graph.artifacts == {}


def test_impact_pauses_the_cyclic_collector_only_while_it_runs(personas):
    """The analysis runs with the cyclic GC paused (it allocates many short-lived tuples and no
    cycles) and leaves it as it found it, also when it fails."""
    import gc

    p = personas
    r = make_req(p.project, by=p.pm)
    assert gc.isenabled()
    assert impact.analyse([r.pk], limit=10)["items"][0]["key"] == r.key
    assert gc.isenabled()
    gc.disable()
    try:
        impact.analyse([r.pk], limit=10)
        assert not gc.isenabled()  # paused by someone else: left paused
    finally:
        gc.enable()
    with pytest.raises(KeyError):  # an id that is no requirement fails, and the GC is back
        impact.analyse([r.pk + 10_000], limit=10)
    assert gc.isenabled()
