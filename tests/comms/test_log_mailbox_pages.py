"""Communication log, mailbox settings, quarantine and the task list: API and pages, each as
allowed, forbidden (wrong role) and outsider (404)."""

import pytest
from django.utils import timezone

from changeflow.comms.models import CommunicationEntry, Mailbox, QuarantinedMail
from changeflow.comms.services import mail_quarantine
from changeflow.core.models import AuditEvent
from tests.factories import make_cr

pytestmark = pytest.mark.django_db
JSON = "application/json"


def test_log_api_create_list_and_cr_timeline(personas, client):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    other = make_cr(p.other_project, by=p.outsider)
    client.force_login(p.customer_rep)
    body = {
        "channel": "phone", "occurred_at": timezone.now().isoformat(),
        "participants": ["周杰", "wang.lei"], "summary": "电话确认：导出需要支持 Excel。",
        "change_requests": [cr.key],
    }  # fmt: skip
    response = client.post("/api/v1/projects/ACME/communications/", body, content_type=JSON)
    assert response.status_code == 201, response.json()
    assert response.json()["change_requests"] == [cr.key]
    assert AuditEvent.objects.filter(action="communication.logged").count() == 1
    listed = client.get(f"/api/v1/change-requests/{cr.key}/communications/").json()["results"]
    assert [e["summary"] for e in listed] == ["电话确认：导出需要支持 Excel。"]
    # The CR page shows it beside the history.
    page = client.get(f"/changes/{cr.key}/").content.decode()
    assert "电话确认：导出需要支持 Excel。" in page and 'id="comms-h"' in page
    # Bad input: another project's CR, an unknown channel, no summary.
    bad = {**body, "change_requests": [other.key]}
    response = client.post("/api/v1/projects/ACME/communications/", bad, content_type=JSON)
    assert response.status_code == 400 and "change_requests" in str(response.json())
    for broken in ({**body, "channel": "pigeon"}, {**body, "summary": ""}):
        response = client.post("/api/v1/projects/ACME/communications/", broken, content_type=JSON)
        assert response.status_code == 400
    client.force_login(p.viewer)
    assert client.get("/api/v1/projects/ACME/communications/").status_code == 200
    response = client.post("/api/v1/projects/ACME/communications/", body, content_type=JSON)
    assert response.status_code == 403
    client.force_login(p.outsider)
    assert client.get("/api/v1/projects/ACME/communications/").status_code == 404
    assert client.get(f"/api/v1/change-requests/{cr.key}/communications/").status_code == 404
    assert CommunicationEntry.objects.count() == 1


def test_log_page_form(personas, client):
    p = personas
    cr = make_cr(p.project, by=p.customer)
    client.force_login(p.pm)
    form = {
        "channel": "meeting", "occurred_at": "2026-11-20T10:00", "participants": "周杰, 王磊",
        "summary": "周例会讨论", "change_requests": cr.key.lower(),
    }  # fmt: skip
    response = client.post("/projects/ACME/communications/", form)
    assert response.status_code == 302
    entry = CommunicationEntry.objects.get()
    assert entry.participants == ["周杰", "王磊"] and list(entry.change_requests.all()) == [cr]
    assert "周例会讨论" in client.get("/projects/ACME/communications/").content.decode()
    assert client.post("/projects/ACME/communications/", {**form, "summary": ""}).status_code == 400
    client.force_login(p.viewer)
    assert client.get("/projects/ACME/communications/").status_code == 200
    assert client.post("/projects/ACME/communications/", form).status_code == 403
    client.force_login(p.outsider)
    assert client.get("/projects/ACME/communications/").status_code == 404


