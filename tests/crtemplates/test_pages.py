"""CR template pages (project managers only) and the CR pages with a template: the new-CR
form offers the active templates and takes their defaults and fields, the edit form edits the
fields, the CR page shows them; allowed, forbidden, outsider; query counts; in Chinese too."""

from __future__ import annotations

import pytest

from changeflow.changes.models import ChangeRequest
from changeflow.crtemplates import services
from changeflow.crtemplates.models import CRTemplate
from tests.factories import fresh, make_cr

from .helpers import make_template

pytestmark = pytest.mark.django_db
BASE = "/projects/ACME/settings/cr-templates/"
ZH = {"Accept-Language": "zh-hans"}


def _rows(*rows) -> dict:
    data = {"field-TOTAL_FORMS": str(len(rows)), "field-INITIAL_FORMS": "0"}
    for n, row in enumerate(rows):
        data |= {f"field-{n}-{k}": v for k, v in row.items()}
    return data


def test_a_project_manager_creates_edits_archives_restores_and_reorders(client, personas):
    p = personas
    client.force_login(p.pm)
    assert client.get(BASE).status_code == 200
    assert client.get(BASE + "new/").status_code == 200
    made = client.post(BASE + "new/", {
        "name": "数据修复 / Data fix", "type": "defect", "priority": "P3", "labels": "数据, data",
        "scaffold": "## 影响的数据\n", "description": "Wrong rows in production",
        **_rows({"key": "table", "label": "Table", "kind": "text", "required": "on"},
                {"key": "env", "label": "Environment", "kind": "choice",
                 "choices": "生产 / prod\nstaging"},
                {"key": "", "label": "", "kind": "text"}),
    })  # fmt: skip
    assert made.status_code == 302
    template = CRTemplate.objects.get()
    assert template.labels == ["data", "数据"] and template.type == "defect"
    assert [f["key"] for f in template.fields] == ["table", "env"]
    assert template.fields[1]["choices"] == ["生产 / prod", "staging"]
    page = client.get(f"{BASE}{template.pk}/").content.decode()
    assert "生产 / prod\nstaging" in page
    edited = client.post(f"{BASE}{template.pk}/", {
        "name": "Data fix", "version": "1",
        **_rows({"key": "table", "label": "Table name", "kind": "text"}),
    })  # fmt: skip
    assert edited.status_code == 302
    template.refresh_from_db()
    assert template.name == "Data fix" and template.fields[0]["label"] == "Table name"
    stale = client.post(f"{BASE}{template.pk}/", {"name": "Other", "version": "1", **_rows()})
    assert stale.status_code == 409
    assert CRTemplate.objects.get().name == "Data fix"
    other = make_template(p, name="Second", fields=[])
    client.post(f"{BASE}{other.pk}/move/", {"direction": "up"})
    html = client.get(BASE).content.decode()
    assert html.index("Second") < html.index("Data fix")
    client.post(f"{BASE}{template.pk}/archive/", {"archived": "1"})
    assert CRTemplate.objects.get(pk=template.pk).archived
    client.post(f"{BASE}{template.pk}/archive/", {"archived": "0"})
    assert not CRTemplate.objects.get(pk=template.pk).archived
    # The settings page links here.
    assert BASE in client.get("/projects/ACME/settings/").content.decode()


def test_bad_definitions_keep_the_form_with_the_problem(client, personas):
    p = personas
    client.force_login(p.pm)
    answer = client.post(BASE + "new/", {
        "name": "X", **_rows({"key": "a", "label": "A", "kind": "choice", "choices": ""}),
    })  # fmt: skip
    assert answer.status_code == 400
    assert "a: a choice field needs at least one choice." in answer.content.decode()
    assert not CRTemplate.objects.exists()


@pytest.mark.parametrize("who", ["tech_lead", "developer", "customer", "viewer"])
def test_other_members_are_refused_the_pages(client, personas, who):
    p = personas
    template = make_template(p)
    client.force_login(getattr(p, who))
    assert client.get(BASE).status_code == 403
    assert client.get(BASE + "new/").status_code == 403
    assert client.get(f"{BASE}{template.pk}/").status_code == 403
    assert client.post(BASE + "new/", {"name": "X", **_rows()}).status_code == 403
    assert client.post(f"{BASE}{template.pk}/archive/", {"archived": "1"}).status_code == 403
    assert client.post(f"{BASE}{template.pk}/move/", {"direction": "up"}).status_code == 403
    assert CRTemplate.objects.count() == 1 and not CRTemplate.objects.get().archived


