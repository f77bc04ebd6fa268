"""Webhook calls: each platform's format and signature, retries and failures against a local
server that fails on purpose, idempotency keys, URL safety."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from django.db import transaction
from django.utils import timezone

from changeflow.changes import services as cr_services
from changeflow.core import audit
from changeflow.core.errors import PreconditionFailed, ValidationError
from changeflow.notifications import formats, services
from changeflow.notifications.models import WebhookDelivery
from tests.factories import fresh, make_cr

pytestmark = pytest.mark.django_db
SECRET = "SECa1b2c3d4e5f6"


def hook(p, receiver, kind="generic", events=("*",), secret=SECRET, **extra):
    return services.webhook_create(
        user=p.pm, project=p.project,
        data={"url": receiver.url, "kind": kind, "events": list(events), "secret": secret,
              **extra},
    )  # fmt: skip


def sla_event(p, live, **after):
    with live(), transaction.atomic():
        audit.record(
            actor="system", action="sla.breached", object_type="project", object_key="ACME",
            project="ACME", after={"notify": [p.pm.username], "title": "ACME-1 in triage",
                                   "reason": "3 days", **after},
        )  # fmt: skip


def later(minutes: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


# ------------------------------------------------------------------ formats and signatures


def test_generic_json_is_signed_over_timestamp_and_raw_body(p, live, receiver):
    hook(p, receiver)
    sla_event(p, live)
    (req,) = receiver.requests
    h = req["headers"]
    expected = hmac.new(
        SECRET.encode(), h["X-Changeflow-Timestamp"].encode() + b"." + req["raw"], hashlib.sha256
    ).hexdigest()
    assert h["X-Changeflow-Signature"] == "sha256=" + expected
    assert h["X-Changeflow-Event"] == "sla.breached"
    assert h["Idempotency-Key"] == h["X-Changeflow-Delivery"] == req["json"]["id"]
    assert abs(int(h["X-Changeflow-Timestamp"]) - timezone.now().timestamp()) < 60
    doc = req["json"]
    assert doc["event"] == "sla.breached" and doc["project"] == "ACME"
    assert doc["data"]["reason"] == "3 days"
    assert WebhookDelivery.objects.get().state == "sent"


def test_dingtalk_markdown_with_documented_signature(p, live, receiver):
    hook(p, receiver, kind="dingtalk", language="zh-hans")
    sla_event(p, live)
    (req,) = receiver.requests
    body = req["json"]
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"title", "text"}
    assert "SLA" in body["markdown"]["title"] and "超时" in body["markdown"]["text"]
    query = parse_qs(urlsplit(req["path"]).query)
    ts = query["timestamp"][0]
    assert len(ts) == 13  # milliseconds
    # timestamp + "\n" + secret, HMAC-SHA256 keyed with the secret, base64, URL-encoded.
    digest = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
    raw_sign = urlsplit(req["path"]).query.split("sign=")[1].split("&")[0]
    assert unquote_plus(raw_sign) == base64.b64encode(digest).decode()


def test_feishu_card_with_sign_in_body(p, live, receiver):
    hook(p, receiver, kind="feishu")
    sla_event(p, live, title="<at id=all></at> **loud**")
    body = receiver.requests[0]["json"]
    assert body["msg_type"] == "interactive"
    card = body["card"]
    assert card["header"]["title"]["tag"] == "plain_text"
    assert "SLA" in card["header"]["title"]["content"]
    div, action = card["elements"]
    # The CR's own text goes in as plain text: no lark_md, so no mention or markup.
    assert div["text"]["tag"] == "plain_text"
    (button,) = action["actions"]
    assert button["url"] == "http://changeflow.test/projects/ACME/"
    assert button["text"]["content"] == "ACME"
    assert div["text"]["content"] == "Title: <at id=all></at> **loud**\nReason: 3 days"


def test_wecom_markdown_unsigned(p, live, receiver):
    hook(p, receiver, kind="wecom", secret="")
    sla_event(p, live)
    body = receiver.requests[0]["json"]
    assert body == {"msgtype": "markdown", "markdown": {"content": body["markdown"]["content"]}}
    assert "**" in body["markdown"]["content"]


def test_slack_text_and_blocks_escaped(p, live, receiver):
    hook(p, receiver, kind="slack", secret="")
    sla_event(p, live, title="<!channel> & co")
    body = receiver.requests[0]["json"]
    assert set(body) == {"text", "blocks"}
    assert "<!channel>" not in json.dumps(body) and "&lt;!channel&gt; &amp; co" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"


def test_platform_refusal_in_a_200_is_a_failure_not_retried(p, live, receiver):
    receiver.default = (200, '{"errcode":310000,"errmsg":"sign not match"}')
    hook(p, receiver, kind="dingtalk")
    sla_event(p, live)
    d = WebhookDelivery.objects.get()
    assert d.state == "failed" and "310000" in d.error and d.attempts == 1


def test_filtered_by_event_and_internal_events_never_sent(p, live, receiver):
    hook(p, receiver, events=["cr.vote_needed"])
    sla_event(p, live)
    cr = make_cr(p.project, by=p.customer, submit=True)
    with live():
        cr_services.comment_create(user=p.pm, cr=fresh(cr, p.pm), body="internal", internal=True)
    assert receiver.requests == []


# ------------------------------------------------------------------ retries and failures


def test_500_retried_with_backoff_then_sent_with_the_same_key(p, live, receiver):
    receiver.answers = [(500, "boom"), (503, "busy")]
    hook(p, receiver)
    sla_event(p, live)
    d = WebhookDelivery.objects.get()
    assert (d.state, d.attempts, d.response_status) == ("pending", 1, 500)
    assert d.next_attempt_at > timezone.now() + dt.timedelta(seconds=20)
    assert services.retry_due() == 0  # not due yet
    services.retry_due(now=later(1))
    d.refresh_from_db()
    assert (d.state, d.attempts) == ("pending", 2)
    services.retry_due(now=later(3))
    d.refresh_from_db()
    assert (d.state, d.attempts, d.response_status) == ("sent", 3, 200)
    keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
    assert keys == {str(d.key)} and len(receiver.requests) == 3


@pytest.mark.parametrize("answer", [(500, "down"), "sleep"], ids=["500", "timeout"])
def test_gives_up_after_the_last_attempt_with_the_reason(p, live, receiver, settings, answer):
    settings.CHANGEFLOW_DELIVERY_MAX_ATTEMPTS = 3
    settings.CHANGEFLOW_WEBHOOK_TIMEOUT = 0.5
    receiver.answers = [answer] * 3
    hook(p, receiver)
    sla_event(p, live)
    for minutes in (5, 15):
        services.retry_due(now=later(minutes))
    d = WebhookDelivery.objects.get()
    assert (d.state, d.attempts) == ("failed", 3)
    assert ("HTTP 500" if answer != "sleep" else "timed out") in d.error
    assert d.finished_at is not None and d.duration_ms is not None


def test_connection_refused_is_retried(p, live, receiver):
    hook(p, receiver)
    receiver.close()  # nobody listens on that port any more
    sla_event(p, live)
    d = WebhookDelivery.objects.get()
    assert d.state == "pending" and "refused" in d.error


def test_4xx_is_not_retried_but_429_is(p, live, receiver):
    receiver.answers = [(404, "no such hook")]
    hook(p, receiver)
    sla_event(p, live)
    assert WebhookDelivery.objects.get().state == "failed"
    WebhookDelivery.objects.all().delete()
    receiver.answers = [(429, "slow down")]
    sla_event(p, live)
    assert WebhookDelivery.objects.get().state == "pending"


def test_a_worker_killed_after_sending_does_not_make_a_duplicate(p, live, receiver, monkeypatch):
    """The call went out, then the worker died before recording it: the row stays
    ``sending``; after its lease the retry carries the same key, and the receiver, which
    drops keys it has seen, acts once."""
    hook(p, receiver)

    def die(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(services, "_done", die)
    sla_event(p, live)  # the task dies (the queue records it failed); the row stays claimed
    monkeypatch.undo()
    d = WebhookDelivery.objects.get()
    assert d.state == "sending" and len(receiver.requests) == 1
    assert services.retry_due() == 0  # the lease holds
    services.retry_due(now=later(10))
    d.refresh_from_db()
    assert d.state == "sent" and len(receiver.requests) == 2
    seen = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert len(set(seen)) == 1 == len({r["json"]["id"] for r in receiver.requests})


def test_each_delivery_once_per_event(p, live, receiver):
    hook(p, receiver)
    sla_event(p, live)
    from changeflow.core.models import AuditEvent

    services.notify_event(AuditEvent.objects.get(action="sla.breached"))
    assert WebhookDelivery.objects.count() == 1 and len(receiver.requests) == 1


# ------------------------------------------------------------------ URL safety


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http://"]
)
def test_non_http_urls_refused(p, url):
    with pytest.raises(PreconditionFailed) as exc:
        services.webhook_create(user=p.pm, project=p.project,
                                data={"url": url, "kind": "generic", "events": ["*"]})  # fmt: skip
    assert "url" in exc.value.fields


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/x",
            "http://192.168.1.1/x", "http://[::1]/x", "http://169.254.169.254/latest"],
)  # fmt: skip
def test_private_addresses_refused_unless_allowed(p, settings, url):
    settings.CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(PreconditionFailed) as exc:
        services.webhook_create(user=p.pm, project=p.project,
                                data={"url": url, "kind": "generic", "events": ["*"]})  # fmt: skip
    assert exc.value.code == "unsafe_url"


def test_own_address_refused_even_when_private_allowed(p, settings):
    settings.CHANGEFLOW_BASE_URL = "http://127.0.0.1:8123"
    with pytest.raises(PreconditionFailed):
        services.webhook_create(
            user=p.pm,
            project=p.project,
            data={"url": "http://127.0.0.1:8123/api/v1/", "kind": "generic", "events": ["*"]},
        )


def test_rechecked_at_send_time(p, live, receiver, settings):
    """DNS rebinding: the address was fine when saved, it is not when calling."""
    hook(p, receiver)
    settings.CHANGEFLOW_WEBHOOK_ALLOW_PRIVATE = False
    sla_event(p, live)
    d = WebhookDelivery.objects.get()
    assert d.state == "failed" and "127.0.0.1" in d.error and receiver.requests == []


def test_bad_events_and_kind_are_400(p, receiver):
    for data in ({"events": ["cr.nope"]}, {"kind": "teams"}, {"events": []}):
        body = {"url": receiver.url, "kind": "generic", "events": ["*"], **data}
        with pytest.raises(ValidationError):
            services.webhook_create(user=p.pm, project=p.project, data=body)


def test_signing_helpers_match_the_docs():
    # DingTalk's documented example shape: the sign is URL-encoded base64.
    sign = formats.dingtalk_sign("secret", "1577262236757")
    assert "%" in sign or sign.isalnum()
    assert socket  # the module is used by fixtures


def test_new_webhook_replays_no_history(p, live, receiver):
    with live():
        cr = make_cr(p.project, by=p.customer, submit=True, type="feature", priority="P2")
    hook(p, receiver)
    with live():
        cr_services.change_request_transition(user=p.pm, cr=fresh(cr, p.pm), action="triage")
    assert [r["json"]["event"] for r in receiver.requests] == ["cr.state_changed"]


def test_a_host_that_does_not_resolve_when_calling_is_retried(p, live, receiver, monkeypatch):
    hook(p, receiver)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # the resolver is down for a while
    sla_event(p, live)
    d = WebhookDelivery.objects.get()
    assert d.state == "pending" and "resolved" in d.error
    monkeypatch.undo()
    services.retry_due(now=later(5))
    d.refresh_from_db()
    assert d.state == "sent" and len(receiver.requests) == 1