def test_mailbox_api_never_shows_the_password(personas, client):
    p = personas
    url = "/api/v1/projects/ACME/mailbox/"
    client.force_login(p.pm)
    assert client.get(url).status_code == 404  # none yet
    body = {"host": "imap.example.com", "username": "acme", "password": "s3cret-imap"}
    response = client.put(url, body, content_type=JSON)
    assert response.status_code == 200
    data = response.json()
    assert data["has_password"] is True and "s3cret-imap" not in response.content.decode()
    # Blank keeps the stored password.
    response = client.put(url, {**body, "password": "", "folder": "CR"}, content_type=JSON)
    stored = Mailbox.objects.get()
    assert stored.get_password() == "s3cret-imap"
    # At rest only a token: no trace of the password in the row.
    row = Mailbox.objects.values().get()
    assert "s3cret" not in str(row) and row["password_encrypted"].startswith("gAAAAA")
    assert response.json()["folder"] == "CR"
    assert not AuditEvent.objects.filter(after__icontains="s3cret").exists()
    assert client.put(url, {**body, "port": 0}, content_type=JSON).status_code == 400
    client.force_login(p.tech_lead)
    assert client.get(url).status_code == 403
    assert client.put(url, body, content_type=JSON).status_code == 403
    client.force_login(p.outsider)
    assert client.get(url).status_code == 404
    # The page: the password field is always empty.
    client.force_login(p.pm)
    page = client.get("/projects/ACME/mailbox/").content.decode()
    assert "s3cret-imap" not in page and "A password is stored." in page
    client.force_login(p.tech_lead)
    assert client.get("/projects/ACME/mailbox/").status_code == 403
    client.force_login(p.outsider)
    assert client.get("/projects/ACME/mailbox/").status_code == 404


def test_quarantine_is_listed_downloaded_retried_and_resolved(personas, client):
    p = personas
    raw = b"From: x@y.example\r\nSubject: kept\r\nMessage-ID: <q1@y>\r\n\r\nhello\r\n"
    item = mail_quarantine(raw=raw, reason="test reason", source="test", project=p.project)
    orphan = mail_quarantine(raw=raw, reason="unknown project 'NOPE'", source="cli")
    client.force_login(p.pm)
    listed = client.get("/api/v1/projects/ACME/quarantine/").json()["results"]
    assert [i["id"] for i in listed] == [item.pk]
    assert client.get(f"/projects/ACME/mailbox/quarantine/{item.pk}/raw/").content == raw
    assert client.get(f"/projects/ACME/mailbox/quarantine/{orphan.pk}/raw/").status_code == 404
    response = client.post(f"/projects/ACME/mailbox/quarantine/{item.pk}/retry/")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.resolved_at is not None
    assert client.get("/api/v1/projects/ACME/quarantine/").json()["results"] == []
    other = mail_quarantine(raw=raw, reason="again", source="test", project=p.project)
    response = client.post(f"/api/v1/projects/ACME/quarantine/{other.pk}/resolve/")
    assert response.status_code == 200 and response.json()["resolved_at"]
    client.force_login(p.tech_lead)
    assert client.get("/api/v1/projects/ACME/quarantine/").status_code == 403
    client.force_login(p.outsider)
    assert client.get("/api/v1/projects/ACME/quarantine/").status_code == 404
    assert client.post(f"/api/v1/projects/ACME/quarantine/{other.pk}/resolve/").status_code == 404
    assert QuarantinedMail.objects.count() == 3  # nothing is ever deleted


def test_task_list_for_site_admins_only_with_retry(personas, client, tmp_path):
    from django_tasks_db.models import DBTaskResult

    from changeflow.core.tasks import run_pending
    from tests.core import task_helpers

    task_helpers.flaky.enqueue(str(tmp_path / "calls"), 5)
    run_pending()
    mail_quarantine(raw=b"Subject: lost\r\n\r\nx", reason="unknown project 'NOPE'", source="cli")
    failed = DBTaskResult.objects.get(status="FAILED")
    client.force_login(p := personas.admin)
    page = client.get("/admin/tasks/").content.decode()
    assert "flaky" in page and "attempt 1 failed" in page
    assert "unknown project &#x27;NOPE&#x27;" in page  # mail no project manager would see
    response = client.post(f"/admin/tasks/{failed.pk}/retry/")
    assert response.status_code == 302
    assert DBTaskResult.objects.filter(status="READY").count() == 2  # back-off retry + manual
    assert AuditEvent.objects.filter(action="task.retried", actor=p.username).exists()
    client.force_login(personas.pm)
    assert client.get("/admin/tasks/").status_code == 404
    assert client.post(f"/admin/tasks/{failed.pk}/retry/").status_code == 404