def test_outsiders_get_404_and_other_projects_templates_do_not_exist_here(client, personas):
    p = personas
    template = make_template(p)
    theirs = make_template(p, project=p.other_project, name="Theirs")
    client.force_login(p.outsider)
    for path in ("", "new/", f"{template.pk}/"):
        assert client.get(BASE + path).status_code == 404, path
    assert client.post(f"{BASE}{template.pk}/archive/", {"archived": "1"}).status_code == 404
    assert not CRTemplate.objects.get(pk=template.pk).archived
    client.force_login(p.pm)
    assert client.get(f"{BASE}{theirs.pk}/").status_code == 404
    assert client.post(f"{BASE}{theirs.pk}/archive/", {"archived": "1"}).status_code == 404
    assert client.get(f"/projects/ACME/changes/new/?template={theirs.pk}").status_code == 404


def test_the_list_page_queries_do_not_grow(client, personas, django_assert_max_num_queries):
    p = personas
    make_template(p)
    client.force_login(p.pm)
    client.get(BASE)
    with django_assert_max_num_queries(10) as few:
        client.get(BASE)
    for n in range(8):
        make_template(p, name=f"T{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(BASE).status_code == 200


# ------------------------------------------------------------------ the CR pages


def test_the_new_cr_form_offers_templates_and_takes_their_defaults_and_fields(client, personas):
    p = personas
    template = make_template(p, type="modification", priority="P2", labels=["合规"],
                             scaffold="## 法规要求\n")  # fmt: skip
    archived = make_template(p, name="Archived one")
    services.template_update(user=p.pm, template=archived, data={"archived": True})
    client.force_login(p.customer)
    plain = client.get("/projects/ACME/changes/new/").content.decode()
    assert "Regulatory change" in plain and "Archived one" not in plain
    assert 'name="fields.system"' not in plain
    url = f"/projects/ACME/changes/new/?template={template.pk}"
    page = client.get(url).content.decode()
    assert 'name="fields.system"' in page and 'name="fields.regulator"' in page
    assert "## 法规要求" in page
    assert '<option value="P2" selected>' in page
    missing = client.post(url, {"title": "T", "description": "D", "channel": "web",
                                "priority": "P2"})  # fmt: skip
    assert missing.status_code == 400
    assert "受影响系统 / Affected system" in missing.content.decode()
    assert not ChangeRequest.objects.exists()
    made = client.post(url, {
        "title": "T", "description": "D", "channel": "web", "priority": "P2",
        "fields.system": "核心账务", "fields.users": "1200", "fields.deadline": "2027-01-31",
        "fields.regulator": "PBOC", "fields.personal_data": "true",
    })  # fmt: skip
    assert made.status_code == 302
    cr = ChangeRequest.objects.get()
    assert cr.template == template and cr.priority == "P2"
    assert cr.field_values == {"system": "核心账务", "users": "1200", "deadline": "2027-01-31",
                               "regulator": "PBOC", "personal_data": True}  # fmt: skip
    detail = client.get(f"/changes/{cr.key}/").content.decode()
    assert "受影响系统 / Affected system" in detail and "核心账务" in detail
    assert "Regulatory change" in detail


def test_the_new_cr_form_without_templates_is_as_before(client, personas):
    p = personas
    client.force_login(p.customer)
    page = client.get("/projects/ACME/changes/new/").content.decode()
    assert "What kind of change?" not in page
    made = client.post("/projects/ACME/changes/new/", {"title": "T", "description": "D",
                                                       "channel": "web"})  # fmt: skip
    assert made.status_code == 302
    cr = ChangeRequest.objects.get()
    assert (cr.template, cr.field_values) == (None, {})
    assert (
        "Details this kind of change needs"
        not in client.get(f"/changes/{cr.key}/").content.decode()
    )


def test_a_template_archived_while_the_form_was_open_is_a_400(client, personas):
    p = personas
    template = make_template(p)
    client.force_login(p.customer)
    url = f"/projects/ACME/changes/new/?template={template.pk}"
    services.template_update(user=p.pm, template=template, data={"archived": True})
    answer = client.post(url, {"title": "T", "description": "D", "channel": "web",
                               "fields.system": "x"})  # fmt: skip
    assert answer.status_code == 400
    assert not ChangeRequest.objects.exists()


def test_the_edit_form_edits_the_fields_as_the_cr_was_made(client, personas):
    p = personas
    template = make_template(p)
    cr = make_cr(p.project, by=p.customer, template=template.pk,
                 fields={"system": "核心账务", "regulator": "CSRC"})  # fmt: skip
    # The template changes later: a new required field, a label renamed.
    services.template_update(user=p.pm, template=template, data={"fields": [
        {"key": "system", "label": "System (renamed)", "kind": "text"},
        {"key": "extra", "label": "Extra", "kind": "text", "required": True},
    ]})  # fmt: skip
    client.force_login(p.customer)
    page = client.get(f"/changes/{cr.key}/edit/").content.decode()
    assert "受影响系统 / Affected system" in page and "System (renamed)" not in page
    assert 'name="fields.extra"' not in page
    bad = client.post(f"/changes/{cr.key}/edit/", {
        "title": cr.title, "description": cr.description, "channel": cr.channel,
        "version": cr.version, "fields.system": "核心账务", "fields.regulator": "SEC",
    })  # fmt: skip
    assert bad.status_code == 400
    saved = client.post(f"/changes/{cr.key}/edit/", {
        "title": cr.title, "description": cr.description, "channel": cr.channel,
        "version": cr.version, "fields.system": "核心账务", "fields.regulator": "PBOC",
        "fields.users": "7",
    })  # fmt: skip
    assert saved.status_code == 302
    cr = fresh(cr, p.customer)
    assert cr.field_values == {"system": "核心账务", "users": "7", "regulator": "PBOC"}
    detail = client.get(f"/changes/{cr.key}/").content.decode()
    # The history shows the change of the custom fields, old → new (in the order the database
    # keeps the keys: PostgreSQL's jsonb sorts them).
    assert "regulator: CSRC" in detail and "users: —" in detail
    assert "regulator: PBOC" in detail and "users: 7" in detail


def test_the_edit_form_switches_the_template_keeping_the_shared_values(client, personas):
    p = personas
    regulatory = make_template(p)
    ui = make_template(p, name="UI tweak", fields=[
        {"key": "system", "label": "Screen", "kind": "text"},
        {"key": "device", "label": "Device", "kind": "choice", "choices": ["phone", "desktop"],
         "required": True},
    ])  # fmt: skip
    cr = make_cr(p.project, by=p.customer, template=regulatory.pk,
                 fields={"system": "核心账务", "regulator": "CSRC"})  # fmt: skip
    url = f"/changes/{cr.key}/edit/"
    base = {"title": cr.title, "description": cr.description, "channel": cr.channel}
    client.force_login(p.customer)
    page = client.get(url).content.decode()
    assert f'href="{url}?template={ui.pk}"' in page and 'name="fields.regulator"' in page
    # The other template's form: its fields, the shared value kept, the others gone.
    page = client.get(f"{url}?template={ui.pk}").content.decode()
    assert 'name="fields.device"' in page and 'name="fields.regulator"' not in page
    assert 'value="核心账务"' in page and "the others are dropped" in page
    assert client.get(f"{url}?template=99999").status_code == 404
    # Its required field is required; saved, the CR takes the template and its snapshot.
    missing = client.post(f"{url}?template={ui.pk}", {**base, "version": cr.version,
                          "fields.system": "核心账务"})  # fmt: skip
    assert missing.status_code == 400 and fresh(cr, p.pm).template_id == regulatory.pk
    saved = client.post(f"{url}?template={ui.pk}", {**base, "version": cr.version,
                        "fields.system": "核心账务", "fields.device": "phone"})  # fmt: skip
    assert saved.status_code == 302
    cr = fresh(cr, p.pm)
    assert cr.template_id == ui.pk
    assert [d["key"] for d in cr.field_definitions] == ["system", "device"]
    assert cr.field_values == {"system": "核心账务", "device": "phone"}
    detail = client.get(f"/changes/{cr.key}/").content.decode()
    assert "Regulatory change" in detail and "UI tweak" in detail  # the history: old → new
    # Back to the standard form: no custom fields left.
    saved = client.post(f"{url}?template=", {**base, "version": cr.version})
    assert saved.status_code == 302
    cr = fresh(cr, p.pm)
    assert cr.template_id is None and cr.field_definitions == [] and cr.field_values == {}
    # A template archived meanwhile is refused by name, and nothing changes.
    services.template_update(user=p.pm, template=ui, data={"archived": True})
    gone = client.post(f"{url}?template={ui.pk}", {**base, "version": cr.version,
                       "fields.device": "phone"})  # fmt: skip
    assert gone.status_code == 400 and fresh(cr, p.pm).template_id is None
    assert "No such active template" in gone.content.decode()


def test_pages_in_chinese(client, personas):
    p = personas
    template = make_template(p)
    cr = make_cr(p.project, by=p.pm, template=template.pk,
                 fields={"system": "核心账务", "personal_data": True})  # fmt: skip
    client.force_login(p.pm)
    listing = client.get(BASE, headers=ZH).content.decode()
    assert "变更请求模板" in listing and "归档" in listing
    form = client.get(BASE + "new/", headers=ZH).content.decode()
    assert "自有字段" in form
    new_cr = client.get(f"/projects/ACME/changes/new/?template={template.pk}", headers=ZH)
    assert "哪一类变更" in new_cr.content.decode()
    detail = client.get(f"/changes/{cr.key}/", headers=ZH).content.decode()
    assert "这类变更所需的信息" in detail and "是" in detail


def test_the_new_cr_page_reads_the_templates_in_one_query(
    client, personas, django_assert_max_num_queries
):
    p = personas
    template = make_template(p)
    client.force_login(p.customer)
    url = f"/projects/ACME/changes/new/?template={template.pk}"
    client.get(url)
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    for n in range(6):
        make_template(p, name=f"T{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(url).content.decode()
    assert page.count('href="/projects/ACME/changes/new/?template=') == 7
