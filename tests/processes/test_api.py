"""Process templates over the API: allowed, forbidden and outsider; versions (409, If-Match
412); a project's process document; preview and apply; a new project from a preset; and the
template list's query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changeflow.ccb.models import Board
from changeflow.processes import services
from changeflow.processes.models import ProcessTemplate
from changeflow.reports.reviews import schedule_of
from tests.api.conftest import error_of, names
from tests.factories import make_user

pytestmark = pytest.mark.django_db
LIST = "/api/v1/process-templates/"
PROCESS = "/api/v1/projects/ACME/process/"
APPLY = PROCESS + "apply"


def test_create_read_and_edit_with_versions(api, personas):
    p = personas
    client = api(p.pm)
    made = client.post(
        LIST, {"name": "Lean", "description": "x",
               "document": {"version": 1, "review_schedule": "weekly"}}, format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["parts"] == ["review_schedule"] and made["ETag"] == '"1"'
    one = f"{LIST}{body['id']}/"
    assert client.get(one).json() == body
    assert api(p.outsider).get(one).status_code == 200  # a member of some project reads it
    assert api(make_user("loner")).get(one).status_code == 404
    assert api(None).get(one).status_code == 401
    changed = client.patch(one, {"description": "y", "version": 1}, format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert client.patch(one, {"name": "X", "version": 1}, format="json").status_code == 409
    stale = client.patch(one, {"name": "X"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert client.patch(one, {"name": "X"}, format="json", HTTP_IF_MATCH='"2"').status_code == 200
    refused = api(p.outsider).patch(one, {"archived": True}, format="json")
    assert refused.status_code == 403
    bad = client.patch(one, {"document": {"version": 1, "board": {"quorum": 0}}}, format="json")
    assert bad.status_code == 400 and names(error_of(bad), "document.board.quorum")
    bad = client.patch(
        one, {"document": {"version": 1, "sla": {"submitted": {"P1": 0}}}}, format="json"
    )
    assert bad.status_code == 400 and names(error_of(bad), "document.sla.submitted.P1")
    archived = client.patch(one, {"archived": True}, format="json")
    assert archived.json()["archived"] is True
    assert api(p.outsider).get(one).status_code == 404  # archived: its creator and admins only
    assert client.get(LIST + "?archived=true").json()["count"] == 1
    assert client.get(LIST).json()["count"] == 0


def test_who_creates(api, personas):
    p = personas
    doc = {"version": 1}
    assert api(p.qa).post(LIST, {"name": "a", "document": doc}, format="json").status_code == 403
    assert api(make_user("loner")).post(LIST, {"name": "a"}, format="json").status_code == 404
    saved = api(p.pm).post(LIST, {"name": "ACME way", "project": "ACME"}, format="json")
    assert saved.status_code == 201 and saved.json()["document"]["board"] is None
    assert api(p.qa).post(LIST, {"name": "b", "project": "ACME"}, format="json").status_code == 403
    outsider = api(p.outsider).post(LIST, {"name": "c", "project": "ACME"}, format="json")
    assert outsider.status_code == 404
    twice = api(p.pm).post(LIST, {"name": "ACME way", "document": doc}, format="json")
    assert twice.status_code == 400 and names(error_of(twice), "name")
    both = api(p.pm).post(LIST, {"name": "d", "document": doc, "project": "ACME"}, format="json")
    assert both.status_code == 400 and names(error_of(both), "document")
    number = api(p.pm).post(LIST, {"name": "n", "document": doc, "project": 0}, format="json")
    assert number.status_code == 400 and names(error_of(number), "project")
    unknown = api(p.pm).post(LIST, {"name": "e", "document": doc, "owner": 1}, format="json")
    assert unknown.status_code == 400 and names(error_of(unknown), "owner")


def test_presets_are_listed_in_the_callers_language(api, personas):
    answer = api(personas.qa).get(LIST + "presets/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 200
    slugs = [p["slug"] for p in answer.json()]
    assert slugs == ["standard", "fixed-price", "regulated", "internal"]
    assert api(make_user("loner")).get(LIST + "presets/").status_code == 404


def test_a_projects_process_is_read_by_its_managers(api, personas):
    p = personas
    body = api(p.pm).get(PROCESS).json()
    assert body["version"] == 1 and body["board"] is None and body["review_schedule"] == "off"
    assert body["sla"]["submitted"]["P1"] == 4
    assert api(p.admin).get(PROCESS).status_code == 200
    assert api(p.qa).get(PROCESS).status_code == 403
    assert api(p.outsider).get(PROCESS).status_code == 404
    assert api(None).get(PROCESS).status_code == 401


def test_preview_then_apply(api, personas):
    p = personas
    client = api(p.pm)
    dry = client.post(APPLY, {"preset": "regulated", "dry_run": True}, format="json")
    assert dry.status_code == 200, dry.json()
    assert dry.json()["applied"] is False and not Board.objects.exists()
    done = client.post(APPLY, {"preset": "regulated", "parts": ["board"]}, format="json")
    assert done.status_code == 200 and done.json()["applied_parts"] == ["board"]
    assert Board.objects.get().rule == "unanimous" and schedule_of(p.project) == "off"
    doc = {"version": 1, "review_schedule": "monthly"}
    assert client.post(APPLY, {"document": doc}, format="json").json()["applied"]
    assert schedule_of(p.project) == "monthly"
    services.template_create(
        user=p.pm, name="Weekly", document={**doc, "review_schedule": "weekly"}
    )
    assert client.post(APPLY, {"template": "Weekly"}, format="json").status_code == 200
    assert schedule_of(p.project) == "weekly"
    for body, field in (
        ({}, "template"),
        ({"preset": "regulated", "template": "Weekly"}, "template"),
        ({"preset": "nope"}, "preset"),
        ({"document": {"version": 1, "board": {"rule": "x"}}}, "document.board.rule"),
        ({"preset": "standard", "parts": ["colour"]}, "parts"),
    ):
        answer = client.post(APPLY, body, format="json")
        assert answer.status_code == 400 and names(error_of(answer), field), answer.json()
    missing = client.post(APPLY, {"template": "Nope"}, format="json")
    assert missing.status_code == 404
    for who, code in ((p.qa, 403), (p.viewer, 403), (p.outsider, 404)):
        assert api(who).post(APPLY, {"preset": "standard"}, format="json").status_code == code
        assert api(who).post(APPLY, {}, format="json").status_code == code  # role before body


def test_a_shared_board_is_a_409_naming_the_other_projects(api, personas):
    from changeflow.ccb import services as ccb
    from tests.factories import make_project

    p = personas
    make_project("SHARE", manager=p.pm)
    ccb.board_set(
        user=p.pm, project=p.project,
        data={"members": [{"username": p.pm.username}], "projects": ["ACME", "SHARE"]},
    )  # fmt: skip
    answer = api(p.pm).post(APPLY, {"preset": "internal"}, format="json")
    assert answer.status_code == 409
    assert "SHARE" in error_of(answer)["message"] and names(error_of(answer), "board")
    unsatisfiable = api(p.pm).post(APPLY, {"preset": "internal", "parts": ["sla"]}, format="json")
    assert unsatisfiable.status_code == 200


def test_a_new_project_from_a_preset(api, personas):
    answer = api(personas.admin).post(
        "/api/v1/projects/", {"key": "NEW", "name": "New", "process_preset": "fixed-price"},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.json()
    from changeflow.accounts.models import Project

    assert schedule_of(Project.objects.get(key="NEW")) == "weekly"
    bad = api(personas.admin).post(
        "/api/v1/projects/", {"key": "NEW2", "name": "x", "process_preset": "nope"}, format="json"
    )
    assert bad.status_code == 404 and not Project.objects.filter(key="NEW2").exists()


def test_the_list_asks_the_same_queries_for_one_and_many(api, personas):
    p = personas
    client = api(p.qa)
    services.template_create(user=p.pm, name="T0", document={"version": 1})
    client.get(LIST)  # the token's first use

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        return len(queries)

    one = count()
    for i in range(1, 6):
        services.template_create(user=p.admin, name=f"T{i}", document={"version": 1})
    assert ProcessTemplate.objects.count() == 6
    assert count() == one
