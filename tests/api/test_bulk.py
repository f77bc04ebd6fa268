"""``POST /api/v1/change-requests/bulk/``: 200 with each CR's key and version; 422 with
``errors`` (key → why) and nothing changed; 400/403/404/413 for bad input and refused callers;
in the OpenAPI schema."""

import pytest

from changeflow.changes.models import ChangeRequest
from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of, names
from tests.factories import make_cr

pytestmark = pytest.mark.django_db
URL = "/api/v1/change-requests/bulk/"


def _crs(p, n=3, **fields):
    return [make_cr(p.project, by=p.customer, submit=True, **fields) for _ in range(n)]


def keys(items):
    return [c.key for c in items]


def test_bulk_assign_answers_keys_and_versions(personas, api):
    p = personas
    items = _crs(p)
    r = api(p.tech_lead).post(
        URL, {"keys": [*keys(items), items[0].key], "operation": "assign",
              "assignee": p.developer.username}, format="json",
    )  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json() == {
        "count": 3, "change_requests": [{"key": k, "version": 2} for k in keys(items)]
    }  # fmt: skip
    assert ChangeRequest.objects.filter(assignee=p.developer).count() == 3
    events = AuditEvent.objects.filter(action="cr.updated", object_key__in=keys(items))
    assert {e.channel for e in events} == {"api"}


def test_actions_labels_priority_type(personas, api):
    p = personas
    items = _crs(p, 2)
    client = api(p.pm)
    for body in (
        {"operation": "priority", "priority": "P1"},
        {"operation": "type", "type": "feature"},
        {"operation": "add_label", "label": "release-3"},
        {"operation": "action", "action": "triage"},
        {"operation": "remove_label", "label": "release-3"},
        {"operation": "action", "action": "withdraw", "comment": "duplicates"},
        {"operation": "unassign"},
    ):
        r = client.post(URL, {"keys": keys(items), **body}, format="json")
        assert r.status_code == 200, (body, r.content)
    got = ChangeRequest.objects.filter(pk__in=[c.pk for c in items])
    assert {(c.priority, c.type, c.state, tuple(c.labels)) for c in got} == {
        ("P1", "feature", "withdrawn", ())
    }


def test_a_refusal_is_422_naming_each_refused_cr_and_changes_nothing(personas, api):
    p = personas
    ready = _crs(p, 2, type="feature", priority="P2")
    bare = _crs(p, 1)[0]
    client = api(p.pm)
    before = AuditEvent.objects.count()
    r = client.post(
        URL, {"keys": [*keys(ready), bare.key], "operation": "action", "action": "triage"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["error"]["code"] == "bulk_refused"
    assert body["errors"] == {bare.key: "Set the type and the priority to triage."}
    assert body["error"]["fields"] == {bare.key: ["Set the type and the priority to triage."]}
    assert AuditEvent.objects.count() == before
    assert set(ChangeRequest.objects.values_list("state", flat=True)) == {"submitted"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "keys"),
        ({"keys": [], "operation": "unassign"}, "keys"),
        ({"keys": "ACME-1", "operation": "unassign"}, "keys"),
        ({"keys": ["{key}"]}, "operation"),
        ({"keys": ["{key}"], "operation": "explode"}, "operation"),
        ({"keys": ["{key}"], "operation": "assign"}, "assignee"),
        ({"keys": ["{key}"], "operation": "priority", "priority": "P9"}, "priority"),
        ({"keys": ["{key}"], "operation": "action", "action": "ratify"}, "action"),
        ({"keys": ["{key}"], "operation": "add_label", "label": "x" * 51}, "label"),
        ({"keys": ["{key}"], "operation": "unassign", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_400_naming_the_field(personas, api, body, field):
    p = personas
    cr = _crs(p, 1)[0]
    if isinstance(body.get("keys"), list):
        body = {**body, "keys": [k.format(key=cr.key) for k in body["keys"]]}
    r = api(p.pm).post(URL, body, format="json")
    assert r.status_code == 400, r.content
    assert names(error_of(r), field), r.json()


def test_too_many_is_413_naming_the_limit(personas, api, settings):
    p = personas
    settings.CHANGEFLOW_BULK_MAX = 2
    r = api(p.pm).post(URL, {"keys": keys(_crs(p, 3)), "operation": "unassign"}, format="json")
    assert r.status_code == 413
    err = error_of(r)
    assert err["code"] == "too_large" and "CHANGEFLOW_BULK_MAX" in err["message"]


@pytest.mark.parametrize("role", ["customer", "customer_rep", "viewer"])
def test_customers_and_viewers_403_whatever_the_body(personas, api, role):
    p = personas
    items = _crs(p, 2)
    client = api(p.by_role[role])
    body = {"keys": keys(items), "operation": "action", "action": "withdraw"}
    assert client.post(URL, body, format="json").status_code == 403
    assert client.post(URL, {}, format="json").status_code == 403
    assert set(ChangeRequest.objects.values_list("state", flat=True)) == {"submitted"}


def test_outsiders_and_other_projects_keys_are_404_naming_only_what_was_sent(personas, api):
    p = personas
    items = _crs(p, 2)
    theirs = make_cr(p.other_project, by=p.outsider)
    r = api(p.outsider).post(URL, {"keys": keys(items), "operation": "unassign"}, format="json")
    assert r.status_code == 404
    assert error_of(r)["fields"] == {"keys": keys(items)}
    # "project" narrows the request to one project's CRs: another's key is 404, even an admin's.
    r = api(p.admin).post(
        URL, {"keys": [items[0].key, theirs.key], "operation": "unassign", "project": "ACME"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 404 and error_of(r)["fields"] == {"keys": [theirs.key]}
    r = api(p.pm).post(
        URL, {"keys": keys(items), "operation": "unassign", "project": "OTHER"}, format="json"
    )
    assert r.status_code == 404
    assert api(None).post(URL, {}, format="json").status_code == 401


def test_in_the_schema(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    op = schema["paths"]["/api/v1/change-requests/bulk/"]["post"]
    assert op["operationId"] == "change_requests_bulk"
    assert {"200", "400", "401", "403", "404", "413", "422"} <= set(op["responses"])
    refused = op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert refused.endswith("/BulkRefused")
