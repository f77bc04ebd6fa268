"""E-mail: through a real SMTP server (aiosmtpd on 127.0.0.1), in the recipient's language,
retried when the server is down, never lost; and the "Done when": a CR entering review gets
the board a DingTalk message with a valid signature and an e-mail each."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import socket
from urllib.parse import unquote_plus, urlsplit

import pytest
from django.db import transaction
from django.utils import timezone

from changeflow.changes import services as cr_services
from changeflow.core import audit
from changeflow.notifications import services
from changeflow.notifications.models import EmailDelivery
from tests.factories import advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db


def sla(p, live, names):
    with live(), transaction.atomic():
        audit.record(actor="system", action="sla.breached", object_type="change_request",
                     object_key="ACME-1", project="ACME",
                     after={"notify": names, "reason": "3 days in triage"})  # fmt: skip


def test_sent_over_smtp_in_the_recipients_language(p, live, smtp):
    services.preferences_set(user=p.qa, channels={}, language="zh-hans")
    sla(p, live, [p.pm.username, p.qa.username])
    by_rcpt = {rcpt[0]: msg for rcpt, msg in smtp.messages}
    assert set(by_rcpt) == {p.pm.email, p.qa.email}
    en, zh = by_rcpt[p.pm.email], by_rcpt[p.qa.email]
    assert en["Subject"].startswith("[ACME] SLA breached")
    assert "SLA" in zh["Subject"] and "超时" in zh["Subject"]
    assert "3 days in triage" in zh.get_content()
    rows = {r.to: r for r in EmailDelivery.objects.all()}
    assert en["Message-ID"] == f"<{rows[p.pm.email].key}@changeflow.invalid>"
    assert all(r.state == "sent" and r.attempts == 1 for r in rows.values())


def test_smtp_down_is_retried_then_sent_once(p, live, settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }
    sla(p, live, [p.pm.username])
    row = EmailDelivery.objects.get()
    assert row.state == "pending" and "Connection refused" in row.error or "refused" in row.error
    from tests.notifications.conftest import Smtp

    box = Smtp()
    try:
        settings.MAILERS["default"]["OPTIONS"]["port"] = box.port
        settings.MAILERS = dict(settings.MAILERS)
        services.retry_due(now=timezone.now() + dt.timedelta(minutes=5))
        services.retry_due(now=timezone.now() + dt.timedelta(minutes=60))  # nothing more due
    finally:
        box.stop()
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(box.messages) == 1


def test_smtp_down_for_good_ends_failed_with_the_reason(p, live, settings):
    settings.CHANGEFLOW_DELIVERY_MAX_ATTEMPTS = 2
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 1},
        }
    }
    sla(p, live, [p.pm.username])
    services.retry_due(now=timezone.now() + dt.timedelta(minutes=5))
    row = EmailDelivery.objects.get()
    assert row.state == "failed" and row.attempts == 2 and row.error
    assert row.notification.in_app  # the in-app notification is there all the same


def test_preference_none_and_in_app_only(p, live, smtp):
    services.preferences_set(user=p.pm, channels={"sla.breached": "none"})
    services.preferences_set(user=p.qa, channels={"sla.breached": "in_app"})
    sla(p, live, [p.pm.username, p.qa.username])
    assert smtp.messages == []
    from changeflow.notifications.models import Notification

    assert [n.user for n in Notification.objects.all()] == [p.qa]


def test_done_when_board_gets_dingtalk_and_email_when_a_vote_is_needed(p, live, smtp, receiver):
    secret = "SEC0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    services.webhook_create(
        user=p.pm,
        project=p.project,
        data={
            "url": receiver.url + "?access_token=demo",
            "kind": "dingtalk",
            "events": ["cr.vote_needed"],
            "secret": secret,
            "language": "zh-hans",
        },
    )
    cr = advance(make_cr(p.project, by=p.customer), p, "assessing")
    complete_assessment(cr, by=p.tech_lead)
    with live():
        cr_services.change_request_transition(
            user=p.tech_lead, cr=fresh(cr, p.tech_lead), action="request_review"
        )
    (req,) = receiver.requests
    query = urlsplit(req["path"]).query
    params = dict(part.split("=", 1) for part in query.split("&"))
    assert params["access_token"] == "demo"
    digest = hmac.new(secret.encode(), f"{params['timestamp']}\n{secret}".encode(),
                      hashlib.sha256).digest()  # fmt: skip
    assert unquote_plus(params["sign"]) == base64.b64encode(digest).decode()
    body = req["json"]
    assert body["msgtype"] == "markdown" and cr.key in body["markdown"]["text"]
    assert "投票" in body["markdown"]["title"]
    board = {p.pm.email, p.tech_lead.email, p.qa.email, p.customer_rep.email}  # all who vote
    assert {rcpt[0] for rcpt, _m in smtp.messages} == board
    for _rcpt, msg in smtp.messages:
        assert cr.key in msg["Subject"] and f"/changes/{cr.key}/" in msg.get_content()
