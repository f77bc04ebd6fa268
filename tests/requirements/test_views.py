"""The requirements pages: every page allowed / forbidden / outsider (404), both languages,
and the flows (create, edit through a CR once baselined, links, review, import preview and
confirm, baseline diff, matrix)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from changeflow.core.models import AuditEvent
from changeflow.requirements import services
from changeflow.requirements.models import Artifact, LinkKind, Requirement, TraceLink
from tests.factories import advance, make_cr
from tests.requirements.helpers import make_baseline, make_req

pytestmark = pytest.mark.django_db

READERS = ("pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin")
WRITERS = ("pm", "tech_lead", "admin")
NON_WRITERS = ("qa", "developer", "customer_rep", "customer", "viewer")


@pytest.fixture
def data(personas):
    p = personas
    top = make_req(
        p.project, by=p.pm, title="登录", text="**必须**支持短信验证码 <script>x</script>"
    )
    child = make_req(p.project, by=p.pm, title="Export", parent=top.key)
    art = services.artifact_create(user=p.pm, project=p.project, kind="test", title="Login test")
    link = services.link_create(user=p.pm, project=p.project, source=art.key, target=top.key,
                                kind="verifies")  # fmt: skip
    make_baseline(p.project, by=p.pm, name="R1")
    services.requirement_update(
        user=p.pm, requirement=child, data={"title": "Export v2"},
        change_request=advance(make_cr(p.project, by=p.customer), p, "implementing").key,
    )  # fmt: skip
    make_baseline(p.project, by=p.pm, name="R2")
    return top, child, art, link


def read_pages(top, child, art):
    return [
        "/projects/ACME/requirements/",
        "/projects/ACME/requirements/?q=登录",
        "/projects/ACME/requirements/?kind=functional&status=draft",
        f"/requirements/{top.key}/",
        f"/requirements/{child.key}/",
        "/projects/ACME/baselines/",
        "/projects/ACME/baselines/diff/?name=R2&against=R1",
        "/projects/ACME/artifacts/",
        f"/artifacts/{art.key}/",
        "/projects/ACME/matrix/",
        "/projects/ACME/matrix/?suspect=on&kind=user",
    ]


def write_pages(top, art):
    return [
        "/projects/ACME/requirements/new/",
        f"/requirements/{top.key}/edit/",
        f"/artifacts/{art.key}/edit/",
        "/projects/ACME/requirements/import/",
    ]


def downloads():
    return [
        "/projects/ACME/requirements/export/?format=csv",
        "/projects/ACME/requirements/export/?format=xlsx",
        "/projects/ACME/requirements/export/?format=reqif",
        "/projects/ACME/matrix/export/?format=csv",
        "/projects/ACME/matrix/export/?format=xlsx",
    ]


@pytest.mark.parametrize("who", READERS)
def test_every_member_reads_every_page(client, personas, data, who):
    top, child, art, _link = data
    client.force_login(getattr(personas, who))
    for url in read_pages(top, child, art):
        response = client.get(url)
        assert response.status_code == 200, url
    for url in downloads():
        response = client.get(url)
        assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    html = client.get(f"/requirements/{top.key}/").content.decode()
    assert "<strong>必须</strong>" in html and "<script>x</script>" not in html  # sanitised
    edit_button = f'href="/requirements/{top.key}/edit/"'
    assert (edit_button in html) == (who in WRITERS)


@pytest.mark.parametrize("who", WRITERS)
def test_writers_get_the_forms(client, personas, data, who):
    top, _child, art, _link = data
    client.force_login(getattr(personas, who))
    for url in write_pages(top, art):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", NON_WRITERS)
def test_others_are_refused_the_forms(client, personas, data, who):
    top, _child, art, link = data
    client.force_login(getattr(personas, who))
    for url in write_pages(top, art):
        assert client.get(url).status_code == 403, url
    for url, body in (
        ("/projects/ACME/requirements/new/", {"title": "x", "kind": "user", "priority": "must",
                                              "status": "draft"}),
        ("/projects/ACME/baselines/", {"name": "R9"}),
        ("/projects/ACME/artifacts/", {"kind": "test", "title": "x"}),
        ("/projects/ACME/links/new/", {"source": art.key, "target": top.key, "kind": "documents"}),
        (f"/projects/ACME/links/{link.pk}/review/", {}),
        (f"/projects/ACME/links/{link.pk}/delete/", {}),
    ):  # fmt: skip
        assert client.post(url, body).status_code == 403, url
    assert Requirement.objects.count() == 2 and Artifact.objects.count() == 1
    assert TraceLink.objects.filter(pk=link.pk, suspect=False).exists()


def test_outsider_gets_404_everywhere(client, personas, data):
    top, child, art, link = data
    client.force_login(personas.outsider)
    for url in [*read_pages(top, child, art), *write_pages(top, art), *downloads()]:
        assert client.get(url).status_code == 404, url
    for url in (
        f"/projects/ACME/links/{link.pk}/review/",
        f"/projects/ACME/links/{link.pk}/delete/",
        "/projects/ACME/links/new/",
        "/projects/ACME/baselines/",
    ):
        assert client.post(url, {}).status_code == 404, url
    # Another project's link through one's own project: 404 too.
    assert client.post(f"/projects/OTHER/links/{link.pk}/delete/").status_code == 404
    assert TraceLink.objects.filter(pk=link.pk).exists()


def test_anonymous_is_sent_to_sign_in(client, data):
    top, child, art, _link = data
    for url in read_pages(top, child, art)[:3]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/signin/")


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", ["Requirements", "Traceability", "Baselines", "Versions", "Suspect"]),
     ("zh-hans", ["需求", "追踪矩阵", "基线", "版本", "可疑"])],
)  # fmt: skip
def test_both_languages(client, personas, data, lang, words):
    top, child, art, _link = data
    client.force_login(personas.pm)
    html = ""
    for url in read_pages(top, child, art):
        response = client.get(url, headers={"Accept-Language": lang})
        assert response.status_code == 200
        html += response.content.decode()
    for word in words:
        assert word in html, word


def test_project_page_links_to_requirements(client, personas):
    client.force_login(personas.viewer)
    html = client.get("/projects/ACME/").content.decode()
    assert 'href="/projects/ACME/requirements/"' in html


# ---------------------------------------------------------------- flows


def test_create_and_edit(client, personas):
    client.force_login(personas.tech_lead)
    r = client.post("/projects/ACME/requirements/new/", {
        "title": "短信登录", "text": "line 1\r\nline 2", "kind": "user", "priority": "must",
        "status": "draft", "parent": "",
    })  # fmt: skip
    assert r.status_code == 302
    req = Requirement.objects.get()
    assert req.text == "line 1\nline 2"
    r = client.post(f"/requirements/{req.key}/edit/", {
        "title": "短信登录 v2", "text": req.text, "kind": "user", "priority": "must",
        "status": "approved", "parent": "", "version": 1, "change_request": "",
    })  # fmt: skip
    assert r.status_code == 302
    req.refresh_from_db()
    assert (req.version, req.status) == (2, "approved")
    # A bad parent is shown on the form.
    r = client.post("/projects/ACME/requirements/new/", {
        "title": "x", "kind": "user", "priority": "must", "status": "draft", "parent": "ACME-R-99",
    })  # fmt: skip
    assert r.status_code == 400 and "ACME-R-99" in r.content.decode()


def test_baselined_edit_needs_an_implementing_cr(client, personas):
    p = personas
    req = make_req(p.project, by=p.pm, title="Frozen")
    make_baseline(p.project, by=p.pm)
    client.force_login(p.pm)
    page = client.get(f"/requirements/{req.key}/edit/").content.decode()
    assert "it changes only through a change request" in page
    body = {"title": "Changed", "text": req.text, "kind": req.kind, "priority": req.priority,
            "status": req.status, "parent": "", "version": 1, "change_request": ""}  # fmt: skip
    r = client.post(f"/requirements/{req.key}/edit/", body)
    assert r.status_code == 422
    assert "change request" in r.content.decode()
    cr = advance(make_cr(p.project, by=p.customer), p, "implementing")
    r = client.post(f"/requirements/{req.key}/edit/", body | {"change_request": cr.key})
    assert r.status_code == 302
    req.refresh_from_db()
    assert req.title == "Changed"
    html = client.get(f"/requirements/{req.key}/").content.decode()
    assert f'href="/changes/{cr.key}/"' in html  # the version names its CR


def test_links_review_and_delete_from_the_ui(client, personas, data):
    top, _child, art, link = data
    client.force_login(personas.pm)
    html = client.get(f"/requirements/{top.key}/").content.decode()
    assert "Mark reviewed" not in html  # not suspect yet
    services.requirement_update(user=personas.pm, requirement=top, data={"title": "登录 v2"},
                                change_request=advance(make_cr(personas.project,
                                by=personas.customer), personas, "implementing").key)  # fmt: skip
    html = client.get(f"/requirements/{top.key}/").content.decode()
    assert "Mark reviewed" in html and "is-suspect" in html
    r = client.post(
        f"/projects/ACME/links/{link.pk}/review/", {"next": f"/requirements/{top.key}/"}
    )
    assert r.status_code == 302 and r["Location"] == f"/requirements/{top.key}/"
    link.refresh_from_db()
    assert not link.suspect and link.reviewed_by == personas.pm
    body = {"source": art.key, "kind": "documents", "target": top.key}
    r = client.post("/projects/ACME/links/new/", body | {"next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/projects/ACME/matrix/"
    assert TraceLink.objects.filter(kind="documents").exists()
    r = client.post("/projects/ACME/links/new/", {"source": art.key, "kind": "documents",
                                                  "target": art.key})  # fmt: skip
    assert r.status_code == 302  # refused with a message
    assert TraceLink.objects.count() == 2
    r = client.post(f"/projects/ACME/links/{link.pk}/delete/")
    assert r.status_code == 302 and not TraceLink.objects.filter(pk=link.pk).exists()
    assert AuditEvent.objects.filter(action="trace_link.deleted").exists()


def test_artifact_edit_makes_links_suspect(client, personas, data):
    top, child, art, _link = data
    downstream = services.artifact_create(user=personas.pm, project=personas.project,
                                          kind="code", title="Module")  # fmt: skip
    dep = services.link_create(
        user=personas.pm, project=personas.project, source=downstream.key, target=art.key,
        kind="depends_on",
    )  # fmt: skip
    client.force_login(personas.tech_lead)
    r = client.post(f"/artifacts/{art.key}/edit/", {"kind": "test", "title": "Login test v2",
                    "description": "", "version": 1, "change_request": ""})  # fmt: skip
    assert r.status_code == 302
    dep.refresh_from_db()
    assert dep.suspect
    html = client.get(f"/artifacts/{art.key}/").content.decode()
    assert "v2" in html and "Login test v2" in html
    r = client.post(f"/artifacts/{art.key}/edit/", {"kind": "test", "title": "stale",
                    "description": "", "version": 1, "change_request": ""})  # fmt: skip
    assert r.status_code == 412


def test_import_preview_then_confirm(client, personas):
    client.force_login(personas.pm)
    body = "key,parent,title\na,,Top\nb,a,Child\n".encode("gb18030")
    r = client.post("/projects/ACME/requirements/import/",
                    {"file": SimpleUploadedFile("reqs.csv", body)})  # fmt: skip
    assert r.status_code == 200
    html = r.content.decode()
    assert "ACME-R-1" in html and "Import now" in html
    assert not Requirement.objects.exists()
    token = r.context["token"]
    r = client.post("/projects/ACME/requirements/import/", {"confirm": "1", "token": token})
    assert r.status_code == 302
    assert Requirement.objects.get(key="ACME-R-2").parent.key == "ACME-R-1"
    # The same token again: expired, nothing more imported.
    r = client.post("/projects/ACME/requirements/import/", {"confirm": "1", "token": token})
    assert r.status_code == 302 and Requirement.objects.count() == 2


def test_import_bad_file_shows_the_problem(client, personas):
    client.force_login(personas.pm)
    r = client.post("/projects/ACME/requirements/import/",
                    {"file": SimpleUploadedFile("reqs.csv", b"titel\nx\n")})  # fmt: skip
    assert r.status_code == 400
    assert "unknown column" in r.content.decode() and "Nothing was imported" in r.content.decode()
    r = client.post("/projects/ACME/requirements/import/",
                    {"file": SimpleUploadedFile("x.reqif", b"<REQ-IF><broken")})  # fmt: skip
    assert r.status_code == 400 and "Broken XML" in r.content.decode()
    assert not Requirement.objects.exists()


def test_baseline_create_and_diff(client, personas, data):
    client.force_login(personas.pm)
    r = client.post("/projects/ACME/baselines/", {"name": "R3", "description": "x"})
    assert r.status_code == 302
    r = client.post("/projects/ACME/baselines/", {"name": "R3"})
    assert r.status_code == 400
    html = client.get("/projects/ACME/baselines/diff/?name=R2&against=R1").content.decode()
    assert "<del>" in html or "<ins>" in html
    assert "v2" in html and "Export" in html
    assert client.get("/projects/ACME/baselines/diff/?name=R2&against=NOPE").status_code == 404
    r = client.get("/projects/ACME/baselines/diff/")
    assert r.status_code == 302


def test_matrix_page_bad_filter_and_query_count(
    client, personas, data, django_assert_max_num_queries
):
    client.force_login(personas.viewer)
    assert client.get("/projects/ACME/matrix/?kind=poem").status_code == 400
    for i in range(30):
        req = make_req(personas.project, by=personas.pm, title=f"R{i}")
        services.link_create(user=personas.pm, project=personas.project, source=data[2].key,
                             target=req.key, kind="verifies")  # fmt: skip
    client.get("/projects/ACME/matrix/")
    with django_assert_max_num_queries(20):
        assert client.get("/projects/ACME/matrix/").status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get("/projects/ACME/requirements/").status_code == 200


def test_matrix_page_names_link_kinds_in_the_readers_language(client, personas, data):
    """The cells showed the code ("verifies", "derives") on the Chinese page too; the API and
    the export keep the codes."""
    p = personas
    services.link_create(user=p.pm, project=p.project, source=data[1].key, target=data[0].key,
                         kind="derives")  # fmt: skip
    client.force_login(p.viewer)
    html = client.get("/projects/ACME/matrix/", headers={"Accept-Language": "zh-hans"})
    html = html.content.decode()
    with translation.override("zh-hans"):
        labels = [str(LinkKind.VERIFIES.label), str(LinkKind.DERIVES.label)]
    assert "verifies" not in labels and "derives" not in labels
    for label in labels:
        assert label in html
    assert ">verifies" not in html and " derives" not in html
    english = client.get("/projects/ACME/matrix/", headers={"Accept-Language": "en"})
    assert "verifies" in english.content.decode()
    api = client.get("/api/v1/projects/ACME/matrix/").json()
    links = [link for row in api["results"] for cell in row["cells"] for link in cell]
    assert [(link["kind"], "label" in link) for link in links] == [("verifies", False)]
