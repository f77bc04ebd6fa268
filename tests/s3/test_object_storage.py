"""Uploaded and generated files on an S3-compatible bucket (CHANGEFLOW_S3_BUCKET): a real S3
server over HTTP (tests/s3/server.py), boto3 and django-storages running their own code.

Files go in and out through changeflow's permission-checked views only; what the bucket holds
is read back directly to see that they are really there (under the site's prefix).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from changeflow import backup
from changeflow.changes.models import Attachment, ChangeRequest
from changeflow.core import storage
from changeflow.reports import reviews
from changeflow.reports.metrics import Period
from tests.api.test_cr_import_export import GOOD_OK, upload
from tests.cli.conftest import free_port, one_line
from tests.factories import make_cr, make_personas
from tests.s3.conftest import use_bucket

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_attachment_goes_to_the_bucket_and_comes_back_only_to_members(personas, api, s3):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    # Through the page.
    page = _as(p.customer).post(
        f"/changes/{cr.key}/attachments/",
        {"file": SimpleUploadedFile("规格.pdf", PDF, content_type="application/pdf")},
    )
    assert page.status_code == 302
    attachment = Attachment.objects.get()
    assert s3.objects() == {attachment.file.name: PDF}  # in the bucket, under the prefix
    url = f"/changes/{cr.key}/attachments/{attachment.pk}/"
    answer = _as(p.viewer).get(url)
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == PDF
    assert answer["Content-Disposition"].startswith("attachment;")
    assert answer["Content-Length"] == str(len(PDF))
    assert _as(p.outsider).get(url).status_code == 404
    # Through the API: another file, then both downloads.
    other = b"second file\n"
    created = api(p.customer).post(
        f"/api/v1/change-requests/{cr.key}/attachments/",
        {"file": SimpleUploadedFile("notes.txt", other, content_type="text/plain")},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    download = created.json()["download_url"]
    answer = api(p.pm).get(download)
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == other
    assert api(p.outsider).get(download).status_code == 404
    assert len(s3.objects()) == 2
    # An object lost from the bucket is a 404, not a 500.
    default_storage.delete(attachment.file.name)
    assert _as(p.pm).get(url).status_code == 404


@pytest.mark.django_db
def test_a_review_report_is_kept_in_the_bucket_and_checked_against_its_hash(personas, s3):
    p = personas
    period = Period(dt.date(2026, 1, 5), dt.date(2026, 1, 12))
    report = reviews.review_report_generate(
        user=p.pm, project=p.project, kind="on_demand", period=period
    )
    kept = s3.objects()
    assert set(kept) == {report.html_file.name, report.pdf_file.name}
    assert hashlib.sha256(kept[report.pdf_file.name]).hexdigest() == report.pdf_sha256
    url = f"/projects/ACME/reports/{report.number}/download.pdf"
    answer = _as(p.viewer).get(url)
    assert answer.status_code == 200
    assert hashlib.sha256(b"".join(answer.streaming_content)).hexdigest() == report.pdf_sha256
    assert _as(p.outsider).get(url).status_code == 404
    # Replaced in the bucket behind changeflow's back: refused, never served as the record.
    s3.server.client().put_object(
        Bucket=s3.env["CHANGEFLOW_S3_BUCKET"], Key=s3.prefix + report.pdf_file.name, Body=b"x"
    )
    answer = _as(p.pm).get(url)
    assert answer.status_code == 409 and b"does not match its SHA-256" in answer.content


@pytest.mark.django_db
def test_an_import_waits_in_the_bucket_between_preview_and_confirmation(personas, s3):
    client = _as(personas.pm)
    url = "/projects/ACME/changes/import/"
    preview = client.post(url, {"file": upload(GOOD_OK)})
    assert preview.status_code == 200 and "2 to create, 0 skipped" in preview.content.decode()
    token = preview.context["token"]
    assert list(s3.objects()) == [f"imports/{token}"]
    # Another user cannot confirm it (the token is in the pm's session only).
    assert _as(personas.admin).post(url, {"confirm": "1", "token": token}).status_code == 302
    assert not ChangeRequest.objects.exists()
    # The confirmation may reach another app process: it reads the file from the bucket.
    assert client.post(url, {"confirm": "1", "token": token}).status_code == 302
    assert ChangeRequest.objects.count() == 2
    assert s3.objects() == {}  # spent and removed


@pytest.mark.django_db
def test_a_staged_import_expires(personas, s3, monkeypatch):
    from changeflow import web

    client = _as(personas.pm)
    url = "/projects/ACME/changes/import/"
    token = client.post(url, {"file": upload(GOOD_OK)}).context["token"]
    later = dt.datetime.now(dt.UTC).timestamp() + web.STAGED_FOR + 60
    monkeypatch.setattr(web.time, "time", lambda: later)
    assert client.post(url, {"confirm": "1", "token": token}).status_code == 302
    assert not ChangeRequest.objects.exists()
    # The next file staged (anyone's) removes it from the bucket.
    fresh = _as(personas.admin).post(url, {"file": upload(GOOD_OK)}).context["token"]
    assert list(s3.objects()) == [f"imports/{fresh}"]


@pytest.mark.django_db(transaction=True)
def test_a_site_on_a_bucket_is_backed_up_and_restored_into_a_fresh_one(
    s3_server, settings, monkeypatch, tmp_path
):
    from django.core.management import call_command

    first = use_bucket(s3_server, settings, monkeypatch)
    p = make_personas()
    cr = make_cr(p.project, by=p.customer)
    _as(p.customer).post(
        f"/changes/{cr.key}/attachments/",
        {"file": SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")},
    )
    attachment = Attachment.objects.get()
    archive = tmp_path / "site.zip"
    summary = backup.backup(archive)
    assert summary.manifest["media_files"] == 1
    call_command("flush", interactive=False, verbosity=0)

    fresh = use_bucket(s3_server, settings, monkeypatch)  # another prefix: an empty site
    assert fresh.objects() == {}
    restored = backup.restore(archive)
    assert restored.files == 1 and restored.audit.ok
    assert fresh.objects() == first.objects() == {attachment.file.name: PDF}
    answer = _as(p.viewer).get(f"/changes/{cr.key}/attachments/{attachment.pk}/")
    assert b"".join(answer.streaming_content) == PDF


# ------------------------------------------------------------------ a storage that cannot work


@pytest.mark.django_db
def test_readyz_says_when_the_bucket_is_missing(s3_server, settings, monkeypatch):
    use_bucket(s3_server, settings, monkeypatch)
    answer = Client().get("/readyz")
    assert answer.status_code == 200 and answer.json()["storage"] is True
    use_bucket(s3_server, settings, monkeypatch, CHANGEFLOW_S3_BUCKET="no-such-bucket")
    answer = Client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["storage"] is False
    assert "the bucket no-such-bucket does not exist" in answer.json()["storage_problem"]


def test_a_missing_bucket_or_refused_credentials_are_said_in_one_line(
    s3_server, settings, monkeypatch
):
    use_bucket(s3_server, settings, monkeypatch, CHANGEFLOW_S3_BUCKET="no-such-bucket")
    assert storage.problem() == "object storage: the bucket no-such-bucket does not exist"
    use_bucket(s3_server, settings, monkeypatch, CHANGEFLOW_S3_SECRET_ACCESS_KEY="wrong")
    assert storage.problem().startswith(
        "object storage: the bucket changeflow-test refuses these credentials"
    )
    use_bucket(s3_server, settings, monkeypatch)
    assert storage.problem() == ""
    assert storage.where("a/b.pdf").startswith("s3://changeflow-test/site-")


@pytest.mark.django_db  # the commands' system checks read the database's features
def test_serve_worker_and_check_refuse_a_storage_that_does_not_answer(
    s3_server, settings, monkeypatch, run_cli
):
    use_bucket(s3_server, settings, monkeypatch, CHANGEFLOW_S3_BUCKET="no-such-bucket")
    said = "changeflow: object storage: the bucket no-such-bucket does not exist"
    code, _out, err = run_cli("serve", "--port", str(free_port()), "--no-migrate")
    assert (code, one_line(err)) == (1, said)
    code, _out, err = run_cli("worker", "--batch")
    assert (code, one_line(err)) == (1, said)
    code, _out, err = run_cli("check", "--deploy")
    assert code == 1 and "(changeflow.E001) object storage: the bucket no-such-bucket" in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHANGEFLOW_S3_ENDPOINT_URL": "minio:9000"},
         "CHANGEFLOW_S3_ENDPOINT_URL must be an http:// or https:// URL, got 'minio:9000'"),
        ({"CHANGEFLOW_S3_ADDRESSING_STYLE": "sideways"},
         "CHANGEFLOW_S3_ADDRESSING_STYLE must be path, virtual or auto, got 'sideways'"),
        ({"CHANGEFLOW_S3_ACCESS_KEY_ID": "key-only"},
         "set both CHANGEFLOW_S3_ACCESS_KEY_ID and CHANGEFLOW_S3_SECRET_ACCESS_KEY, or neither"),
    ],
)  # fmt: skip
def test_a_bad_configuration_stops_changeflow_at_start_up(sh, env, message):
    code, _out, err = sh("check", extra_env={"CHANGEFLOW_S3_BUCKET": "b", **env}, timeout=60)
    assert code == 1
    assert one_line(err) == f"changeflow: configuration error: {message}"


def test_a_bucket_without_the_extra_installed_is_said(monkeypatch):
    import sys

    from django.core.exceptions import ImproperlyConfigured

    from changeflow.settings import object_storage

    monkeypatch.setitem(sys.modules, "storages.backends.s3", None)  # as if not installed
    monkeypatch.setenv("CHANGEFLOW_S3_BUCKET", "b")
    with pytest.raises(ImproperlyConfigured, match=r"pip install 'changeflow\[s3\]'"):
        object_storage()


@pytest.mark.django_db
def test_a_bucket_that_stops_answering_is_a_503_not_a_500(
    personas, api, s3, s3_server, settings, monkeypatch
):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    _as(p.customer).post(
        f"/changes/{cr.key}/attachments/",
        {"file": SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")},
    )
    attachment = Attachment.objects.get()
    # The same bucket and prefix, but the credentials are refused from now on.
    use_bucket(s3_server, settings, monkeypatch, CHANGEFLOW_S3_PREFIX=s3.prefix,
               CHANGEFLOW_S3_SECRET_ACCESS_KEY="wrong")  # fmt: skip
    page = _as(p.pm).get(f"/changes/{cr.key}/attachments/{attachment.pk}/")
    assert page.status_code == 503, page.status_code
    assert b"storage" in page.content
    answer = api(p.pm).get(
        f"/api/v1/change-requests/{cr.key}/attachments/{attachment.pk}/download/"
    )
    assert answer.status_code == 503, answer.status_code
    assert answer.json()["error"]["code"] == "storage_unavailable"
