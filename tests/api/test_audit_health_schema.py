"""Audit endpoints, health checks, the OpenAPI schema and the offline docs."""

import datetime as dt
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from changeflow.core.models import AuditEvent
from tests.api.conftest import error_of, names
from tests.factories import make_cr

AUDIT = "/api/v1/audit/"


@pytest.fixture
def events(personas):
    make_cr(personas.project, by=personas.customer, title="a")
    make_cr(personas.other_project, by=personas.outsider, title="b")


def projects_of(r):
    assert r.status_code == 200, r.content
    return {e["project"] for e in r.json()["results"]}


@pytest.mark.parametrize("who", ["pm", "tech_lead", "qa"])
def test_audit_list_allowed_roles_see_their_projects(personas, api, events, who):
    assert projects_of(api(getattr(personas, who)).get(AUDIT)) == {"ACME"}


def test_audit_list_admin_sees_everything(personas, api, events):
    r = api(personas.admin).get(AUDIT + "?ordering=seq")
    assert {"ACME", "OTHER", ""} <= projects_of(r)
    seqs = [e["seq"] for e in r.json()["results"]]
    assert seqs == sorted(seqs)
    assert {"hash", "prev_hash", "ip", "channel"} <= set(r.json()["results"][0])


@pytest.mark.parametrize("who", ["developer", "customer", "customer_rep", "viewer"])
def test_audit_list_forbidden_roles(personas, api, events, who):
    assert api(getattr(personas, who)).get(AUDIT).status_code == 403
    assert api(getattr(personas, who)).get(AUDIT + "?project=ACME").status_code == 403


def test_audit_list_outsider_naming_our_project_is_404(personas, api, events):
    assert api(personas.outsider).get(AUDIT + "?project=ACME").status_code == 404
    assert projects_of(api(personas.outsider).get(AUDIT)) == {"OTHER"}


def test_audit_list_filters(personas, api, events):
    client = api(personas.pm)
    r = client.get(AUDIT + "?project=ACME&action=cr.created&object=ACME-1")
    assert [e["object_key"] for e in r.json()["results"]] == ["ACME-1"]
    r = client.get(AUDIT + f"?actor={personas.customer.username}")
    assert {e["actor"] for e in r.json()["results"]} == {personas.customer.username}
    later = quote((timezone.now() + dt.timedelta(minutes=5)).isoformat())
    assert client.get(AUDIT + f"?since={later}").json()["count"] == 0
    assert client.get(AUDIT + f"?until={later}").json()["count"] > 0
    assert client.get(AUDIT + "?until=2000-01-01T00:00:00Z").json()["count"] == 0


@pytest.mark.parametrize(
    "query, field", [("?since=yesterday", "since"), ("?until=2024-99-01", "until"),
                     ("?ordering=hash", "ordering"), ("?page=x", "page")],
)  # fmt: skip
def test_audit_list_bad_filters(personas, api, events, query, field):
    r = api(personas.pm).get(AUDIT + query)
    assert r.status_code == 400
    assert names(error_of(r), field)


def test_audit_verify(personas, api, events):
    r = api(personas.pm).get(AUDIT + "verify/")
    assert r.status_code == 200
    data = r.json()
    assert data["ok"] is True
    assert data["events"] == AuditEvent.objects.count()
    assert data["head"] == AuditEvent.objects.order_by("-seq").first().hash
    assert api(personas.admin).get(AUDIT + "verify/").json()["ok"] is True
    # The chain is global: a manager of any project may check it.
    assert api(personas.outsider).get(AUDIT + "verify/").status_code == 200
    for who in ("tech_lead", "qa", "developer", "customer", "viewer"):
        assert api(getattr(personas, who)).get(AUDIT + "verify/").status_code == 403
    assert api(None).get(AUDIT + "verify/").status_code == 401


