"""The import and export of change requests through the API: who may, the statuses (400 by
row and column, 413 over a limit), the dry run, the export's filters. The service's own tests:
tests/changes/test_io.py; the web pages': tests/web/test_cr_import_export.py; the CLI's:
tests/cli/test_cr_import.py."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from changeflow.changes.models import ChangeRequest
from tests.api.conftest import error_of
from tests.factories import make_cr

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/projects/ACME/changes/import/"
EXPORT = "/api/v1/projects/ACME/changes/export/"
GOOD = "ref,标题,优先级\nR-1,第一个,P2\nR-2,Second,新功能\n".encode()
GOOD_OK = "ref,标题,优先级,类型\nR-1,第一个,P2,新功能\nR-2,Second,P3,Removal\n".encode()


def upload(content: bytes, name: str = "crs.csv"):
    return SimpleUploadedFile(name, content, "text/csv")


def test_api_import_dry_run_then_import(api, personas):
    p = personas
    client = api(p.pm)
    r = client.post(IMPORT, {"file": upload(GOOD_OK), "dry_run": "true"}, format="multipart")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["dry_run"] and body["created"] == 2 and body["format"] == "csv"
    assert [i["key"] for i in body["items"]] == ["ACME-1", "ACME-2"]
    assert not ChangeRequest.objects.exists()
    r = client.post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert r.status_code == 200 and r.json()["created"] == 2
    r = client.post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert (r.json()["created"], r.json()["skipped"]) == (0, 2)
    assert ChangeRequest.objects.get(source_ref="R-2").type == "removal"
    detail = client.get("/api/v1/change-requests/ACME-2/").json()
    assert (detail["source_ref"], detail["channel"]) == ("R-2", "import")


def test_api_import_bad_rows_are_a_400_naming_each(api, personas):
    r = api(personas.pm).post(IMPORT, {"file": upload(GOOD)}, format="multipart")
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "import_invalid"
    assert err["fields"]["file"] == ["row 3, column 优先级: '新功能' is not one of: P1, P2, P3, P4"]
    assert not ChangeRequest.objects.exists()
    r = api(personas.pm).post(IMPORT, {"file": upload(b"")}, format="multipart")
    assert r.status_code == 400 and error_of(r)["fields"]["file"] == ["The file is empty."]
    r = api(personas.pm).post(
        IMPORT, {"file": upload(GOOD_OK, "x.pdf")}, format="multipart"
    )  # fmt: skip
    assert r.status_code == 400 and "format" in error_of(r)["fields"]
    r = api(personas.pm).post(
        IMPORT, {"file": upload(GOOD_OK), "format": "reqif"}, format="multipart"
    )
    assert r.status_code == 400 and "format" in error_of(r)["fields"]
    r = api(personas.pm).post(IMPORT, {"format": "csv"}, format="multipart")
    assert r.status_code == 400 and "file" in error_of(r)["fields"]


def test_api_import_limits_are_413(api, personas, settings):
    settings.CHANGEFLOW_CR_IMPORT_MAX_ROWS = 1
    r = api(personas.pm).post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert r.status_code == 413 and error_of(r)["code"] == "too_large"
    settings.CHANGEFLOW_IMPORT_MAX_BYTES = 20
    r = api(personas.pm).post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert r.status_code == 413
    assert not ChangeRequest.objects.exists()


def test_api_import_who_may(api, personas):
    p = personas
    for user in (p.tech_lead, p.developer, p.customer, p.viewer):
        r = api(user).post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
        assert r.status_code == 403, user
    r = api(p.outsider).post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert r.status_code == 404
    r = api(None).post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert r.status_code == 401
    r = api(p.admin).post(IMPORT, {"file": upload(GOOD_OK)}, format="multipart")
    assert r.status_code == 200
    assert ChangeRequest.objects.count() == 2


def test_api_export_with_filters(api, personas):
    p = personas
    make_cr(p.project, by=p.pm, title="P1 one", priority="P1")
    make_cr(p.project, by=p.pm, title="P3 one", priority="P3")
    r = api(p.developer).get(EXPORT, {"priority": "P1"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert 'filename="ACME-change-requests-' in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[2] for row in rows[1:]] == ["P1 one"]
    r = api(p.developer).get(EXPORT, {"format": "xlsx"})
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = api(p.developer).get(EXPORT, {"format": "pdf"})
    assert r.status_code == 400 and "format" in error_of(r)["fields"]
    r = api(p.developer).get(EXPORT, {"priority": "P9"})
    assert r.status_code == 400 and "priority" in error_of(r)["fields"]
    assert api(p.outsider).get(EXPORT).status_code == 404
    assert api(None).get(EXPORT).status_code == 401


def test_api_schema_has_the_routes(api, personas):
    schema = api(personas.pm).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    text = schema.content.decode()
    assert "project_change_requests_import" in text and "project_change_requests_export" in text
