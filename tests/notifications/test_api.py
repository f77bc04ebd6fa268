"""API: the inbox, preferences, watch, webhooks — allowed, forbidden (wrong role), outsider."""

from __future__ import annotations

import pytest
from django.db import transaction

from changeflow.core import audit
from changeflow.notifications.models import Notification, Webhook
from tests.api.conftest import api as api  # noqa: F401  (the fixture)
from tests.api.conftest import error_of
from tests.factories import make_cr

pytestmark = pytest.mark.django_db
HOOKS = "/api/v1/projects/{}/webhooks/"


def sla(p, live, names):
    with live(), transaction.atomic():
        audit.record(actor="system", action="sla.breached", object_type="project",
                     object_key="ACME", project="ACME",
                     after={"notify": names, "title": "late"})  # fmt: skip


def test_inbox_mark_read_and_count(p, live, api):
    sla(p, live, [p.pm.username, p.qa.username])
    client = api(p.pm)
    r = client.get("/api/v1/notifications/")
    assert r.status_code == 200 and r.json()["count"] == 1
    item = r.json()["results"][0]
    assert item["kind"] == "sla.breached" and item["read"] is False and item["project"] == "ACME"
    assert item["text"].startswith("SLA breached")
    r = client.post("/api/v1/notifications/read/", {"ids": [item["id"]]}, format="json")
    assert r.json() == {"marked": 1, "unread": 0}
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 0
    # Someone else's notification cannot be marked by its id.
    other = Notification.objects.get(user=p.qa)
    r = client.post("/api/v1/notifications/read/", {"ids": [other.pk]}, format="json")
    assert r.json()["marked"] == 0
    assert api(p.qa).post("/api/v1/notifications/read/", {"all": True},
                          format="json").json() == {"marked": 1, "unread": 0}  # fmt: skip
    r = client.post("/api/v1/notifications/read/", {}, format="json")
    assert r.status_code == 400 and "ids" in error_of(r)["fields"]
    assert api(None).get("/api/v1/notifications/").status_code == 401


def test_preferences_round_trip_and_bad_input(p, api):
    client = api(p.developer)
    r = client.get("/api/v1/notifications/preferences/")
    assert r.json()["channels"]["cr.vote_needed"] == "both"
    assert r.json()["language"] == ""
    r = client.put("/api/v1/notifications/preferences/",
                   {"channels": {"cr.commented": "none", "cr.vote_needed": "email"},
                    "language": "zh-hans"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["channels"]["cr.commented"] == "none"
    assert r.json()["language"] == "zh-hans"
    for bad in ({"channels": {"cr.commented": "pigeon"}}, {"channels": {"nope": "none"}},
                {"channels": {}, "language": "fr"}, {"channels": {}, "extra": 1}):  # fmt: skip
        r = client.put("/api/v1/notifications/preferences/", bad, format="json")
        assert r.status_code == 400, bad


def test_watch_allowed_and_outsider(p, api):
    cr = make_cr(p.project, by=p.customer)
    url = f"/api/v1/change-requests/{cr.key}/watch/"
    assert api(p.viewer).get(url).json() == {"watching": False}
    assert api(p.viewer).post(url).json() == {"watching": True}
    assert api(p.viewer).get(url).json() == {"watching": True}
    assert api(p.viewer).delete(url).json() == {"watching": False}
    assert api(p.outsider).post(url).status_code == 404
    assert api(p.outsider).get(url).status_code == 404


@pytest.mark.parametrize("who", ["pm", "admin"])
def test_managers_manage_webhooks(p, api, receiver, live, who):
    client = api(getattr(p, who))
    body = {"url": receiver.url, "kind": "dingtalk", "events": ["cr.vote_needed"],
            "secret": "SECabcdef123456"}  # fmt: skip
    r = client.post(HOOKS.format("ACME"), body, format="json")
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["secret_set"] is True
    assert not {"secret", "secret_encrypted", "secret_hint"} & set(data)
    assert "3456" not in r.content.decode()  # nothing of the secret comes back
    hook_url = f"{HOOKS.format('ACME')}{data['id']}/"
    assert client.get(HOOKS.format("ACME")).json()["count"] == 1
    r = client.patch(hook_url, {"events": ["*"], "active": False}, format="json")
    assert r.status_code == 200 and r.json()["events"] == ["*"] and not r.json()["active"]
    with live():
        r = client.post(hook_url + "test/")
    assert r.status_code == 202 and r.json()["kind"] == "webhook.test", r.content
    assert receiver.requests[0]["json"]["msgtype"] == "markdown"
    log = client.get(hook_url + "deliveries/").json()
    assert log["count"] == 1 and log["results"][0]["response_status"] == 200
    assert "sign=" not in log["results"][0]["request_url"]
    assert client.delete(hook_url).status_code == 204
    assert not Webhook.objects.exists()


def test_unsafe_url_is_422_naming_it(p, api, settings):
    settings.CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE = False
    r = api(p.pm).post(HOOKS.format("ACME"), {"url": "http://10.0.0.5/hook", "kind": "generic",
                       "events": ["*"]}, format="json")  # fmt: skip
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "unsafe_url" and "url" in err["fields"]
    r = api(p.pm).post(HOOKS.format("ACME"), {"url": "gopher://x", "kind": "generic",
                       "events": ["*"]}, format="json")  # fmt: skip
    assert r.status_code == 422
    r = api(p.pm).post(HOOKS.format("ACME"), {"url": "http://x.test", "kind": "teams",
                       "events": ["*"]}, format="json")  # fmt: skip
    assert r.status_code == 400 and "kind" in error_of(r)["fields"]


@pytest.mark.parametrize("who", ["tech_lead", "qa", "developer", "customer_rep", "customer",
                                 "viewer"])  # fmt: skip
def test_other_members_are_forbidden(p, api, receiver, who):
    from changeflow.notifications import services

    hook = services.webhook_create(
        user=p.pm, project=p.project, data={"url": receiver.url, "kind": "generic", "events": ["*"]}
    )
    client = api(getattr(p, who))
    base = HOOKS.format("ACME")
    assert client.get(base).status_code == 403
    assert client.post(base, {"url": receiver.url, "kind": "generic", "events": ["*"]},
                       format="json").status_code == 403  # fmt: skip
    assert client.get(f"{base}{hook.pk}/").status_code == 403
    assert client.patch(f"{base}{hook.pk}/", {"active": False}, format="json").status_code == 403
    assert client.post(f"{base}{hook.pk}/test/").status_code == 403
    assert client.get(f"{base}{hook.pk}/deliveries/").status_code == 403
    assert client.delete(f"{base}{hook.pk}/").status_code == 403


def test_outsiders_get_404(p, api, receiver):
    from changeflow.notifications import services

    hook = services.webhook_create(
        user=p.pm, project=p.project, data={"url": receiver.url, "kind": "generic", "events": ["*"]}
    )
    client = api(p.outsider)
    base = HOOKS.format("ACME")
    for method, url in (("get", base), ("post", base), ("get", f"{base}{hook.pk}/"),
                        ("patch", f"{base}{hook.pk}/"), ("delete", f"{base}{hook.pk}/"),
                        ("post", f"{base}{hook.pk}/test/"),
                        ("get", f"{base}{hook.pk}/deliveries/")):  # fmt: skip
        assert getattr(client, method)(url, {}, format="json").status_code == 404, (method, url)
    # Another project's webhook id under my project: 404 too.
    mine = api(p.outsider).get(f"{HOOKS.format('OTHER')}{hook.pk}/")
    assert mine.status_code == 404