def test_audit_verify_names_the_tampered_event(personas, api):
    make_cr(personas.project, by=personas.customer, title="a")
    victim = AuditEvent.objects.order_by("seq")[2]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE core_auditevent DISABLE TRIGGER USER")
        cur.execute("UPDATE core_auditevent SET actor = 'mallory' WHERE id = %s", [victim.pk])
        if connection.vendor == "postgresql":
            cur.execute("ALTER TABLE core_auditevent ENABLE TRIGGER USER")
    data = api(personas.pm).get(AUDIT + "verify/").json()
    assert data["ok"] is False
    assert data["broken_id"] == victim.pk


def test_healthz_and_readyz(db):
    client = Client()
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": True, "pending_migrations": 0}
    assert client.post("/healthz").status_code == 405


def test_readyz_reports_unapplied_migrations(db, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("m", False)])
    r = Client().get("/readyz")
    assert r.status_code == 503
    assert r.json()["pending_migrations"] == 1


def test_schema_is_valid_openapi_and_lists_every_endpoint(db):
    from drf_spectacular.validation import validate_schema

    r = Client().get("/api/v1/schema/?format=json")
    assert r.status_code == 200
    schema = r.json()
    validate_schema(schema)  # against the OpenAPI 3 JSON schema
    paths = set(schema["paths"])
    base = "/api/v1"
    cr = base + "/change-requests/{key}/"
    expected = {
        base + "/auth/token/", base + "/me/", base + "/projects/", base + "/projects/{key}/",
        base + "/projects/{key}/members/", base + "/projects/{key}/members/{username}/",
        base + "/change-requests/", cr, cr + "transitions/", cr + "history/", cr + "comments/",
        cr + "attachments/", cr + "attachments/{id}/download/", cr + "assessments/",
        cr + "votes/", cr + "decision/", base + "/audit/", base + "/audit/verify/",
    }  # fmt: skip
    assert expected <= paths
    get_params = {
        p["name"] for p in schema["paths"][base + "/change-requests/"]["get"]["parameters"]
    }
    assert {"project", "state", "type", "priority", "channel", "q", "created_after",
            "created_before", "ordering", "page", "page_size"} <= get_params  # fmt: skip
    create = schema["components"]["schemas"]["ChangeRequestCreateRequest"]["properties"]
    assert {"project", "title", "description", "submit", "emergency", "labels", "urgency",
            "requested_by", "affected_requirements"} <= set(create)  # fmt: skip
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    upload = schema["paths"][cr + "attachments/"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data"}


def test_docs_load_from_our_own_static_files_under_the_csp(db):
    client = Client()
    r = client.get("/api/v1/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "http://" not in html and "https://" not in html  # no CDN
    assert "<style" not in html
    assert "<script>" not in html  # no inline script
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    r = client.get("/api/v1/docs/?script=")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in r.content.decode()
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_schema_generation_has_no_warnings(db, tmp_path):
    from django.core.management import call_command

    # --fail-on-warn: any warning (an unresolvable type, a wrong path parameter) fails.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yml"))
    assert (tmp_path / "s.yml").read_text().startswith("openapi: 3")


def test_schema_documents_the_shared_idempotency_and_page_errors(personas, api):
    """Found by the schema fuzzing (test_fuzz.py): a malformed Idempotency-Key (400) or page
    (400, past the end 404) was answered but not documented by many operations."""
    from django.test import Client

    paths = Client().get("/api/v1/schema/?format=json").json()["paths"]
    for path, methods in paths.items():
        for method, op in methods.items():
            names = {p["name"] for p in op.get("parameters", [])}
            if "Idempotency-Key" in names:
                assert {"400", "422"} <= set(op["responses"]), (method, path)
            if "page" in names:
                assert {"400", "404"} <= set(op["responses"]), (method, path)
    assert {"400", "404"} <= set(paths["/api/v1/projects/"]["get"]["responses"])
    assert "400" in paths["/api/v1/change-requests/{key}/watch/"]["post"]["responses"]

    client = api(personas.pm)
    r = client.post("/api/v1/change-requests/ACME-1/watch/", HTTP_IDEMPOTENCY_KEY="\u00e9" * 3)
    assert r.status_code == 400
    r = client.get("/api/v1/projects/?page=999")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/api/v1/projects/{key}/plan/tasks/", "/api/v1/projects/{key}/plan/dependencies/",
     "/api/v1/projects/{key}/plan/milestones/", "/api/v1/projects/{key}/calendar/",
     "/api/v1/projects/{key}/meetings/{id}/occurrences/", "/api/v1/projects/{key}/similar/",
     "/api/v1/change-requests/{key}/similar/"],
)  # fmt: skip
def test_unpaginated_lists_are_documented_as_arrays(db, path):
    """Found by the schema fuzzing (test_fuzz.py): these answer a plain array (the whole,
    bounded list) but were documented as paginated objects with page parameters."""
    op = Client().get("/api/v1/schema/?format=json").json()["paths"][path]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert "page" not in {p["name"] for p in op.get("parameters", [])}


