"""Attachments: multipart upload, size limit (413), content checks, protected download."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from changeflow.changes.models import Attachment
from tests.api.conftest import error_of, names
from tests.factories import make_cr

PDF = b"%PDF-1.4\n" + b"0" * 100


def url(cr, tail="attachments/"):
    return f"/api/v1/change-requests/{cr.key}/{tail}"


def upload(client, cr, name="spec.pdf", content=PDF, content_type="application/pdf", **extra):
    return client.post(
        url(cr), {"file": SimpleUploadedFile(name, content, content_type)}, format="multipart",
        **extra,
    )  # fmt: skip


@pytest.fixture
def cr(personas):
    return make_cr(personas.project, by=personas.customer)


def test_upload_list_and_download(personas, api, cr):
    r = upload(api(personas.customer), cr, name="需求说明.pdf")
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["filename"] == "需求说明.pdf"
    assert data["size"] == len(PDF)
    assert len(data["sha256"]) == 64
    listed = api(personas.viewer).get(url(cr)).json()["results"]
    assert [a["id"] for a in listed] == [data["id"]]
    r = api(personas.customer_rep).get(data["download_url"])
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == PDF
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_download_even_when_the_client_accepts_only_the_file_type(personas, api, cr):
    data = upload(api(personas.customer), cr).json()
    r = api(personas.pm).get(data["download_url"], HTTP_ACCEPT="application/pdf")
    assert r.status_code == 200


def test_download_hidden_from_outsiders(personas, api, cr):
    data = upload(api(personas.customer), cr).json()
    assert api(personas.outsider).get(data["download_url"]).status_code == 404
    assert api(None).get(data["download_url"]).status_code == 401
    assert api(personas.outsider).get(url(cr)).status_code == 404
    # The id does not leak through another CR's URL either.
    other = make_cr(personas.other_project, by=personas.outsider)
    assert (
        api(personas.outsider).get(url(other, f"attachments/{data['id']}/download/")).status_code
        == 404
    )
    assert api(personas.pm).get(url(cr, "attachments/999999/download/")).status_code == 404


def test_upload_forbidden_and_outsider(personas, api, cr):
    assert upload(api(personas.viewer), cr).status_code == 403
    assert upload(api(personas.outsider), cr).status_code == 404
    # Refused before the body is read: not a 415 for JSON, not a 400 without a file.
    assert api(personas.viewer).post(url(cr), {"file": "x"}, format="json").status_code == 403
    assert api(personas.viewer).post(url(cr), {}, format="multipart").status_code == 403
    assert not Attachment.objects.exists()


def test_upload_over_the_limit_is_413(personas, api, cr, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    r = upload(api(personas.pm), cr, content=b"%PDF-" + b"0" * 1000)
    assert r.status_code == 413
    assert error_of(r)["code"] == "too_large"
    # Far over the limit: refused from Content-Length, before the body is read.
    r = upload(api(personas.pm), cr, content=b"%PDF-" + b"0" * 200_000)
    assert r.status_code == 413
    assert not Attachment.objects.exists()


def test_real_oversized_file_with_the_default_limits_is_413(personas, api, cr, settings):
    # Just over 20 MB, with Django's own upload limits as configured: a clear 413.
    limit = settings.ATTACHMENT_MAX_BYTES
    assert limit > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    r = upload(api(personas.pm), cr, content=b"%PDF-" + b"0" * (limit - 4))
    assert r.status_code == 413, r.content
    # One byte under the limit is accepted.
    r = upload(api(personas.pm), cr, content=b"%PDF-" + b"0" * (limit - 6))
    assert r.status_code == 201, r.content


@pytest.mark.parametrize(
    "name, content, content_type",
    [
        ("evil.exe", b"MZ\x90\x00", "application/octet-stream"),
        ("fake.pdf", b"<html><script>alert(1)</script>", "application/pdf"),
        ("image.png", PDF, "image/png"),
        ("empty.pdf", b"", "application/pdf"),
    ],
)
def test_upload_bad_files_are_400(personas, api, cr, name, content, content_type):
    r = upload(api(personas.pm), cr, name=name, content=content, content_type=content_type)
    assert r.status_code == 400, r.content
    assert names(error_of(r), "file")


def test_upload_without_file_or_as_json(personas, api, cr):
    r = api(personas.pm).post(url(cr), {"other": "x"}, format="multipart")
    assert r.status_code == 400
    assert names(error_of(r), "file")
    r = api(personas.pm).post(url(cr), {"file": "x"}, format="json")
    assert r.status_code == 415


def test_upload_to_a_closed_cr_is_409(personas, api, cr):
    api(personas.customer).post(url(cr, "transitions/"), {"action": "withdraw"}, format="json")
    assert upload(api(personas.customer), cr).status_code == 409


def test_the_schema_documents_the_type_a_download_is_sent_with(personas, api, cr):
    """The file goes out with its own type (application/pdf here, application/zip for a ZIP):
    the schema's 200 must cover it (it said application/octet-stream, which no answer has)."""
    from drf_spectacular.generators import SchemaGenerator
    from schemathesis.core.media_types import matches

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/change-requests/{key}/attachments/{id}/download/"]["get"]
    documented = list(operation["responses"]["200"]["content"])
    data = upload(api(personas.customer), cr).json()
    sent = api(personas.pm).get(data["download_url"]).headers["Content-Type"]
    assert any(matches(media_type, sent) for media_type in documented), (documented, sent)
