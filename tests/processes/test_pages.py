"""Process pages: a project's process (managers only), preview and apply, upload, save as a
template; the site-wide template list, detail, edit and archive; the new-project form with a
preset; in Chinese too."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from changeflow.accounts.models import Project
from changeflow.ccb.models import Board
from changeflow.processes import services
from changeflow.processes.models import ProcessTemplate
from changeflow.reports.reviews import schedule_of
from tests.factories import make_user

pytestmark = pytest.mark.django_db
BASE = "/projects/ACME/settings/process/"
ZH = {"Accept-Language": "zh-hans"}


def test_a_manager_previews_and_applies_a_preset(client, personas):
    p = personas
    client.force_login(p.pm)
    page = client.get(BASE)
    assert page.status_code == 200 and b"fixed-price" in page.content
    assert b"/settings/process/" in client.get("/projects/ACME/settings/").content
    preview = client.get(BASE + "apply/", {"source": "preset:regulated"})
    assert preview.status_code == 200
    assert b"Unanimity" in preview.content and not Board.objects.exists()
    assert re.search(r"<h1>Apply a process <span[^>]*>Regulated</span>", preview.content.decode())
    none = client.post(BASE + "apply/", {"confirm": "1", "source": "preset:regulated"})
    assert none.status_code == 400  # no part chosen
    done = client.post(
        BASE + "apply/", {"confirm": "1", "source": "preset:regulated", "parts": ["board"]}
    )
    assert done.status_code == 302 and done["Location"] == BASE
    assert Board.objects.get().rule == "unanimous" and schedule_of(p.project) == "off"
    zh = client.get(BASE + "apply/", {"source": "preset:fixed-price"}, headers=ZH)
    text = zh.content.decode()
    assert "应用" in text and "客户代表" in text
    assert not {"weighted", "customer_rep", "max_cost", "submitted"} & set(re.findall(r"\w+", text))


def test_an_uploaded_document_is_previewed_then_applied(client, personas):
    p = personas
    client.force_login(p.pm)
    doc = {"version": 1, "review_schedule": "weekly"}
    upload = SimpleUploadedFile("p.json", json.dumps(doc).encode(), "application/json")
    preview = client.post(BASE + "apply/", {"document": upload})
    assert preview.status_code == 200 and b"Weekly" in preview.content
    done = client.post(
        BASE + "apply/",
        {"confirm": "1", "document_json": json.dumps(doc), "parts": ["review_schedule"]},
    )
    assert done.status_code == 302 and schedule_of(p.project) == "weekly"
    bad = SimpleUploadedFile("p.json", b"not json", "application/json")
    assert client.post(BASE + "apply/", {"document": bad}).status_code == 400
    wrong = SimpleUploadedFile("p.json", b'{"version": 7}', "application/json")
    assert client.post(BASE + "apply/", {"document": wrong}).status_code == 400


def test_save_as_a_template_then_edit_and_archive_it(client, personas):
    p = personas
    client.force_login(p.pm)
    saved = client.post(BASE + "save/", {"name": "Our way", "description": "How we work"})
    template = ProcessTemplate.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/process-templates/{template.pk}/"
    again = client.post(BASE + "save/", {"name": "Our way"})
    assert again.status_code == 400
    detail = client.get(f"/process-templates/{template.pk}/")
    assert detail.status_code == 200 and b"Our way" in detail.content
    edited = client.post(
        f"/process-templates/{template.pk}/",
        {"name": "Our way", "description": "d", "version": "1",
         "document": json.dumps({"version": 1, "review_schedule": "monthly"})},
    )  # fmt: skip
    assert edited.status_code == 302
    template.refresh_from_db()
    assert template.document == {"version": 1, "review_schedule": "monthly"}
    stale = client.post(
        f"/process-templates/{template.pk}/",
        {"name": "X", "version": "1", "document": json.dumps({"version": 1})},
    )
    assert stale.status_code == 409
    bad = client.post(
        f"/process-templates/{template.pk}/",
        {"name": "X", "version": "2", "document": '{"version": 1, "sla": {"x": 1}}'},
    )
    assert bad.status_code == 400 and b"sla" in bad.content
    listed = client.get("/process-templates/")
    assert listed.status_code == 200 and b"Our way" in listed.content
    assert "内置" in client.get("/process-templates/", headers=ZH).content.decode()
    # Another project's manager reads it, may not change it; a user of no project sees nothing.
    client.force_login(p.outsider)
    assert client.get(f"/process-templates/{template.pk}/").status_code == 200
    archive = client.post(f"/process-templates/{template.pk}/archive/", {"archived": "1"})
    assert archive.status_code == 403
    assert b'href="/process-templates/"' in client.get("/projects/").content  # the user menu
    client.force_login(make_user("loner"))
    assert client.get("/process-templates/").status_code == 404
    assert b'href="/process-templates/"' not in client.get("/projects/").content  # no link to it
    assert client.get(f"/process-templates/{template.pk}/").status_code == 404
    client.force_login(p.pm)
    archive = client.post(f"/process-templates/{template.pk}/archive/", {"archived": "1"})
    assert archive.status_code == 302
    template.refresh_from_db()
    assert template.archived


def test_new_template_from_a_document(client, personas):
    client.force_login(personas.pm)
    assert client.get("/process-templates/new/").status_code == 200
    made = client.post(
        "/process-templates/new/",
        {"name": "Doc", "document": json.dumps({"version": 1, "review_schedule": "off"})},
    )
    assert made.status_code == 302
    client.force_login(personas.qa)
    assert client.get("/process-templates/new/").status_code == 403


def test_only_managers_see_a_projects_process(client, personas):
    p = personas
    for who, code in ((p.qa, 403), (p.viewer, 403), (p.customer_rep, 403), (p.outsider, 404)):
        client.force_login(who)
        assert client.get(BASE).status_code == code
        assert client.get(BASE + "apply/", {"source": "preset:standard"}).status_code == code
        assert client.post(BASE + "save/", {"name": "x"}).status_code == code
    assert not ProcessTemplate.objects.exists()
    client.logout()
    assert client.get(BASE).status_code == 302


def test_a_new_project_from_a_preset(client, personas):
    client.force_login(personas.admin)
    form = client.get("/projects/new/")
    assert b"preset:regulated" in form.content
    made = client.post(
        "/projects/new/", {"key": "NEW", "name": "New", "process": "preset:internal"}
    )
    assert made.status_code == 302
    assert schedule_of(Project.objects.get(key="NEW")) == "monthly"
    services.template_create(user=personas.admin, name="Saved", document={"version": 1})
    assert b"Saved" in client.get("/projects/new/").content


def test_the_template_list_asks_the_same_queries_for_one_and_many(client, personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = personas
    services.template_create(user=p.pm, name="T0", document={"version": 1})
    client.force_login(p.qa)
    client.get("/process-templates/")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/process-templates/").status_code == 200
        return len(queries)

    one = count()
    for i in range(1, 6):
        services.template_create(user=p.admin, name=f"T{i}", document={"version": 1})
    assert count() == one
