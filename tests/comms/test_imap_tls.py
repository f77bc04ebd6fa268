"""Polling over TLS against the real Dovecot (IMAPS and STARTTLS, a self-signed certificate
made for the run): refused with a clear error until the mailbox trusts that certificate."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from changeflow.comms import imap as poller
from changeflow.comms.models import InboundMessage, Mailbox
from changeflow.comms.services import mailbox_set
from changeflow.core.errors import ValidationError
from tests.comms.servers import self_signed_certificate

pytestmark = pytest.mark.django_db
JSON = "application/json"


def a_mail() -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = "周杰 <zhou.jie@customer.example>"
    msg["To"] = "acme@changeflow.test"
    msg["Subject"] = "报表增加按月汇总"
    msg["Message-ID"] = message_id = make_msgid(domain="customer.example")
    msg.set_content("希望报表可以按月汇总。", charset="utf-8")
    return msg.as_bytes(), message_id


def configure(p, server, *, security: str, trusted: str = "") -> Mailbox:
    port = server.tls_port if security == "ssl" else server.port
    return mailbox_set(
        user=p.pm, project=p.project,
        data={"host": "127.0.0.1", "port": port, "security": security,
              "username": server.user, "password": server.password,
              "trusted_certificate": trusted, "poll_minutes": 1, "enabled": True},
    )  # fmt: skip


def poll() -> tuple[int, Mailbox]:
    handled = poller.poll(Mailbox.objects.select_related("project").get())
    return handled, Mailbox.objects.get()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_an_unverifiable_certificate_is_refused_until_the_mailbox_trusts_it(
    personas, imap, security, django_capture_on_commit_callbacks
):
    raw, message_id = a_mail()
    imap.append(raw)
    # Public authorities only: the self-signed certificate does not verify.
    configure(personas, imap, security=security)
    handled, mailbox = poll()
    assert handled == 0
    assert "TLS certificate was refused" in mailbox.last_error
    assert "self-signed" in mailbox.last_error or "verify" in mailbox.last_error
    assert "trusted certificate" in mailbox.last_error
    assert not InboundMessage.objects.exists() and imap.seen_flags() == [False]
    # Trusting another self-signed certificate does not trust this imap.
    other, _key = self_signed_certificate("someone else")
    configure(personas, imap, security=security, trusted=other)
    handled, mailbox = poll()
    assert handled == 0 and "TLS certificate was refused" in mailbox.last_error
    # Trusting the server's own certificate: the mail comes in over TLS.
    configure(personas, imap, security=security, trusted=imap.certificate)
    with django_capture_on_commit_callbacks(execute=True):
        handled, mailbox = poll()
    assert (handled, mailbox.last_error) == (1, "")
    record = InboundMessage.objects.get(message_id=message_id)
    assert record.outcome == "created" and record.change_request.title == "报表增加按月汇总"
    assert imap.seen_flags() == [True]


def test_trusting_a_certificate_keeps_verification_and_host_name_checks_on(personas):
    import ssl

    cert, _key = self_signed_certificate()
    mailbox = Mailbox(project=personas.project, host="imap.example.com", trusted_certificate=cert)
    context = poller.tls_context(mailbox)
    # The certificate is added as a trust anchor; nothing is switched off.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    assert len(context.get_ca_certs()) >= 1


def test_the_trusted_certificate_is_checked_when_saved_and_audited_by_fingerprint(personas, client):
    from changeflow.core.models import AuditEvent

    p = personas
    cert, _key = self_signed_certificate()
    for bad, why in (
        ("hello", "PEM"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "readable"),
        ("-----BEGIN CERTIFICATE-----\n证书\n-----END CERTIFICATE-----", "readable"),
    ):
        with pytest.raises(ValidationError) as caught:
            mailbox_set(
                user=p.pm, project=p.project,
                data={"host": "imap.example.com", "username": "a", "trusted_certificate": bad},
            )  # fmt: skip
        assert why in str(caught.value.fields["trusted_certificate"][0])
    assert not Mailbox.objects.exists()
    client.force_login(p.pm)
    url = "/api/v1/projects/ACME/mailbox/"
    body = {"host": "imap.example.com", "username": "a", "trusted_certificate": "nope"}
    response = client.put(url, body, content_type=JSON)
    assert response.status_code == 400
    assert "trusted_certificate" in response.json()["error"]["fields"]
    response = client.put(url, {**body, "trusted_certificate": cert}, content_type=JSON)
    assert response.status_code == 200
    assert response.json()["trusted_certificate"].strip() == cert.strip()
    event = AuditEvent.objects.filter(action="mailbox.set").latest("seq")
    assert event.after["trusted_certificate"].startswith("SHA256:")
    assert "BEGIN CERTIFICATE" not in str(event.after)
    page = client.get("/projects/ACME/mailbox/").content.decode()
    assert "Trusted certificate (PEM)" in page and "BEGIN CERTIFICATE" in page
