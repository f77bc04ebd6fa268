"""CR templates over the API: allowed, forbidden and outsider; versions; and change requests
made and edited with a template's fields."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.crtemplates import services
from changeflow.crtemplates.models import CRTemplate
from tests.api.conftest import error_of, names
from tests.factories import make_cr

from .helpers import FIELDS, make_template

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/ACME/cr-templates/"


def test_project_managers_create_and_edit_with_versions(api, personas):
    p = personas
    client = api(p.pm)
    made = client.post(
        URL, {"name": "数据修复 / Data fix", "type": "defect", "labels": ["data"],
              "scaffold": "## Rows affected\n", "fields": FIELDS}, format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["name"] == "数据修复 / Data fix" and body["version"] == 1
    assert made["ETag"] == '"1"'
    assert [f["key"] for f in body["fields"]] == [f["key"] for f in FIELDS]
    assert body["fields"][4]["choices"] == ["CSRC", "PBOC"]
    one = f"{URL}{body['id']}/"
    assert client.get(one).json() == body
    changed = client.patch(one, {"description": "Rows fixed by hand", "version": 1}, format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = client.patch(one, {"name": "X", "version": 1}, format="json")
    assert stale.status_code == 409
    assert client.patch(one, {"name": "X"}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    archived = client.patch(one, {"archived": True}, format="json", HTTP_IF_MATCH='"2"')
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert client.get(URL).json()["count"] == 0
    assert client.get(URL + "?archived=true").json()["count"] == 1
    bad = client.get(URL + "?archived=maybe")
    assert bad.status_code == 400 and "archived" in bad.json()["error"]["fields"]
    assert CRTemplate.objects.get().name == "数据修复 / Data fix"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "fields": [{"key": "a", "label": "A", "kind": "colour"}]}, "fields"),
        ({"name": "X", "fields": [{"key": "a", "label": "A", "kind": "text"}] * 2}, "fields"),
        ({"name": "X", "fields": [{"key": "a", "label": "A", "kind": "choice"}]}, "fields"),
        ({"name": "X", "fields": [{"key": f"k{n}", "label": "A", "kind": "text"}
                                  for n in range(31)]}, "fields"),
        ({"name": "X", "fields": [{"key": "a", "label": "A", "kind": "text", "x": 1}]}, "fields"),
        ({"name": "X", "type": "colour"}, "type"),
        ({"name": ""}, "name"),
        ({"name": "X", "colour": "red"}, "colour"),
        # NUL: PostgreSQL stores none in text or JSON (it was a database error, a 500).
        ({"name": "X", "fields": [{"key": "a", "label": "A\x00", "kind": "text"}]}, "fields"),
        ({"name": "X", "fields": [{"key": "a", "label": "A", "kind": "text", "help": "\x00"}]},
         "fields"),
        ({"name": "X", "fields": [{"key": "a", "label": "A", "kind": "choice",
                                   "choices": ["x\x00"]}]}, "fields"),
    ],
)  # fmt: skip
def test_bad_definitions_are_400s_naming_the_problem(api, personas, body, field):
    answer = api(personas.pm).post(URL, body, format="json")
    assert answer.status_code == 400, answer.json()
    assert names(error_of(answer), field)
    assert not CRTemplate.objects.exists()


@pytest.mark.parametrize("who", ["tech_lead", "developer", "customer", "customer_rep", "viewer"])
def test_other_members_read_active_templates_but_do_not_write(api, personas, who):
    p = personas
    active = make_template(p)
    archived = make_template(p, name="Old")
    services.template_update(user=p.pm, template=archived, data={"archived": True})
    client = api(getattr(p, who))
    listed = client.get(URL + "?archived=true").json()
    assert [t["id"] for t in listed["results"]] == [active.pk]
    assert client.get(f"{URL}{active.pk}/").status_code == 200
    assert client.get(f"{URL}{archived.pk}/").status_code == 404
    assert client.post(URL, {"name": "X"}, format="json").status_code == 403
    patched = client.patch(f"{URL}{active.pk}/", {"name": "X"}, format="json")
    assert patched.status_code == 403
    assert CRTemplate.objects.get(pk=active.pk).name == "Regulatory change"


def test_outsiders_and_other_projects_templates_are_404(api, personas):
    p = personas
    ours = make_template(p)
    theirs = make_template(p, project=p.other_project, name="Theirs")
    outsider = api(p.outsider)
    assert outsider.get(URL).status_code == 404
    assert outsider.get(f"{URL}{ours.pk}/").status_code == 404
    assert outsider.patch(f"{URL}{ours.pk}/", {"name": "X"}, format="json").status_code == 404
    assert outsider.post(URL, {"name": "X"}, format="json").status_code == 404
    # Another project's template under this project's path does not exist.
    assert api(p.pm).get(f"{URL}{theirs.pk}/").status_code == 404
    assert api(p.pm).patch(f"{URL}{theirs.pk}/", {"name": "X"}, format="json").status_code == 404
    assert api(None).get(URL).status_code == 401


def test_the_list_queries_do_not_grow(api, personas):
    p = personas
    client = api(p.customer)
    make_template(p)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).json()["count"] == 1
    for n in range(10):
        make_template(p, name=f"T{n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(URL).json()["count"] == 11
    assert len(many) == len(few) <= 6


# ------------------------------------------------------------------ change requests


def test_a_cr_is_made_and_edited_with_a_template_through_the_api(api, personas):
    p = personas
    template = make_template(p, priority="P2")
    client = api(p.customer)
    made = client.post(
        "/api/v1/change-requests/",
        {"project": "ACME", "title": "年报披露格式调整", "description": "见附件",
         "template": template.pk,
         "fields": {"system": "信披系统", "users": 3, "deadline": "2027-03-31",
                    "personal_data": False}},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["template"] == template.pk and body["priority"] == "P2"
    assert body["fields"] == {
        "system": "信披系统", "users": "3", "deadline": "2027-03-31", "personal_data": False
    }  # fmt: skip
    assert [d["label"] for d in body["field_definitions"]][0] == FIELDS[0]["label"]
    url = f"/api/v1/change-requests/{body['key']}/"
    bad = client.patch(url, {"fields": {"regulator": "SEC"}}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "fields.regulator")
    edited = client.patch(url, {"fields": {"regulator": "PBOC", "users": None}}, format="json")
    assert edited.status_code == 200
    assert edited.json()["fields"]["regulator"] == "PBOC"
    assert "users" not in edited.json()["fields"]
    history = client.get(url + "history/").json()["results"]
    assert history[-1]["before"] == {"fields": {"regulator": None, "users": "3"}}
    assert history[-1]["after"] == {"fields": {"regulator": "PBOC", "users": None}}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "fields.system"),
        ({"system": "x", "colour": "red"}, "fields.colour"),
        ({"system": "x", "users": "many"}, "fields.users"),
        ({"system": "x", "deadline": "tomorrow"}, "fields.deadline"),
        ({"system": "x", "personal_data": "maybe"}, "fields.personal_data"),
        ({"system": "a\x00b"}, "fields.system"),  # NUL: a 500 on PostgreSQL before
        ({"system": "x", "details": "\x00"}, "fields.details"),
        ({"system": "x", "users": "1\x00"}, "fields.users"),
    ],
)
def test_bad_values_are_400s_naming_the_key(api, personas, fields, named):
    p = personas
    template = make_template(p)
    answer = api(p.customer).post(
        "/api/v1/change-requests/",
        {"project": "ACME", "title": "t", "description": "d", "template": template.pk,
         "fields": fields},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert named in error_of(answer)["fields"]


def test_another_projects_template_is_refused_on_a_cr(api, personas):
    p = personas
    theirs = make_template(p, project=p.other_project, name="Theirs")
    answer = api(p.customer).post(
        "/api/v1/change-requests/",
        {"project": "ACME", "title": "t", "description": "d", "template": theirs.pk,
         "fields": {"system": "x"}},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 400 and names(error_of(answer), "template")
    cr = make_cr(p.project, by=p.pm)
    patched = api(p.pm).patch(
        f"/api/v1/change-requests/{cr.key}/", {"template": theirs.pk}, format="json"
    )
    assert patched.status_code == 400 and names(error_of(patched), "template")


def test_a_cr_without_template_reads_as_before(api, personas):
    p = personas
    cr = make_cr(p.project, by=p.pm)
    body = api(p.pm).get(f"/api/v1/change-requests/{cr.key}/").json()
    assert (body["template"], body["fields"], body["field_definitions"]) == (None, {}, [])
