"""The API of background imports of change requests: a large file answers 202 with its job
(header Location), the job's endpoint for the project's managers only, in the schema. The
service and the web page: tests/changes/test_import_jobs.py."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from changeflow.changes.models import ChangeRequest, ImportJob
from changeflow.core import tasks
from tests.changes.test_import_jobs import (
    ROWS,
    _small_sync_limit,  # noqa: F401 - autouse fixture
    queue,
    table,
)

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/projects/ACME/changes/import/"


def test_api_import_of_a_large_file_answers_202_with_the_job(
    api, personas, django_capture_on_commit_callbacks
):
    p = personas
    client = api(p.pm)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(IMPORT, {"file": SimpleUploadedFile("big.csv", table(), "text/csv"),
                                 "submit": "true"}, format="multipart")  # fmt: skip
    assert r.status_code == 202, r.content
    job = r.json()["job"]
    assert r["Location"] == job["url"] == f"http://testserver{IMPORT}{job['id']}/"
    assert (job["state"], job["rows_total"], job["submit"], job["progress"]["stage"]) == (
        "queued", ROWS, True, "queued"
    )  # fmt: skip
    assert not ChangeRequest.objects.exists()
    tasks.run_pending()
    r = client.get(job["url"])
    assert r.status_code == 200
    body = r.json()
    assert (body["state"], body["created"], body["skipped"]) == ("done", ROWS, 0)
    assert body["keys"][0] == "ACME-1" and body["progress"]["percent"] == 100
    assert set(ChangeRequest.objects.values_list("state", flat=True)) == {"submitted"}
    # A dry run of the same file answers at once, and a small file too: no job.
    r = client.post(IMPORT, {"file": SimpleUploadedFile("big.csv", table(), "text/csv"),
                             "dry_run": "true"}, format="multipart")  # fmt: skip
    assert r.status_code == 200 and r.json()["skipped"] == ROWS
    assert ImportJob.objects.count() == 1


def test_api_large_file_with_problems_is_400_and_queues_nothing(api, personas):
    raw = table().replace("后台导入 5,P3".encode(), "后台导入 5,P9".encode())
    r = api(personas.pm).post(IMPORT, {"file": SimpleUploadedFile("big.csv", raw, "text/csv")},
                              format="multipart")  # fmt: skip
    assert r.status_code == 400 and "row 6, column 优先级" in r.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("who", "status"),
    [("pm", 200), ("admin", 200), ("tech_lead", 403), ("customer", 403), ("viewer", 403),
     ("outsider", 404), (None, 401)],
)  # fmt: skip
def test_api_job_who_may(api, personas, django_capture_on_commit_callbacks, who, status):
    p = personas
    job = queue(p, table(), django_capture_on_commit_callbacks)
    user = getattr(p, who) if who else None
    assert api(user).get(f"{IMPORT}{job.pk}/").status_code == status
    if who == "outsider":
        r = api(user).get(f"/api/v1/projects/OTHER/changes/import/{job.pk}/")
        assert r.status_code == 404


def test_the_job_endpoint_is_in_the_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    path = schema["paths"]["/api/v1/projects/{key}/changes/import/{id}/"]
    assert path["get"]["operationId"] == "project_change_requests_import_job"
    post = schema["paths"]["/api/v1/projects/{key}/changes/import/"]["post"]
    assert "202" in post["responses"] and "200" in post["responses"]
