"""Pages: inbox (with its query count), preferences, watch, webhooks — allowed, forbidden,
outsider."""

from __future__ import annotations

import pytest
from django.db import transaction

from changeflow.core import audit
from changeflow.notifications import services
from changeflow.notifications.models import Notification, Watch, Webhook
from tests.factories import make_cr

pytestmark = pytest.mark.django_db


def sla(p, live, names, n=1):
    for i in range(n):
        with live(), transaction.atomic():
            audit.record(actor="system", action="sla.breached", object_type="project",
                         object_key="ACME", project="ACME",
                         after={"notify": names, "title": f"late {i}"})  # fmt: skip


def test_inbox_badge_mark_read_and_open(client, p, live):
    sla(p, live, [p.pm.username], n=3)
    client.force_login(p.pm)
    html = client.get("/projects/").content.decode()
    assert 'class="count-badge"' in html and ">3</span>" in html
    html = client.get("/notifications/").content.decode()
    assert html.count('class="inbox-item unread"') == 3 and "late 2" in html
    assert '<a href="/notifications/" aria-current="page">' in html  # the tab shown
    unread = client.get("/notifications/?unread=1").content.decode()
    assert '<a href="/notifications/?unread=1" aria-current="page">' in unread
    first = Notification.objects.filter(user=p.pm).first()
    assert f'action="/notifications/{first.pk}/"' in html
    r = client.post(f"/notifications/{first.pk}/")
    assert r.status_code == 302 and r["Location"] == "/projects/ACME/"
    first.refresh_from_db()
    assert first.read_at is not None
    assert ">2</span>" in client.get("/projects/").content.decode()
    client.post("/notifications/read/", {"all": "1"})
    assert "count-badge" not in client.get("/projects/").content.decode()
    # Someone else's notification: 404.
    client.force_login(p.qa)
    assert client.post(f"/notifications/{first.pk}/").status_code == 404


def test_a_get_does_not_mark_a_notification_read(client, p, live):
    """Opening is the inbox's POST button: a link would be marked read by a browser's
    prefetch or a link checker following it, before the person saw it."""
    sla(p, live, [p.pm.username])
    client.force_login(p.pm)
    note = Notification.objects.get(user=p.pm)
    html = client.get("/notifications/").content.decode()
    assert f'href="/notifications/{note.pk}/"' not in html
    assert client.get(f"/notifications/{note.pk}/").status_code == 405
    note.refresh_from_db()
    assert note.read_at is None


def test_inbox_queries_do_not_grow_with_rows(client, p, live, django_assert_max_num_queries):
    sla(p, live, [p.pm.username], n=3)
    client.force_login(p.pm)
    client.get("/notifications/")
    with django_assert_max_num_queries(8) as few:
        client.get("/notifications/")
    sla(p, live, [p.pm.username], n=20)
    with django_assert_max_num_queries(len(few)):
        assert client.get("/notifications/").status_code == 200


def test_preferences_page(client, p):
    client.force_login(p.customer)
    html = client.get("/notifications/preferences/", headers={"Accept-Language": "zh-hans"})
    assert html.status_code == 200
    data = {"language": "zh-hans", **{f"kind:{k}": "in_app" for k in services.events.DEFAULTS}}
    data["kind:cr.commented"] = "none"
    r = client.post("/notifications/preferences/", data)
    assert r.status_code == 302
    assert services.selectors.preferences(p.customer)["cr.commented"] == "none"
    assert services.language_of(p.customer) == "zh-hans"
    data["kind:cr.commented"] = "carrier-pigeon"
    assert client.post("/notifications/preferences/", data).status_code == 400


def test_watch_button(client, p):
    cr = make_cr(p.project, by=p.customer)
    client.force_login(p.viewer)
    html = client.get(f"/changes/{cr.key}/").content.decode()
    assert f'action="/changes/{cr.key}/watch/"' in html
    client.post(f"/changes/{cr.key}/watch/", {"watching": "1"})
    assert Watch.objects.filter(user=p.viewer, change_request=cr).exists()
    assert "Stop watching" in client.get(f"/changes/{cr.key}/").content.decode()
    client.post(f"/changes/{cr.key}/watch/", {"watching": "0"})
    assert not Watch.objects.exists()
    client.force_login(p.outsider)
    assert client.post(f"/changes/{cr.key}/watch/", {"watching": "1"}).status_code == 404


def test_webhook_pages_for_the_manager(client, p, receiver, live):
    client.force_login(p.pm)
    assert client.get("/projects/ACME/webhooks/").status_code == 200
    r = client.post("/projects/ACME/webhooks/", {"name": "CCB 群", "url": receiver.url,
                    "kind": "dingtalk", "events": ["cr.vote_needed"], "secret": "SECxyz0123456",
                    "active": "on"})  # fmt: skip
    hook = Webhook.objects.get()
    assert r.status_code == 302 and hook.events == ["cr.vote_needed"] and hook.has_secret
    assert "SECxyz0123456" not in hook.secret_encrypted
    page = client.get(f"/projects/ACME/webhooks/{hook.pk}/").content.decode()
    # Not even its tail (the receiver's URL, on a random port, may hold those digits).
    assert "SECxyz0123456" not in page and "3456" not in page.replace(receiver.url, "")
    assert "A secret is set" in page
    with live():
        client.post(f"/projects/ACME/webhooks/{hook.pk}/test/")
    page = client.get(f"/projects/ACME/webhooks/{hook.pk}/").content.decode()
    assert "HTTP 200" in page and "webhook.test" in page
    # Saving without a secret keeps the old one.
    client.post(f"/projects/ACME/webhooks/{hook.pk}/", {"url": receiver.url, "kind": "dingtalk",
                "events": [], "active": "on"})  # fmt: skip
    hook.refresh_from_db()
    assert hook.get_secret() == "SECxyz0123456" and hook.events == ["*"]
    r = client.post("/projects/ACME/webhooks/", {"url": "ftp://x", "kind": "generic"})
    assert r.status_code == 422 and "http" in r.content.decode()
    client.post(f"/projects/ACME/webhooks/{hook.pk}/delete/")
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("who,status", [("tech_lead", 403), ("customer", 403), ("viewer", 403),
                                        ("outsider", 404)])  # fmt: skip
def test_webhook_pages_refused(client, p, receiver, who, status):
    hook = services.webhook_create(
        user=p.pm, project=p.project, data={"url": receiver.url, "kind": "generic", "events": ["*"]}
    )
    client.force_login(getattr(p, who))
    assert client.get("/projects/ACME/webhooks/").status_code == status
    assert client.get(f"/projects/ACME/webhooks/{hook.pk}/").status_code == status
    assert client.post(f"/projects/ACME/webhooks/{hook.pk}/test/").status_code == status
    assert client.post(f"/projects/ACME/webhooks/{hook.pk}/delete/").status_code == status
    assert Webhook.objects.exists() and not hook.deliveries.exists()


def test_anonymous_is_sent_to_sign_in(client):
    for url in ("/notifications/", "/notifications/preferences/", "/projects/ACME/webhooks/"):
        assert client.get(url).status_code == 302