def test_audit_time_filters_with_any_offset(personas, api):
    """Found by the schema fuzzing (test_fuzz.py): ``until=...+22:22`` (valid ISO 8601, beyond
    PostgreSQL's ±15:59 offsets) was a 500 (DataError) there; an instant out of range is a 400."""
    client = api(personas.admin)
    r = client.get("/api/v1/audit/", {"until": "2713-11-15T08:12:11+22:22"})
    assert r.status_code == 200, r.content
    assert r.json()["count"] > 0
    r = client.get("/api/v1/audit/", {"since": "2713-11-15T08:12:11-22:22"})
    assert r.status_code == 200 and r.json()["count"] == 0
    r = client.get("/api/v1/audit/", {"since": "0001-01-01T00:00:00+01:00"})
    assert r.status_code == 400
    assert names(error_of(r), "since")


def test_schema_documents_401_for_every_operation(db):
    """Found by fuzzing as an anonymous caller (test_fuzz.py): GET /projects/ and GET
    /notifications/preferences/ answered 401 without a token but did not document it."""
    paths = Client().get("/api/v1/schema/?format=json").json()["paths"]
    for path, methods in paths.items():
        for method, op in methods.items():
            assert "401" in op["responses"], (method, path)
    assert Client().get("/api/v1/projects/").status_code == 401
    assert Client().get("/api/v1/notifications/preferences/").status_code == 401


def test_no_description_is_a_base_classes_docstring(db):
    """An operation or component without a docstring of its own has no description, not the
    one of the base class it inherits (ApiView's was on 28 operations, StrictSerializer's on 49
    request components: English text about our plumbing, in the zh-Hans schema too)."""
    from drf_spectacular.generators import SchemaGenerator

    from changeflow.core.api_views import ApiView, StrictSerializer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    described = [c.get("description", "") for c in schema["components"]["schemas"].values()]
    described += [
        op.get("description", "")
        for ops in schema["paths"].values()
        for op in ops.values()
        if isinstance(op, dict)
    ]
    for base in (ApiView, StrictSerializer):
        first_line = base.__doc__.strip().splitlines()[0]
        assert not [d for d in described if d.startswith(first_line)], base.__name__


def test_the_schema_is_in_the_language_asked_whatever_was_served_before(db):
    """Serializer instances named in @extend_schema (``Foo(many=True)``) are made at import and
    kept the field labels of the first schema served: after an English one, the Chinese schema
    showed English titles. Each is read afresh now."""

    def schema(language: str) -> dict:
        r = Client().get("/api/v1/schema/?format=json", headers={"Accept-Language": language})
        return r.json()

    def reason_title(document: dict) -> str:
        return document["components"]["schemas"]["QuarantinedMail"]["properties"]["reason"].get(
            "title", ""
        )

    english = schema("en")
    chinese = schema("zh-hans")
    assert reason_title(english) == "" and reason_title(chinese) == "原因"
    assert schema("en") == english and schema("zh-hans") == chinese
