"""Change request imports in the background (``changes.import_jobs``): a confirmed file of more
rows than CHANGEFLOW_CR_IMPORT_SYNC_ROWS becomes a job the database task backend runs for real
(``core.tasks.run_pending``); its progress is visible mid-way, a failure leaves no CR, a run
again (a worker killed mid-import) makes no CR twice; the job's page and API endpoint for the
project's managers only."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.signals import post_save
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from changeflow.changes import import_jobs
from changeflow.changes import io as cr_io
from changeflow.changes.models import ChangeRequest, ImportJob
from changeflow.core import tasks
from changeflow.core.errors import NotFound, PermissionDenied
from changeflow.core.models import AuditEvent
from tests.factories import make_cr
from tests.web.test_crawl import _Document

pytestmark = pytest.mark.django_db

ROWS = 12


@pytest.fixture(autouse=True)
def _small_sync_limit(settings):
    settings.CHANGEFLOW_CR_IMPORT_SYNC_ROWS = 5


def table(rows: int = ROWS, *, refs: bool = True) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["ref", "标题", "优先级"])
    for i in range(1, rows + 1):
        writer.writerow([f"BG-{i}" if refs else "", f"后台导入 {i}", "P3"])
    return out.getvalue().encode()


def queue(p, raw: bytes, capture, *, user=None, submit=False) -> ImportJob:
    parsed = cr_io.parse(raw, filename="big.csv")
    assert import_jobs.in_background(parsed)
    with capture(execute=True):  # the enqueue waits for the commit
        job = import_jobs.import_job_create(
            user=user or p.pm, project=p.project, raw=raw, parsed=parsed, filename="big.csv",
            submit=submit,
        )  # fmt: skip
    return job


def test_a_large_import_runs_in_the_background(personas, django_capture_on_commit_callbacks):
    p = personas
    job = queue(p, table(), django_capture_on_commit_callbacks)
    assert job.state == "queued" and job.rows_total == ROWS
    assert not ChangeRequest.objects.exists()  # nothing until the task runs
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    assert tasks.run_pending() == 1
    job.refresh_from_db()
    assert (job.state, job.created, job.skipped, job.attempts) == ("done", ROWS, 0, 1)
    assert job.keys == [f"ACME-{i}" for i in range(1, ROWS + 1)]
    assert bytes(job.content) == b""  # the file is not kept once imported
    assert job.started_at and job.finished_at
    crs = ChangeRequest.objects.filter(project=p.project)
    assert crs.count() == ROWS and set(crs.values_list("channel", flat=True)) == {"import"}
    actions = list(AuditEvent.objects.filter(action__startswith="cr.import").values_list(
        "action", flat=True))  # fmt: skip
    assert actions == ["cr.import_queued", "cr.imported"]
    assert import_jobs.progress_of(job) == {"stage": "done", "done": ROWS, "total": ROWS,
                                            "percent": 100}  # fmt: skip


def test_progress_is_visible_midway_and_the_crs_appear_together(
    personas, django_capture_on_commit_callbacks, monkeypatch
):
    """While the task writes, the job's page (another request) shows the rows done from the
    progress cache; the job row still says running, and the CRs are not committed yet."""
    p = personas
    monkeypatch.setattr(import_jobs, "PROGRESS_EVERY", 0)
    job = queue(p, table(), django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(p.pm)
    url = reverse("cr-import-job", args=["ACME", job.pk])
    seen: list[str] = []

    def look(sender, instance, created, **kwargs):
        if created and instance.number == 7:  # the 7th CR is being written
            page = client.get(url, headers={"HX-Request": "true"})
            seen.append(page.content.decode())
            seen.append(str(import_jobs.progress_of(ImportJob.objects.get(pk=job.pk))))

    post_save.connect(look, sender=ChangeRequest, weak=False)
    try:
        tasks.run_pending()
    finally:
        post_save.disconnect(look, sender=ChangeRequest)
    panel, progress = seen
    assert "Importing: 6 of 12 change requests" in panel and 'hx-trigger="every 1s"' in panel
    assert "<html" not in panel  # the partial only
    assert "'stage': 'write', 'done': 6, 'total': 12" in progress
    done = client.get(url).content.decode()
    assert "Imported: 12 created, 0 skipped." in done and "every 1s" not in done
    assert "ACME-1</a> … <a" in done and "channel=import" in done
    for html in (done, client.get(url, headers={"Accept-Language": "zh-hans"}).content.decode()):
        doc = _Document()  # well-formed, as the crawl checks every page it reaches
        doc.feed(html)
        doc.finish()
        assert doc.errors == []


def test_a_failure_midway_leaves_no_change_request(personas, django_capture_on_commit_callbacks):
    """Row 9's reference is taken while the task writes (another import won the race): the
    whole import rolls back, the job says why, and nothing of it is left."""
    p = personas
    job = queue(p, table(), django_capture_on_commit_callbacks)

    def race(sender, instance, created, **kwargs):
        if created and instance.number == 4 and instance.source_ref == "BG-4":
            make_cr(p.project, by=p.pm, title="抢先", source_ref="BG-9")

    post_save.connect(race, sender=ChangeRequest, weak=False)
    try:
        tasks.run_pending()
    finally:
        post_save.disconnect(race, sender=ChangeRequest)
    job.refresh_from_db()
    assert job.state == "failed" and "Another import" in job.error
    assert not ChangeRequest.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["cr.created", "cr.imported"]).exists()
    assert AuditEvent.objects.filter(action="cr.import_failed").count() == 1


def test_a_file_with_problems_found_by_the_task_imports_nothing(
    personas, django_capture_on_commit_callbacks
):
    """The rows are checked again by the task, before it writes: here the project's state
    changed after the job was queued (row 3's reference became a CR of another title: skipped;
    the priority of row 5 is bad in the file itself)."""
    p = personas
    raw = table().replace("后台导入 5,P3".encode(), "后台导入 5,P9".encode())
    parsed = cr_io.parse(raw, filename="big.csv")
    with django_capture_on_commit_callbacks(execute=True):
        job = import_jobs.import_job_create(
            user=p.pm, project=p.project, raw=raw, parsed=parsed, filename="big.csv"
        )
    tasks.run_pending()
    job.refresh_from_db()
    assert job.state == "failed" and job.problems == [
        "row 6, column 优先级: 'P9' is not one of: P1, P2, P3, P4"
    ]
    assert not ChangeRequest.objects.exists()
    client = Client()
    client.force_login(p.pm)
    page = client.get(reverse("cr-import-job", args=["ACME", job.pk])).content.decode()
    assert "Nothing was imported." in page and "row 6, column 优先级" in page


def test_a_worker_killed_midway_runs_it_again_without_duplicates(
    personas, django_capture_on_commit_callbacks, settings
):
    """The worker died mid-import: its transaction is gone, the job still says running and its
    task is RUNNING under a dead worker. The queue puts it back; the run again imports every
    row once (even rows without a reference); a third run finds the job done and does nothing."""
    p = personas
    job = queue(p, table(refs=False), django_capture_on_commit_callbacks)
    ImportJob.objects.filter(pk=job.pk).update(state="running", attempts=1)
    DBTaskResult.objects.filter(status="READY").update(status="RUNNING", worker_ids=["dead-1"])
    # The worker's housekeeping puts the dead worker's task back in the queue, then runs it.
    assert tasks.run_pending() == 1
    job.refresh_from_db()
    assert (job.state, job.created, job.attempts) == ("done", ROWS, 2)
    assert ChangeRequest.objects.count() == ROWS
    import_jobs.import_job_execute(job.pk)  # once more, as a late duplicate of the task would
    assert ChangeRequest.objects.count() == ROWS


def test_importing_the_same_file_again_in_the_background_skips_every_row(
    personas, django_capture_on_commit_callbacks
):
    p = personas
    queue(p, table(), django_capture_on_commit_callbacks)
    tasks.run_pending()
    again = queue(p, table(), django_capture_on_commit_callbacks)
    tasks.run_pending()
    again.refresh_from_db()
    assert (again.state, again.created, again.skipped, again.keys) == ("done", 0, ROWS, [])
    assert ChangeRequest.objects.count() == ROWS


def test_only_the_projects_managers_queue_and_see_jobs(
    personas, django_capture_on_commit_callbacks
):
    p = personas
    raw = table()
    parsed = cr_io.parse(raw, filename="big.csv")
    with pytest.raises(PermissionDenied):
        import_jobs.import_job_create(
            user=p.tech_lead, project=p.project, raw=raw, parsed=parsed, filename="x.csv"
        )
    job = queue(p, raw, django_capture_on_commit_callbacks)
    assert import_jobs.import_job_get(user=p.admin, project=p.project, job_id=job.pk) == job
    with pytest.raises(PermissionDenied):
        import_jobs.import_job_get(user=p.developer, project=p.project, job_id=job.pk)
    with pytest.raises(NotFound):  # another project's job, through that project
        import_jobs.import_job_get(user=p.outsider, project=p.other_project, job_id=job.pk)


# ---------------------------------------------------------------- the web


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_web_confirm_of_a_large_file_goes_to_the_job_page(
    personas, django_capture_on_commit_callbacks
):
    p = personas
    client = web(p.pm)
    url = reverse("cr-import", args=["ACME"])
    r = client.post(url, {"file": SimpleUploadedFile("big.csv", table(), "text/csv")})
    assert r.status_code == 200 and "12 to create" in r.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"confirm": "1", "token": r.context["token"]})
    job = ImportJob.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/projects/ACME/changes/import/{job.pk}/"
    page = client.get(r["Location"]).content.decode()
    assert "Queued: the import runs in the background." in page and "every 1s" in page
    assert not ChangeRequest.objects.exists()
    tasks.run_pending()
    assert ChangeRequest.objects.count() == ROWS
    listing = client.get(url).content.decode()
    assert f"/projects/ACME/changes/import/{job.pk}/" in listing and "Done" in listing
    doc = _Document()
    doc.feed(listing)
    doc.finish()
    assert doc.errors == []


def test_a_small_file_is_still_imported_at_once(personas):
    p = personas
    client = web(p.pm)
    url = reverse("cr-import", args=["ACME"])
    r = client.post(url, {"file": SimpleUploadedFile("s.csv", table(5), "text/csv")})
    r = client.post(url, {"confirm": "1", "token": r.context["token"]})
    assert r.status_code == 302 and ChangeRequest.objects.count() == 5
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("who", "status"),
    [("pm", 200), ("admin", 200), ("tech_lead", 403), ("developer", 403), ("customer", 403),
     ("viewer", 403), ("outsider", 404)],
)  # fmt: skip
def test_web_job_page_who_may(personas, django_capture_on_commit_callbacks, who, status):
    p = personas
    job = queue(p, table(), django_capture_on_commit_callbacks)
    url = reverse("cr-import-job", args=["ACME", job.pk])
    assert web(getattr(p, who)).get(url).status_code == status
    assert Client().get(url).status_code == 302


def test_another_projects_job_is_404(personas, django_capture_on_commit_callbacks):
    p = personas
    job = queue(p, table(), django_capture_on_commit_callbacks)
    # The outsider manages OTHER: ACME's job through OTHER's URL is no job of theirs.
    assert web(p.outsider).get(f"/projects/OTHER/changes/import/{job.pk}/").status_code == 404
    assert web(p.pm).get(f"/projects/ACME/changes/import/{job.pk + 1}/").status_code == 404


@pytest.mark.parametrize("state", ["running", "done", "failed"])
def test_job_page_query_count(
    personas, django_capture_on_commit_callbacks, django_assert_num_queries, state
):
    p = personas
    job = queue(p, table(), django_capture_on_commit_callbacks)
    if state == "done":
        tasks.run_pending()
    else:
        ImportJob.objects.filter(pk=job.pk).update(state=state, problems=["row 2: x"] * 50)
    client = web(p.pm)
    url = reverse("cr-import-job", args=["ACME", job.pk])
    client.get(url)
    # session, user, project, membership (role), the job with its creator; the page's header
    # counts the unread notifications, the polled panel does not.
    with django_assert_num_queries(6):
        assert client.get(url).status_code == 200
    with django_assert_num_queries(5):
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 200
